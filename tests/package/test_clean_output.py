"""No third-party deprecation warning reaches the user: exactly the known ones are hidden."""

from __future__ import annotations

import subprocess
import sys
import warnings

from support.paths import REPO

from ig_widgets.models.quiet import known_warnings_hidden


def test_cli_prints_no_warning() -> None:
    # -W default shows every warning once, DeprecationWarning included (the strictest view a
    # notebook or a terminal gives)
    run = subprocess.run(
        [sys.executable, "-W", "default", "-m", "ig_widgets", "explain", "a fine film"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "why positive?" in run.stdout or "why negative?" in run.stdout
    assert "Warning" not in run.stderr, run.stderr


def test_only_the_known_warnings_are_hidden() -> None:
    jit = "`torch.jit.script` is deprecated. Please switch to `torch.compile`."
    inside = [
        (jit, DeprecationWarning),
        (jit, FutureWarning),
        (jit, UserWarning),  # another category: shown
        ("something else is deprecated", DeprecationWarning),  # another message: shown
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with known_warnings_hidden():
            for message, category in inside:
                warnings.warn(message, category, stacklevel=1)
        warnings.warn(jit, DeprecationWarning, stacklevel=1)  # after the block: shown
    assert [(str(w.message), w.category) for w in seen] == [*inside[2:], (jit, DeprecationWarning)]
