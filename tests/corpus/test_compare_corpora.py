"""compare_corpora: its per-text and per-word figures are those of the two runs' own results."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch
from support.toy_models import WordTokenizer, make_module, toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation, compare_corpora
from ig_widgets.engine.metrics import mean_interval
from ig_widgets.engine.words import attribution_distance, word_key
from ig_widgets.models.bundle import TorchTextClassifier

TEXTS = (
    "The cast is WONDERFUL, but the film is a boring mess.",
    "A great film! The best film of the year.<br />Great fun.",
    "not good, not bad: the film is just dull",
    "I loved the cast, and the music is great.",
    "The plot is stupid and the acting is awful.",
    "Don't miss it: a great, great cast.",
    "The film is boring; the cast is bored.",
)
TARGET = "positive"


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def runs() -> tuple[CorpusExplanation, CorpusExplanation]:
    """The demo AWD-LSTM (spaCy + fastai markers) and the demo CNN (its own word tokenizer)."""
    lstm = igw.Explainer(igw.load_demo_model())
    cnn = igw.Explainer(igw.load_demo_model("cnn"))
    options = {"n_steps": 8, "progress": False}
    return lstm.explain_many(TEXTS, **options), cnn.explain_many(TEXTS, **options)


@pytest.fixture(scope="module")
def comparison(runs: tuple[CorpusExplanation, CorpusExplanation]) -> CorpusComparison:
    return compare_corpora(*runs, target=TARGET, min_count=2)


def _vector(exp: igw.Explanation, target: str) -> np.ndarray:
    """The text's word attributions for ``target`` without the special words, by hand."""
    c = exp.classes.index(target)
    keep = [i for i, w in enumerate(exp.words) if not w.special]
    return exp.word_scores()[c, keep]


def test_the_two_runs_tokenize_differently(runs: tuple[CorpusExplanation, ...]) -> None:
    a, b = runs
    differ = [i for i in range(len(TEXTS)) if a[i].tokens != b[i].tokens]
    assert len(differ) == len(TEXTS)
    assert any("xxmaj" in a[i].tokens for i in range(len(TEXTS)))  # markers fold into words
    assert any(len(a[i].tokens) != len(b[i].tokens) for i in range(len(TEXTS)))


def test_texts_equal_each_runs_own_figures(
    runs: tuple[CorpusExplanation, CorpusExplanation], comparison: CorpusComparison
) -> None:
    a, b = runs
    table = comparison.texts().set_index("id")
    assert list(table.index) == a.ids
    frame_a, frame_b = a.to_dataframe(), b.to_dataframe()
    for i, id_ in enumerate(a.ids):
        ea, eb = a.by_id(id_), b.by_id(id_)
        row = table.loc[id_]
        c = ea.classes.index(TARGET)
        assert row["text"] == TEXTS[i]
        assert row["predicted_a"] == frame_a["predicted"][i]
        assert row["predicted_b"] == frame_b["predicted"][i]
        assert bool(row["agree"]) == (frame_a["predicted"][i] == frame_b["predicted"][i])
        assert row["score_a"] == pytest.approx(float(ea.f_input[c]), abs=1e-12)
        assert row["score_b"] == pytest.approx(float(eb.f_input[c]), abs=1e-12)
        assert row["score_change"] == pytest.approx(row["score_b"] - row["score_a"], abs=1e-12)
        assert row["prob_a"] == pytest.approx(frame_a["probabilities"][i][c], abs=1e-6)
        assert row["prob_b"] == pytest.approx(frame_b["probabilities"][i][c], abs=1e-6)
        va, vb = _vector(ea, TARGET), _vector(eb, TARGET)
        assert row["n_words"] == len(TEXTS[i].split()) == len(va) == len(vb)
        cosine = float(va @ vb) / float(np.linalg.norm(va) * np.linalg.norm(vb))
        assert row["attribution_change"] == pytest.approx(1 - cosine, abs=1e-9)
        expected = abs(row["prob_b"] - row["prob_a"]) + (1 - cosine) / 2
        assert row["disagreement"] == pytest.approx(expected, abs=1e-9)
        words = TEXTS[i].split()
        assert row["top_word_a"] == words[int(np.argmax(np.abs(va)))]
        assert row["top_word_b"] == words[int(np.argmax(np.abs(vb)))]
        assert row["error_a"] is None or pd.isna(row["error_a"])
        aligned_words, attr_a, attr_b = comparison.aligned(id_)
        assert aligned_words == words
        np.testing.assert_allclose(attr_a, va, rtol=0, atol=1e-12)
        np.testing.assert_allclose(attr_b, vb, rtol=0, atol=1e-12)


def test_words_equal_each_runs_word_importance(
    runs: tuple[CorpusExplanation, CorpusExplanation], comparison: CorpusComparison
) -> None:
    a, b = runs
    table = comparison.words().set_index("word")
    own_a = a.word_importance(TARGET, min_count=2)
    own_b = b.word_importance(TARGET, min_count=2)
    assert set(table.index) == set(own_a.index) == set(own_b.index)
    assert {"film", "cast", "great", "the"} <= set(table.index)
    for word, row in table.iterrows():
        for side, own in (("a", own_a), ("b", own_b)):
            assert row[f"count_{side}"] == own.loc[word, "count"]
            assert row[f"mean_{side}"] == pytest.approx(own.loc[word, "mean"], abs=1e-12)
            assert row[f"abs_mean_{side}"] == pytest.approx(own.loc[word, "mean_abs"], abs=1e-12)
        assert row["texts"] == own_a.loc[word, "texts"]
        assert row["mean_change"] == pytest.approx(row["mean_b"] - row["mean_a"], abs=1e-12)
        assert row["abs_change"] == pytest.approx(row["abs_mean_b"] - row["abs_mean_a"], abs=1e-12)
    changes = table["abs_change"].abs().to_numpy()
    assert np.all(changes[:-1] >= changes[1:])  # the words one run relies on more come first


def test_word_intervals_pair_the_occurrences(comparison: CorpusComparison) -> None:
    """The interval of a word's change is Student's over its paired occurrences (by hand)."""
    table = comparison.words().set_index("word")
    for word in ("film", "great", "the"):
        signed, absolute = [], []
        for id_ in comparison.shared:
            words, attr_a, attr_b = comparison.aligned(id_)
            for w, x, y in zip(words, attr_a, attr_b, strict=True):
                if word_key(w) == word:
                    signed.append(y - x)
                    absolute.append(abs(y) - abs(x))
        mean, low, high, n = mean_interval(signed)
        row = table.loc[word]
        assert n == row["count_a"]
        assert (row["mean_change"], row["mean_change_low"], row["mean_change_high"]) == (
            pytest.approx((mean, low, high), abs=1e-12)
        )
        mean, low, high, _ = mean_interval(absolute)
        assert (row["abs_change"], row["abs_change_low"], row["abs_change_high"]) == (
            pytest.approx((mean, low, high), abs=1e-12)
        )
        assert low < high


def test_disagreements_rank_by_the_documented_key(comparison: CorpusComparison) -> None:
    ranked = comparison.disagreements(3)
    every = comparison.texts()["disagreement"].sort_values(ascending=False)
    assert len(ranked) == 3
    assert list(ranked["disagreement"]) == list(every.head(3))
    assert len(comparison.disagreements(None)) == len(TEXTS)
    with pytest.raises(ValueError, match="n must be"):
        comparison.disagreements(-1)


def test_face_and_method(runs: tuple[CorpusExplanation, CorpusExplanation]) -> None:
    a, b = runs
    assert igw.compare_corpora is compare_corpora and igw.CorpusComparison is CorpusComparison
    via_method = a.compare(b, min_count=2)
    assert via_method.target == "positive" and via_method.names == ("AWD-LSTM", "CNN")
    pd.testing.assert_frame_equal(via_method.texts(), compare_corpora(a, b, target=1).texts())
    assert "7 shared texts" in repr(via_method)


# ------------------------------------------------------------------------------ pairing rules
def _reversed_toy() -> TorchTextClassifier:
    """The toy model of ``toy_bundle()`` with its classes listed the other way round."""
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab))
    with torch.no_grad():
        module.head.weight.copy_(module.head.weight.flip(0))
        module.head.bias.copy_(module.head.bias.flip(0))
    return TorchTextClassifier(module, tok, module.emb, ("positive", "negative"), name="flipped")


def test_classes_are_matched_by_name() -> None:
    """The same model with its outputs swapped: the same figures, whatever the class order."""
    texts = ["the movie was good", "a very bad plot", "fun but not great"]
    a = igw.Explainer(toy_bundle()).explain_many(texts, n_steps=8, progress=False)
    b = igw.Explainer(_reversed_toy()).explain_many(texts, n_steps=8, progress=False)
    assert b.classes == ("positive", "negative")
    for target in ("positive", "negative"):
        table = compare_corpora(a, b, target=target, min_count=1)
        rows = table.texts()
        assert rows["agree"].all()
        np.testing.assert_allclose(rows["prob_change"], 0, atol=1e-6)
        np.testing.assert_allclose(rows["attribution_change"], 0, atol=1e-6)
        words = table.words()
        np.testing.assert_allclose(words["mean_change"], 0, atol=1e-6)


def test_runs_with_other_class_names_are_refused() -> None:
    a = igw.Explainer(toy_bundle()).explain_many(["good"], n_steps=4, progress=False)
    c = igw.Explainer(toy_bundle(n_classes=3)).explain_many(["good"], n_steps=4, progress=False)
    with pytest.raises(ValueError, match="same class names"):
        compare_corpora(a, c)
    with pytest.raises(TypeError, match="CorpusExplanation"):
        compare_corpora(a, "run.parquet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown class 'neutral'"):
        compare_corpora(a, a, target="neutral")
    with pytest.raises(ValueError, match="min_count"):
        compare_corpora(a, a, min_count=0)


def test_texts_in_one_run_are_reported_not_dropped() -> None:
    toy = igw.Explainer(toy_bundle())
    a = toy.explain_many(["good", "bad", "fun"], ids=["x", "y", "z"], n_steps=4, progress=False)
    b = toy.explain_many(["bad", "fun", "great"], ids=["y", "z", "w"], n_steps=4, progress=False)
    pair = compare_corpora(a, b, min_count=1)
    assert pair.shared == ("y", "z") and pair.only_a == ("x",) and pair.only_b == ("w",)
    assert list(pair.texts()["id"]) == ["y", "z"]
    unmatched = pair.unmatched()
    assert unmatched.to_dict("records") == [
        {"id": "x", "text": "good", "run": "toy-mean"},
        {"id": "w", "text": "great", "run": "toy-mean (b)"},
    ]
    assert "2 in one run only" in repr(pair)
    with pytest.raises(KeyError, match="one run only"):
        pair.aligned("x")
    other = toy.explain_many(["good"], ids=["q"], n_steps=4, progress=False)
    with pytest.raises(ValueError, match="share no text id"):
        compare_corpora(a, other)
    renamed = toy.explain_many(["good", "BAD!"], ids=["x", "y"], n_steps=4, progress=False)
    with pytest.raises(ValueError, match=r"different texts.*'y'"):
        compare_corpora(a, renamed)


def test_a_failed_text_keeps_its_row_with_the_error() -> None:
    toy = igw.Explainer(toy_bundle())
    a = toy.explain_many(["good fun", "a bad plot", "great"], n_steps=4, progress=False)
    b = toy.explain_many(["good fun", "a bad plot", ""], n_steps=4, progress=False)
    with pytest.raises(ValueError, match="different texts"):
        compare_corpora(a, b)
    b = toy.explain_many(["good fun", "a bad plot", "great"], n_steps=4, progress=False)
    empty_a = toy.explain_many(["good fun", "", "great"], n_steps=4, progress=False)
    empty_b = toy.explain_many(["good fun", "", "great"], n_steps=4, progress=False)
    pair = compare_corpora(empty_a, empty_b, names=("old", "new"), min_count=1)
    rows = pair.texts().set_index("id")
    assert rows.loc[1, "error_a"] == "the text is empty" == rows.loc[1, "error_b"]
    assert np.isnan(rows.loc[1, "disagreement"]) and pd.isna(rows.loc[1, "agree"])
    assert pair.disagreements(None)["id"].iloc[-1] == 1  # a failed text ranks last
    assert set(pair.words()["word"]) == {"good", "fun", "great"}
    with pytest.raises(ValueError, match="no explanation"):
        pair.aligned(1)
    assert pair.names == ("old", "new")
    assert compare_corpora(a, b, min_count=1).texts()["attribution_change"].max() < 1e-9


def test_attribution_distance() -> None:
    v = np.array([1.0, -2.0, 0.5])
    assert attribution_distance(v, 3 * v) == pytest.approx(0.0)
    assert attribution_distance(v, -v) == pytest.approx(2.0)
    assert attribution_distance(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    assert attribution_distance(np.zeros(2), np.zeros(2)) == 0.0
    assert attribution_distance(np.zeros(2), np.ones(2)) == 1.0
    assert np.isnan(attribution_distance(np.zeros(0), np.zeros(0)))
    with pytest.raises(ValueError, match="one shape"):
        attribution_distance(np.zeros(2), np.zeros(3))
