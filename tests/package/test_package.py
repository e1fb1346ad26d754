"""The package's public surface: every exported name resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

import ig_widgets


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(ig_widgets.__all__) == {*ig_widgets._EXPORTS, "IGWidgetsWarning", "__version__"}


def test_every_public_name_resolves() -> None:
    for name in ig_widgets.__all__:
        assert getattr(ig_widgets, name) is not None, name


def test_import_is_cheap() -> None:
    heavy = "('fastai', 'torch', 'ipyvuetify')"
    code = f"import sys, ig_widgets; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
