"""The bundled CNN demo model: tokenizer spans, loading, predictions, size and accuracy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from support.paths import SHARED_DATA

from ig_widgets.models import cnn
from ig_widgets.models.bundle import TextTokenizer, TorchTextClassifier
from ig_widgets.models.tokenizer import WordTokenizer, split_words

TEXTS = [
    "A gorgeous, moving film.",
    "I DON'T like it... at ALL!!!",
    "It's the director’s best — isn't it?",
    "Great acting.<br /><br />Terrible plot; 2/10.<br/>Skip it",
    "Amélie est très jolie 🙂 naïve café Straße İstanbul",
    "  leading and trailing spaces \n\t newline ",
    "co-writer/director peter jackson's j . r . r . tolkien's middle-earth",
    "x",
    "<br />only<br />",
    "1,000,000 $ a_b <b>tag</b> e-mail@example.com",
]


@pytest.fixture(scope="module")
def bundle() -> TorchTextClassifier:
    return cnn.load()


def probs(bundle: TorchTextClassifier, text: str) -> torch.Tensor:
    ids, _ = bundle.tokenizer.encode(text)
    with torch.no_grad():
        return torch.softmax(bundle.module(torch.tensor([ids])), dim=-1)[0]


# --- tokenizer ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_spans_point_at_the_tokens(text: str) -> None:
    pieces = split_words(text)
    assert pieces, text
    previous_end = 0
    for token, start, end in pieces:
        assert text[start:end].lower() == token
        assert start >= previous_end and end > start
        # nothing but whitespace or <br /> between tokens
        gap = text[previous_end:start].replace("<br />", "").replace("<br/>", "")
        assert gap.strip() == "", (text, gap)
        previous_end = end
    assert text[previous_end:].replace("<br />", "").replace("<br/>", "").strip() == ""


def test_tokenization_examples() -> None:
    assert [t for t, _, _ in split_words("I DON'T like it!!")] == [
        "i",
        "don't",
        "like",
        "it",
        "!",
        "!",
    ]
    assert [t for t, _, _ in split_words("Good.<br /><br />Bad")] == ["good", ".", "bad"]
    assert [t for t, _, _ in split_words("director’s café")] == ["director’s", "café"]
    assert [t for t, _, _ in split_words("co-writer")] == ["co", "-", "writer"]


def test_encode_adds_bos_and_maps_unknown_words() -> None:
    tok = WordTokenizer(["good", "film"])
    ids, spans = tok.encode("Good zzzqqq film")
    assert ids == [tok.bos_id, 3, tok.unk_id, 4]
    assert spans == [None, (0, 4), (5, 11), (12, 16)]
    assert list(tok.vocab[:3]) == ["<pad>", "<unk>", "<bos>"]
    assert isinstance(tok, TextTokenizer)


@pytest.mark.parametrize("text", ["", "   \n ", "<br /><br />"])
def test_encode_rejects_text_without_tokens(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        WordTokenizer(["a"]).encode(text)


def test_encode_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="str"):
        WordTokenizer(["a"]).encode(b"bytes")  # type: ignore[arg-type]


def test_build_is_deterministic_and_bounded() -> None:
    texts = ["b a a c", "c a b d", "e"]
    tok = WordTokenizer.build(texts, max_size=5, min_freq=2)
    assert list(tok.vocab) == ["<pad>", "<unk>", "<bos>", "a", "b"]
    assert list(WordTokenizer.build(reversed(texts), max_size=5).vocab) == list(tok.vocab)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tok = WordTokenizer(["ünïcode", "don't", "!"])
    tok.save(tmp_path / "v.json")
    again = WordTokenizer.load(tmp_path / "v.json")
    assert list(again.vocab) == list(tok.vocab)
    (tmp_path / "bad.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(ValueError, match="start with"):
        WordTokenizer.load(tmp_path / "bad.json")


# --- bundled model -----------------------------------------------------------------------


def test_load_returns_an_eval_mode_bundle(bundle: TorchTextClassifier) -> None:
    assert bundle.classes == ("negative", "positive")
    assert bundle.name == "CNN" and bundle.output == "probs"
    assert bundle.embedding is bundle.module.embedding
    assert isinstance(bundle.embedding, torch.nn.Embedding)
    assert not bundle.module.training
    assert bundle.baseline_token in bundle.tokenizer.vocab
    assert bundle.module.embedding.num_embeddings == len(bundle.tokenizer.vocab)


def test_bundled_vocab_spans_and_ids(bundle: TorchTextClassifier) -> None:
    vocab = bundle.tokenizer.vocab
    long_review = " ".join(TEXTS) * 40
    for text in [*TEXTS, long_review]:
        ids, spans = bundle.tokenizer.encode(text)
        assert len(ids) == len(spans) and ids[0] == vocab.index("<bos>") and spans[0] is None
        assert all(0 <= i < len(vocab) for i in ids)
        for i, span in zip(ids[1:], spans[1:], strict=True):
            assert span is not None
            if vocab[i] != "<unk>":
                assert text[span[0] : span[1]].lower() == vocab[i]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("a gorgeous, moving film", "positive"),
        ("A wonderful, beautifully acted and deeply moving masterpiece.", "positive"),
        ("one of the best films of the year , funny and touching", "positive"),
        ("a dull, boring mess. the worst movie i have seen", "negative"),
        ("Terrible acting, a stupid plot and no laughs at all.", "negative"),
    ],
)
def test_predicts_clear_examples(bundle: TorchTextClassifier, text: str, label: str) -> None:
    p = probs(bundle, text)
    assert bundle.classes[int(p.argmax())] == label, p


def test_any_length_and_determinism(bundle: TorchTextClassifier) -> None:
    for text in ["x", "bad", "not good", "a b c d e f g"]:
        ids, _ = bundle.tokenizer.encode(text)
        out = bundle.module(torch.tensor([ids, ids]))
        assert out.shape == (2, 2) and torch.isfinite(out).all()
        assert torch.equal(out[0], out[1])
    text = "an uneven but often funny film"
    assert torch.equal(probs(bundle, text), probs(bundle, text))


def test_ids_enter_only_through_the_embedding(bundle: TorchTextClassifier) -> None:
    ids, _ = bundle.tokenizer.encode("a sharp, funny and humane film")
    ids_t = torch.tensor([ids])
    embeds = bundle.embedding(ids_t)
    with torch.no_grad():
        direct = bundle.module(ids_t)
        # replacing the embedding output replaces everything the network sees of the ids
        swapped = bundle.module(torch.zeros_like(ids_t) + 5)
    hook = bundle.embedding.register_forward_hook(lambda *_: embeds)
    try:
        with torch.no_grad():
            hooked = bundle.module(torch.zeros_like(ids_t) + 5)
    finally:
        hook.remove()
    assert torch.equal(hooked, direct)
    assert not torch.equal(swapped, direct)


def test_package_data_is_small_and_weights_load_weights_only(monkeypatch) -> None:
    files = list(cnn.DATA_DIR.iterdir())
    assert {"weights.pt", "vocab.json", "config.json", "metrics.json"} <= {p.name for p in files}
    assert sum(p.stat().st_size for p in files) <= 10 * 1024 * 1024
    state = torch.load(cnn.DATA_DIR / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    cnn.load()
    assert calls and all(c.get("weights_only") is True for c in calls)


# --- accuracy on held-out data -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared_data
def test_accuracy_on_imdb_valid_matches_metrics(bundle: TorchTextClassifier) -> None:
    csv_path = SHARED_DATA / "imdb_sample.csv"
    if not csv_path.exists():
        pytest.skip(f"imdb_sample.csv not found in {SHARED_DATA} (set IGW_SHARED_DATA)")
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["is_valid"] == "True"]
    assert len(rows) == 200
    hits = sum(bundle.classes[int(probs(bundle, r["text"]).argmax())] == r["label"] for r in rows)
    recorded = json.loads((cnn.DATA_DIR / "metrics.json").read_text())["accuracy"]["imdb_valid"]
    assert hits / len(rows) >= recorded - 0.01
