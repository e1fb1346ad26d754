"""What ``[neutral]`` costs a corpus run: ``explain_many`` with it over the model's default token.

Run: ``nice -n 10 .venv/bin/python benchmarks/corpus_neutral.py [--reviews N] [--held-out N]
[--chunk N] [--json out.json]``. Needs ``../shared/data`` (imdb_sample.csv) beside the project,
or ``IGW_SHARED_DATA``.

Both sides are ``explain_many(n_steps="auto")`` on the demo AWD-LSTM, one with
``baseline="[neutral]"``, one with the model's default token (``xxunk``), on the same reviews:
the first N imdb_sample validation reviews (P7's) and N held-out training reviews
(:func:`benchmarks.corpus.imdb_held_out`). The reviews go in chunks; each chunk is timed on
both sides back to back, the order alternating, so that the machine's drift falls on both
alike. The neutral choice is cached per text length for the whole process, as in one run: a
chunk pays the re-ranking of the shortlist (30 tokens at the text's length) only for lengths
no earlier chunk had. Reported per set: the ratio of the two sides, the distinct lengths, and
the seconds the re-rankings took (timed apart, on a fresh cache, after the pairs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.corpus import imdb_held_out, imdb_valid  # noqa: E402
from benchmarks.run import Setup  # noqa: E402


def ordinary_lengths(s: Setup, texts: list[str]) -> list[int]:
    """Each text's number of ordinary tokens: the length ``[neutral]`` is ranked at."""
    return [sum(not sp for sp in s.explainer.tokenize(t).special) for t in texts]


def paired(s: Setup, sets: dict[str, list[str]], chunk: int) -> dict[str, float]:
    """Per set, ``[neutral]``'s seconds over the default token's, in alternating pairs."""
    from ig_widgets.engine.corpus import explain_many

    def side(texts: list[str], baseline: str | None) -> float:
        s.explainer.clear_cache()  # path caches only: the neutral choices stay, as in one run
        t0 = time.perf_counter()
        explain_many(s.explainer, texts, n_steps="auto", baseline=baseline, progress=False)
        return time.perf_counter() - t0

    first = next(iter(sets.values()))
    side(first[:2], None)  # warm-up (the default token: no neutral choice is cached by it)
    spent = {name: [0.0, 0.0] for name in sets}  # [neutral], default
    longest = max(len(texts) for texts in sets.values())
    for k, start in enumerate(range(0, longest, chunk)):
        for name, texts in sets.items():
            part = texts[start : start + chunk]
            if not part:
                continue
            if k % 2 == 0:
                spent[name][0] += side(part, "[neutral]")
                spent[name][1] += side(part, None)
            else:
                spent[name][1] += side(part, None)
                spent[name][0] += side(part, "[neutral]")
            a, b = spent[name]
            done = start + len(part)
            print(f"  {name} {done}/{len(texts)}: ratio so far {a / b:.3f}", flush=True)
    figures: dict[str, float] = {}
    for name, (a, b) in spent.items():
        lengths = ordinary_lengths(s, sets[name])
        figures.update(
            {
                f"{name}_texts": len(sets[name]),
                f"{name}_distinct_lengths": len(set(lengths)),
                f"{name}_neutral_s": a,
                f"{name}_default_s": b,
                f"{name}_ratio": a / b,
            }
        )
    return figures


def ranking_seconds(s: Setup, sets: dict[str, list[str]]) -> dict[str, float]:
    """The seconds the re-rankings of each set's distinct lengths take on a fresh cache."""
    from ig_widgets.engine import neutral

    figures: dict[str, float] = {}
    for name, texts in sets.items():
        neutral._choices.clear()  # the per-length choices only; the shortlist stays
        t0 = time.perf_counter()
        for n in sorted(set(ordinary_lengths(s, texts))):
            neutral.neutral_token_at(s.explainer, n)
        figures[f"{name}_ranking_s"] = time.perf_counter() - t0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=60, help="validation reviews (P7's)")
    parser.add_argument("--held-out", type=int, default=30, help="held-out training reviews")
    parser.add_argument("--chunk", type=int, default=10, help="reviews per timed pair")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    s = Setup()
    sets = {"valid": imdb_valid()[: args.reviews]}
    if args.held_out:
        sets["heldout"] = imdb_held_out(args.held_out)
    figures = paired(s, sets, args.chunk)
    figures.update(ranking_seconds(s, sets))
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
