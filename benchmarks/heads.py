"""P9: all six sigmoid labels of a multi-label model against one label, in one engine pass.

Run: ``.venv/bin/python -m benchmarks.heads [--pairs 9] [--threads 1] [--json out.json]`` from
the project root. A 2-layer LSTM (embeddings 200, hidden 256) with six sigmoid outputs, 32
path points × 200 tokens in one chunk: the engine's :class:`PathEvaluator` computes the
gradients of all six labels (one forward, six backwards) and of one label (one forward, one
backward). The ratio is the median over back-to-back pairs in alternating order (target
≤ 4; transformers-interpret pays 6, a forward and a backward per label). The whole
``Explainer.explain`` of the six labels is timed too, for scale.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import numpy as np
import torch
from torch import nn

from benchmarks.run import paired_ratio, timed
from ig_widgets.engine.adapters.torch import TorchAdapter
from ig_widgets.engine.core import PathEvaluator
from ig_widgets.engine.explainer import Explainer

VOCAB, N_TOKENS, N_POINTS, N_LABELS = 5000, 200, 32, 6
TARGET = 4.0


class MultiLabelLSTM(nn.Module):
    """Embedding 200 → 2-layer LSTM 256 → mean over time → six label logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(VOCAB, 200)
        self.rnn = nn.LSTM(200, 256, num_layers=2, batch_first=True)
        self.head = nn.Linear(256, N_LABELS)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.head(out.mean(1))


def setup() -> tuple[TorchAdapter, str]:
    """The adapter around the model (tokens are numbers) and a text of 200 tokens."""
    vocab = [str(i) for i in range(VOCAB)]
    adapter = TorchAdapter(
        MultiLabelLSTM().eval(),
        tokenizer=lambda text: [int(w) for w in text.split()],
        vocab=vocab,
        embedding="emb",
        classes=[f"label{i}" for i in range(N_LABELS)],
        output="sigmoid",
    )
    rng = np.random.default_rng(0)
    return adapter, " ".join(str(i) for i in rng.integers(10, VOCAB, N_TOKENS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    adapter, text = setup()
    ids = torch.tensor(adapter.tokenize(text).ids)
    inputs = adapter.embed(ids[None])[0]
    baseline = torch.zeros_like(inputs)
    alphas = list((np.arange(N_POINTS) + 0.5) / N_POINTS)

    def evaluator(classes: list[int] | None) -> PathEvaluator:
        # one chunk of all 32 points, as the engine runs them under its default budget
        return PathEvaluator(
            adapter, inputs, baseline, ids, memory_budget=2**40, bytes_per_point=1, classes=classes
        )

    with adapter.prepared():
        pair = paired_ratio(
            timed(lambda: evaluator(None).evaluate(alphas)),
            timed(lambda: evaluator([0]).evaluate(alphas)),
            args.pairs,
        )
    explainer = Explainer(adapter)
    explain_s = timed(lambda: explainer.explain(text, n_steps=N_POINTS, baseline=None))()
    figures = {
        "all_labels_s": pair["a_s"],
        "one_label_s": pair["b_s"],
        "p9_all_over_one": pair["ratio"],
        "p9_low": pair["low"],
        "p9_high": pair["high"],
        "explain_all_labels_s": explain_s,
    }
    command = "python -m benchmarks.heads " + " ".join(sys.argv[1:])
    print(f"command: {command.strip()}")
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); {N_LABELS} sigmoid labels, 2-layer LSTM, "
        f"{N_POINTS} points × {N_TOKENS} tokens, {args.pairs} pairs"
    )
    print(
        f"all {N_LABELS} labels {pair['a_s'] * 1e3:.0f} ms, one label {pair['b_s'] * 1e3:.0f} ms"
        f" (medians); explain() of all labels {explain_s * 1e3:.0f} ms"
    )
    ok = "yes" if pair["ratio"] <= TARGET else "NO"
    print(
        f"P9 all labels / one label: {pair['ratio']:.2f} (pairs {pair['low']:.2f}-"
        f"{pair['high']:.2f}), target ≤ {TARGET:.0f}: {ok}"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
