"""Start Jupyter servers (Voila, JupyterLab) in their own process group and stop them cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .nbfiles import write_notebook

REPO = Path(__file__).resolve().parents[2]
# holds voila/templates/igw: Voila's lab template without its CDN stylesheets
JUPYTER_DATA = REPO / "scripts" / "jupyter"
PYTHON = sys.executable


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(home: Path) -> dict[str, str]:
    """Environment for a server: the venv first on PATH, private Jupyter config/runtime dirs."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        folder = home / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    extra = env.get("JUPYTER_PATH")
    env["JUPYTER_PATH"] = os.pathsep.join([str(JUPYTER_DATA), *([extra] if extra else [])])
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


@dataclass
class Server:
    """A server process started by :func:`start_server`."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def log_tail(self, n_chars: int = 6000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log.read_text(errors="replace")[-n_chars:]
        except OSError as err:
            return f"<no log: {err}>"

    def stop(self) -> None:
        """Terminate the whole process group (the server and its kernels)."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # kernels may outlive the server for a moment: finish the group off
        _signal_group(self.proc.pid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def answers(url: str, timeout: float = 3.0) -> int | None:
    """HTTP status of ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


def start_server(
    cmd: list[str],
    *,
    url: str,
    probe: str,
    log: Path,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 90.0,
) -> Server:
    """Start ``cmd`` in a new process group and poll ``url + probe`` until it answers 200.

    Raises
    ------
    RuntimeError
        When the process exits or the URL does not answer within ``timeout`` seconds; the
        message carries the end of the server's log.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(proc=proc, url=url, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode}: {cmd}\n{server.log_tail()}"
            )
        if answers(url + probe) == 200:
            return server
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(
        f"server never answered {url + probe} in {timeout:.0f} s\n{server.log_tail()}"
    )


def serve(
    cmd_for: Callable[[int], list[str]], *, log: Path, cwd: Path, home: Path, probe: str = "/"
) -> Generator[Server, None, Server]:
    """Start ``cmd_for(port)`` on a free port, yield the server, stop it when resumed.

    For ``yield from`` in a fixture: the server's environment comes from
    :func:`server_env` of ``home``, its output goes to ``log``, and the stopped server is
    returned (so that a fixture can check what is left of it after its teardown).
    """
    port = free_port()
    server = start_server(
        cmd_for(port),
        url=f"http://127.0.0.1:{port}",
        probe=probe,
        log=log,
        cwd=cwd,
        env=server_env(home),
    )
    try:
        yield server
    finally:
        server.stop()
    return server


def serve_voila(
    folder: Path, home: Path, name: str, *extra: str
) -> Generator[Server, None, Server]:
    """:func:`serve` Voila on ``folder`` (its log ``home/NAME.log``), ``extra`` options appended."""
    return serve(
        lambda port: [*voila_cmd(folder, port), *extra],
        log=home / f"{name}.log",
        cwd=folder,
        home=home,
    )


def voila_for(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    notebooks: dict[str, list[str]],
    *extra: str,
) -> Generator[Server, None, Server]:
    """:func:`serve_voila` on a fresh folder ``NAME`` holding ``notebooks`` (file → code cells)."""
    folder = tmp_path_factory.mktemp(name)
    for file, cells in notebooks.items():
        write_notebook(folder / file, cells)
    return serve_voila(folder, folder / "home", "voila", *extra)


def voila_cmd(target: Path, port: int) -> list[str]:
    """Command line of a Voila server on 127.0.0.1 for a notebook or a folder."""
    return [
        PYTHON,
        "-m",
        "voila",
        str(target),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True",
        "--template=igw",
    ]


def jupyter_cmd(app: str, root: Path, port: int) -> list[str]:
    """Command line of a JupyterLab (``"lab"``) or Notebook 7 (``"notebook"``) server."""
    cmd = [
        PYTHON,
        "-m",
        "jupyterlab" if app == "lab" else "notebook",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd
