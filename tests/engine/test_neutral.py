"""Neutral-token discovery: ids built from the vocabulary, cancel and progress hooks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from support.toy_models import (
    WordTokenizer,
    import_transformers,
    make_module,
    tiny_bert,
    toy_bundle,
)

import ig_widgets as igw
from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.neutral import NeutralToken, discover_neutral_tokens, is_marker


class ClosedTokenizer(WordTokenizer):
    """A tokenizer of a closed vocabulary: a word it does not know raises ``KeyError``."""

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int] | None]]:
        ids, spans = super().encode(text)
        unknown = self.index["<unk>"]
        if unknown in ids:
            raise KeyError(text)
        return ids, spans


def closed_model(eos: bool = False) -> igw.Explainer:
    tokenizer = ClosedTokenizer(eos=eos)
    module = make_module("gru", len(tokenizer.vocab), n_classes=3, seed=4)
    return igw.Explainer(
        module, tokenizer=tokenizer, embedding="emb", classes=("a", "b", "c"), output="logits"
    )


def probs_of(explainer: igw.Explainer, ids: list[int]) -> np.ndarray:
    """Class probabilities of one row of ids (a batch of one: float32 rounding differs ~1e-8)."""
    adapter = explainer.adapter
    rows = torch.tensor([ids])
    with adapter.prepared(), torch.no_grad():
        out = adapter.forward_embeds(adapter.embed(rows), rows[0])[0]
    probs = out if adapter.output == "probs" else out.softmax(-1)
    return probs.double().numpy()


def test_closed_vocabulary_and_both_ends() -> None:
    explainer = closed_model(eos=True)
    vocab = explainer.adapter.vocab
    found = discover_neutral_tokens(explainer, top_k=3, length=5)
    assert len(found) == 3 and all(isinstance(n, NeutralToken) for n in found)
    assert [n.distance for n in found] == sorted(n.distance for n in found)
    assert not any(is_marker(n.token) for n in found)
    bos, eos = vocab.index("<bos>"), vocab.index("<eos>")
    best = vocab.index(found[0].token)
    np.testing.assert_allclose(
        found[0].probs, probs_of(explainer, [bos, *[best] * 5, eos]), atol=1e-6
    )


def test_accepts_an_explainer_an_adapter_or_a_model() -> None:
    bundle = toy_bundle("gru", n_classes=2, seed=1)
    by_explainer = discover_neutral_tokens(igw.Explainer(bundle), top_k=4)
    by_adapter = discover_neutral_tokens(adapter_for(bundle), top_k=4)
    by_model = igw.discover_neutral_tokens(bundle, top_k=4)
    assert [n.token for n in by_explainer] == [n.token for n in by_adapter]
    assert [n.token for n in by_model] == [n.token for n in by_adapter]


def test_progress_and_cancel() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=2, seed=1))
    seen: list[tuple[int, int]] = []
    discover_neutral_tokens(explainer, batch_size=5, progress=lambda d, t: seen.append((d, t)))
    total = seen[-1][1]
    assert [d for d, _ in seen] == [*range(5, total, 5), total]
    assert {t for _, t in seen} == {total}

    stop = threading.Event()
    calls: list[int] = []

    def stop_after_first(done: int, total: int) -> None:
        calls.append(done)
        stop.set()

    with pytest.raises(igw.Cancelled):
        discover_neutral_tokens(explainer, batch_size=5, progress=stop_after_first, cancel=stop)
    assert calls == [5]
    with pytest.raises(igw.Cancelled):
        discover_neutral_tokens(explainer, cancel=lambda: True)


def test_unknown_candidate_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown baseline token 'zzq'"):
        discover_neutral_tokens(closed_model(), candidates=["the", "zzq"])


def test_bert_rows_are_cls_tokens_sep() -> None:
    pytest.importorskip("tokenizers")
    try:
        import_transformers()
    except ImportError:  # pragma: no cover - the optional extra is missing
        pytest.skip("transformers (optional extra) is not installed")
    model, tokenizer = tiny_bert()
    explainer = igw.Explainer(model, tokenizer=tokenizer)
    assert explainer.adapter.edge_ids() == ((2,), (3,))  # [CLS], [SEP]
    found = discover_neutral_tokens(explainer, top_k=2, length=3, candidates=["the", "film"])
    best = tokenizer.convert_tokens_to_ids(found[0].token)
    np.testing.assert_allclose(
        found[0].probs, probs_of(explainer, [2, best, best, best, 3]), atol=1e-6
    )


def test_fastai_rows_start_with_xxbos(learn: object) -> None:
    explainer = igw.Explainer(learn)
    vocab = explainer.adapter.vocab
    assert explainer.adapter.edge_ids() == ((vocab.index("xxbos"),), ())
    found = discover_neutral_tokens(explainer, top_k=1, length=4, candidates=["xxunk", "the"])
    tid = vocab.index(found[0].token)
    bos = vocab.index("xxbos")
    np.testing.assert_allclose(
        found[0].probs, probs_of(explainer, [bos, tid, tid, tid, tid]), atol=1e-6
    )


def test_the_choice_at_a_length_is_ranked_once_per_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """A widget asks for [neutral] on every change; the 30-forward ranking runs once per length."""
    from ig_widgets.engine import neutral

    explainer = closed_model()
    ranked: list[int] = []
    real = neutral._rank_at

    def counting(adapter: object, length: int, cancel: object) -> neutral.NeutralChoice:
        ranked.append(length)
        return real(adapter, length, cancel)  # type: ignore[arg-type]

    monkeypatch.setattr(neutral, "_rank_at", counting)
    first = neutral.neutral_token_at(explainer, 5)
    assert neutral.neutral_token_at(explainer, 5) is first and ranked == [5]
    neutral.neutral_token_at(explainer, 6)
    assert ranked == [5, 6]
    with torch.no_grad():  # new weights: the kept choices are not reused
        explainer.adapter.network.emb.weight.mul_(1.5)
    neutral.neutral_token_at(explainer, 5)
    assert ranked == [5, 6, 5]
