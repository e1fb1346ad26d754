"""The generic PyTorch adapter on hand-checkable toy models."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from support.toy_models import (
    DictOutput,
    NaNOutput,
    TupleOutput,
    TwiceEmbedded,
    WordTokenizer,
    baseline_ids,
    captum_scores,
    make_module,
    toy_bundle,
)

import ig_widgets as igw
from ig_widgets.engine.adapters import ModelAdapter, adapter_for, families
from ig_widgets.engine.adapters.torch import TorchAdapter, edge_run, pick_logits
from ig_widgets.engine.quadrature import METHODS
from ig_widgets.engine.spans import align_spans

TEXT = "The movie was not GOOD, but the acting was great!"


def _ids(adapter: TorchAdapter, text: str = TEXT) -> torch.Tensor:
    return torch.tensor(adapter.tokenize(text).ids)


def _wrap(module: torch.nn.Module, **kw) -> TorchAdapter:
    tok = WordTokenizer()
    kw.setdefault("classes", ("negative", "positive"))
    return TorchAdapter(module, tokenizer=tok, embedding=kw.pop("embedding", "inner.emb"), **kw)


@pytest.mark.parametrize("kind", ["mean", "gru", "lstm"])
@pytest.mark.parametrize("output", ["probs", "logits"])
def test_forward_embeds_of_own_embeddings_equals_the_model(kind: str, output: str) -> None:
    adapter = TorchAdapter(toy_bundle(kind, n_classes=3, output=output))
    ids = _ids(adapter)
    with adapter.prepared():
        f = adapter.forward_embeds(adapter.embed(ids[None]), ids)
        logits = adapter.module(ids[None])
    expected = torch.softmax(logits, -1) if output == "probs" else logits
    assert f.shape == (1, 3)
    torch.testing.assert_close(f, expected, atol=1e-6, rtol=0)


def test_hook_replaces_embeddings_row_by_row() -> None:
    """Each batch row gets its own path point: MeanLinear by hand, W · mean(e) + b."""
    adapter = TorchAdapter(toy_bundle("mean", output="logits"))
    ids = _ids(adapter)
    e = adapter.embed(ids[None])[0]
    points = torch.stack([e * a for a in (0.0, 0.3, 1.0)])
    f = adapter.forward_embeds(points, ids)
    head = adapter.module.head
    by_hand = points.mean(1) @ head.weight.T + head.bias
    torch.testing.assert_close(f, by_hand, atol=1e-6, rtol=0)
    torch.testing.assert_close(f[0], head.bias.detach())  # zero embeddings -> the bias


def test_gradient_reaches_the_path_points() -> None:
    adapter = TorchAdapter(toy_bundle("mean", output="logits"))
    ids = _ids(adapter)
    points = adapter.embed(ids[None]).requires_grad_(True)
    adapter.forward_embeds(points, ids)[0, 1].backward()
    w = adapter.module.head.weight[1].detach()
    expected = (w / len(ids)).expand(len(ids), -1)
    torch.testing.assert_close(points.grad[0], expected)


def test_forward_embeds_is_eval_mode_and_deterministic() -> None:
    bundle = toy_bundle("gru")
    bundle.module.train()
    adapter = TorchAdapter(bundle)
    ids = _ids(adapter)
    e = adapter.embed(ids[None]).expand(4, -1, -1)
    f = adapter.forward_embeds(e, ids)
    torch.testing.assert_close(f, f[:1].expand(4, -1), atol=1e-6, rtol=0)
    assert bundle.module.training  # left as found


def test_training_flags_restored_exactly() -> None:
    bundle = toy_bundle("lstm")
    module = bundle.module
    module.train()
    module.drop.eval()  # a mixed state must come back as it was
    before = {n: m.training for n, m in module.named_modules()}
    adapter = TorchAdapter(bundle)
    with adapter.prepared():
        assert not any(m.training for m in module.modules())
        ids = _ids(adapter)
        adapter.forward_embeds(adapter.embed(ids[None]), ids)
    assert {n: m.training for n, m in module.named_modules()} == before
    with pytest.raises(RuntimeError), adapter.prepared():
        raise RuntimeError("boom")
    assert {n: m.training for n, m in module.named_modules()} == before


def test_tokenize_spans_special_and_keep() -> None:
    adapter = TorchAdapter(toy_bundle("mean", eos=True))
    tok = adapter.tokenize("Fun plot; awful ACTING.")
    assert tok.tokens[0] == "<bos>" and tok.tokens[-1] == "<eos>"
    assert tok.spans[0] is None and tok.spans[-1] is None
    assert tok.special == (True, False, False, False, False, False, False, True)
    assert tok.keep == tok.special
    for token, span in zip(tok.tokens[1:-1], tok.spans[1:-1], strict=True):
        piece = tok.text[span[0] : span[1]].lower()
        assert token == piece or (token == "<unk>" and piece == ";")


def test_callable_tokenizer_spans_are_aligned() -> None:
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab))
    index = {t: i for i, t in enumerate(tok.vocab)}
    for vocab in (tok.vocab, index):
        adapter = TorchAdapter(
            module, tokenizer=tok.ids, vocab=vocab, embedding=module.emb, classes=("n", "p")
        )
        t = adapter.tokenize("A boring, dull film!")
        assert t.tokens == ("<bos>", "a", "boring", ",", "<unk>", "film", "!")
        assert t.spans == (None, (0, 1), (2, 8), (8, 9), None, (15, 19), (19, 20))
        assert t.special == (True, False, False, False, False, False, False)
        assert t.keep == (True, False, False, False, False, False, False)


def test_align_spans_rules() -> None:
    text = "A cat sat on the Mat. Unbelievable!"
    tokens = ["[CLS]", "a", "a", "cat", "s", "##at", "on", "the", "▁mat", ".", "un", "##bel", "!"]
    spans = align_spans(text, tokens)
    assert spans[0] is None  # special token not in the text
    assert spans[1] == (0, 1)
    assert spans[2] is None  # "a" is not matched inside "cat"
    assert spans[3] == (2, 5)
    assert [text[s:e] for s, e in spans[4:10]] == ["s", "at", "on", "the", "Mat", "."]
    assert text[slice(*spans[10])] == "Un" and text[slice(*spans[11])] == "bel"
    assert spans[12] == (34, 35)
    assert align_spans("say <br> hi", ["say", "<br>", "hi"]) == [(0, 3), (4, 8), (9, 11)]


def test_edge_run() -> None:
    assert edge_run([True, False, True, False, True, True]) == (
        True, False, False, False, True, True,
    )  # fmt: skip
    assert edge_run([True, True]) == (True, True)
    assert edge_run([]) == ()


@pytest.mark.parametrize(
    ("wrapper", "key"),
    [
        (lambda m: TupleOutput(m), None),
        (lambda m: TupleOutput(m, logits_at=1), 1),
        (lambda m: DictOutput(m), None),
        (lambda m: DictOutput(m, key="scores"), "scores"),
    ],
)
def test_output_picking(wrapper, key) -> None:
    tok = WordTokenizer()
    inner = make_module("mean", len(tok.vocab))
    adapter = _wrap(wrapper(inner), output_key=key, output="logits")
    ids = _ids(adapter)
    f = adapter.forward_embeds(adapter.embed(ids[None]), ids)
    torch.testing.assert_close(f, inner(ids[None]), atol=1e-6, rtol=0)


def test_pick_logits_rules() -> None:
    t = torch.ones(1, 2)
    assert pick_logits(t) is t
    assert pick_logits([t * 0, t], 1)[0, 0] == 1
    assert pick_logits(SimpleNamespace(logits=t)) is t
    with pytest.raises(TypeError, match="int index"):
        pick_logits((t,), "logits")
    with pytest.raises(TypeError, match="must be a key"):
        pick_logits({"logits": t}, 0)
    with pytest.raises(ValueError, match=r"no 'logits'.*output_key"):
        pick_logits({"scores": t})
    with pytest.raises(ValueError, match="out of range"):
        pick_logits((t,), 3)
    with pytest.raises(TypeError, match="Cannot find logits"):
        pick_logits(3.0)


def test_missing_and_wrong_arguments() -> None:
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab))
    ok = {"tokenizer": tok, "embedding": "emb", "classes": ("n", "p")}
    for missing, pattern in [
        ("tokenizer", r"Missing: tokenizer= \(an object with \.vocab"),
        ("embedding", r"Missing: embedding= .*\['emb'\]"),
        ("classes", r"Missing: classes= \(the class names"),
    ]:
        kwargs = {k: v for k, v in ok.items() if k != missing}
        with pytest.raises(TypeError, match=pattern):
            TorchAdapter(module, **kwargs)
    with pytest.raises(ValueError, match=r"no submodule 'embed'.*\['emb'\]"):
        TorchAdapter(module, **{**ok, "embedding": "embed"})
    with pytest.raises(ValueError, match="not a submodule"):
        TorchAdapter(module, **{**ok, "embedding": torch.nn.Embedding(3, 2)})
    with pytest.raises(TypeError, match="needs vocab="):
        TorchAdapter(module, **{**ok, "tokenizer": tok.ids})
    with pytest.raises(TypeError, match="only for a callable"):
        TorchAdapter(module, **ok, vocab=tok.vocab)
    with pytest.raises(ValueError, match="'probs', 'logits', 'sigmoid' or 'identity'"):
        TorchAdapter(module, **ok, output="proba")
    with pytest.raises(ValueError, match="Unknown baseline token 'zzz'"):
        TorchAdapter(module, **ok, baseline_token="zzz")
    with pytest.raises(ValueError, match="distinct"):
        TorchAdapter(module, **{**ok, "classes": ("a", "a")})
    with pytest.raises(ValueError, match="one class"):
        TorchAdapter(module, **{**ok, "classes": ("only",)})
    with pytest.raises(TypeError, match="already carries tokenizer="):
        TorchAdapter(toy_bundle(), tokenizer=tok)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        TorchAdapter("not a model", **ok)  # type: ignore[arg-type]


def test_wrong_class_count_is_a_clear_error() -> None:
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab), n_classes=3)
    adapter = TorchAdapter(module, tokenizer=tok, embedding="emb", classes=("n", "p"))
    ids = _ids(adapter)
    with pytest.raises(ValueError, match=r"shape \(1, 3\); expected \(batch, 2\)"):
        adapter.forward_embeds(adapter.embed(ids[None]), ids)


def test_nan_output_is_a_clear_error() -> None:
    tok = WordTokenizer()
    adapter = _wrap(NaNOutput(make_module("mean", len(tok.vocab))))
    ids = _ids(adapter)
    with pytest.raises(ValueError, match="model's output contains NaN"):
        adapter.forward_embeds(adapter.embed(ids[None]), ids)


def test_embedding_called_twice_is_refused() -> None:
    tok = WordTokenizer()
    adapter = TorchAdapter(
        TwiceEmbedded(len(tok.vocab)), tokenizer=tok, embedding="emb", classes=("n", "p")
    )
    ids = _ids(adapter)
    with pytest.raises(ValueError, match="ran 2 times"):
        adapter.forward_embeds(adapter.embed(ids[None]), ids)


class InPlacePositions(torch.nn.Module):
    """Adds position vectors to its embeddings in place, as hand-written transformers do."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.emb = torch.nn.Embedding(vocab_size, 4)
        self.pos = torch.nn.Parameter(torch.randn(64, 4))
        self.head = torch.nn.Linear(4, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        x += self.pos[: ids.shape[1]]
        return self.head(torch.tanh(x).mean(1))


def test_in_place_changes_of_the_embeddings_work() -> None:
    tok = WordTokenizer()
    module = InPlacePositions(len(tok.vocab)).eval()
    adapter = TorchAdapter(module, tokenizer=tok, embedding="emb", classes=("n", "p"))
    ids = _ids(adapter)
    points = adapter.embed(ids[None]).requires_grad_(True)
    f = adapter.forward_embeds(points, ids)
    torch.testing.assert_close(f, torch.softmax(module(ids[None]), -1))
    f[0, 1].backward()
    assert points.grad is not None and points.grad.abs().sum() > 0


def test_bad_tokenizer_output() -> None:
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab))

    def encode_bad(text: str) -> list[int]:
        return [999]

    adapter = TorchAdapter(
        module, tokenizer=encode_bad, vocab=tok.vocab, embedding="emb", classes=("n", "p")
    )
    with pytest.raises(ValueError, match="outside the vocabulary"):
        adapter.tokenize("good")
    empty = TorchAdapter(
        module, tokenizer=lambda t: [], vocab=tok.vocab, embedding="emb", classes=("n", "p")
    )
    with pytest.raises(ValueError, match="no tokens"):
        empty.tokenize("good")


def test_defaults_and_names() -> None:
    adapter = TorchAdapter(toy_bundle("gru"))
    assert adapter.family == "torch" and adapter.name == "toy-gru"
    assert adapter.classes == ("negative", "positive") and adapter.output == "probs"
    assert adapter.default_baseline_token == "<unk>"
    assert adapter.token_id("<unk>") == 1 and adapter.max_tokens is None
    module = make_module("mean", 3)
    vocab = ["good", "bad", "<s>"]
    plain = TorchAdapter(
        module, tokenizer=lambda t: [0], vocab=vocab, embedding="emb", classes=("a", "b")
    )
    assert plain.default_baseline_token is None and plain.name == "MeanLinear"
    chosen = TorchAdapter(toy_bundle(), baseline_token="the", output="logits")
    assert chosen.default_baseline_token == "the" and chosen.output == "logits"


def test_adapter_for_picks_the_torch_adapter() -> None:
    bundle = toy_bundle("mean")
    assert isinstance(adapter_for(bundle), TorchAdapter)
    adapter = adapter_for(
        bundle.module, tokenizer=bundle.tokenizer, embedding="emb", classes=bundle.classes
    )
    assert isinstance(adapter, TorchAdapter)
    with pytest.raises(TypeError, match=r"Missing: tokenizer=.*; embedding=.*; classes="):
        adapter_for(bundle.module)


def test_families_are_asked_by_their_declared_priority() -> None:
    """A specialist family wins over the general torch family by priority, not by being named."""

    class Marked(TorchAdapter):
        family = "marked-toy"
        priority = 5

        @classmethod
        def accepts(cls, model, **kwargs) -> bool:
            return getattr(model, "marked", False)

    bundle = toy_bundle("mean")
    parts = {"tokenizer": bundle.tokenizer, "embedding": "emb", "classes": bundle.classes}
    try:
        order = families()
        assert order.index(Marked) < order.index(TorchAdapter)
        assert [f.priority for f in order] == sorted((f.priority for f in order), reverse=True)
        assert TorchAdapter.accepts(bundle.module)  # the general family takes any module
        assert type(adapter_for(bundle.module, **parts)) is TorchAdapter
        bundle.module.marked = True
        assert type(adapter_for(bundle.module, **parts)) is Marked
        Marked.priority = TorchAdapter.priority - 1  # now asked after the general family
        assert type(adapter_for(bundle.module, **parts)) is TorchAdapter
    finally:
        ModelAdapter.registry.remove(Marked)
    assert Marked not in families()


# ------------------------------------------------- the engine through this adapter vs Captum
LONG = " ".join(["the film was not very good , but the acting is fun and great !"] * 20)


def _captum_for(explainer: igw.Explainer, text: str, method: str) -> np.ndarray:
    bundle = explainer.adapter
    tok = explainer.tokenize(text)
    return captum_scores(
        lambda ids: torch.softmax(bundle.module(ids), -1),
        bundle.embedding,
        torch.tensor(tok.ids),
        baseline_ids(tok, bundle.token_id("<unk>")),
        len(bundle.classes),
        50,
        method,
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("kind", "n_classes"), [("lstm", 3), ("gru", 2)])
def test_engine_agrees_with_captum(method: str, kind: str, n_classes: int) -> None:
    explainer = igw.Explainer(toy_bundle(kind, n_classes=n_classes, seed=3))
    exp = explainer.explain(TEXT, n_steps=50, method=method, baseline="<unk>")
    reference = _captum_for(explainer, TEXT, method)
    assert exp.scores.shape == reference.shape
    assert np.abs(exp.scores).max() > 1e-3
    np.testing.assert_allclose(exp.scores, reference, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_engine_agrees_with_captum_on_a_long_input() -> None:
    """Over 250 tokens, chunked by a 1 MB memory budget: still Captum's numbers."""
    explainer = igw.Explainer(toy_bundle("gru", n_classes=2, seed=3), memory_budget=2**20)
    assert len(explainer.tokenize(LONG)) > 250
    seen: list[int] = []
    exp = explainer.explain(LONG, baseline="<unk>", progress=lambda d, t: seen.append(d))
    assert len(seen) > 2  # the path really was cut into chunks
    np.testing.assert_allclose(exp.scores, _captum_for(explainer, LONG, "gausslegendre"), atol=1e-5)


@pytest.mark.parametrize(("kind", "n_classes"), [("mean", 3), ("gru", 2), ("lstm", 3)])
@pytest.mark.parametrize("baseline", ["<unk>", "zero"])
def test_completeness_at_64_gauss_legendre(kind: str, n_classes: int, baseline: str) -> None:
    explainer = igw.Explainer(toy_bundle(kind, n_classes=n_classes, seed=4))
    base = igw.ZeroBaseline() if baseline == "zero" else baseline
    for text in (TEXT, "awful film", "fun, fun, fun and great acting. the plot is not bad"):
        exp = explainer.explain(text, n_steps=64, baseline=base)
        diff = np.abs(exp.f_input - exp.f_baseline)
        assert diff.max() > 1e-3
        assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(diff, 1e-3))
