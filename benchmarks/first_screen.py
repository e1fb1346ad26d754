"""First-screen time: a fresh Explorer's final result with the new defaults against the old ones.

Run: ``.venv/bin/python benchmarks/first_screen.py [--pairs 7] [--models awd_lstm cnn]``.

A "first screen" is ``Explorer(learn, text=...)`` until its final result is shown (the worker
idle), with the faithfulness badge and the background neutral-token scan turned off so that
only what the first screen waits for is timed. Three settings, each in alternating pairs
against the old defaults (50 Gauss-Legendre steps, the model's default token ``[default]``):

- ``new, cold``: ``n_steps="auto"`` and ``[neutral]`` with the model's neutral shortlist
  cleared before each run, so each one pays the once-per-model shortlist scan (the first
  Explorer of a session);
- ``new, warm``: the same with the shortlist cached (every later Explorer of the model);
- ``full scan``: the old defaults plus a whole-vocabulary neutral scan before the screen (what
  a first screen waiting for :func:`discover_neutral_tokens` over the vocabulary would cost).

Each ratio is ``setting / old defaults``, the median of the pairs with its lowest and highest.
The texts are the demo notebook's four examples, one per pair in turn, and beside them (same
run, same settings) four held-out rt-polarity sentences the defaults were not chosen on
(:func:`benchmarks.texts.held_out_sentences`; ``--held-out 0`` for none).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ig_widgets as igw  # noqa: E402  (after the path above)
from benchmarks.run import paired_ratio, timed  # noqa: E402
from benchmarks.texts import held_out_sentences  # noqa: E402
from ig_widgets.engine import neutral  # noqa: E402
from ig_widgets.widgets.explorer import Explorer  # noqa: E402

OLD = {"n_steps": 50, "baseline": "[default]"}
NEW: dict[str, Any] = {}  # the constructor's defaults: "auto" and [neutral]


def examples() -> list[str]:
    """The example reviews of ``notebooks/demo.ipynb`` (its ``EXAMPLES`` literal)."""
    notebook = json.loads((ROOT / "notebooks" / "demo.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        for node in ast.parse("".join(cell["source"])).body if cell["cell_type"] == "code" else []:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
                return list(ast.literal_eval(node.value).values())
    sys.exit("notebooks/demo.ipynb defines no EXAMPLES")


def screen(
    explainer: igw.Explainer,
    texts: list[str],
    settings: dict[str, Any],
    before: Callable[[], None],
) -> Callable[[], None]:
    """A function that shows one first screen per call (the texts in turn, nothing cached)."""
    turn = iter(range(10**9))

    def show() -> None:
        explainer.clear_cache()  # a fresh result every time, as on a first screen
        before()
        text = texts[next(turn) % len(texts)]
        explorer = Explorer(
            explainer,
            text=text,
            debounce=0.0,
            discover_neutral=False,
            faithfulness=False,
            **settings,
        )
        assert explorer.wait(300) and explorer.explanation is not None, explorer.error
        assert explorer.explanation.is_final
        explorer.close()

    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--models", nargs="+", default=igw.demo_models("classifier"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--held-out", type=int, default=4, help="held-out sentences (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = {"demo examples": examples()}
    if args.held_out:
        sets["held-out sentences"] = held_out_sentences(args.held_out)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {args.pairs} pairs; "
        + ", ".join(f"{len(texts)} {name}" for name, texts in sets.items())
        + "\n"
    )
    print("| model | texts | setting | setting s | old defaults s | ratio | lowest | highest |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        learn = igw.load_demo_model(name)
        explainer = igw.Explainer(learn)

        def cold() -> None:
            neutral._shortlists.clear()

        def scan(explainer: igw.Explainer = explainer) -> None:
            igw.discover_neutral_tokens(explainer, top_k=10)

        for set_name, texts in sets.items():
            old = timed(screen(explainer, texts, OLD, lambda: None))
            settings = {
                "new, cold": screen(explainer, texts, NEW, cold),
                "new, warm": screen(explainer, texts, NEW, lambda: None),
                "full scan": screen(explainer, texts, OLD, scan),
            }
            for label, show in settings.items():
                r = paired_ratio(timed(show), old, args.pairs)
                print(
                    f"| {name} | {set_name} | {label} | {r['a_s']:.3f} | {r['b_s']:.3f} | "
                    f"{r['ratio']:.2f} | {r['low']:.2f} | {r['high']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
