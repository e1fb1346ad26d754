"""Models outside the simple contract, each checked against Captum's LayerIntegratedGradients.

Extra inputs of the embedding module and of the forward, dict tokenizers, NamedTuple and
dataclass outputs, per-position outputs, ``nn.EmbeddingBag``, every head (probs, logits,
sigmoid, identity), token classification and Hugging Face pipeline objects.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.any_models import (
    TAGS,
    Bag2D,
    BagAsEmbedding,
    BagClassifier,
    GRUBody,
    HFStyle,
    MaskedFeatures,
    SecondInput,
    Stateful,
    tag_of,
    tiny_bert_tagger,
    train_tagger,
)
from support.toy_models import (
    WordTokenizer,
    baseline_ids,
    captum_scores,
    import_transformers,
    tiny_bert,
    tiny_bert_tokenizer,
)

import ig_widgets as igw
from ig_widgets.engine.adapters.pipeline import PipelineAdapter
from ig_widgets.engine.adapters.torch import TorchAdapter, pick_logits
from ig_widgets.engine.heads import apply_head
from ig_widgets.views.selection import baseline_summary

TEXT = "The movie was not very good, but the acting was great!"
TOL = 1e-5  # engine vs Captum, absolute, on attributions of order 0.01-1


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """The machine is shared: one torch thread per test."""


def _explain_and_compare(
    explainer: igw.Explainer,
    forward,
    layer: torch.nn.Module,
    text: str = TEXT,
    method: str = "gausslegendre",
    target=None,
    token: str = "<unk>",
) -> igw.Explanation:
    """Explain ``text`` with a token baseline; assert Captum's numbers and completeness."""
    exp = explainer.explain(text, n_steps=50, method=method, baseline=token, target=target)
    tok = explainer.tokenize(text)
    reference = captum_scores(
        forward,
        layer,
        torch.tensor(tok.ids),
        baseline_ids(tok, explainer.adapter.token_id(token)),
        len(explainer.classes),
        50,
        method,
    )
    assert np.abs(exp.scores).max() > 1e-3
    np.testing.assert_allclose(exp.scores, reference, atol=TOL, rtol=0)
    diff = np.abs(exp.f_input - exp.f_baseline)
    assert np.all(np.abs(exp.delta) <= 0.02 * np.maximum(diff, 1e-2))
    return exp


def _explainer(model: torch.nn.Module, embedding: str, classes=("a", "b", "c"), **kw):
    return igw.Explainer(
        model, tokenizer=WordTokenizer(), embedding=embedding, classes=classes, **kw
    )


# ----------------------------------------------------- 1. the embeddings the model sees
def test_embedding_with_a_second_input_matches_captum() -> None:
    """``embedding(ids, input3)``: the path ends at what the model really sees."""
    model = SecondInput().eval()
    n = len(WordTokenizer().encode(TEXT)[0])
    input3 = torch.randint(4, 20, (1, n), generator=torch.Generator().manual_seed(1))
    explainer = _explainer(model, "embedding", forward_kwargs={"input3": input3})
    exp = _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(model(ids, input3.expand(len(ids), -1)), -1),
        model.embedding,
    )
    ids = torch.tensor(explainer.tokenize(TEXT).ids)
    with torch.no_grad():
        own = torch.softmax(model(ids[None], input3), -1)[0].double().numpy()
        ids_only = model.embedding(ids[None])  # what a lookup of the ids alone would give
    np.testing.assert_allclose(exp.f_input, own, rtol=1e-5)
    assert not torch.allclose(explainer.adapter.embed(ids[None]), ids_only)


def test_input_not_the_models_own_forward_is_refused() -> None:
    explainer = igw.Explainer(
        Stateful(), tokenizer=WordTokenizer(), embedding="emb", classes=("a", "b"),
        output="logits",
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"is not what Stateful computes.*forward_kwargs="):
        explainer.explain(TEXT, n_steps=8)


# ----------------------------------------------------------------- 2. extra inputs
def test_forward_kwargs_are_broadcast_and_match_captum() -> None:
    model = MaskedFeatures().eval()
    n = len(WordTokenizer().encode(TEXT)[0])
    mask = torch.ones(1, n)
    mask[0, 3] = 0.0  # a token the model ignores gets nothing
    features = torch.tensor([[0.5, -1.0, 2.0, 0.1]])
    explainer = _explainer(model, "emb", forward_kwargs={"mask": mask, "features": features})
    exp = _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(
            model(ids, mask.expand(len(ids), -1), features.expand(len(ids), -1)), -1
        ),
        model.emb,
    )
    assert np.abs(exp.scores[:, 3]).max() < 1e-9


def test_missing_inputs_and_several_embeddings_are_clear_errors() -> None:
    model = MaskedFeatures().eval()
    with pytest.raises(TypeError, match=r"needs more than the token ids.*forward_kwargs="):
        _explainer(model, "emb").explain(TEXT, n_steps=4)
    with pytest.raises(ValueError, match="batch dimension of 1"):
        _explainer(model, "emb", forward_kwargs={"mask": torch.ones(2, 5)})
    with pytest.raises(ValueError, match=r"Several token inputs.*forward_kwargs="):
        _explainer(model, ["emb", "emb"])


def test_forward_fn_runs_the_model() -> None:
    """``forward_fn(model, ids, **kw)`` for a forward that takes its inputs in another order."""
    model = MaskedFeatures().eval()
    features = torch.tensor([[0.5, -1.0, 2.0, 0.1]])
    explainer = _explainer(
        model,
        "emb",
        forward_fn=lambda m, ids, **kw: m(
            ids, torch.ones(ids.shape), features.expand(len(ids), -1)
        ),
    )
    _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(
            model(ids, torch.ones(ids.shape), features.expand(len(ids), -1)), -1
        ),
        model.emb,
    )


# ------------------------------------------------------- 3. tokenizers and outputs
def test_hugging_face_style_tokenizer_on_a_plain_model() -> None:
    """A fast tokenizer's dict: spans from its offsets, attention_mask passed, types left out."""
    tokenizer = tiny_bert_tokenizer()
    model = HFStyle(len(tokenizer)).eval()
    explainer = igw.Explainer(model, tokenizer=tokenizer, embedding="emb", classes=("n", "p"))
    text = "The acting was not good, zap!"
    tok = explainer.tokenize(text)
    assert tok.tokens[0] == "[CLS]" and tok.tokens[-1] == "[SEP]"
    assert tok.special == (True, *[False] * (len(tok) - 2), True) and tok.keep == tok.special
    assert text[slice(*tok.spans[tok.tokens.index("[UNK]")])] == "zap"
    assert tok.oov[tok.tokens.index("[UNK]")]
    _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(model(ids, torch.ones_like(ids))["logits"], -1),
        model.emb,
        text,
        token="[PAD]",
    )


def test_callable_returning_a_dict_without_offsets() -> None:
    words = WordTokenizer()
    model = HFStyle(len(words.vocab)).eval()

    def tokenize(text: str) -> dict[str, list[int]]:
        ids = words.ids(text)
        return {
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "token_type_ids": [0] * len(ids),
        }

    explainer = igw.Explainer(
        model, tokenizer=tokenize, vocab=words.vocab, embedding="emb", classes=("n", "p")
    )
    tok = explainer.tokenize("A boring film!")
    assert tok.tokens == ("<bos>", "a", "boring", "film", "!") and tok.spans[1] == (0, 1)
    _explain_and_compare(explainer, lambda ids: torch.softmax(model(ids)["logits"], -1), model.emb)


@pytest.mark.parametrize("pack", ["named", "dataclass"])
def test_named_tuple_and_dataclass_outputs(pack: str) -> None:
    model = GRUBody(pack=pack).eval()
    explainer = _explainer(model, "emb")
    _explain_and_compare(explainer, lambda ids: torch.softmax(model(ids).logits, -1), model.emb)


def test_pick_logits_from_a_named_tuple() -> None:
    from support.any_models import Named

    out = Named(torch.zeros(1, 2), torch.ones(1, 3))
    assert pick_logits(out).shape == (1, 3)
    assert pick_logits(out, "hidden").shape == (1, 2)
    assert pick_logits(out, 0).shape == (1, 2)


def test_output_select_picks_a_position() -> None:
    """A per-position output explained at its last position (``output_select=``)."""
    model = GRUBody(pack="positions").eval()
    explainer = _explainer(model, "emb", output_select=lambda out: out[:, -1])
    _explain_and_compare(explainer, lambda ids: torch.softmax(model(ids)[:, -1], -1), model.emb)


@pytest.mark.parametrize("kind", ["offsets", "2d"])
def test_embedding_bag_matches_captum_on_the_same_function(kind: str) -> None:
    """Each token of a bag gets its own attribution: the bag's rows are the path."""
    model = (BagClassifier() if kind == "offsets" else Bag2D()).eval()
    same = BagAsEmbedding(model, "mean" if kind == "offsets" else "weighted").eval()
    explainer = _explainer(model, "embedding", classes=("w", "x", "y", "z"))
    ids = torch.tensor(explainer.tokenize(TEXT).ids)
    with torch.no_grad():
        torch.testing.assert_close(
            torch.softmax(same(ids[None]), -1), explainer.adapter.reference_forward(ids)
        )
    _explain_and_compare(explainer, lambda ids: torch.softmax(same(ids), -1), same.emb)


# ---------------------------------------------------------------------- 4. every head
@pytest.mark.parametrize("output", ["sigmoid", "identity", "logits"])
def test_heads_match_captum(output: str) -> None:
    n_out = 1 if output == "identity" else 6
    model = GRUBody(n_out=n_out, seed=2).eval()
    classes = ("score",) if output == "identity" else tuple(f"label{i}" for i in range(6))
    explainer = _explainer(model, "emb", classes=classes, output=output)
    exp = _explain_and_compare(
        explainer,
        lambda ids: apply_head(model(ids), output),
        model.emb,  # type: ignore[arg-type]
    )
    assert exp.output == output
    with torch.no_grad():
        logits = model(torch.tensor(exp.token_ids)[None])[0].double().numpy()
    if output == "sigmoid":  # each label its own probability, not summing to 1
        np.testing.assert_allclose(exp.probs, 1 / (1 + np.exp(-logits)), rtol=1e-5)
        assert abs(exp.probs.sum() - 1) > 0.1
        text, far = baseline_summary(exp)
        assert text.startswith("baseline token '<unk>' → label") and not far
    elif output == "identity":  # the output in its own units
        np.testing.assert_allclose(exp.f_input, logits, rtol=1e-5)
        np.testing.assert_allclose(exp.probs, logits, rtol=1e-5)
        assert baseline_summary(exp) == (
            f"baseline token '<unk>' → score {exp.f_baseline[0]:.3g}",
            False,
        )


def test_uncertain_and_neutral_baselines_follow_the_head() -> None:
    """Sigmoid labels are made ½ each; a regression head refuses both, clearly."""
    model = GRUBody(n_out=3, seed=4).eval()
    sigmoid = _explainer(model, "emb", classes=("a", "b", "c"), output="sigmoid")
    uncertain = igw.UncertainBaseline(max_iter=400)
    exp = sigmoid.explain(TEXT, n_steps=8, baseline=uncertain)
    assert np.abs(uncertain.last["probs"] - 0.5).max() <= uncertain.tol
    np.testing.assert_allclose(exp.f_baseline, 0.5, atol=2e-3)  # not 1/3 each
    ranked = igw.discover_neutral_tokens(sigmoid, top_k=3)
    assert all(abs(n.distance - np.abs(n.probs - 0.5).max()) < 1e-12 for n in ranked)

    regression = _explainer(
        GRUBody(n_out=1, seed=4).eval(), "emb", classes=("score",), output="identity"
    )
    with pytest.raises(ValueError, match=r"regression output .* no 'uncertain'"):
        regression.explain(TEXT, n_steps=8, baseline=igw.UncertainBaseline())
    with pytest.raises(ValueError, match="regression output"):
        igw.discover_neutral_tokens(regression)


def test_unknown_head_is_refused() -> None:
    with pytest.raises(ValueError, match="'probs', 'logits', 'sigmoid' or 'identity'"):
        _explainer(GRUBody(), "emb", output="softmax")


# --------------------------------------------------------------- 5. token classification
@pytest.fixture(scope="module")
def tagger():
    torch.set_num_threads(1)
    return train_tagger()


def test_trained_tagger_explains_why_a_token_got_its_label(tagger) -> None:
    model, tok, accuracy = tagger
    assert accuracy > 0.95
    explainer = igw.Explainer(model, tokenizer=tok, embedding="emb", classes=TAGS)
    text = "the plot was not good and the acting is fun ."
    words = text.split()
    i = 1 + words.index("good")  # <bos> counts
    assert TAGS[tag_of(words, i - 1)] == "NEG"
    exp = _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(model(ids)[:, i], -1),
        model.emb,
        text,
        target=(i, "NEG"),
    )
    assert exp.position == i and exp.predicted_class == "NEG"
    assert exp.token_labels[i] == "NEG" and exp.token_labels[words.index("fun") + 1] == "POS"
    why = exp.for_class("NEG")
    assert why.label == "NEG"
    top_two = {exp.tokens[k] for k in np.argsort(-why.scores)[:2]}
    assert "not" in top_two  # "not" is why "good" is negative here
    assert "token 5 'good': NEG" in exp.summary()


def test_token_targets_are_checked(tagger) -> None:
    model, tok, _ = tagger
    explainer = igw.Explainer(model, tokenizer=tok, embedding="emb", classes=TAGS)
    with pytest.raises(ValueError, match=r"labels every token.*target=\(token_index, label\)"):
        explainer.explain("not good", n_steps=4)
    with pytest.raises(ValueError, match="out of range for 3 tokens"):
        explainer.explain("not good", n_steps=4, target=(3, "NEG"))
    with pytest.raises(ValueError, match="Unknown target class 'B-PER'"):
        explainer.explain("not good", n_steps=4, target=(1, "B-PER"))
    exp = explainer.explain("not good", n_steps=4, target=(-1, None))
    assert exp.position == 2
    sequence = _explainer(GRUBody(), "emb")
    with pytest.raises(ValueError, match="classifies the whole text"):
        sequence.explain(TEXT, n_steps=4, target=(1, "a"))


def test_hugging_face_token_classifier_matches_captum() -> None:
    model, tokenizer = tiny_bert_tagger()
    explainer = igw.Explainer(model, tokenizer=tokenizer)
    text = "The acting was not good, but the film is fun."
    i = 6  # [CLS] the act ##ing was not good
    exp = _explain_and_compare(
        explainer,
        lambda ids: torch.softmax(model(input_ids=ids).logits[:, i], -1),
        model.get_input_embeddings(),
        text,
        target=(i, "B-X"),
        token="[PAD]",
    )
    assert exp.tokens[i] == "good" and exp.position == i
    assert len(exp.token_labels) == len(exp.tokens)
    assert set(exp.token_labels) <= {"O", "B-X", "I-X"}


# ------------------------------------------------------------------- pipeline objects
def test_text_classification_pipeline_is_a_model() -> None:
    transformers = import_transformers()
    model, tokenizer = tiny_bert()
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer)
    explainer = igw.Explainer(pipe)
    assert isinstance(explainer.adapter, PipelineAdapter)
    assert explainer.adapter.output == "probs" and explainer.classes == ("neg", "neu", "pos")
    exp = explainer.explain(TEXT, n_steps=32)
    alone = igw.Explainer(model, tokenizer=tokenizer).explain(TEXT, n_steps=32)
    np.testing.assert_allclose(exp.scores, alone.scores, atol=1e-7)
    score = max(pipe(TEXT, top_k=None), key=lambda r: r["score"])
    assert exp.predicted_class == score["label"]
    assert abs(exp.probs.max() - score["score"]) < 1e-5


def test_multi_label_pipeline_uses_sigmoid() -> None:
    transformers = import_transformers()
    model, tokenizer = tiny_bert(num_labels=4)
    model.config.problem_type = "multi_label_classification"
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer)
    explainer = igw.Explainer(pipe)
    assert explainer.adapter.output == "sigmoid"
    exp = explainer.explain(TEXT, n_steps=16)
    scores = {r["label"]: r["score"] for r in pipe(TEXT, top_k=None)}
    np.testing.assert_allclose(exp.probs, [scores[c] for c in exp.classes], atol=1e-5)


def test_token_classification_pipeline_is_a_model() -> None:
    transformers = import_transformers()
    model, tokenizer = tiny_bert_tagger()
    pipe = transformers.pipeline("token-classification", model=model, tokenizer=tokenizer)
    explainer = igw.Explainer(pipe)
    assert isinstance(explainer.adapter, PipelineAdapter) and explainer.adapter.output == "probs"
    exp = explainer.explain("not a good film", n_steps=16, target=(3, None))
    entities = {e["index"]: e for e in pipe("not a good film", ignore_labels=[])}
    assert exp.token_labels[1:-1] == tuple(entities[k]["entity"] for k in range(1, 5))
    assert abs(exp.probs.max() - entities[3]["score"]) < 1e-5


def test_adapter_for_a_model_with_a_dict_tokenizer_stays_generic() -> None:
    tokenizer = tiny_bert_tokenizer()
    adapter = igw.Explainer(
        HFStyle(len(tokenizer)).eval(), tokenizer=tokenizer, embedding="emb", classes=("n", "p")
    ).adapter
    assert isinstance(adapter, TorchAdapter)


def test_neutral_tokens_and_uncertain_baseline_of_a_token_classifier() -> None:
    """Both average a per-token model's outputs over the tokens."""
    model, tokenizer = tiny_bert_tagger()
    explainer = igw.Explainer(model, tokenizer=tokenizer)
    found = igw.discover_neutral_tokens(explainer, top_k=2)
    assert len(found) == 2 and found[0].probs.shape == (3,)
    uncertain = igw.UncertainBaseline(max_iter=80)
    exp = explainer.explain("the film is fun", n_steps=8, target=(2, None), baseline=uncertain)
    assert np.abs(uncertain.last["probs"] - 1 / 3).max() < 0.01
    assert exp.baseline.startswith("uncertain (probabilities")
