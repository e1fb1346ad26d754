"""The LM benchmark's functions on a tiny GPT-2 config, so that the script cannot rot."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from support.paths import SHARED_DATA

from benchmarks import lm as B

torch.set_num_threads(1)
pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "imdb_sample.csv").exists(), reason="needs ../shared/data (the prompts)"
)


@pytest.fixture(scope="module")
def bench() -> B.Bench:
    return B.Bench(16, 2, tiny=True)


def test_pairs_alternate_the_order_after_the_short_warm_ups() -> None:
    calls: list[str] = []

    def side(name: str, seconds: float) -> Any:
        return lambda: calls.append(name) or seconds

    out = B.pairs_of(side("a", 2.0), side("b", 4.0), 3, side("wa", 9.0), side("wb", 9.0))
    assert calls == ["wa", "wb", "a", "b", "b", "a", "a", "b"]
    assert out["ratio"] == out["low"] == out["high"] == 0.5 and out["pairs"] == 3
    assert out["a_s"] == 2.0 and out["b_s"] == 4.0 and out["load"].startswith("load ")


def test_prompt_has_the_asked_tokens_and_the_continuation_follows(bench: B.Bench) -> None:
    assert bench.n_tokens == 16
    full = bench.tok(bench.text + bench.rest)["input_ids"]
    assert len(full) == 16 + B.CONTINUATION_TOKENS
    assert bench.tok(bench.text)["input_ids"] == full[:16]


def test_every_g_gives_a_finite_ratio(bench: B.Bench) -> None:
    for g in ("g1", "g1top", "g2", "g3", "g4"):
        out = getattr(bench, g)(1)
        assert math.isfinite(out["ratio"]) and out["ratio"] > 0, g
    assert bench.first_points is not None and 0 < bench.first_points < B.EXPLORER_STEPS
