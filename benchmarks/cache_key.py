"""The cost of the cache key (a content digest of the weights) against an explanation.

Run: ``.venv/bin/python -m benchmarks.cache_key [--pairs 9] [--threads 2] [--json out.json]``
from the project root. For the demo AWD-LSTM and a tiny BERT (``benchmarks.bert_base``'s,
random weights): one fresh ``Explainer.explain`` (50 Gauss-Legendre points, every class) and
the digests it computes (:func:`ig_widgets.engine.adapters._digest.weights_digest`, counted on
a first explanation: one for a fixed step count, its set-up and its stage share it), timed
back to back in pairs, the order alternating (``benchmarks/run.py``). The figure is the median
ratio digests/explain (target < 1 %). The machine's load average is printed with it.

``--fastai-check``: the check of every fastai text against ``learn.model`` on the demo
AWD-LSTM, as it is (the Learner's forward once per length class) against the Learner's
forward on every text (before): 6 fresh rt-polarity reviews a run, ``n_steps="auto"``,
alternating pairs; the figure is the median time ratio now/before.
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
from ig_widgets.engine.adapters.base import eval_mode
from ig_widgets.engine.heads import apply_head

TARGET = 0.01
#: fresh texts per run of ``--fastai-check``
TEXTS = 6
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


def fastai_check(pairs: int) -> dict[str, float]:
    """Seconds of :data:`TEXTS` explanations, the check once per length class / every text."""
    import ig_widgets as igw
    from benchmarks.run import DATA

    texts = (DATA / "rt-polarity.pos").read_text(encoding="latin-1").splitlines()
    explainer = igw.Explainer(igw.load_demo_model("awd_lstm"))
    adapter = explainer.adapter
    start = [0]

    def learner_forward(ids: torch.Tensor) -> torch.Tensor:  # what ran on every text before
        batch = ids.reshape(1, -1)
        model = adapter.learn.model
        with adapter.lock, torch.no_grad(), eval_mode(model), adapter._fresh_hidden(1):
            return apply_head(model(batch)[0], adapter.output)

    def run(every_text: bool) -> None:
        batch = texts[start[0] : start[0] + TEXTS]  # fresh texts: no cached path helps
        start[0] += TEXTS
        if every_text:
            adapter.reference_forward = learner_forward
        try:
            for text in batch:
                explainer.explain(text, n_steps="auto")
        finally:
            adapter.__dict__.pop("reference_forward", None)

    run(False)  # warm up
    figures = paired_ratio(timed(lambda: run(False)), timed(lambda: run(True)), pairs)
    figures["texts"] = float(TEXTS)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure both models, print a Markdown table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--fastai-check", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fastai_check:
        f = fastai_check(args.pairs)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"fastai check once per length class / on every text: {f['ratio']:.3f} "
            f"({f['low']:.3f}–{f['high']:.3f}), {TEXTS} texts {f['a_s']:.2f} s vs "
            f"{f['b_s']:.2f} s, "
            f"{args.pairs} pairs, load average {load}"
        )
        return 0
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
