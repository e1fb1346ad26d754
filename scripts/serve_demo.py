"""The demo app: Voila serves notebooks/demo.ipynb (the Explorer on the bundled model) on 127.0.0.1.

Usage::

    python scripts/serve_demo.py            # serve until Ctrl-C, print the URL
    python scripts/serve_demo.py --port 9000
    python scripts/serve_demo.py --check    # start, fetch the page once, exit 0 when it works

The page is rendered with the ``igw`` Voila template (``scripts/jupyter/voila/templates/igw``):
Voila's own templates link Font Awesome from a public CDN, and the demo must stay offline.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "demo.ipynb"
JUPYTER_DATA = REPO / "scripts" / "jupyter"
# what Voila logs when a cell of the notebook raised
CELL_ERROR = "Error at server while executing cell"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port.

    The probe binds as the server will, with SO_REUSEADDR (Tornado sets it). Without it, the
    connections a stopped server closed (any page that was open) sit in TIME_WAIT on the port and
    the probe called it busy for the next 60 s, although Voila itself could have bound it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def voila_command(port: int) -> list[str]:
    """The Voila command line that serves the demo notebook on 127.0.0.1:port."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # a busy port is an error, not a silent move elsewhere
        "--template=igw",
        "--show_tracebacks=True",
    ]


def voila_env() -> dict[str, str]:
    """The environment of the server: our template folder on JUPYTER_PATH, the venv on PATH."""
    env = dict(os.environ)
    extra = env.get("JUPYTER_PATH")
    env["JUPYTER_PATH"] = os.pathsep.join([str(JUPYTER_DATA), *([extra] if extra else [])])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def fetch(url: str, timeout: float) -> tuple[int | None, str]:
    """GET ``url``: (status or None when nothing answers, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return None, ""


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Wait until something accepts connections on the port (False if the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and its kernels (the whole process group)."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            return


def check_page(url: str, timeout: float, log: Path) -> str | None:
    """Fetch the demo page once; None when it answers 200 and no cell failed, else why not.

    Voila executes the notebook while it streams the page, and logs a cell that raised.
    """
    status, _ = fetch(url, timeout)
    if status != 200:
        return f"{url} answered {status}"
    text = log.read_text(errors="replace")
    if CELL_ERROR in text:
        return f"a cell of {NOTEBOOK.name} failed:\n{text[text.index(CELL_ERROR) :][-4000:]}"
    return None


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Serve the demo (or check it with ``--check``); returns the exit code."""
    # Voila runs in its own process group (Ctrl-C reaches only us): on SIGTERM or SIGHUP, too,
    # unwind so that the ``finally`` below stops it
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=None, help="default 8866 (a free port with --check)"
    )
    parser.add_argument(
        "--check", action="store_true", help="start, fetch the page, exit 0 if it works"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait in --check")
    args = parser.parse_args(argv)
    port = args.port or (free_port() if args.check else 8866)
    url = f"http://127.0.0.1:{port}/"
    if not NOTEBOOK.exists():
        print(f"error: {NOTEBOOK} is missing", file=sys.stderr)
        return 2
    if not port_is_free(port):
        print(f"error: port {port} is in use; choose another with --port", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="igw_demo_") as tmp:
        log = Path(tmp) / "voila.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                voila_command(port),
                cwd=NOTEBOOK.parent,
                env=voila_env(),
                start_new_session=True,
                stdout=sink if args.check else None,
                stderr=subprocess.STDOUT if args.check else None,
            )
        return _run(proc, port, url, args, log)


def _run(
    proc: subprocess.Popen[bytes], port: int, url: str, args: argparse.Namespace, log: Path
) -> int:
    """Wait for the server, then check the page once or stay in the foreground."""
    try:
        if not wait_listening(proc, port, 60.0):
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            print(
                f"error: Voila did not start on port {port} (exit code {proc.poll()})\n{tail}",
                file=sys.stderr,
            )
            return 1
        if args.check:
            problem = check_page(url, args.timeout, log)
            if problem:
                print(f"error: {problem}", file=sys.stderr)
                return 1
            print(f"ok: {url} answered 200 and every cell of {NOTEBOOK.name} ran")
            return 0
        print(f"ig_widgets demo: {url}  (Ctrl-C to stop)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
