"""explain_many and CorpusExplanation: equal to explain, streamed to Parquet, resumable, exact."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.fastai_models import LONG_REVIEW
from support.same import assert_same
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine import corpus as corpus_module
from ig_widgets.engine.corpus import (
    FILE_FIELDS,
    ROW_FIELDS,
    WORD_FIELDS,
    CorpusExplanation,
    ResultWriter,
    explain_many,
    label_index,
    load_explanation,
    save_explanation,
    schema,
    word_key,
)

TEXTS = (
    "a gorgeous, moving film with a great cast",
    "The acting is awful and the story is boring.",
    "I loved it!!!! Best film of the YEAR.",
    "not good, not bad",
    "Terrible music, an awful cast and a stupid plot.",
    "great fun",
)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def demo() -> igw.Explainer:
    return igw.Explainer(igw.load_demo_model())


@pytest.fixture
def toy() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru"))


# ------------------------------------------------------------------------------ equality
@pytest.mark.parametrize(
    "options",
    [{"n_steps": 16}, {"n_steps": "auto"}, {"n_steps": 9, "method": "riemann_trapezoid"}],
)
def test_each_text_equals_explain(options: dict[str, Any]) -> None:
    # two fresh explainers: an explainer's chunking follows what it measured before, and at
    # a repeated-token baseline max-pool ties let that move a gradient (5e-5 on LONG_REVIEW)
    texts = [*TEXTS[:3], LONG_REVIEW]
    corpus = explain_many(igw.Explainer(igw.load_demo_model()), texts, progress=False, **options)
    fresh = igw.Explainer(igw.load_demo_model())
    for i, text in enumerate(texts):
        assert_same(corpus[i], fresh.explain(text, **options), atol=1e-6)


def test_explainer_method(toy: igw.Explainer) -> None:
    corpus = toy.explain_many(TEXTS[:3], ids=["a", "b", "c"], n_steps=8, progress=False)
    assert isinstance(corpus, igw.CorpusExplanation) and corpus.ids == ["a", "b", "c"]
    assert_same(corpus.by_id("b"), toy.explain(TEXTS[1], n_steps=8))


def test_baseline_and_labels(toy: igw.Explainer) -> None:
    corpus = explain_many(
        toy, TEXTS, ["positive", "negative", 1, 0, "negative", None], n_steps=8,
        baseline=igw.ZeroBaseline(), progress=False,
    )  # fmt: skip
    assert_same(corpus[2], toy.explain(TEXTS[2], n_steps=8, baseline=igw.ZeroBaseline()))
    frame = corpus.to_dataframe()
    assert list(frame["label"].iloc[:5]) == [
        "positive",
        "negative",
        "positive",
        "negative",
        "negative",
    ]
    assert pd.isna(frame["label"].iloc[5])
    assert frame["correct"].isna().tolist() == [False] * 5 + [True]
    assert corpus.settings["baseline"] == corpus[0].baseline


# ------------------------------------------------------------------------------ rows and frame
def test_bad_rows_recorded_run_goes_on(toy: igw.Explainer) -> None:
    texts = ["great fun", "", "   ", float("nan"), None, 42, "the film " * 40, "awful plot", "ok"]
    labels = [1, 0, 0, 0, 0, 0, 0, "sideways", 0]
    corpus = explain_many(toy, texts, labels, n_steps=8, max_tokens=30, progress=False)
    frame = corpus.to_dataframe()
    assert frame["error"].isna().tolist() == [True] + [False] * 7 + [True]
    errors = frame["error"].tolist()
    assert "empty" in errors[1] and "empty" in errors[2]
    assert "missing" in errors[3] and "missing" in errors[4]
    assert "int, not a string" in errors[5]
    assert "too long: 81 tokens (max_tokens=30)" in errors[6]
    assert "label 'sideways' is not a class" in errors[7]
    assert len(corpus.failures()) == 7 and corpus.complete
    with pytest.raises(ValueError, match="text 1 has no explanation: the text is empty"):
        corpus[1]
    assert [len(e.tokens) for e in corpus] == [len(corpus[0].tokens), len(corpus[8].tokens)]


def test_dataframe_columns(toy: igw.Explainer) -> None:
    corpus = explain_many(toy, TEXTS, [1, 0, 1, 1, 0, 1], ids=list("abcdef"), n_steps=8,
                          progress=False)  # fmt: skip
    frame = corpus.to_dataframe()
    assert list(frame.columns) == [
        "id", "text", "label", "predicted", "probabilities", "confidence", "correct",
        "delta", "delta_share", "n_tokens", "n_steps", "error",
    ]  # fmt: skip
    assert frame["id"].tolist() == list("abcdef")
    for i, row in frame.iterrows():
        exp = corpus[int(i)]
        assert row["predicted"] == exp.predicted_class
        assert row["probabilities"] == tuple(exp.probs)
        assert row["confidence"] == exp.probs[exp.predicted]
        assert row["delta"] == exp.delta[exp.predicted]
        assert row["n_tokens"] == len(exp.tokens) and row["n_steps"] == 8
    wrong = corpus.errors()
    assert set(wrong["id"]) == set(frame.loc[frame["correct"].eq(False).astype(bool), "id"])
    assert list(wrong["confidence"]) == sorted(wrong["confidence"], reverse=True)
    assert corpus.accuracy() == pytest.approx(frame["correct"].astype(float).mean())
    assert corpus.by_id("c").text == TEXTS[2] and corpus.position("f") == 5


def test_bad_input_is_refused_before_work(toy: igw.Explainer) -> None:
    with pytest.raises(TypeError, match="not one string"):
        explain_many(toy, "a text", progress=False)
    with pytest.raises(ValueError, match="ids must be unique; repeated: \\[1\\]"):
        explain_many(toy, TEXTS[:3], ids=[1, 1, 2], progress=False)
    with pytest.raises(TypeError, match="all integers or all strings"):
        explain_many(toy, TEXTS[:2], ids=[1, "b"], progress=False)
    with pytest.raises(ValueError, match="labels has 2 entries for 3 texts"):
        explain_many(toy, TEXTS[:3], labels=[0, 1], progress=False)
    with pytest.raises(ValueError, match="n_steps must be between"):
        explain_many(toy, TEXTS, n_steps=0, progress=False)
    with pytest.raises(ValueError, match="Unknown baseline token"):
        explain_many(toy, TEXTS, baseline="zzqq", progress=False)
    with pytest.raises(ValueError, match="backend must be one of"):
        explain_many(toy, TEXTS, backend="spark", progress=False)


def test_label_index() -> None:
    classes = ("negative", "positive")
    assert [label_index(v, classes) for v in ("positive", 0, "1", 1.0, None, float("nan"))] == [
        1, 0, 1, 1, None, None,
    ]  # fmt: skip
    for bad in ("maybe", 2, -1, True, 0.5):
        with pytest.raises(ValueError):
            label_index(bad, classes)


# ------------------------------------------------------------------------------ files
def test_codec_covers_every_field() -> None:
    names = {f.name for f in dataclasses.fields(igw.Explanation)}
    missing = names - (ROW_FIELDS | FILE_FIELDS)
    assert not missing, f"Explanation fields without a column: {missing}"
    words = {f.name for f in dataclasses.fields(igw.Word)}
    assert words == WORD_FIELDS, "a new Word field needs a place in the word struct"


def test_parquet_round_trip_exact(demo: igw.Explainer, tmp_path: Path) -> None:
    texts = [*TEXTS[:3], LONG_REVIEW, ""]
    out = tmp_path / "run.parquet"
    corpus = explain_many(demo, texts, ids=[10, 20, 30, 40, 50], n_steps="auto", out=out,
                          progress=False)  # fmt: skip
    in_memory = explain_many(demo, texts, ids=[10, 20, 30, 40, 50], n_steps="auto",
                             progress=False)  # fmt: skip
    assert corpus.path == out and in_memory.path is None
    copy = tmp_path / "copy.parquet"
    in_memory.save(copy)
    for loaded in (CorpusExplanation.load(out), CorpusExplanation.load(copy)):
        assert len(loaded) == 5 and loaded.ids == [10, 20, 30, 40, 50]
        for i in range(4):
            assert_same(loaded[i], corpus[i])
            assert_same(loaded[i], in_memory[i])
        assert loaded.to_dataframe().equals(corpus.to_dataframe())
        assert loaded.settings == corpus.settings and loaded.complete
    one = tmp_path / "one.parquet"
    save_explanation(corpus[3], one)
    assert_same(load_explanation(one), corpus[3])
    corpus[1].save(tmp_path / "method.parquet")  # the public methods
    assert_same(igw.Explanation.load(tmp_path / "method.parquet"), corpus[1])
    with pytest.raises(ValueError, match=r"read it with CorpusExplanation\.load"):
        load_explanation(out)
    with pytest.raises(ValueError, match=r"read it with Explanation\.load"):
        CorpusExplanation.load(one)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="cannot read"):
        CorpusExplanation.load(tmp_path / "junk.parquet")


def test_rows_stream_in_row_groups(toy: igw.Explainer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(corpus_module, "FLUSH_ROWS", 4)
    out = tmp_path / "run.parquet"
    seen: list[bool] = []

    def progress(done: int, total: int) -> None:
        # while the run goes on, out is not there yet (written beside it, moved at the end)
        seen.append(out.exists())

    texts = [f"great fun {'and ' * k}a film" for k in range(10)]
    explain_many(toy, texts, n_steps=8, out=out, progress=progress)
    assert not any(seen)
    assert pq.ParquetFile(out).num_row_groups == 3  # 4 + 4 + 2 rows


def test_resume_after_interrupt(toy: igw.Explainer, tmp_path: Path) -> None:
    texts = [f"the film was {'very ' * k}good" for k in range(12)]
    whole = explain_many(toy, texts, n_steps=8, progress=False)
    out = tmp_path / "run.parquet"

    def interrupt_after(n: int) -> Any:
        def hook(done: int, total: int) -> None:
            if done == n:
                raise KeyboardInterrupt

        return hook

    with pytest.warns(igw.IGWidgetsWarning, match="stopped: 5 texts explained this run"):
        partial = explain_many(toy, texts, n_steps=8, out=out, progress=interrupt_after(5))
    assert not partial.complete and len(partial) == 5
    assert CorpusExplanation.load(out).ids == list(range(5))
    with pytest.warns(igw.IGWidgetsWarning, match="stopped: 3 texts"):
        explain_many(toy, texts, n_steps=8, out=out, progress=interrupt_after(3))
    done: list[int] = []
    resumed = explain_many(toy, texts, n_steps=8, out=out, progress=lambda d, t: done.append(t))
    assert done[-1] == 4  # only what was missing
    assert resumed.complete and resumed.ids == list(range(12))
    assert pq.read_table(out, columns=["id"]).num_rows == 12  # nothing twice
    for i in range(12):
        assert_same(resumed[i], whole[i])


def test_cancel_event_keeps_results(toy: igw.Explainer) -> None:
    stop = threading.Event()

    def hook(done: int, total: int) -> None:
        if done == 2:
            stop.set()

    with pytest.warns(igw.IGWidgetsWarning, match="stopped: 2 texts"):
        corpus = explain_many(toy, TEXTS, n_steps=8, progress=hook, cancel=stop)
    assert len(corpus) == 2 and not corpus.complete


def test_an_error_keeps_what_was_written(toy: igw.Explainer, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"

    def hook(done: int, total: int) -> None:
        if done == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        explain_many(toy, TEXTS, n_steps=8, out=out, progress=hook)
    kept = CorpusExplanation.load(out)
    assert kept.ids == [0, 1, 2] and not kept.complete


def test_resume_refuses_other_settings(toy: igw.Explainer, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    explain_many(toy, TEXTS, n_steps=8, out=out, progress=False)
    with pytest.raises(ValueError, match="n_steps 8 → 16"):
        explain_many(toy, TEXTS, n_steps=16, out=out, progress=False)
    other = igw.Explainer(toy_bundle("gru", seed=1))
    with pytest.raises(ValueError, match="fingerprint"):
        explain_many(other, TEXTS, n_steps=8, out=out, progress=False)
    with pytest.raises(FileExistsError, match="resume=True continues it"):
        explain_many(toy, TEXTS, n_steps=8, out=out, resume=False, progress=False)
    with pytest.raises(TypeError, match="ids of type int64"):
        explain_many(toy, TEXTS, ids=list("abcdef"), n_steps=8, out=out, progress=False)
    replaced = explain_many(toy, TEXTS[:2], n_steps=16, out=out, resume=False, overwrite=True,
                            progress=False)  # fmt: skip
    assert len(CorpusExplanation.load(out)) == 2 and replaced.settings["n_steps"] == 16


def test_killed_run_leaves_previous_file(toy: igw.Explainer, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    first = explain_many(toy, TEXTS[:2], n_steps=8, out=out, progress=False)
    meta = pq.read_schema(out)
    writer = ResultWriter(out, schema("int", None).with_metadata(meta.metadata), resume=True)
    writer.add({**first.to_dataframe().iloc[0].to_dict(), "id": 99})
    del writer  # the process dies here: nothing was moved into place
    assert CorpusExplanation.load(out).ids == [0, 1]
    assert (tmp_path / ".run.parquet.partial").exists()
    again = explain_many(toy, TEXTS, n_steps=8, out=out, progress=False)
    assert again.ids == list(range(6)) and not (tmp_path / ".run.parquet.partial").exists()


# ------------------------------------------------------------------------------ word importance
def test_word_key() -> None:
    assert word_key("Great!") == "great"
    assert word_key("“Don't”") == "don't"
    assert word_key("film.<br") == "film"
    assert word_key("/><br") == ""
    assert word_key("/>The") == "the"
    assert word_key("well-made,") == "well-made"
    assert word_key("...") == ""


def test_word_importance(toy: igw.Explainer) -> None:
    texts = ["Great fun!", "great, great film", "awful film.", "", "fun"]
    corpus = explain_many(toy, texts, n_steps=8, progress=False)
    table = corpus.word_importance("positive", min_count=1)
    exps = {i: corpus[i] for i in (0, 1, 2, 4)}

    def scores_of(exp: igw.Explanation, key: str) -> list[float]:
        return [
            s
            for w, s in zip(exp.words, exp.word_scores()[1], strict=True)
            if word_key(w.text) == key
        ]

    great = scores_of(exps[0], "great") + scores_of(exps[1], "great")
    row = table.loc["great"]
    assert row["count"] == 3 and row["texts"] == 2
    assert row["mean"] == pytest.approx(np.mean(great))
    assert row["mean_abs"] == pytest.approx(np.mean(np.abs(great)))
    per_text = [great[0], great[1] + great[2]]
    assert row["share_towards"] == pytest.approx(np.mean([s > 0 for s in per_text]))
    assert list(table["mean"]) == sorted(table["mean"], reverse=True)
    negative = corpus.word_importance(0, min_count=2)
    assert set(negative.index) == {"great", "fun", "film"}
    assert negative.loc["film", "mean"] == pytest.approx(-table.loc["film", "mean"])
    with pytest.raises(ValueError, match="Unknown class 'neutral'"):
        corpus.word_importance("neutral")


def test_faithfulness_over_the_corpus(toy: igw.Explainer) -> None:
    texts = [*TEXTS, ""]  # the empty text fails and is left out
    corpus = explain_many(toy, texts, n_steps=8, progress=False)
    seen: list[tuple[int, int]] = []
    summary = corpus.faithfulness(toy, progress=lambda done, total: seen.append((done, total)))
    exps = [corpus[i] for i in range(len(TEXTS))]
    expected = igw.metrics.faithfulness_summary(exps, toy)
    for name in ("comprehensiveness", "sufficiency"):
        np.testing.assert_array_equal(summary[name].values, expected[name].values)
        assert summary[name].mean == expected[name].mean
        assert summary[name].n == expected[name].n
    assert seen[-1] == (len(TEXTS), len(TEXTS))
    assert list(summary.per_text().columns) == ["comprehensiveness", "sufficiency"]
