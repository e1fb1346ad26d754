"""Texts explained in lockstep: padded batches that change nothing, errors that stay alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.core import PathEvaluator, PointsNeeded, evaluate_together
from ig_widgets.engine.corpus import explain_many
from ig_widgets.engine.lockstep import explain_together

#: nearly equal lengths (within the demo model's 72-token padding room), and one far longer
TEXTS = (
    "a gorgeous, moving film with a great cast and a story that stays with you",
    "The acting is awful and the story is boring, but the music is fine.",
    "I loved it!!!! Best film of the YEAR, and the cast is great too.",
    "not good, not bad: a film you forget by the time the credits end",
    "Terrible music, an awful cast and a stupid plot. Avoid it.",
    "great fun from start to end, with a cast that clearly loved it",
    " ".join(["The plot wanders, the jokes land now and then, and the ending is odd."] * 12),
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo() -> igw.Explainer:
    return igw.Explainer(igw.load_demo_model())


def padded_calls(explainer: igw.Explainer, monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """The ids of every padded batch the adapter runs from now on."""
    calls: list[torch.Tensor] = []
    original = explainer.adapter.forward_embeds_padded

    def recorded(embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        calls.append(ids.clone())
        return original(embeds, ids)

    monkeypatch.setattr(explainer.adapter, "forward_embeds_padded", recorded)
    return calls


def test_padded_rows_give_what_each_text_gives_alone(demo: igw.Explainer) -> None:
    """Forward and gradients of texts padded at the end equal their lone computations."""
    adapter = demo.adapter
    requests = []
    with adapter.prepared():
        for text in TEXTS[:4]:
            ids = torch.tensor(demo.tokenize(text).ids)
            inputs = adapter.embed(ids[None])[0]
            base = adapter.embed(torch.full_like(ids, adapter.token_id("xxunk"))[None])[0]
            evaluator = PathEvaluator(adapter, inputs, base, ids, bytes_per_point=1)
            requests.append(PointsNeeded(evaluator, [0.2, 0.7]))
        lengths = [len(r.evaluator.ids) for r in requests]
        assert len(set(lengths)) >= 3  # really padded
        together = evaluate_together(requests)
        for request, batched in zip(requests, together, strict=True):
            for lone, shared in zip(request.evaluate(), batched, strict=True):
                np.testing.assert_allclose(shared.f, lone.f, rtol=0, atol=1e-6)
                np.testing.assert_allclose(shared.contrib, lone.contrib, rtol=0, atol=1e-6)
                np.testing.assert_allclose(shared.grad_norm, lone.grad_norm, rtol=1e-5)


@pytest.mark.parametrize("options", [{"n_steps": "auto"}, {"n_steps": 12}])
def test_each_text_equals_explain(options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    together = igw.Explainer(igw.load_demo_model())
    calls = padded_calls(together, monkeypatch)
    answers = explain_together(together, TEXTS, **options)
    fresh = igw.Explainer(igw.load_demo_model())  # the same history of measured lengths
    for text, answer in zip(TEXTS, answers, strict=True):
        assert isinstance(answer, igw.Explanation)
        alone = fresh.explain(text, **options)
        assert answer.n_steps == alone.n_steps and answer.tokens == alone.tokens
        np.testing.assert_allclose(answer.scores, alone.scores, rtol=0, atol=1e-6)
        np.testing.assert_allclose(answer.delta, alone.delta, rtol=0, atol=1e-6)
    if options["n_steps"] == "auto":  # the adaptive rounds of several texts shared batches
        pad = together.adapter.pad_id()
        assert any(bool((ids == pad).any()) for ids in calls)  # texts of other lengths
    else:  # one stage of 12 points per text: not a small request, nothing is shared
        assert calls == []


def test_only_lengths_within_the_padding_room_share_a_batch(
    demo: igw.Explainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = padded_calls(demo, monkeypatch)
    monkeypatch.setattr(demo.adapter, "padding_room", lambda: 3)
    answers = explain_together(demo, TEXTS, n_steps="auto")
    assert all(isinstance(a, igw.Explanation) for a in answers)
    pad = demo.adapter.pad_id()
    for ids in calls:
        assert int((ids == pad).sum(1).max()) <= 3


def test_a_bad_text_fails_alone(demo: igw.Explainer) -> None:
    answers = explain_together(demo, [TEXTS[0], "   ", TEXTS[1]], n_steps="auto")
    assert isinstance(answers[1], ValueError) and "empty" in str(answers[1])
    assert isinstance(answers[0], igw.Explanation) and isinstance(answers[2], igw.Explanation)


def test_a_model_without_padding_explains_each_text_alone() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=3))
    assert explainer.adapter.padding_room() == 0
    answers = explain_together(explainer, TEXTS[:3], n_steps="auto")
    fresh = igw.Explainer(toy_bundle("gru", seed=3))
    for text, answer in zip(TEXTS[:3], answers, strict=True):
        assert isinstance(answer, igw.Explanation)
        np.testing.assert_allclose(answer.scores, fresh.explain(text, n_steps="auto").scores)


def test_explain_many_runs_the_demo_model_in_lockstep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    explainer = igw.Explainer(igw.load_demo_model())
    calls = padded_calls(explainer, monkeypatch)
    corpus = explain_many(explainer, list(TEXTS), n_steps="auto", progress=False)
    assert calls  # shared batches ran
    assert [corpus[i].text for i in range(len(TEXTS))] == list(TEXTS)  # input order kept
