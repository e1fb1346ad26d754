"""The benchmarks' texts: each figure's own set, and the held-out sets timed beside them.

Every benchmark that was looked at while the engine was tuned reports, in the same run, the
same figure on texts nobody tuned on (issue 20). The sets, all from ``../shared/data`` (or
``$IGW_SHARED_DATA``):

- :func:`reviews`: the 1,000 imdb_sample reviews in file order. ``benchmarks/run.py`` times
  its single-text figures on review 1 (cut to 250 and 400 tokens); P8 uses reviews 12-35; the
  Gauss-Legendre ladder and the adaptive rule were chosen on reviews 0-11 and 36-65. So the
  first :data:`TUNED_ROWS` rows are the tuned-on part.
- :func:`imdb_valid`: the 200 validation reviews P7 has always timed.
- :func:`imdb_held_out`: a fixed draw of the *training* reviews (seed :data:`HELD_OUT_SEED`)
  without the tuned-on rows: P7's held-out set and, cut to length, run.py's.
- :func:`sentences`: rt-polarity sentences, shuffled once; P10 and the corpus memory figure
  take the first ones, and their held-out sets the last ones (:func:`held_out_sentences`).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IGW_SHARED_DATA", ROOT.parent / "shared" / "data"))

#: the seed of the held-out draw of training reviews (:func:`imdb_held_out`)
HELD_OUT_SEED = 20
#: imdb_sample rows (file order) that a figure is timed on or that a rule was tuned on
TUNED_ROWS = 66


def _need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark needs {path} (the shared data beside the project)")
    return path


def _rows() -> list[dict[str, str]]:
    with _need(DATA / "imdb_sample.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def reviews() -> list[str]:
    """All imdb_sample reviews, in file order."""
    return [row["text"] for row in _rows()]


def imdb_reviews(valid: bool) -> list[str]:
    """imdb_sample's validation reviews (``is_valid``), or its training reviews, in file order."""
    return [row["text"] for row in _rows() if (row["is_valid"].lower() == "true") == valid]


def imdb_valid() -> list[str]:
    """The 200 validation reviews P7 has always timed (the engine's rules were tuned on them)."""
    return imdb_reviews(valid=True)


def imdb_held_out(n: int) -> list[str]:
    """``n`` imdb_sample *training* reviews, a fixed draw: the held-out set beside P7.

    ``numpy.random.default_rng(HELD_OUT_SEED).permutation`` of the 800 training reviews (file
    order), its first ``n``, without the first :data:`TUNED_ROWS` rows of the file. The engine
    was never tuned on them (its step rules, probes and lockstep were timed on other reviews);
    the demo classifier was trained on them, which changes its predictions, not what a point
    of the path costs.
    """
    tuned = set(reviews()[:TUNED_ROWS])
    pool = imdb_reviews(valid=False)
    order = np.random.default_rng(HELD_OUT_SEED).permutation(len(pool))
    return [pool[i] for i in order if pool[i] not in tuned][:n]


def cut(explainer: Any, text: str, n_tokens: int) -> str:
    """The longest prefix of ``text`` that has at most ``n_tokens`` tokens."""
    tok = explainer.tokenize(text)
    ends = [s[1] for s in tok.spans[:n_tokens] if s is not None]
    return text[: ends[-1]]


def long_review(explainer: Any, texts: list[str], n_tokens: int) -> str:
    """The first of ``texts`` with at least ``n_tokens`` tokens, cut to ``n_tokens``."""
    return long_reviews(explainer, texts, n_tokens, 1)[0]


def long_reviews(explainer: Any, texts: list[str], n_tokens: int, n: int) -> list[str]:
    """The first ``n`` of ``texts`` with at least ``n_tokens`` tokens, each cut to that."""
    found = [cut(explainer, t, n_tokens) for t in texts if len(explainer.tokenize(t)) >= n_tokens]
    if len(found) < n:
        raise SystemExit(f"only {len(found)} reviews with {n_tokens} tokens, {n} wanted")
    return found[:n]


def sentences() -> list[str]:
    """rt-polarity sentences in a fixed shuffled order (both polarities mixed)."""
    lines: list[str] = []
    for name in ("rt-polarity.neg", "rt-polarity.pos"):
        text = _need(DATA / name).read_text(encoding="utf-8", errors="replace")
        lines += [line.strip() for line in text.splitlines() if line.strip()]
    order = np.random.default_rng(0).permutation(len(lines))
    return [lines[i] for i in order]


def held_out_sentences(n: int) -> list[str]:
    """The last ``n`` sentences of :func:`sentences`: never among the first ones a figure uses."""
    return sentences()[-n:]
