"""The cost of the cache key (a content digest of the weights) against an explanation.

Run: ``.venv/bin/python -m benchmarks.cache_key [--pairs 9] [--threads 2] [--json out.json]``
from the project root. For the demo AWD-LSTM and a tiny BERT (``benchmarks.bert_base``'s,
random weights): one fresh ``Explainer.explain`` (50 Gauss-Legendre points, every class) and
the digests it computes (:func:`ig_widgets.engine.adapters._digest.weights_digest`, counted on
a first explanation: one for a fixed step count, its set-up and its stage share it), timed
back to back in pairs, the order alternating (``benchmarks/run.py``). The figure is the median
ratio digests/explain (target < 1 %). The machine's load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import Any

import torch

from benchmarks.bert_base import Bench, make_text
from benchmarks.run import paired_ratio, timed
from ig_widgets.engine.adapters import _digest
from ig_widgets.engine.adapters._digest import weights_digest

TARGET = 0.01
SENTENCE = (
    "a warm , funny and clever film that never forgets its characters , even when the plot "
    "wanders and the second half drags a little ."
)


def digests_per_explain(explain: Any) -> int:
    """How many digests one call of ``explain`` computes (counted, not assumed)."""
    calls = []

    def counting(module: Any) -> int:
        calls.append(1)
        return weights_digest(module)

    _digest.weights_digest = counting  # the weights key looks the function up in its module
    try:
        explain()
    finally:
        _digest.weights_digest = weights_digest
    return len(calls)


def measure(explainer: Any, text: str, pairs: int) -> dict[str, float]:
    """Median seconds of a fresh explanation and of its digests, and their ratio."""
    network = explainer.adapter.network

    def explain() -> None:
        explainer.clear_cache()
        explainer.explain(text, n_steps=50, method="gausslegendre")

    count = digests_per_explain(explain)

    def digests() -> None:
        for _ in range(count):
            weights_digest(network)

    figures = paired_ratio(timed(digests), timed(explain), pairs)
    figures["digests"] = float(count)
    figures["tokens"] = float(len(explainer.tokenize(text)))
    figures["parameters"] = float(sum(p.numel() for p in network.parameters()))
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure both models, print a Markdown table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import ig_widgets as igw

    results = {
        "awd_lstm": measure(igw.Explainer(igw.load_demo_model("awd_lstm")), SENTENCE, args.pairs),
        "tiny_bert": measure(Bench.build(tiny=True).explainer, make_text(40), args.pairs),
    }
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"cache key vs explain, {platform.machine()}, {args.threads} threads, {args.pairs} "
        f"pairs, load average {load}"
    )
    print("| model | parameters | tokens | digests | explain ms | digests ms | ratio (min–max) |")
    print("|---|---|---|---|---|---|---|")
    for name, f in results.items():
        print(
            f"| {name} | {f['parameters']:.0f} | {f['tokens']:.0f} | {f['digests']:.0f} | "
            f"{1e3 * f['b_s']:.1f} | "
            f"{1e3 * f['a_s']:.2f} | {100 * f['ratio']:.2f} % ({100 * f['low']:.2f}–"
            f"{100 * f['high']:.2f} %) |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if all(f["ratio"] < TARGET for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
