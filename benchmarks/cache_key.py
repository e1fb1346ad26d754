"""The cost of the cache key (a content digest of the weights) against an explanation.

Run: ``.venv/bin/python -m benchmarks.cache_key [--pairs 9] [--threads 2] [--json out.json]``
from the project root. For the demo AWD-LSTM and a tiny BERT (``benchmarks.bert_base``'s,
random weights): one fresh ``Explainer.explain`` (50 Gauss-Legendre points, every class) and
the digests it computes (:func:`ig_widgets.engine.adapters.base.weights_digest`: one in the
set-up and one per stage, so two for a fixed step count), timed back to back in pairs, the
order alternating (``benchmarks/run.py``). The figure is the median ratio digests/explain
(target < 1 %).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

import torch

from benchmarks.bert_base import Bench, make_text
from benchmarks.run import paired_ratio, timed
from ig_widgets.engine.adapters.base import weights_digest

TARGET = 0.01
#: digests in one explanation with a fixed step count: the set-up, and its one stage
DIGESTS_PER_EXPLAIN = 2
SENTENCE = (
    "a warm , funny and clever film that never forgets its characters , even when the plot "
    "wanders and the second half drags a little ."
)


def measure(explainer: Any, text: str, pairs: int) -> dict[str, float]:
    """Median seconds of a fresh explanation and of its digests, and their ratio."""
    network = explainer.adapter.network

    def explain() -> None:
        explainer.clear_cache()
        explainer.explain(text, n_steps=50, method="gausslegendre")

    def digests() -> None:
        for _ in range(DIGESTS_PER_EXPLAIN):
            weights_digest(network)

    figures = paired_ratio(timed(digests), timed(explain), pairs)
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
    print(f"cache key vs explain, {platform.machine()}, {args.threads} threads, {args.pairs} pairs")
    print("| model | parameters | tokens | explain ms | digests ms | ratio (min–max) |")
    print("|---|---|---|---|---|---|")
    for name, f in results.items():
        print(
            f"| {name} | {f['parameters']:.0f} | {f['tokens']:.0f} | {1e3 * f['b_s']:.1f} | "
            f"{1e3 * f['a_s']:.2f} | {100 * f['ratio']:.2f} % ({100 * f['low']:.2f}–"
            f"{100 * f['high']:.2f} %) |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0 if all(f["ratio"] < TARGET for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
