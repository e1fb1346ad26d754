"""The BERT-base benchmark's functions on a tiny config, so that the script cannot rot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmarks import bert_base as B

torch.set_num_threads(1)

PLAN = {"floor": {16: (2, 1)}, "captum_steps": 4, "first_steps": 16, "memory": (16, 8, 1)}


@pytest.fixture(scope="module")
def bench() -> B.Bench:
    return B.Bench.build(tiny=True)


def test_texts_have_the_asked_length(bench: B.Bench) -> None:
    for n in (16, 128):
        tok = bench.explainer.tokenize(B.make_text(n))
        assert len(tok) == n and tok.tokens[0] == "[CLS]" and "[UNK]" not in tok.tokens
    assert bench.explainer.adapter.default_baseline_token == "[MASK]"


def test_engine_and_captum_compute_the_same_attributions(bench: B.Bench) -> None:
    text = B.make_text(16)
    exp = bench.engine(text, 8)
    for c in range(bench.n_classes):
        captum = bench.captum(text, 8, c).sum(-1)[0].detach().double().numpy()
        np.testing.assert_allclose(exp.scores[c], captum, atol=1e-5, rtol=0)
    first = bench.first_stage(text, 16)
    assert first.stage == 1 and first.n_steps < 16


def test_every_measure_runs_and_the_table_prints(bench: B.Bench) -> None:
    figures = B.run(bench, PLAN, memory=True, tiny=True)
    ratios = ("engine_over_floor_16", "engine_over_captum", "first_over_captum")
    assert all(math.isfinite(figures[k]) and figures[k] > 0 for k in ratios)
    assert figures["extra_bytes"] > 0 and figures["budget_bytes"] == 512 * 2**20
    assert 0 < figures["point_bytes"] < figures["budget_bytes"]
    lines = B.table(figures, (16,), quick=True)
    assert lines[0].startswith("| measure |") and len(lines) >= 6
    assert any("engine / floor, 16 tokens" in line for line in lines)


def test_the_engine_does_not_count_the_weights_as_memory_per_point(bench: B.Bench) -> None:
    """Linear layers save ``weight.t()``: a view of a weight, not memory a point adds."""
    from ig_widgets.engine.core import _measured_forward

    adapter = bench.explainer.adapter
    ids = torch.tensor(adapter.tokenize(B.make_text(3)).ids)  # [CLS] word [SEP]
    linear = [m.weight for m in bench.model.modules() if isinstance(m, torch.nn.Linear)]
    linear_bytes = sum(w.numel() * w.element_size() for w in linear)  # 70 KB
    with adapter.prepared():
        points = adapter.embed(ids[None]).detach().requires_grad_(True)
        _, saved = _measured_forward(adapter, points, ids)
    assert 0 < saved < linear_bytes / 2  # 3 tokens' activations: a few KB
