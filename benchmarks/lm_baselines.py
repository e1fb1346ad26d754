"""Issue 18 item 6: the language models' default baseline chosen by faithfulness, not by rule.

Run: ``nice -n 10 .venv/bin/python -m benchmarks.lm_baselines [--dev 30] [--test 60]
[--steps 20] [--json f]`` from the project root (``IGW_SHARED_DATA`` or ``../shared/data``).

**Models**: the two demo LMs, ``gpt_lm`` (GPT-2-style, byte-level BPE; today's default is its
pad token ``<pad>``) and ``awd_lstm_lm`` (fastai AWD-LSTM; today's default ``xxunk``).

**Tasks**: *next token*, IG of the model's likeliest next token after an rt-polarity sentence
(the request bound to that one token, so every metric scores the same token); *prompted*, the
LM as a classifier ``Review: {text}. Sentiment:`` with the label words ``positive`` /
``negative``, IG of its predicted label over the sentence's tokens.

**Candidates**: today's default token, the pad / end / unknown tokens the model has (the begin
token is kept by every token baseline and is no candidate), zero embeddings, the average of
the default token and zero embeddings (the engine's ``[average]``), and, for the prompted task,
the most neutral token of ``discover_neutral_tokens`` (length: the dev sentences' median). A
next-token LM has no neutral point (uniform over 8 k next tokens is no prediction any token
gives), so that task has no neutral candidate.

**Metrics** (``igw.metrics`` through ``faithfulness_summary``): comprehensiveness ↑ and
sufficiency ↓ at 20 %, tokens removed (the same perturbation for every baseline), and
log-odds ↓ at 20 % with the model's current default token as the replacement for every row.

**Rule, fixed before the run**: on the *dev* sentences (rt-polarity's validation split, the
demo models' split) each candidate gets its mean rank over the three metrics and both tasks;
the best one is then compared with today's default on the *held-out* sentences (the test
split, never used for choosing) by per-sentence paired differences with 95 % Student-t
intervals. The default changes only if the winner is better on comprehensiveness or
sufficiency with an interval that excludes zero in both tasks, and no metric is worse with an
interval that excludes zero.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import ig_widgets as igw
from benchmarks.faithfulness import DATA, ROOT, datasets, training_script
from ig_widgets.engine import metrics as M
from ig_widgets.engine.baselines import AVERAGE, baseline_from_choice
from ig_widgets.engine.neutral import discover_neutral_tokens

PROMPT = "Review: {text}. Sentiment:"
LABELS = {
    "gpt_lm": {"positive": " positive", "negative": " negative"},
    "awd_lstm_lm": {"positive": "positive", "negative": "negative"},
}
SPECIAL_NAMES = ("pad_token", "eos_token", "unk_token")
FASTAI_SPECIALS = ("xxpad", "xxeos", "xxunk")


def log_odds_default(
    explanation: igw.Explanation, explainer: igw.Explainer, **kw: Any
) -> M.MetricResult:
    """Log-odds at 20 %, the model's current default token replacing, whatever the baseline."""
    token = explainer.adapter.default_baseline_token
    return M.log_odds(explanation, explainer, token=token, **kw)


#: column, metric, higher is better
COLUMNS: tuple[tuple[str, M.Metric, bool], ...] = (
    ("comp@20 ↑", M.comprehensiveness, True),
    ("suff@20 ↓", M.sufficiency, False),
    ("log-odds ↓", log_odds_default, False),
)


def dev_texts(n: int) -> list[str]:
    """rt-polarity's validation sentences of the demo models' split (never their test set)."""
    card = ROOT / "ig_widgets" / "models" / "data" / "awd_lstm" / "metrics.json"
    settings = json.loads(card.read_text())["settings"]
    splits = training_script().load_splits(
        DATA, settings["seed"], settings["test_pct"], settings["valid_pct"]
    )
    return list(splits["rt_valid"]["text"])[:n]


def explainer_of(name: str, model: Any, **kw: Any) -> igw.Explainer:
    """An explainer of a demo LM (``gpt_lm`` loads as ``(model, tokenizer)``)."""
    if name == "awd_lstm_lm":
        return igw.Explainer(model, **kw)
    return igw.Explainer(model.model, tokenizer=model.tokenizer, **kw)


def token_candidates(name: str, model: Any) -> list[str]:
    """The pad / end / unknown tokens the model has, today's default first."""
    adapter = explainer_of(name, model).adapter
    if name == "awd_lstm_lm":
        found = [t for t in FASTAI_SPECIALS if adapter.has_token(t)]
    else:
        found = [getattr(model.tokenizer, s) for s in SPECIAL_NAMES]
        found = [t for t in found if t is not None and t != model.tokenizer.bos_token]
    default = adapter.default_baseline_token
    assert default is not None  # both demo LMs have a default token today
    return [default, *[t for t in dict.fromkeys(found) if t != default]]


def candidates(explainer: igw.Explainer, tokens: list[str], neutral: str | None) -> dict[str, Any]:
    """Row name → ``baseline=`` value; the first row is today's default."""
    rows: dict[str, Any] = {
        f"token {t!r}" + (" (default)" if i == 0 else ""): t for i, t in enumerate(tokens)
    }
    rows["zero embeddings"] = igw.ZeroBaseline()
    rows["average (default, zero)"] = baseline_from_choice(AVERAGE, explainer.adapter)
    if neutral is not None:
        rows[f"neutral {neutral!r}"] = neutral
    return rows


class Task:
    """One task on one model: how to explain a sentence and with which explainer to score it."""

    def __init__(self, model_name: str, model: Any, kind: str) -> None:
        self.kind = kind
        if kind == "prompted":
            self.base = explainer_of(model_name, model, prompt=PROMPT, labels=LABELS[model_name])
        else:
            self.base = explainer_of(model_name, model, top_k=1)

    def explainer(self, text: str) -> igw.Explainer:
        """The prompted explainer; for the next token, one bound to the likeliest next token."""
        if self.kind == "prompted":
            return self.base
        return igw.Explainer(self.base.adapter.bind(self.base.tokenize(text), None))


def scores(task: Task, texts: list[str], baseline: Any, steps: int) -> dict[str, np.ndarray]:
    """Each column's per-sentence values for one baseline."""
    values: dict[str, list[float]] = {c[0]: [] for c in COLUMNS}
    for text in texts:
        ex = task.explainer(text)
        exp = ex.explain(text, n_steps=steps, baseline=baseline)
        summary = M.faithfulness_summary([exp], ex, metrics=[c[1] for c in COLUMNS])
        for (col, _, _), m in zip(COLUMNS, summary.metrics, strict=True):
            values[col].append(float(m.values[0]))
    return {c: np.asarray(v) for c, v in values.items()}


def cell(values: np.ndarray) -> str:
    mean, low, high, _ = M.mean_interval(values)
    return f"{mean:.4f} ± {(high - low) / 2:.4f}"


def mean_ranks(table: dict[str, dict[str, dict[str, np.ndarray]]]) -> dict[str, float]:
    """Each candidate's mean rank (1 best) over the columns of every task of ``table``."""
    ranks: dict[str, list[int]] = {}
    for rows in table.values():
        for col, _, up in COLUMNS:
            means = {r: float(np.nanmean(v[col])) for r, v in rows.items()}
            order = sorted(means, key=lambda r: -means[r] if up else means[r])
            for i, r in enumerate(order):
                ranks.setdefault(kind_of(r), []).append(i + 1)
    return {r: statistics.mean(v) for r, v in ranks.items()}


def kind_of(row: str) -> str:
    """A row's candidate across tasks: the neutral token's name differs per model."""
    return "neutral" if row.startswith("neutral") else row


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    mean, low, high, _ = M.mean_interval(a - b)
    return mean, low, high


def study(name: str, dev: list[str], test: list[str], steps: int) -> dict[str, Any]:
    """Dev and held-out tables of one model, its dev ranks and the held-out paired check."""
    model = igw.load_demo_model(name)
    tokens = token_candidates(name, model)
    out: dict[str, Any] = {"dev": {}, "test": {}, "seconds": {}}
    tasks = {k: Task(name, model, k) for k in ("prompted", "next token")}
    for kind, task in tasks.items():
        neutral = None
        if kind == "prompted":
            lengths = [sum(not s for s in task.base.tokenize(t).special) for t in dev]
            found = discover_neutral_tokens(
                task.base, top_k=1, length=int(statistics.median(lengths))
            )
            neutral = found[0].token
        rows = candidates(task.base, tokens, neutral)
        for split, texts in (("dev", dev), ("test", test)):
            out[split][kind] = {}
            for row, baseline in rows.items():
                t0 = time.perf_counter()
                out[split][kind][row] = scores(task, texts, baseline, steps)
                out["seconds"][f"{kind} {split} {row}"] = time.perf_counter() - t0
                print(
                    f"  {name} {kind} {split} {row}: "
                    + ", ".join(f"{c} {cell(v)}" for c, v in out[split][kind][row].items()),
                    flush=True,
                )
    out["ranks"] = mean_ranks(out["dev"])
    return out


def held_out(result: dict[str, Any]) -> tuple[str, list[str]]:
    """The dev winner and its paired differences from today's default on the held-out set."""
    winner = min(result["ranks"], key=result["ranks"].get)
    lines = []
    for kind, rows in result["test"].items():
        default = next(r for r in rows if r.endswith("(default)"))
        row = next((r for r in rows if kind_of(r) == winner), None)
        if row is None:
            lines.append(f"| {kind} | {winner} not a candidate here | | |")
            continue
        diffs = [paired(rows[row][c], rows[default][c]) for c, _, _ in COLUMNS]
        lines.append(
            f"| {kind} | {row} − {default} | "
            + " | ".join(f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]" for m, lo, hi in diffs)
            + " |"
        )
    return winner, lines


def report(name: str, result: dict[str, Any], n_dev: int, n_test: int) -> str:
    header = "| task | baseline | " + " | ".join(c for c, _, _ in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 2)
    lines = [
        f"**{name}**, held-out rt-polarity test sentences (n = {n_test}), mean ± 95 % half-width:",
        "",
        header,
        rule,
    ]
    for kind, rows in result["test"].items():
        for row, values in rows.items():
            lines.append(
                f"| {kind} | {row} | " + " | ".join(cell(values[c]) for c, _, _ in COLUMNS) + " |"
            )
    ranks = ", ".join(
        f"{r} {v:.2f}" for r, v in sorted(result["ranks"].items(), key=lambda x: x[1])
    )
    winner, diffs = held_out(result)
    lines += [
        "",
        f"Mean rank on the dev sentences (n = {n_dev}; 1 best): {ranks}.",
        "",
        f"Dev winner **{winner}** against today's default, held-out paired difference (95 %):",
        "",
        "| task | difference | " + " | ".join(c for c, _, _ in COLUMNS) + " |",
        rule,
        *diffs,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", type=int, default=30, help="rt-polarity validation sentences")
    parser.add_argument("--test", type=int, default=60, help="held-out rt-polarity test sentences")
    parser.add_argument("--steps", type=int, default=20, help="Gauss-Legendre points per IG")
    parser.add_argument("--models", default="gpt_lm,awd_lstm_lm")
    parser.add_argument("--json", help="write the per-sentence values here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    dev = dev_texts(args.dev)
    test = datasets(args.test, 0)["rt test"]
    print(f"command: python -m benchmarks.lm_baselines {' '.join(sys.argv[1:])}".strip())
    dump: dict[str, Any] = {}
    for name in args.models.split(","):
        t0 = time.perf_counter()
        result = study(name, dev, test, args.steps)
        print(report(name, result, len(dev), len(test)))
        print(f"({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
        dump[name] = {
            split: {
                k: {r: {c: v.tolist() for c, v in vals.items()} for r, vals in rows.items()}
                for k, rows in result[split].items()
            }
            for split in ("dev", "test")
        }
        dump[name]["ranks"] = result["ranks"]
    if args.json:
        Path(args.json).write_text(json.dumps(dump, indent=1))


if __name__ == "__main__":
    main()
