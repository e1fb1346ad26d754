"""Starting a local Ray for ``explain_many`` that survives a busy machine, or a clear error."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

#: how many times a local Ray is started before giving up (a start can still lose a race on
#: a very loaded machine: Ray's Python side gives its raylet a fixed 30 s to register)
START_ATTEMPTS = 3
#: seconds between attempts (the failed start's processes are stopped first)
RETRY_PAUSE = 2.0
#: Ray settings for a machine whose cores are busy with other work. They change timing only.
#: The raylet waits for its runtime-env agent and for each worker's registration; the
#: defaults (30 s, 60 s) are missed when a Python process needs minutes of starved CPU to
#: import its libraries.
BUSY_MACHINE_CONFIG: dict[str, int] = {
    "agent_register_timeout_ms": 300_000,
    "worker_register_timeout_seconds": 300,
}
#: the agents' ports, chosen by :func:`launch_head` (the names are ``RayParams`` fields)
AGENT_PORTS = (
    "metrics_agent_port",
    "metrics_export_port",
    "dashboard_agent_listen_port",
    "runtime_env_agent_port",
)

log = logging.getLogger(__name__)
#: the local head started by :func:`start_ray`, stopped by :func:`stop_ray`
_heads: list[Any] = []


class RayStartError(RuntimeError):
    """Ray could not be started or reached; the message says why and what to do."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free now (bound together, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in socks]


def launch_head(num_cpus: int | None) -> Any:
    """Start a local Ray head that does not depend on its agents' start-up speed; its ``Node``.

    This is what ``ray.init()`` does for a local instance (``ray._private.node.Node`` with the
    same head, reaper and ``ray_init_cluster`` settings) plus two things it does not offer:
    the agents get ports chosen here, and those ports are written to the session's port files
    as soon as the session exists (:func:`publish_ports`), the values the agents themselves
    write once they have started. Ray 2.60's raylet aborts when a port file is missing after
    a fixed 15 s (``WaitForDashboardAgentPorts``); a loaded machine's agent can need a minute
    just to import. :data:`BUSY_MACHINE_CONFIG` gives the later waits room. On failure the
    processes already started are stopped before the error propagates.
    """
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    ports = dict(zip(AGENT_PORTS, free_ports(len(AGENT_PORTS)), strict=True))
    config: Any = dict(BUSY_MACHINE_CONFIG)  # Ray annotates its values as str; it takes ints
    params = RayParams(
        num_cpus=num_cpus,
        include_dashboard=False,
        _system_config=config,
        metrics_agent_port=ports["metrics_agent_port"],
        metrics_export_port=ports["metrics_export_port"],
        dashboard_agent_listen_port=ports["dashboard_agent_listen_port"],
        runtime_env_agent_port=ports["runtime_env_agent_port"],
    )
    node = Node.__new__(Node)  # a handle before __init__, so a failed start can be stopped
    done = threading.Event()
    writer = threading.Thread(
        target=publish_ports, args=(node, ports, done), name="ray-ports", daemon=True
    )
    writer.start()
    try:
        node.__init__(  # type: ignore[misc]
            params, head=True, shutdown_at_exit=False, spawn_reaper=True, ray_init_cluster=True
        )
    except BaseException as exc:  # Ctrl-C included: what was started is stopped
        cause = start_cause(node) if isinstance(exc, Exception) else ""
        _kill(node)
        if cause:
            raise RuntimeError(f"{exc} [{cause}]") from exc
        raise
    finally:
        done.set()
        writer.join()
    return node


def publish_ports(node: Any, ports: dict[str, int], done: threading.Event) -> None:
    """Write the agents' port files for ``node`` once its session directory exists.

    ``ports`` maps :data:`AGENT_PORTS` to the ports the agents were told to bind. A minimal
    Ray install (no ``ray[default]``) runs the dashboard agent without its gRPC, metrics and
    HTTP servers; it writes -1 for those, and so does this. A file an agent already wrote is
    left alone. Returns when the files are written or ``done`` is set.
    """
    from ray._private.utils import get_dashboard_dependency_error

    lib: Any = importlib.import_module("ray._raylet")  # compiled: no stubs for mypy
    minimal = get_dashboard_dependency_error() is not None
    values = {
        lib.METRICS_AGENT_PORT_NAME: -1 if minimal else ports["metrics_agent_port"],
        lib.METRICS_EXPORT_PORT_NAME: -1 if minimal else ports["metrics_export_port"],
        lib.DASHBOARD_AGENT_LISTEN_PORT_NAME: -1
        if minimal
        else ports["dashboard_agent_listen_port"],
        lib.RUNTIME_ENV_AGENT_PORT_NAME: ports["runtime_env_agent_port"],
    }
    while not done.is_set():
        node_id = getattr(node, "_node_id", None)
        session = getattr(node, "_session_dir", None)
        if node_id and session and os.path.isdir(session):
            for name, port in values.items():
                if not os.path.exists(os.path.join(session, lib.get_port_filename(node_id, name))):
                    lib.persist_port(session, node_id, name, port)
            return
        done.wait(0.02)


def start_cause(node: Any) -> str:
    """What a failed start's raylet logged as the reason (its port wait or check), or ''."""
    try:
        logs = Path(node.get_logs_dir_path())
    except Exception:  # the node never got as far as a session directory
        return ""
    for name in ("raylet.out", "raylet.err"):
        path = logs / name
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found = re.search(r"Timed out waiting for file \S*/([a-z_]+?_port)_", text)
        if found:
            return f"raylet: timed out waiting for the agents' {found.group(1)}"
        found = re.search(r"Check failed: [^\n]{0,200}", text)
        if found:
            return f"raylet: {found.group(0)}"
    return ""


def _kill(node: Any) -> None:
    with contextlib.suppress(Exception):
        node.kill_all_processes(check_alive=False, allow_graceful=True, wait=True)


def start_ray(
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    attempts: int = START_ATTEMPTS,
    ray_module: Any = None,
    launch: Any = None,
) -> None:
    """Connect this process to Ray, retried; :class:`RayStartError` naming the fix on failure.

    Without ``address`` a local head is started by ``launch`` (default :func:`launch_head`)
    and ``ray.init`` attaches to it; :func:`stop_ray` stops both.

    Parameters
    ----------
    address : str, optional
        A running cluster's address (not retried: a wrong address is not a busy machine).
    num_cpus : int, optional
        The CPUs of a local instance (``address`` None).
    attempts : int
        How many starts of a local instance to try.
    ray_module : module, optional
        The ``ray`` module (tests pass a stand-in); imported here by default.
    launch : callable, optional
        ``launch(num_cpus) -> node`` with ``node.address`` and ``node.kill_all_processes``.
    """
    if ray_module is None:
        import ray as ray_module
    launch = launch_head if launch is None else launch
    tries = 1 if address is not None else max(int(attempts), 1)
    last: Exception | None = None
    for attempt in range(1, tries + 1):
        node = None
        try:
            if address is None:
                node = launch(num_cpus)
            ray_module.init(
                address=address if node is None else node.address,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            if node is not None:
                if not _heads:
                    atexit.register(stop_ray, ray_module)
                _heads.append(node)
            return
        except Exception as exc:  # Ray raises bare Exception for a slow raylet
            last = exc
            log.warning("Ray did not start (attempt %d of %d): %s", attempt, tries, exc)
            ray_module.shutdown()
            if node is not None:
                _kill(node)
            if attempt < tries:
                time.sleep(RETRY_PAUSE)
    where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
    raise RayStartError(
        f"explain_many(backend='ray') could not start {where} "
        f"({tries} attempt{'s' if tries > 1 else ''}; Ray said: {last}). "
        + (
            "Check that the cluster is running (`ray status`) and the address is right."
            if address
            else "The machine's cores are too busy for Ray's processes to start within Ray's "
            "fixed 30 s window: wait for the other jobs, or start Ray yourself when the "
            "machine is quieter (`ray start --head --num-cpus 2`) and pass address='auto', "
            "or use backend='local'."
        )
        + " Nothing written to `out` is lost: run again with resume=True."
    ) from last


def stop_ray(ray_module: Any = None) -> None:
    """Disconnect from Ray and stop the local head :func:`start_ray` started, if any."""
    if ray_module is None:
        import ray as ray_module
    ray_module.shutdown()
    while _heads:
        _kill(_heads.pop())
    atexit.unregister(stop_ray)
