"""P3 and P6's engine side for two checkouts of the project, alternating, in one venv.

Run: ``.venv/bin/python benchmarks/ab_roots.py ROOT_A ROOT_B [--pairs 4]`` (e.g. this checkout
and a ``git worktree add --detach ../base <commit>``). Each figure is computed in a child
process whose ``PYTHONPATH`` is that root, so each side runs its own code and its own copy of
``benchmarks/run.py``. Prints per pair A/B and the medians: a code change is separated from
this machine's drift, which moves both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_P3 = """
import json, sys, torch
from benchmarks.run import Setup, reviews, long_review, p3
torch.set_num_threads(2)
s = Setup()
print(json.dumps(p3(s, long_review(s.explainer, reviews(), 250), 1)))
"""


def child(root: str, code: str) -> dict[str, float]:
    """Run ``code`` with ``root`` first on the path; its last stdout line is JSON."""
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root_a")
    parser.add_argument("root_b")
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, args.root_a)
    from benchmarks.run import memory_child

    p6 = {root: memory_child(root, "engine") for root in (args.root_a, args.root_b)}
    seen: dict[str, dict[str, list[float]]] = {"p3": {}, "p6": {}}
    for i in range(args.pairs):
        order = (args.root_a, args.root_b) if i % 2 == 0 else (args.root_b, args.root_a)
        for root in order:
            p3 = child(root, _P3)["explorer_over_captum"]
            seen["p3"].setdefault(root, []).append(p3)
            seen["p6"].setdefault(root, []).append(child(root, p6[root])["seconds"])
        print(i, {k: {r[-12:]: round(v[-1], 3) for r, v in d.items()} for k, d in seen.items()})
    for name, by_root in seen.items():
        a, b = by_root[args.root_a], by_root[args.root_b]
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        print(
            f"{name}: A {statistics.median(a):.3f}  B {statistics.median(b):.3f}  "
            f"A/B median {statistics.median(ratios):.3f} "
            f"(pairs {min(ratios):.3f}-{max(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
