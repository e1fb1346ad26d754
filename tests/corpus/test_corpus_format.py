"""Results files: the run's baseline stored as data, and files of results format 1 still read."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.same import assert_same
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, explain_many
from ig_widgets.engine.fileformat import FORMAT, META_KEY

DATA = Path(__file__).parent / "data"
#: what tests/corpus/data/README.md says the format-1 files were made with
OLD_TEXTS = ["great fun", "", "awful plot, great cast"]
OLD_LABELS = [1, 0, "negative"]
OLD_IDS = ["a", "b", "c"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def toy() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru"))


def format_of(path: Path) -> int:
    return json.loads(pq.read_schema(path).metadata[META_KEY])["format"]


# ------------------------------------------------------------------------------ the baseline
@pytest.mark.parametrize(
    ("baseline", "rebuilt"),
    [(igw.ZeroBaseline(), igw.ZeroBaseline()), (None, None), ("great", igw.TokenBaseline("great"))],
)
def test_a_reloaded_run_reproduces_its_rows(
    toy: igw.Explainer, tmp_path: Path, baseline: Any, rebuilt: Any
) -> None:
    out = tmp_path / "run.parquet"
    explain_many(toy, OLD_TEXTS, n_steps=8, baseline=baseline, out=out, progress=False)
    assert format_of(out) == FORMAT == 2
    loaded = CorpusExplanation.load(out)
    assert loaded.run_baseline() == rebuilt
    for i in (0, 2):
        again = toy.explain(OLD_TEXTS[i], n_steps=8, baseline=rebuilt)
        assert_same(again, loaded[i], atol=1e-6)


def test_zero_baseline_is_not_the_default(toy: igw.Explainer, tmp_path: Path) -> None:
    # the bug of issue 17: a run with ZeroBaseline reopened with the default baseline
    out = tmp_path / "run.parquet"
    explain_many(toy, OLD_TEXTS, n_steps=8, baseline=igw.ZeroBaseline(), out=out, progress=False)
    loaded = CorpusExplanation.load(out)
    assert loaded.settings["baseline_spec"] == {"kind": "zero", "keep_special": True}
    default = toy.explain(OLD_TEXTS[0], n_steps=8)
    assert np.abs(default.scores - loaded[0].scores).max() > 1e-3
    assert loaded[0].baseline == "zero embeddings" != default.baseline


def test_a_baseline_class_of_its_own_is_stored_as_unknown(
    toy: igw.Explainer, tmp_path: Path
) -> None:
    @dataclasses.dataclass(frozen=True)
    class Shifted(igw.ZeroBaseline):
        pass

    out = tmp_path / "run.parquet"
    explain_many(toy, OLD_TEXTS[:1], n_steps=8, baseline=Shifted(), out=out, progress=False)
    loaded = CorpusExplanation.load(out)
    assert loaded.settings["baseline_spec"] is None
    with pytest.raises(ValueError, match="cannot be rebuilt from data"):
        loaded.run_baseline()


# ------------------------------------------------------------------------------ format 1
def test_a_format_1_corpus_loads_exactly(toy: igw.Explainer) -> None:
    path = DATA / "corpus_format1.parquet"
    assert format_of(path) == 1
    corpus = CorpusExplanation.load(path)
    assert corpus.ids == OLD_IDS and corpus.classes == ("negative", "positive")
    assert corpus.complete and len(corpus) == 3
    settings = corpus.settings
    assert settings["baseline"] == "zero embeddings" and settings["baseline_spec"] is None
    assert settings["n_steps"] == 4 and settings["method"] == "gausslegendre"
    with pytest.raises(ValueError, match="results format 1 kept only its description"):
        corpus.run_baseline()
    raw = {row["id"]: row for row in pq.read_table(path).to_pylist()}
    for i, id_ in enumerate(OLD_IDS):
        row = raw[id_]
        if row["error"] is not None:
            assert "empty" in row["error"]
            with pytest.raises(ValueError, match="has no explanation: the text is empty"):
                corpus[i]
            continue
        exp = corpus[i]
        for name in ("probs", "f_input", "f_baseline", "delta"):
            np.testing.assert_array_equal(getattr(exp, name), np.array(row[name]))
        np.testing.assert_array_equal(exp.scores, np.array(row["scores"]))
        np.testing.assert_array_equal(exp.path.f, np.array(row["path"]["f"]))
        assert exp.tokens == tuple(row["tokens"]) and exp.words[1].text == row["words"][1]["text"]
        # the stored numbers are what the model gives with that run's settings today; format 1
        # did not record how many points a result rests on
        assert exp.n_evaluated is None
        fresh = toy.explain(OLD_TEXTS[i], n_steps=4, baseline=igw.ZeroBaseline())
        assert_same(exp, dataclasses.replace(fresh, n_evaluated=None), 1e-6)
    frame = corpus.to_dataframe()
    assert frame["label"].tolist() == ["positive", "negative", "negative"]


def test_a_format_1_explanation_loads_exactly() -> None:
    path = DATA / "explanation_format1.parquet"
    assert format_of(path) == 1
    corpus = CorpusExplanation.load(DATA / "corpus_format1.parquet")
    assert_same(igw.Explanation.load(path), corpus[0])


def test_a_format_1_run_resumes_into_format_2(toy: igw.Explainer, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    shutil.copy(DATA / "corpus_format1.parquet", out)
    more = [*OLD_TEXTS, "a dull film"]
    with pytest.raises(ValueError, match="baseline 'zero embeddings' → \"token '<unk>'\""):
        explain_many(toy, more, [*OLD_LABELS, 0], ids=[*OLD_IDS, "d"], n_steps=4, out=out,
                     progress=False)  # fmt: skip
    resumed = explain_many(toy, more, [*OLD_LABELS, 0], ids=[*OLD_IDS, "d"], n_steps=4,
                           baseline=igw.ZeroBaseline(), out=out, progress=False)  # fmt: skip
    assert format_of(out) == 2 and resumed.ids == [*OLD_IDS, "d"]
    assert resumed.run_baseline() == igw.ZeroBaseline()
    old = CorpusExplanation.load(DATA / "corpus_format1.parquet")
    assert_same(resumed[0], old[0])
    assert_same(resumed[3], toy.explain("a dull film", n_steps=4, baseline=igw.ZeroBaseline()))


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    table = pq.read_table(DATA / "explanation_format1.parquet")
    meta = json.loads(table.schema.metadata[META_KEY])
    future = tmp_path / "future.parquet"
    pq.write_table(
        table.replace_schema_metadata({META_KEY: json.dumps({**meta, "format": 99})}), future
    )
    with pytest.raises(ValueError, match="format 99; this version reads formats 1, 2"):
        igw.Explanation.load(future)
