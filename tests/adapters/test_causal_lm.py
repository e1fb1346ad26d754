"""Causal language models against Captum: next token, each candidate, each continuation token.

Tiny GPT-2, Llama- and Qwen2-style models built from configs and a fastai AWD-LSTM language
model; the reference is Captum's ``LayerIntegratedGradients`` on the same embedding layer,
with the same points and baseline, through a forward written here from the model's logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.lm_models import tiny_lm, toy_lm_learner
from support.toy_models import baseline_ids, captum_scores, tiny_bert

import ig_widgets as igw
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.adapters.causal_lm import CausalLMAdapter
from ig_widgets.engine.adapters.fastai_lm import FastaiLMAdapter
from ig_widgets.engine.adapters.hf import HFAdapter
from ig_widgets.engine.adapters.lm import PromptedLM
from ig_widgets.engine.adapters.torch import TorchAdapter

PROMPT = "the film was great and the acting was"
STEPS = 24
FAMILIES = ("gpt2", "llama", "qwen2")


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    return tiny_lm(request.param)


def assert_matches(ours: np.ndarray, reference: np.ndarray) -> None:
    """Within 1e-5 of the largest reference attribution, which must not be negligible."""
    scale = float(np.abs(reference).max())
    assert scale > 1e-4, "the reference attributions are too small to compare"
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * scale)


def hf_logp(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """Log-probabilities of the next token after ``ids`` ``(batch, n)``: ``(batch, vocab)``."""
    return torch.log_softmax(model(input_ids=ids).logits[:, -1], -1)


def after(ids: torch.Tensor, extra: list[int]) -> torch.Tensor:
    """``ids`` ``(batch, n)`` with the tokens ``extra`` put after every row."""
    tail = torch.tensor([extra], dtype=torch.long).expand(ids.shape[0], -1)
    return torch.cat([ids, tail], dim=1)


def pad_baseline(explainer: igw.Explainer, text: str) -> tuple[Any, torch.Tensor, torch.Tensor]:
    tok = explainer.tokenize(text)
    pad = explainer.adapter.token_id(explainer.adapter.default_baseline_token)
    return tok, torch.tensor(tok.ids), baseline_ids(tok, pad)


# ---------------------------------------------------------------------------- routing
def test_each_model_goes_to_its_family(lm: tuple[Any, Any]) -> None:
    model, tok = lm
    assert isinstance(adapter_for(model, tokenizer=tok), CausalLMAdapter)
    assert not HFAdapter.accepts(model, tokenizer=tok)
    # the general torch family is asked last; it gets a causal LM only with embedding=
    assert CausalLMAdapter.priority > HFAdapter.priority > TorchAdapter.priority
    generic = adapter_for(
        model,
        tokenizer=tok,
        embedding="transformer.wte" if hasattr(model, "transformer") else "model.embed_tokens",
        classes=["a", "b"],
    )
    assert isinstance(generic, TorchAdapter)
    prompted = adapter_for(model, tokenizer=tok, prompt="Review: {text}", labels=[" good", " bad"])
    assert isinstance(prompted, PromptedLM)
    bert, bert_tok = tiny_bert()
    assert isinstance(adapter_for(bert, tokenizer=bert_tok), HFAdapter)  # classifiers unchanged


def test_a_fastai_language_model_has_its_adapter() -> None:
    from support.fastai_models import toy_learner

    assert isinstance(adapter_for(toy_lm_learner()), FastaiLMAdapter)
    assert type(adapter_for(toy_learner())).__name__ == "FastaiAdapter"  # the classifier's


# ---------------------------------------------------------------------------- next token
@pytest.mark.parametrize("output", ["probs", "logprob"])
def test_next_token_candidates_match_captum(lm: tuple[Any, Any], output: str) -> None:
    model, tok = lm
    explainer = igw.Explainer(model, tokenizer=tok, output=output, top_k=4)
    exp = explainer.explain(PROMPT, n_steps=STEPS, target=" story")
    cands = list(exp.target_ids)
    tokd, ids, base = pad_baseline(explainer, PROMPT)
    with torch.no_grad():
        logp = hf_logp(model, ids[None])[0]
    assert cands[:4] == logp.topk(4).indices.tolist()  # the top-k, most probable first
    assert exp.classes[-1] == " story" and len(exp.classes) == 5  # and the target
    assert exp.baseline == "token '<pad>'" and exp.special[0] and tokd.keep[0]

    def forward(batch: torch.Tensor) -> torch.Tensor:
        logp = hf_logp(model, batch)[:, cands]
        return logp.exp() if output == "probs" else logp

    reference = captum_scores(
        forward, model.get_input_embeddings(), ids, base, len(cands), STEPS, "gausslegendre"
    )
    assert_matches(exp.scores, reference)
    with torch.no_grad():
        f_in, f_base = forward(ids[None])[0], forward(base[None])[0]
    np.testing.assert_allclose(exp.f_input, f_in.double(), rtol=1e-5)
    np.testing.assert_allclose(exp.f_baseline, f_base.double(), rtol=1e-5)  # the baseline's own
    np.testing.assert_allclose(exp.delta, exp.scores.sum(-1) - (exp.f_input - exp.f_baseline))
    assert exp.scores[:, 0].tolist() == [0.0] * len(cands)  # <s> is kept by the baseline


def test_two_candidates_are_not_a_two_class_softmax(lm: tuple[Any, Any]) -> None:
    model, tok = lm
    explainer = igw.Explainer(model, tokenizer=tok)
    exp = explainer.explain(PROMPT, n_steps=STEPS, target=[" good", " bad"])
    assert exp.classes == (" good", " bad")
    assert exp.probs.sum() < 0.5  # two tokens of a vocabulary: not a distribution over two
    assert not np.allclose(exp.scores[0], -exp.scores[1])
    why = exp.contrast(" good", " bad")  # "why good and not bad?"
    np.testing.assert_allclose(why.scores, exp.scores[0] - exp.scores[1])


def test_completeness_holds_with_enough_points(lm: tuple[Any, Any]) -> None:
    model, tok = lm
    exp = igw.Explainer(model, tokenizer=tok).explain(PROMPT, n_steps="auto", tol=0.01)
    change = np.abs(exp.f_input - exp.f_baseline)
    assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(change, 0.01))


# ---------------------------------------------------------------------------- continuation
@pytest.mark.parametrize("output", ["probs", "logprob"])
def test_each_continuation_token_matches_captum(lm: tuple[Any, Any], output: str) -> None:
    model, tok = lm
    explainer = igw.Explainer(model, tokenizer=tok, output=output)
    target = " good and the story"
    exp = explainer.explain(PROMPT, n_steps=STEPS, target=target)
    pieces = tok(target, add_special_tokens=False)["input_ids"]
    assert exp.target_tokens == (" good", " and", " the", " story")
    assert exp.classes == (*exp.target_tokens, target)
    assert exp.target_scores.shape == (4, len(exp.tokens))
    _, ids, base = pad_baseline(explainer, PROMPT)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        # teacher forcing, written out: token j is read after the prompt and pieces[:j]
        # (Captum's LayerIG sees the appended tokens' embeddings equal at both ends)
        logits = model(input_ids=after(batch, pieces[:-1])).logits
        n = batch.shape[1]
        logps = [torch.log_softmax(logits[:, n - 1 + j], -1)[:, t] for j, t in enumerate(pieces)]
        rows = torch.stack([*logps, torch.stack(logps).sum(0)], dim=1)
        return rows.exp() if output == "probs" else rows

    reference = captum_scores(
        forward, model.get_input_embeddings(), ids, base, len(pieces) + 1, STEPS, "gausslegendre"
    )
    assert not reference[:, len(ids) :].any()  # the continuation's own tokens: not attributed
    assert_matches(exp.scores, reference[:, : len(ids)])
    if output == "logprob":  # the whole is the sum of its tokens' log-probabilities
        scale = np.abs(exp.scores).max()
        np.testing.assert_allclose(exp.scores[-1], exp.target_scores.sum(0), atol=1e-6 * scale)


def test_a_continuation_matches_captums_llm_gradient_attribution() -> None:
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    model, tok = tiny_lm("gpt2")
    explainer = igw.Explainer(model, tokenizer=tok, output="logprob")
    target = " good and the story"
    exp = explainer.explain(PROMPT, n_steps=STEPS, target=target, method="riemann_trapezoid")
    llm = LLMGradientAttribution(LayerIntegratedGradients(model, model.get_input_embeddings()), tok)
    inp = TextTokenInput(PROMPT, tok, baselines="<pad>", skip_tokens=["<s>"])
    result = llm.attribute(inp, target=target, n_steps=STEPS, method="riemann_trapezoid")
    reference = result.token_attr.detach().double().numpy()  # (n_target, prompt without <s>)
    assert reference.shape == exp.target_scores[:, 1:].shape
    assert_matches(exp.target_scores[:, 1:], reference)
    assert_matches(exp.scores[-1, 1:], result.seq_attr.detach().double().numpy())


# ---------------------------------------------------------------------------- fastai
def test_fastai_language_model_matches_captum() -> None:
    learn = toy_lm_learner()
    explainer = igw.Explainer(learn, top_k=3)
    text = "The film was GREAT and the"
    exp = explainer.explain(text, n_steps=STEPS)
    adapter = explainer.adapter
    cands = list(exp.target_ids)
    assert [adapter.vocab[i] for i in cands] == list(exp.classes)
    tokd, ids, base = pad_baseline(explainer, text)
    assert tokd.tokens[0] == "xxbos" and "xxmaj" in tokd.tokens and exp.baseline == "token 'xxunk'"
    awd, decoder = learn.model[0], learn.model[1]

    def forward(batch: torch.Tensor) -> torch.Tensor:
        awd.reset()
        awd.bs = batch.shape[0]
        awd.hidden = [awd._one_hidden(layer) for layer in range(awd.n_layers)]
        logits = decoder(awd(batch))[0][:, -1]
        return torch.softmax(logits, -1)[:, cands]

    with adapter.prepared():  # eval mode, the recurrent state put back after
        reference = captum_scores(
            forward, awd.encoder_dp, ids, base, len(cands), STEPS, "gausslegendre"
        )
    assert_matches(exp.scores, reference)
    cont = explainer.explain(text, n_steps=STEPS, target=" story and")
    assert cont.target_tokens == ("story", "and")


# ---------------------------------------------------------------------------- bad targets
def test_bad_targets_get_clear_errors(lm: tuple[Any, Any]) -> None:
    model, tok = lm
    explainer = igw.Explainer(model, tokenizer=tok)
    with pytest.raises(ValueError, match="empty"):
        explainer.explain(PROMPT, target="")
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        explainer.explain(PROMPT, target=" zebra")  # 'z' never seen: <unk>
    with pytest.raises(ValueError, match="one token"):
        explainer.explain(PROMPT, target=[" good", " good and"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        explainer.explain(PROMPT, target=10**6)
    with pytest.raises(TypeError, match="token string"):
        explainer.explain(PROMPT, target=1.5)


def test_fastai_unknown_word_is_refused() -> None:
    explainer = igw.Explainer(toy_lm_learner())
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        explainer.explain("the film was", target=" spectacular")


# ---------------------------------------------------------------------------- long prompts
@pytest.mark.slow
def test_a_long_prompt_stays_under_the_memory_budget() -> None:
    model, tok = tiny_lm("llama")
    budget = 16 * 2**20
    explainer = igw.Explainer(model, tokenizer=tok, memory_budget=budget, top_k=2)
    text = " ".join(("the film was great and the acting was good " * 225).split())
    n = len(explainer.tokenize(text))
    assert n > 2000
    head_inputs: list[tuple[int, ...]] = []
    handle = model.lm_head.register_forward_hook(
        lambda module, args, out: head_inputs.append(tuple(args[0].shape))
    )
    try:
        exp = explainer.explain(text, n_steps=6)
    finally:
        handle.remove()
    per_point = explainer._point_bytes[n]
    assert 1 < budget // per_point < 6  # the 6 points ran in several chunks under the budget
    assert head_inputs and all(shape[1] == 1 for shape in head_inputs)  # last position only
    assert exp.scores.shape == (2, n) and np.isfinite(exp.scores).all()


def test_a_continuation_survives_save_and_load(tmp_path: Any) -> None:
    model, tok = tiny_lm("gpt2")
    exp = igw.Explainer(model, tokenizer=tok).explain(PROMPT, n_steps=4, target=" good and")
    exp.save(tmp_path / "one.parquet")
    back = igw.Explanation.load(tmp_path / "one.parquet")
    assert back.target_tokens == exp.target_tokens == (" good", " and")
    assert back.target_ids == exp.target_ids and len(back.target_ids) == 2
    np.testing.assert_array_equal(back.target_scores, exp.target_scores)
