"""The weights' cache key: what it catches, and how often a request computes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from support.toy_models import MeanLinear, WordTokenizer
from torch import nn

import ig_widgets as igw
from ig_widgets.engine.adapters import _digest
from ig_widgets.engine.adapters._digest import weights_digest

TEXT = "the movie was not good"


def _explainer(seed: int) -> tuple[nn.Module, Any]:
    torch.manual_seed(seed)
    model = MeanLinear(len(WordTokenizer().vocab), n_classes=3).eval()
    return model, igw.Explainer(
        model, tokenizer=WordTokenizer(), embedding="emb", classes=list("abc")
    )


@pytest.fixture
def digests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the digests computed (every caller goes through ``_digest.weights_digest``)."""
    calls: list[int] = []

    def counting(module: nn.Module) -> int:
        calls.append(1)
        return weights_digest(module)

    monkeypatch.setattr(_digest, "weights_digest", counting)
    yield calls


def _swap_in_row(model: nn.Module) -> None:
    row = model.head.weight.data[1]
    row[[0, 3]] = row[[3, 0]].clone()  # two entries of one row: row sums stay the same


def _swap_in_embedding_row(model: nn.Module) -> None:
    row = model.emb.weight.data[WordTokenizer().vocab.index("good")]
    row[[1, 2]] = row[[2, 1]].clone()


@pytest.mark.parametrize("edit", [_swap_in_row, _swap_in_embedding_row])
@pytest.mark.parametrize("seed", [0, 5])
def test_two_entries_swapped_within_a_row_change_the_next_explanation(
    edit: Callable[[nn.Module], None], seed: int
) -> None:
    model, explainer = _explainer(seed)
    before = explainer.explain(TEXT, n_steps=8)
    edit(model)
    after = explainer.explain(TEXT, n_steps=8)
    assert not np.allclose(before.scores, after.scores)
    fresh = igw.Explainer(model, tokenizer=WordTokenizer(), embedding="emb", classes=list("abc"))
    np.testing.assert_allclose(after.scores, fresh.explain(TEXT, n_steps=8).scores, atol=1e-6)


def test_the_digest_sees_every_kind_of_edit() -> None:
    model, _ = _explainer(1)
    seen = {weights_digest(model)}
    with torch.no_grad():
        model.head.bias.data[0] += 1e-3  # .data: no version bump
        seen.add(weights_digest(model))
        w = model.head.weight.data
        w[[0, 2]] = w[[2, 0]].clone()  # rows moved
        seen.add(weights_digest(model))
        model.head.weight.detach().numpy()[0, 0] *= -1  # through NumPy: no version bump either
        seen.add(weights_digest(model))
    model.head = nn.Linear(6, 3)  # a swapped module
    seen.add(weights_digest(model))
    assert len(seen) == 5
    assert weights_digest(model) in seen  # and nothing edited: the same digest


def test_a_fixed_step_request_computes_one_digest(digests: list[int]) -> None:
    _, explainer = _explainer(2)
    explainer.explain(TEXT, n_steps=8)
    assert len(digests) == 1  # its set-up and its one stage share it
    digests.clear()
    explainer.explain(TEXT, n_steps=8)  # a cache hit still checks the weights, once
    assert len(digests) == 1


def test_a_later_stage_takes_the_digest_again(digests: list[int]) -> None:
    model, explainer = _explainer(3)
    steps = explainer.refine(TEXT, stages=[4, 8])
    next(steps)
    assert len(digests) == 1
    next(steps)
    assert len(digests) == 2  # after a yield the weights are looked at again
    steps = explainer.refine("a very good and fun film !", stages=[4, 8])
    next(steps)
    with torch.no_grad():
        model.head.weight.data[0, 0] += 0.5  # user code at the yield edits the weights
    with pytest.raises(ValueError, match="not what MeanLinear computes"):
        next(steps)  # the next stage sees the edit: refused, never a mix of two functions


def test_a_failed_request_shares_nothing_with_the_next_block() -> None:
    model, explainer = _explainer(4)
    adapter = explainer.adapter
    tok = adapter.tokenize(TEXT)
    adapter.bind(tok, None)  # a request starts ...
    with pytest.raises(RuntimeError), adapter.prepared():
        key = adapter.weights_version
        raise RuntimeError("the set-up failed")  # ... and fails in its set-up
    model.head.weight.data[0, 0] += 0.5
    with adapter.prepared():
        assert adapter.weights_version != key


def test_outside_a_request_every_block_takes_the_digest(digests: list[int]) -> None:
    model, explainer = _explainer(6)
    adapter = explainer.adapter
    with adapter.prepared():
        key = adapter.weights_version
        assert adapter.weights_version == key  # once per block
    model.head.weight.data[0, 0] += 0.5
    with adapter.prepared():
        assert adapter.weights_version != key
    assert len(digests) == 2


def test_tensors_numpy_cannot_sum_are_summed_by_torch() -> None:
    model, _ = _explainer(7)
    model = model.to(torch.bfloat16)  # NumPy has no bfloat16: the torch path
    before = weights_digest(model)
    row = model.emb.weight.data[3]
    row[[0, 4]] = row[[4, 0]].clone()
    assert not torch.equal(row[0], row[4])
    assert weights_digest(model) != before
