"""The check of fastai texts against ``learn.model``: once per length class, never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from support.fastai_models import build_toy_learner

import ig_widgets as igw

pytest.importorskip("fastai")

SHORT = ("a warm, funny and clever movie", "the acting is wonderful", "a boring plot")
#: words of the toy vocabulary, repeated into texts past a bptt of 8
WORDS = [
    "a",
    "gorgeous",
    "moving",
    "film",
    "with",
    "a",
    "great",
    "cast",
    "and",
    "the",
    "story",
    "is",
    "moving",
]


def _long(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


@pytest.fixture
def learner_calls() -> Iterator[tuple[Any, list[int]]]:
    """A toy bidirectional Learner (``bptt`` 8) whose own forward is counted."""
    learn = build_toy_learner(seed=4, bidir=True, bptt=8)
    calls: list[int] = []
    handle = learn.model.register_forward_hook(lambda *_: calls.append(1))
    yield learn, calls
    handle.remove()


def test_the_learners_forward_runs_once_per_length_class(learner_calls: Any) -> None:
    learn, calls = learner_calls
    explainer = igw.Explainer(learn)
    for text in SHORT:  # one class: within bptt
        explainer.explain(text, n_steps=4)
    assert len(calls) == 1
    chunks = {-(-len(explainer.tokenize(_long(n))) // 8) for n in (12, 13)}
    assert len(chunks) == 1  # two texts of one chunk count past bptt
    explainer.explain(_long(12), n_steps=4)
    explainer.explain(_long(13), n_steps=4)
    assert len(calls) == 2
    explainer.explain(_long(30), n_steps=4)  # more chunks: a class of its own
    assert len(calls) == 3


def test_a_weight_edit_checks_again(learner_calls: Any) -> None:
    learn, calls = learner_calls
    explainer = igw.Explainer(learn)
    explainer.explain(SHORT[0], n_steps=4)
    with torch.no_grad():
        learn.model[1].layers[-1][-1].weight.data[0, 0] += 0.5  # .data: no version bump
    explainer.explain(SHORT[1], n_steps=4)
    assert len(calls) == 2


def test_a_forward_that_differs_from_the_learners_is_still_caught(learner_calls: Any) -> None:
    learn, _ = learner_calls
    explainer = igw.Explainer(learn)
    explainer.explain(_long(12), n_steps=4)  # a checked class ...
    adapter = explainer.adapter
    adapter._chunked = lambda embeds, bptt: adapter.awd_lstm(embeds, from_embeds=True)
    with pytest.raises(ValueError, match="is not what"):
        explainer.explain(_long(30), n_steps=4)  # ... and one not checked yet: one chunk is wrong
