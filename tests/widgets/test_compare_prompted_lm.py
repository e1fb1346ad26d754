"""igw.Compare without a browser on two prompted language models (GPT-2 and Llama style)."""

from __future__ import annotations

import numpy as np
import pytest
from support.lm_models import tiny_lm

import ig_widgets as igw
from ig_widgets.widgets.compare import Compare

PROMPT = "Review: {text}. Sentiment:"
LABELS = {"positive": " positive", "negative": " negative"}
TEXT = "the film was great fun"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_compare_two_prompted_lms_word_by_word() -> None:
    explainers = [
        igw.Explainer(model, tokenizer=tok, prompt=PROMPT, labels=LABELS)
        for model, tok in (tiny_lm("gpt2"), tiny_lm("llama"))
    ]
    compare = Compare(  # the default token: compared with explain's own default below
        explainers,
        text=TEXT,
        n_steps=8,
        baseline="[default]",
        debounce=0.02,
        names=["gpt2", "llama"],
    )
    assert compare.wait(120.0), "the comparison never finished"
    exps = compare.explanations
    assert exps is not None and compare.error == ""
    for chips, exp, explainer in zip(compare.row_chips, exps, explainers, strict=True):
        assert chips.tokens == TEXT.split()  # the text's words; the template stays apart
        alone = explainer.explain(TEXT, n_steps=8)
        np.testing.assert_allclose(exp.scores, alone.scores, rtol=0, atol=1e-8)
    assert exps[0].f_input.tolist() != exps[1].f_input.tolist()  # two different models
