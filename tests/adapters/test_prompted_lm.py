"""A prompted language model as a classifier: Captum, the template kept apart, explain_many."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.lm_models import tiny_lm, toy_lm_learner
from support.toy_models import baseline_ids

import ig_widgets as igw
from ig_widgets.engine.adapters.lm import PromptedLM

PROMPT = "Review: {text}. Sentiment:"
LABELS = {"positive": " positive", "negative": " negative", "meh": " boring film"}
TEXT = "the film was great fun"
STEPS = 24


@pytest.fixture(scope="module", params=["gpt2", "llama", "qwen2"])
def lm(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    return tiny_lm(request.param)


def prompted(lm: tuple[Any, Any], **kwargs: Any) -> igw.Explainer:
    model, tok = lm
    options: dict[str, Any] = {"prompt": PROMPT, "labels": LABELS}
    options.update(kwargs)
    return igw.Explainer(model, tokenizer=tok, **options)


def label_forward(model: Any, words: list[list[int]], output: str) -> Any:
    """``F`` of the prompted classifier on ids ``(b, n)``, written out from the logits.

    One row per label token (the template then the word's tokens before it), all rows of a
    point in one model call, ordered point by point as Captum's LayerIG scales them.
    """
    rows = [(w[:j], t, k) for k, w in enumerate(words) for j, t in enumerate(w)]
    longest = max(len(before) for before, _, _ in rows)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        b, n = batch.shape
        seqs = []
        for before, _, _ in rows:
            tail = torch.tensor([before + [0] * (longest - len(before))], dtype=torch.long)
            seqs.append(torch.cat([batch, tail.expand(b, -1)], 1))
        stacked = torch.stack(seqs, 1).reshape(b * len(rows), n + longest)
        logits = model(input_ids=stacked).logits.reshape(b, len(rows), n + longest, -1)
        scores: list[Any] = [0] * len(words)
        for r, (before, t, k) in enumerate(rows):
            scores[k] = scores[k] + torch.log_softmax(logits[:, r, n - 1 + len(before)], -1)[:, t]
        s = torch.stack(scores, 1)
        return {"probs": s.softmax(-1), "logits": s, "logprob": s.log_softmax(-1)}[output]

    return forward


def captum_rows(forward: Any, model: Any, ids: torch.Tensor, base: torch.Tensor, n: int) -> Any:
    """Captum's LayerIG per class, the embedding layer's rows (one per label token) summed.

    Every row holds the prompt's embeddings, so a prompt token's attribution is the sum
    over the rows; the label tokens after it are equal at both ends (zero attribution).
    """
    from captum.attr import LayerIntegratedGradients

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    out = []
    for c in range(n):
        attr = lig.attribute(ids[None], baselines=base[None], target=c, n_steps=STEPS)
        per_row = attr.sum(-1)  # (rows, n + longest)
        assert not per_row[:, len(ids) :].any()
        out.append(per_row[:, : len(ids)].sum(0))
    return torch.stack(out).detach().double().numpy()


@pytest.mark.parametrize("output", ["probs", "logits", "logprob"])
def test_prompted_classifier_matches_captum(lm: tuple[Any, Any], output: str) -> None:
    model, tok = lm
    explainer = prompted(lm, output=output)
    assert isinstance(explainer.adapter, PromptedLM)
    assert explainer.classes == ("positive", "negative", "meh")
    exp = explainer.explain(TEXT, n_steps=STEPS)
    words = [tok(w, add_special_tokens=False)["input_ids"] for w in LABELS.values()]
    assert len(words[2]) == 2  # a label word of two tokens, scored by both
    tokd = explainer.tokenize(TEXT)
    ids = torch.tensor(tokd.ids)
    base = baseline_ids(tokd, tok.pad_token_id)
    forward = label_forward(model, words, output)
    reference = captum_rows(forward, model, ids, base, 3)
    scale = float(np.abs(reference).max())
    assert scale > 1e-4
    np.testing.assert_allclose(exp.scores, reference, rtol=0, atol=1e-5 * scale)
    with torch.no_grad():
        np.testing.assert_allclose(exp.f_input, forward(ids[None])[0].double(), rtol=1e-5)
        np.testing.assert_allclose(exp.f_baseline, forward(base[None])[0].double(), rtol=1e-5)
    if output == "probs":
        assert exp.probs.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(exp.scores.sum(0), 0, atol=1e-5 * scale)


def test_the_template_is_kept_apart_from_the_words(lm: tuple[Any, Any]) -> None:
    exp = prompted(lm).explain(TEXT, n_steps=8)
    template = [i for i, s in enumerate(exp.special) if s]
    assert len(template) >= 5  # <s>, "Review", ":", ".", " Sentiment", ":"
    assert not exp.scores[:, template].any()  # kept by the baseline: no attribution
    plain = [w for w in exp.words if not w.special]
    assert [w.text for w in plain] == TEXT.split()  # the text's words only, spans in it
    assert [(w.start, w.end) for w in plain] == [(0, 3), (4, 8), (9, 12), (13, 18), (19, 22)]
    for w in exp.words:
        if w.special:
            assert all(exp.special[i] for i in w.tokens)  # never folded into a text word
        else:
            assert not any(exp.special[i] for i in w.tokens)


def test_a_fastai_language_model_as_a_classifier() -> None:
    explainer = igw.Explainer(toy_lm_learner(), prompt=PROMPT, labels=["positive", "negative"])
    exp = explainer.explain("The film was GREAT fun", n_steps=8)
    assert exp.classes == ("positive", "negative")
    plain = [w.text for w in exp.words if not w.special]
    assert plain == ["The", "film", "was", "GREAT", "fun"]
    assert exp.tokens[:3] == ("xxbos", "xxmaj", "review") and all(exp.special[:3])
    assert abs(exp.scores.sum(-1) - (exp.f_input - exp.f_baseline) - exp.delta).max() < 1e-9


def test_bad_prompts_and_labels_get_clear_errors(lm: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match=r"\{text\} exactly once"):
        prompted(lm, prompt="Review: no slot here. Sentiment:")
    with pytest.raises(ValueError, match=r"\{text\} exactly once"):
        prompted(lm, prompt="{text} and {text}")
    with pytest.raises(TypeError, match="both prompt="):
        prompted(lm, labels=None)
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        prompted(lm, labels={"yes": " zebra", "no": " bad"})
    with pytest.raises(ValueError, match="empty"):
        prompted(lm, labels={"yes": "", "no": " bad"})
    with pytest.raises(ValueError, match="two labels"):
        prompted(lm, labels=[" good"])
    with pytest.raises(ValueError, match="same word tokens"):
        prompted(lm, labels={"a": " good", "b": " good"})


def test_explain_many_on_a_prompted_lm(lm: tuple[Any, Any]) -> None:
    explainer = prompted(lm)
    texts = ["the film was great fun", "the movie was bad", "a good story"]
    labels = ["positive", "negative", "positive"]
    corpus = explainer.explain_many(texts, labels, n_steps=8, progress=False)
    assert len(corpus) == 3 and corpus.complete
    frame = corpus.to_dataframe()
    assert frame["error"].isna().all()  # no text failed
    for i, text in enumerate(texts):
        alone = explainer.explain(text, n_steps=8)
        np.testing.assert_allclose(corpus[i].scores, alone.scores, rtol=0, atol=1e-8)
        assert corpus[i].classes == ("positive", "negative", "meh")


def test_faithfulness_metrics_run_on_a_prompted_lm(lm: tuple[Any, Any]) -> None:
    explainer = prompted(lm, labels=[" good", " bad"])
    text = "the film was great and the acting was good but the plot was boring"
    exp = explainer.explain(text, n_steps=8)
    comp = igw.metrics.comprehensiveness(exp, explainer)
    suff = igw.metrics.sufficiency(exp, explainer)
    assert np.isfinite(comp.value) and np.isfinite(suff.value)
    assert comp.value != 0.0  # deleting the top words changed the label's probability
