"""The engine on the second demo model (CNN, own tokenizer): Captum agreement and completeness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.toy_models import baseline_ids, captum_scores

import ig_widgets as igw
from ig_widgets.engine.quadrature import METHODS

REVIEWS = (
    "A gorgeous, moving film with a great cast.",
    "The plot is thin and the jokes are stale; I was bored after ten minutes.",
    "Don't bother: the second half drags, although the actors try hard!",
)


@pytest.fixture(scope="module")
def cnn() -> igw.Explainer:
    return igw.Explainer(igw.load_demo_model("cnn"))


@pytest.mark.parametrize("method", METHODS)
def test_agrees_with_captum(cnn: igw.Explainer, method: str) -> None:
    module = cnn.adapter.module.eval()
    for text in REVIEWS[:2]:
        exp = cnn.explain(text, n_steps=24, method=method)
        tok = cnn.tokenize(text)
        unk = cnn.adapter.token_id(cnn.adapter.default_baseline_token)
        expected = captum_scores(
            lambda ids: module(ids).softmax(-1),
            module.embedding,
            torch.tensor(tok.ids),
            baseline_ids(tok, unk),
            2,
            24,
            method,
        )
        assert np.abs(exp.scores - expected).max() <= 1e-5


def test_completeness(cnn: igw.Explainer) -> None:
    # ReLU + max over time make F piecewise smooth along the path, so more points than for a
    # smooth model; n_steps="auto" finds a count that meets 1 % on each review
    for text in REVIEWS:
        exp = cnn.explain(text, n_steps="auto", tol=0.01, max_steps=512)
        diff = np.abs(exp.f_input - exp.f_baseline)
        assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(diff, 0.01)), exp.n_steps
        assert exp.n_steps < 512
    exp = cnn.explain(REVIEWS[0], n_steps=64)
    assert abs(exp.delta[1]) <= 0.01 * abs(exp.f_input[1] - exp.f_baseline[1])
