"""Starting a local Ray for ``explain_many``: retried on a busy machine, or a clear error."""

from __future__ import annotations

import logging
import time
from typing import Any

#: how many times a local Ray is started before giving up. Ray 2.60 waits a fixed 30 s for
#: its raylet to register; on a loaded 2-core machine the first start can miss that window
#: while a second one, with the processes' files already cached, makes it
START_ATTEMPTS = 3
#: seconds between attempts (the failed start's processes are shut down first)
RETRY_PAUSE = 2.0

log = logging.getLogger(__name__)


class RayStartError(RuntimeError):
    """Ray could not be started or reached; the message says why and what to do."""


def start_ray(
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    attempts: int = START_ATTEMPTS,
    ray_module: Any = None,
) -> None:
    """``ray.init`` for a run, retried; :class:`RayStartError` naming the fix when it fails.

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
    """
    if ray_module is None:
        import ray as ray_module
    tries = 1 if address is not None else max(int(attempts), 1)
    last: Exception | None = None
    for attempt in range(1, tries + 1):
        try:
            ray_module.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            return
        except Exception as exc:  # Ray raises bare Exception for a slow raylet
            last = exc
            log.warning("Ray did not start (attempt %d of %d): %s", attempt, tries, exc)
            ray_module.shutdown()
            if attempt < tries:
                time.sleep(RETRY_PAUSE)
    where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
    raise RayStartError(
        f"explain_many(backend='ray') could not start {where} "
        f"({tries} attempt{'s' if tries > 1 else ''}; Ray said: {last}). "
        + (
            "Check that the cluster is running (`ray status`) and the address is right."
            if address
            else "On a machine busy with other work Ray's processes can miss its 30 s start "
            "window: start one yourself first (`ray start --head --num-cpus 2`, then pass "
            "address='auto'), wait for the other jobs, or use backend='local'."
        )
        + " Nothing written to `out` is lost: run again with resume=True."
    ) from last
