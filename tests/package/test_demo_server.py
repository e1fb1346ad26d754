"""`make demo` (scripts/serve_demo.py) restarts at once on the port it just left, on any port."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType

import pytest
from support.paths import REPO

SCRIPT = REPO / "scripts" / "serve_demo.py"
#: seconds Voila may take to listen on a busy two-core machine (it executes nothing before a page
#: is requested)
START_TIMEOUT = 60.0


def _load_serve_demo() -> ModuleType:
    """scripts/serve_demo.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("serve_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serve_demo = _load_serve_demo()


def _leave_time_wait(server: socket.socket) -> None:
    """Accept one connection on ``server`` and close it from the server's side first.

    This is what a stopped server does to an open page: the server's end of the connection then
    waits in TIME_WAIT on the server's port for a minute.
    """
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port)) as client:
        conn, _ = server.accept()
        conn.close()
        assert client.recv(1) == b""  # the server's FIN has arrived


def test_port_probe_sees_listeners_not_closed_connections() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert not serve_demo.port_is_free(port), "a listening port was called free"
        _leave_time_wait(server)
    assert serve_demo.port_is_free(port), "a port left in TIME_WAIT was called busy"


@contextlib.contextmanager
def _demo(port: int) -> Iterator[subprocess.Popen[str]]:
    """scripts/serve_demo.py on ``port``, as `make demo` runs it; killed at exit if still alive."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _output(proc: subprocess.Popen[str]) -> str:
    return proc.stdout.read() if proc.stdout and proc.poll() is not None else ""


def _ctrl_c(proc: subprocess.Popen[str]) -> None:
    """Stop the demo as Ctrl-C does, and wait until it (and so Voila) has exited."""
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0, _output(proc)


@pytest.mark.slow
def test_demo_restarts_at_once_on_the_same_port() -> None:
    port = serve_demo.free_port()
    with _demo(port) as first:
        assert serve_demo.wait_listening(first, port, START_TIMEOUT), _output(first)
        # a page stays connected (HTTP keep-alive) while the server stops, as a browser's does
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        page.request("GET", "/favicon.ico")
        page.getresponse().read()
        _ctrl_c(first)
        page.close()

    started = time.monotonic()
    with _demo(port) as second:
        came_up = serve_demo.wait_listening(second, port, START_TIMEOUT)
        restart_s = time.monotonic() - started
        assert came_up, f"the restart on port {port} failed:\n{_output(second)}"
        print(f"restart on port {port}: listening after {restart_s:.1f} s")
        _ctrl_c(second)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("args", "port"), [([], "8866"), (["PORT=9123"], "9123")])
def test_make_demo_passes_the_port(args: list[str], port: str) -> None:
    dry_run = subprocess.run(
        ["make", "-n", "demo", *args], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert f"scripts/serve_demo.py --port {port}" in dry_run.stdout
