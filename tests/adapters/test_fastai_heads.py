"""Issue 21 for fastai: bidirectional past ``bptt``, multi-label and regression Learners."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.fastai_models import LONG_REVIEW, build_toy_learner
from support.toy_models import baseline_ids, captum_scores

import ig_widgets as igw
from ig_widgets.engine.heads import apply_head

pytest.importorskip("fastai")

TEXTS = (
    "a gorgeous, moving film with a great cast and a clever plot, great fun",
    "The acting is awful and the story is boring. I hated it, a dull mess!!!",
    LONG_REVIEW[:400],  # about 90 tokens: many chunks
)


def _predicted(learn: Any, text: str) -> np.ndarray:
    """What ``learn.predict`` gives as the class probabilities (or the regression value)."""
    with learn.no_bar():
        return learn.predict(text)[2].double().numpy().reshape(-1)


def _chunked_forward(learn: Any, head: str) -> Any:
    """The Learner's function of the ids, its chunks' state carried with gradients.

    Written here apart from the adapter: the encoder's embedding module, each ``bptt``
    chunk through the LSTM layers with the previous chunk's state, fastai's pooling head.
    """
    encoder = learn.model[0]
    awd = encoder.module

    def run(ids: torch.Tensor) -> torch.Tensor:
        x_all = awd.encoder_dp(ids)
        batch = ids.shape[0]
        awd.bs = batch
        state = [awd._one_hidden(layer) for layer in range(awd.n_layers)]
        outs = []
        for i in range(0, ids.shape[1], encoder.bptt):
            x = x_all[:, i : i + encoder.bptt]
            for layer, rnn in enumerate(awd.rnns):
                x, state[layer] = rnn(x, state[layer])
            outs.append(x)
        mask = ids == encoder.pad_idx
        return apply_head(learn.model[1]((torch.cat(outs, 1), mask))[0], head)  # type: ignore[arg-type]

    return run


@pytest.mark.parametrize(("bptt", "n_layers", "seed"), [(6, 2, 0), (9, 1, 1), (12, 2, 2)])
def test_bidirectional_past_bptt_is_the_learners_function(
    bptt: int, n_layers: int, seed: int
) -> None:
    learn = build_toy_learner(seed=seed, n_layers=n_layers, bidir=True, bptt=bptt)
    explainer = igw.Explainer(learn)
    for text in TEXTS[:2]:
        tok = explainer.tokenize(text)
        assert len(tok) > bptt  # several chunks
        exp = explainer.explain(text, n_steps=32)
        np.testing.assert_allclose(exp.f_input, _predicted(learn, text), atol=1e-5)
        with explainer.adapter.prepared():
            reference = captum_scores(
                _chunked_forward(learn, "probs"),
                learn.model[0].module.encoder_dp,
                torch.tensor(tok.ids),
                baseline_ids(tok, explainer.adapter.token_id("xxunk")),
                2,
                32,
                "gausslegendre",
            )
        np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_multi_label_learner_is_sigmoid(seed: int) -> None:
    learn = build_toy_learner(seed=seed, kind="multi", bidir=seed == 1, bptt=8)
    explainer = igw.Explainer(learn)
    assert explainer.adapter.output == "sigmoid"
    assert explainer.classes == ("boring", "funny", "great")
    assert igw.Explainer(learn, output="sigmoid").adapter.output == "sigmoid"
    for text in TEXTS[:2]:
        exp = explainer.explain(text, n_steps=32)
        np.testing.assert_allclose(exp.f_input, _predicted(learn, text), atol=1e-5)
        tok = explainer.tokenize(text)
        with explainer.adapter.prepared():
            reference = captum_scores(
                _chunked_forward(learn, "sigmoid"), learn.model[0].module.encoder_dp,
                torch.tensor(tok.ids), baseline_ids(tok, explainer.adapter.token_id("xxunk")),
                3, 32, "gausslegendre",
            )  # fmt: skip
        np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", [0, 2])
def test_regression_learner_is_identity_with_a_score(seed: int) -> None:
    learn = build_toy_learner(seed=seed, kind="regression", bidir=seed == 2, bptt=16)
    explainer = igw.Explainer(learn)
    assert explainer.adapter.output == "identity" and explainer.classes == ("score",)
    exp = explainer.explain(TEXTS[2], n_steps=32)  # many chunks
    np.testing.assert_allclose(exp.f_input, _predicted(learn, TEXTS[2]), atol=1e-5)
    assert abs(exp.delta[0]) < 1e-3 * max(abs(exp.f_input[0] - exp.f_baseline[0]), 1e-2)
    with pytest.raises(ValueError, match="output='identity'"):
        igw.Explainer(learn, output="probs")
