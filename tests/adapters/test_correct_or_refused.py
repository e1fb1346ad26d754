"""Issue 21: the function explained is the user's own (checked against Captum), or refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from support.toy_models import (
    MeanLinear,
    WordTokenizer,
    baseline_ids,
    captum_scores,
    import_transformers,
    tiny_bert,
)
from torch import nn

import ig_widgets as igw

TEXT = "the movie was not good"
OTHER = "a very good and fun film !"


def _hf_reference(model: Any, head: Any, explainer: Any, text: str, n_steps: int) -> np.ndarray:
    """Captum LayerIG of ``head(model's logits)`` from the explainer's default baseline."""
    tok = explainer.tokenize(text)
    token = explainer.adapter.default_baseline_token
    return captum_scores(
        lambda ids: head(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits),
        model.get_input_embeddings(),
        torch.tensor(tok.ids),
        baseline_ids(tok, explainer.adapter.token_id(token)),
        len(explainer.classes),
        n_steps,
        "gausslegendre",
    )


# --- cases 3 and 4: Hugging Face heads read from the config ---------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hf_regression_is_identity_and_exact(seed: int) -> None:
    model, tok = tiny_bert(num_labels=1, seed=seed)
    explainer = igw.Explainer(model, tokenizer=tok)
    assert explainer.adapter.output == "identity"
    exp = explainer.explain(TEXT, n_steps=32)
    reference = _hf_reference(model, lambda x: x, explainer, TEXT, 32)
    assert np.abs(exp.scores).max() > 1e-3  # not "nothing to explain"
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)
    with torch.no_grad():
        own = model(**tok(TEXT, return_tensors="pt")).logits[0].double().numpy()
    np.testing.assert_allclose(exp.f_input, own, atol=1e-5)


@pytest.mark.parametrize(("num_labels", "seed"), [(2, 0), (3, 1), (5, 2)])
def test_hf_multi_label_is_sigmoid_and_exact(num_labels: int, seed: int) -> None:
    model, tok = tiny_bert(num_labels=num_labels, seed=seed)
    model.config.problem_type = "multi_label_classification"
    explainer = igw.Explainer(model, tokenizer=tok)
    assert explainer.adapter.output == "sigmoid"
    exp = explainer.explain(OTHER, n_steps=32)
    reference = _hf_reference(model, torch.sigmoid, explainer, OTHER, 32)
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


def test_hf_problem_types_and_explicit_output() -> None:
    model, tok = tiny_bert(num_labels=3)
    model.config.problem_type = "regression"
    assert igw.Explainer(model, tokenizer=tok).adapter.output == "identity"
    model.config.problem_type = "single_label_classification"
    assert igw.Explainer(model, tokenizer=tok).adapter.output == "probs"
    model.config.problem_type = "multi_label_classification"  # the user's choice wins
    assert igw.Explainer(model, tokenizer=tok, output="logits").adapter.output == "logits"


# --- case 6: pipelines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_labels", "problem", "applied", "head"),
    [
        (1, "regression", None, "identity"),
        (3, "regression", None, "identity"),
        (1, None, None, "sigmoid"),
        (3, None, "none", "identity"),
        (3, "multi_label_classification", "softmax", "probs"),
    ],
)
def test_pipeline_scores_are_explained(
    num_labels: int, problem: str | None, applied: str | None, head: str
) -> None:
    transformers = import_transformers()
    model, tok = tiny_bert(num_labels=num_labels, seed=num_labels)
    model.config.problem_type = problem
    kwargs = {} if applied is None else {"function_to_apply": applied}
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tok, **kwargs)
    explainer = igw.Explainer(pipe)
    assert explainer.adapter.output == head
    exp = explainer.explain(TEXT, n_steps=16)
    scores = {r["label"]: r["score"] for r in pipe(TEXT, top_k=None)}
    np.testing.assert_allclose(exp.f_input, [scores[c] for c in exp.classes], atol=1e-5)


# --- case 7: a forward that already ends in a softmax -----------------------------------------


class SoftmaxEnd(nn.Module):
    """A classifier whose forward returns probabilities (or, ``log=True``, log-probabilities)."""

    def __init__(self, vocab_size: int, n_classes: int, seed: int, log: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.inner = MeanLinear(vocab_size, n_classes=n_classes)
        self.log = log

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits = self.inner(ids) * 3
        return logits.log_softmax(-1) if self.log else logits.softmax(-1)


@pytest.mark.parametrize(("n_classes", "seed"), [(2, 0), (3, 1), (4, 2)])
def test_a_second_softmax_is_refused_and_identity_is_exact(n_classes: int, seed: int) -> None:
    wt = WordTokenizer()
    model = SoftmaxEnd(len(wt.vocab), n_classes, seed).eval()
    classes = [f"c{i}" for i in range(n_classes)]
    kw = {"tokenizer": wt, "embedding": "inner.emb", "classes": classes}
    with pytest.raises(ValueError, match="output='identity'"):
        igw.Explainer(model, **kw).explain(TEXT, n_steps=8)
    explainer = igw.Explainer(model, output="identity", **kw)
    exp = explainer.explain(TEXT, n_steps=32)
    tok = explainer.tokenize(TEXT)
    reference = captum_scores(
        model, model.inner.emb, torch.tensor(tok.ids),
        baseline_ids(tok, explainer.adapter.token_id("<unk>")), n_classes, 32, "gausslegendre",
    )  # fmt: skip
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(exp.f_input, model(torch.tensor([tok.ids]))[0].detach(), atol=1e-6)
    # an explicit softmax is the user's choice; log-probabilities are not probabilities
    igw.Explainer(model, output="probs", **kw).explain(TEXT, n_steps=4)
    logs = SoftmaxEnd(len(wt.vocab), n_classes, seed, log=True).eval()
    igw.Explainer(logs, **kw).explain(TEXT, n_steps=4)


# --- case 2: a cache that cannot go stale -----------------------------------------------------


def _mean_linear_explainer(seed: int) -> tuple[nn.Module, Any]:
    wt = WordTokenizer()
    torch.manual_seed(seed)
    model = MeanLinear(len(wt.vocab), n_classes=3).eval()
    return model, igw.Explainer(model, tokenizer=wt, embedding="emb", classes=["a", "b", "c"])


def _edit_data(model: nn.Module) -> None:
    model.head.weight.data[0, 1] += 0.5  # .data: the version counter does not move


def _swap_rows(model: nn.Module) -> None:
    model.head.weight.data[[0, 1]] = model.head.weight.data[[1, 0]].clone()


def _swap_parameter(model: nn.Module) -> None:
    model.head.weight = nn.Parameter(model.head.weight.detach() * 1.5)


def _swap_module(model: nn.Module) -> None:
    new = nn.Linear(model.head.in_features, model.head.out_features)
    model.head = new


@pytest.mark.parametrize("edit", [_edit_data, _swap_rows, _swap_parameter, _swap_module])
@pytest.mark.parametrize("seed", [0, 3])
def test_weight_edits_change_the_next_explanation(edit: Any, seed: int) -> None:
    model, explainer = _mean_linear_explainer(seed)
    before = explainer.explain(TEXT, n_steps=8)
    edit(model)
    after = explainer.explain(TEXT, n_steps=8)
    fresh = igw.Explainer(model, tokenizer=WordTokenizer(), embedding="emb", classes=list("abc"))
    # float32 level: a fresh explainer may batch the points differently (its chunk size is not
    # yet measured), which moves sums by ~1e-7; a stale cache moves them by the edit (~1e-1)
    np.testing.assert_allclose(
        after.scores, fresh.explain(TEXT, n_steps=8).scores, rtol=1e-6, atol=1e-7
    )
    assert not np.allclose(before.scores, after.scores)
    # nothing edited: the cached points are reused (same numbers, no new forward needed)
    np.testing.assert_array_equal(explainer.explain(TEXT, n_steps=8).scores, after.scores)


class Normed(nn.Module):
    """Embedding → BatchNorm over the embedding dimension → mean → linear."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab_size, 6)
        self.norm = nn.BatchNorm1d(6)
        self.head = nn.Linear(6, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.emb(ids).transpose(1, 2)).mean(-1))


def test_buffer_changes_change_the_next_explanation() -> None:
    wt = WordTokenizer()
    model = Normed(len(wt.vocab)).eval()
    explainer = igw.Explainer(model, tokenizer=wt, embedding="emb", classes=["n", "p"])
    before = explainer.explain(TEXT, n_steps=8)
    model.train()
    with torch.no_grad():  # running statistics move; no parameter changes
        model(torch.randint(0, len(wt.vocab), (8, 5)) * 2 % len(wt.vocab))
    model.eval()
    after = explainer.explain(TEXT, n_steps=8)
    assert not np.allclose(before.f_input, after.f_input)
    with torch.no_grad():
        own = model(torch.tensor([explainer.tokenize(TEXT).ids])).softmax(-1)[0].double().numpy()
    np.testing.assert_allclose(after.f_input, own, atol=1e-6)


# --- case 8: per-text extra inputs ------------------------------------------------------------


class MaskedMean(nn.Module):
    """A mean over the tokens a mask keeps: ``forward(ids, mask)`` with mask ``(batch, n)``."""

    def __init__(self, vocab_size: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab_size, 5)
        self.rnn = nn.GRU(5, 7, batch_first=True)
        self.head = nn.Linear(7, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        keep = mask.unsqueeze(-1).to(out.dtype)
        return self.head((out * keep).sum(1) / keep.sum(1))


def _skip_edges(ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """A per-text mask: every token but the first (``<bos>``)."""
    mask = torch.ones_like(ids)
    mask[0] = 0
    return {"mask": mask[None]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_text_forward_kwargs_are_exact_for_every_text(seed: int) -> None:
    wt = WordTokenizer()
    model = MaskedMean(len(wt.vocab), seed).eval()
    explainer = igw.Explainer(
        model, tokenizer=wt, embedding="emb", classes=["n", "p"], forward_kwargs=_skip_edges
    )
    for text in (TEXT, OTHER, "bad"):
        exp = explainer.explain(text, n_steps=32)
        tok = explainer.tokenize(text)
        ids = torch.tensor(tok.ids)
        mask = _skip_edges(ids)["mask"]
        reference = captum_scores(
            lambda batch, mask=mask: model(batch, mask.expand(batch.shape[0], -1)).softmax(-1),
            model.emb, ids, baseline_ids(tok, explainer.adapter.token_id("<unk>")), 2, 32,
            "gausslegendre",
        )  # fmt: skip
        np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


def test_a_fixed_per_token_tensor_raises_for_another_length() -> None:
    wt = WordTokenizer()
    model = MaskedMean(len(wt.vocab), 0).eval()
    n = len(wt.encode(TEXT)[0])
    fixed = {"mask": torch.ones(1, n, dtype=torch.long)}
    explainer = igw.Explainer(
        model, tokenizer=wt, embedding="emb", classes=["n", "p"], forward_kwargs=fixed
    )
    explainer.explain(TEXT, n_steps=4)
    for other in (OTHER, "bad"):
        with pytest.raises(ValueError, match="function of the ids"):
            explainer.explain(other, n_steps=4)
    with pytest.raises(TypeError, match="must be a dict"):
        igw.Explainer(
            model, tokenizer=wt, embedding="emb", classes=["n", "p"],
            forward_kwargs=lambda ids: [ids],
        ).explain(TEXT, n_steps=4)  # fmt: skip


# --- NaN: an error that says where ------------------------------------------------------------


class NormOfMean(nn.Module):
    """``sqrt(Σ mean(e)²)`` among the features: no gradient at a zero baseline (α = 0)."""

    def __init__(self, vocab_size: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab_size, 4)
        self.head = nn.Linear(5, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mean = self.emb(ids).mean(1)
        return self.head(torch.cat([mean, mean.pow(2).sum(-1, keepdim=True).sqrt()], -1))


@pytest.mark.parametrize("method", ["riemann_left", "riemann_trapezoid"])
@pytest.mark.parametrize("seed", [0, 1])
def test_nan_gradient_names_the_point_and_output(method: str, seed: int) -> None:
    wt = WordTokenizer(bos=False)  # nothing kept: the zero baseline is all zeros
    model = NormOfMean(len(wt.vocab), seed).eval()
    explainer = igw.Explainer(model, tokenizer=wt, embedding="emb", classes=["n", "p"])
    with pytest.raises(ValueError, match=r"α = 0 of the path, for output 'p'"):
        explainer.explain(TEXT, n_steps=8, method=method, baseline=igw.ZeroBaseline())
    exp = explainer.explain(TEXT, n_steps=8, method="gausslegendre", baseline=igw.ZeroBaseline())
    assert np.isfinite(exp.scores).all()


class AlwaysDropout(nn.Module):
    """Dropout applied with ``training=True``: random even in eval mode."""

    def __init__(self, vocab_size: int, p: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab_size, 6)
        self.head = nn.Linear(6, 2)
        self.p = p

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = nn.functional.dropout(self.emb(ids), self.p, training=True)
        return self.head(x.mean(1))


@pytest.mark.parametrize("p", [0.3, 0.6])
def test_a_forward_random_in_eval_mode_is_named(p: float) -> None:
    wt = WordTokenizer()
    model = AlwaysDropout(len(wt.vocab), p)
    explainer = igw.Explainer(model, tokenizer=wt, embedding="emb", classes=["n", "p"])
    with pytest.raises(ValueError, match="is random or keeps state"):
        explainer.explain(OTHER, n_steps=4)


@pytest.mark.parametrize("max_iter", [0, 1])
def test_an_uncertain_baseline_at_its_iteration_limit_is_flagged(max_iter: int) -> None:
    model, explainer = _mean_linear_explainer(1)
    with torch.no_grad():
        model.head.weight.mul_(20)  # far from uniform: a step or two cannot get there
    baseline = igw.UncertainBaseline(max_iter=max_iter)
    exp = explainer.explain(TEXT, n_steps=4, baseline=baseline)
    assert baseline.last["converged"] is False and "not converged" in exp.baseline
    assert max(baseline.last["history"][-1], 0) > baseline.tol
    reached = igw.UncertainBaseline(max_iter=2000, lr=0.1)
    assert "not converged" not in explainer.explain(TEXT, n_steps=4, baseline=reached).baseline
    assert reached.last["converged"] is True


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([2.5, 5.0], "must be integers"),
        ([True, 5], "must be integers"),
        (torch.tensor([True, False]), "must be integers"),
        (["the", "movie"], "are strings"),
    ],
)
def test_ids_that_are_not_integers_are_refused(ids: Any, match: str) -> None:
    wt = WordTokenizer()
    torch.manual_seed(0)
    model = MeanLinear(len(wt.vocab)).eval()
    explainer = igw.Explainer(
        model, tokenizer=lambda text: ids, vocab=wt.vocab, embedding="emb", classes=["n", "p"]
    )
    with pytest.raises(TypeError, match=match):
        explainer.explain(TEXT, n_steps=4)


def test_whole_float_ids_are_taken() -> None:
    wt = WordTokenizer()
    torch.manual_seed(0)
    model = MeanLinear(len(wt.vocab)).eval()
    ids = wt.ids(TEXT)
    as_floats = igw.Explainer(
        model, tokenizer=lambda text: torch.tensor(ids, dtype=torch.float32), vocab=wt.vocab,
        embedding="emb", classes=["n", "p"],
    )  # fmt: skip
    assert as_floats.tokenize(TEXT).ids == tuple(ids)
