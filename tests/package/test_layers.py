"""The import-linter contracts of pyproject.toml: kept by the package, broken by upward imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: an engine module that imports nothing above it (the place an upward import is planted)
PLANTED_IN = "ig_widgets/engine/heads.py"
#: the upward import, as each kind of import statement (what import-linter counts, and not)
UPWARD = {
    "top-level": "\nimport ig_widgets.widgets\n",
    "in a function": "\n\ndef _upward() -> None:\n    import ig_widgets.widgets\n",
    "type-only": (
        "\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import ig_widgets.widgets\n"
    ),
}
#: the corpus is still one module reaching up to the package face (``corpus -> ig_widgets``):
#: the layers and face contracts are broken until the corpus split (engine/corpus/) lands
CORPUS_NOT_SPLIT = (REPO / "ig_widgets" / "engine" / "corpus.py").is_file()


def lint_imports(tmp_path: Path, planted: str | None = None, *contracts: str) -> tuple[int, str]:
    """Run ``lint-imports`` on a copy of the package, with ``planted`` appended to an engine module.

    Returns
    -------
    tuple[int, str]
        Its exit status (0: every contract kept) and its output.
    """
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extra (import-linter)")
    shutil.copytree(
        REPO / "ig_widgets", tmp_path / "ig_widgets", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    if planted is not None:
        with (tmp_path / PLANTED_IN).open("a", encoding="utf-8") as module:
            module.write(planted)
    # lint-imports analyses the package found first on sys.path: the copy in its cwd
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    selected = [arg for c in contracts for arg in ("--contract", c)]
    out = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *selected],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    return out.returncode, out.stdout + out.stderr


@pytest.mark.xfail(
    CORPUS_NOT_SPLIT,
    reason="engine/corpus.py imports IGWidgetsWarning from the package face (the corpus split "
    "moves it into the engine); explanation -> corpus and corpus <-> corpus_ray are circles",
    strict=True,
)
def test_the_package_keeps_every_contract(tmp_path: Path) -> None:
    status, output = lint_imports(tmp_path)
    assert status == 0, output
    assert "0 broken" in output


def test_contracts_that_hold_before_the_corpus_split(tmp_path: Path) -> None:
    status, output = lint_imports(tmp_path, None, "no-widget-libs", "adapters-room", "private")
    assert status == 0, output
    assert "Contracts: 3 kept, 0 broken." in output


@pytest.mark.parametrize("kind", ["top-level", "in a function"])
def test_an_upward_import_breaks_the_layers(tmp_path: Path, kind: str) -> None:
    status, output = lint_imports(tmp_path, UPWARD[kind], "layers")
    assert status != 0
    assert "ig_widgets.engine is not allowed to import ig_widgets.widgets" in output
    assert "ig_widgets.engine.heads -> ig_widgets.widgets" in output


def test_a_widget_library_in_the_engine_breaks_its_contract(tmp_path: Path) -> None:
    status, output = lint_imports(tmp_path, "\nimport traitlets\n", "no-widget-libs")
    assert status != 0
    assert "ig_widgets.engine.heads -> traitlets" in output


def test_a_type_only_import_is_not_counted(tmp_path: Path) -> None:
    """``if TYPE_CHECKING:`` imports never run: excluded in pyproject.toml, on purpose."""
    status, output = lint_imports(tmp_path, UPWARD["type-only"], "layers")
    assert "ig_widgets.engine.heads -> ig_widgets.widgets" not in output
    if not CORPUS_NOT_SPLIT:
        assert status == 0, output
