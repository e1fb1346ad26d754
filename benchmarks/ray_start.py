"""How often a local Ray starts on this busy machine: a fresh process per try, causes from logs.

Run: ``python benchmarks/ray_start.py [--tries 5] [--spinners 2] [--modes plain,project]``.
Each try is a new Python process with its own ``RAY_TMPDIR`` (so the logs read are that try's
own), started while ``--spinners`` extra processes keep cores busy on top of whatever else the
machine runs. Modes alternate within each pair of tries:

- ``plain``: one ``ray.init`` with the arguments the project used before (a single attempt);
- ``project``: ``ig_widgets.engine.corpus.ray_start.start_ray`` as it is in this checkout.

Prints one row per try (load average, seconds to start, the cause of a failure as Ray's own
logs give it) and a summary per mode. Time to start is wall-clock on a loaded machine: read it
as a spread, not a figure to compare across runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPIN = "import time\nend = time.time() + 900\nwhile time.time() < end:\n    pass\n"
#: lines of Ray's logs that name why a node did not come up, most telling first
CAUSES = (
    r"Timed out waiting for file \S*/(\w+_port)",
    r"Check failed: .*",
)


class Count(logging.Handler):
    """Counts the records it is handed (``start_ray`` logs one warning per failed attempt)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1


def child(mode: str) -> None:
    """Start Ray once in this process the ``mode`` way; print one JSON line; shut down."""
    import ray

    failed = Count()
    began = time.perf_counter()
    try:
        if mode == "plain":
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            from ig_widgets.engine.corpus.ray_start import start_ray

            logging.getLogger("ig_widgets.engine.corpus.ray_start").addHandler(failed)
            start_ray(num_cpus=2)
        seconds = time.perf_counter() - began
        answer = ray.get(ray.remote(lambda: 42).remote(), timeout=120)
        result: dict[str, Any] = {"ok": answer == 42, "seconds": seconds, "error": None}
    except Exception as exc:
        seconds = time.perf_counter() - began
        result = {"ok": False, "seconds": seconds, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if mode == "plain":
            ray.shutdown()
        else:
            from ig_widgets.engine.corpus.ray_start import stop_ray

            stop_ray()
    result["failed_attempts"] = failed.records
    print("RESULT " + json.dumps(result), flush=True)


def cause_in(logs: Path) -> str:
    """The first telling line of a failed try's Ray logs (raylet first), or ''."""
    for name in ("raylet.out", "raylet.err", "gcs_server.out", "dashboard_agent.log"):
        for path in sorted(logs.glob(f"session_*/logs/{name}")):
            text = path.read_text(errors="replace")
            for pattern in CAUSES:
                found = re.search(pattern, text)
                if found:
                    if found.groups():
                        return f"{name}: timed out waiting for {found.group(1)}"
                    return f"{name}: {found.group(0)[:160]}"
    return ""


def one_try(mode: str) -> dict[str, Any]:
    """Run :func:`child` in a fresh process with its own Ray temp dir; collect what happened."""
    tmp = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))  # short: Ray's socket paths
    env = dict(os.environ, RAY_TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    load = os.getloadavg()[0]
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next((s for s in proc.stdout.splitlines() if s.startswith("RESULT ")), None)
    result = json.loads(line[7:]) if line else {"ok": False, "seconds": None, "error": "no result"}
    result.update(mode=mode, load=load, wall=time.perf_counter() - began)
    result["cause"] = "" if result["ok"] else cause_in(tmp / "ray")
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5, help="tries per mode")
    parser.add_argument("--spinners", type=int, default=2, help="extra CPU-bound processes")
    parser.add_argument("--modes", default="plain,project")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    modes = args.modes.split(",")
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.spinners)]
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(2.0)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, {args.spinners} spinners; load before {load}", flush=True)
        print("| try | mode | load (1 min) | started | failed attempts | seconds | cause |")
        print("|---|---|---|---|---|---|---|")
        for i in range(args.tries):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                row = one_try(mode)
                rows.append(row)
                why = row["cause"] or (row["error"] or "")[:120]
                secs = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
                started = "yes" if row["ok"] else "no"
                fails = row.get("failed_attempts", "-")
                print(
                    f"| {i + 1} | {mode} | {row['load']:.1f} | {started} | {fails} | {secs} "
                    f"| {why} |",
                    flush=True,
                )
    finally:
        for spin in spinners:
            spin.kill()
            spin.wait()
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        ok = [r["seconds"] for r in mine if r["ok"]]
        spread = f"{min(ok):.1f}-{max(ok):.1f} s" if ok else "-"
        print(f"{mode}: started {len(ok)}/{len(mine)}; time to start {spread}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
