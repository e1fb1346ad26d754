"""The harness itself: failing fast with the server's log, and what counts as a local request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .pages import is_local
from .servers import free_port, server_env, start_server, voila_cmd

pytestmark = pytest.mark.browser


def test_server_that_dies_fails_fast_with_its_log(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with code") as info:
        start_server(
            [*voila_cmd(tmp_path / "missing.ipynb", port), "--no-such-option-xyz=1"],
            url=f"http://127.0.0.1:{port}",
            probe="/",
            log=tmp_path / "voila.log",
            cwd=tmp_path,
            env=server_env(tmp_path / "home"),
            timeout=60,
        )
    assert time.monotonic() - started < 30
    assert "missing.ipynb" in str(info.value) or "no-such-option" in str(info.value)


def test_server_that_never_answers_times_out(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(RuntimeError, match="never answered"):
        start_server(
            ["sleep", "30"],
            url=f"http://127.0.0.1:{port}",
            probe="/",
            log=tmp_path / "sleep.log",
            cwd=tmp_path,
            env=server_env(tmp_path / "home"),
            timeout=2,
        )


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8866/voila/static/voila.js", True),
        ("ws://localhost:8888/api/kernels/x/channels", True),
        ("data:text/css,", True),
        ("file:///tmp/explanation.html", True),
        ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/all.min.css", False),
        ("http://127.0.0.1.evil.example/", False),
    ],
)
def test_is_local(url: str, local: bool) -> None:
    assert is_local(url) is local
