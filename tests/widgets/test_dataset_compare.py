"""DatasetView of two runs, without a browser: the comparison's rows, sorts, filter and chips."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from support.dataset_views import ready_view, settle
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.widgets.dataset_view import DatasetView

TEXTS = [
    "a great film", "awful plot and boring cast", "great fun", "not good at all",
    "boring boring film", "a fun cast", "bad plot", "good film", "awful", "",
    "great great great", "not bad",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def runs() -> tuple[CorpusExplanation, CorpusExplanation]:
    a = igw.Explainer(toy_bundle("gru")).explain_many(TEXTS, n_steps=8, progress=False)
    b = igw.Explainer(toy_bundle("mean", seed=3)).explain_many(TEXTS, n_steps=8, progress=False)
    return a, b


@pytest.fixture
def view(runs: tuple[CorpusExplanation, CorpusExplanation]) -> Iterator[DatasetView]:
    yield from ready_view(*runs, names=("gru", "mean"), min_count=1, page_size=5)


def test_rows_are_the_comparisons_sorted_by_disagreement(
    view: DatasetView, runs: tuple[CorpusExplanation, CorpusExplanation]
) -> None:
    comparison = igw.compare_corpora(*runs, names=("gru", "mean"), min_count=1)
    texts = comparison.texts()
    assert view.mode == "comparison" and view.run_names == ["gru", "mean"]
    assert view.sort_by == "disagreement" and view.n_total == len(TEXTS)
    expected = texts.sort_values("disagreement", ascending=False, kind="stable", na_position="last")
    assert [r["id"] for r in view.rows] == [str(i) for i in expected["id"][:5]]
    first = view.rows[0]
    row = texts.set_index("id").loc[int(first["id"])]
    assert first["score_change"] == pytest.approx(row["score_change"], abs=5e-4)
    assert first["agree"] == bool(row["agree"])
    view.vue_sort("score_change")
    settle(view)
    changes = [r["score_change"] for r in view.rows]
    assert changes == sorted(changes, reverse=True)
    view.disagree = True
    settle(view)
    disagree = texts[texts["agree"].eq(False).fillna(False).astype(bool)]
    assert view.n_matching == len(disagree)
    assert all(r["agree"] is False for r in view.rows)
    failed = [r for r in view.matching().itertuples() if isinstance(r.error, str)]
    assert not failed  # a text a run failed on has no agreement: it is not a disagreement


def test_a_click_shows_both_runs_on_one_scale(
    view: DatasetView, runs: tuple[CorpusExplanation, CorpusExplanation]
) -> None:
    comparison = igw.compare_corpora(*runs, names=("gru", "mean"), min_count=1)
    key = view.rows[0]["id"]
    view.vue_select_row(key)
    settle(view)
    words, attr_a, attr_b = comparison.aligned(int(key))
    assert view.chips.tokens == words and view.chips_b.tokens == words
    assert np.allclose(view.chips.scores, attr_a) and np.allclose(view.chips_b.scores, attr_b)
    top = max(np.abs(attr_a).max(), np.abs(attr_b).max())
    assert view.chips.vmax == view.chips_b.vmax == pytest.approx(top)
    assert max(np.abs(view.chips.values).max(), np.abs(view.chips_b.values).max()) == 1.0
    assert view.detail["id"] == key and "→" in view.detail["prediction"]
    # the chart: the words whose mean changed most
    words_frame = comparison.words().set_index("word")
    assert view.word_bars.tokens[0] == words_frame["mean_change"].abs().idxmax()
    # a text both runs failed on: its errors, no chips
    empty = next(str(i) for i, t in zip(comparison.texts()["id"], TEXTS, strict=True) if not t)
    view.vue_select_row(empty)
    settle(view)
    assert view.chips.tokens == [] and view.chips_b.tokens == []
    assert "gru:" in view.detail["error"] and "mean:" in view.detail["error"]


def test_constructed_from_a_comparison_and_refusals(
    runs: tuple[CorpusExplanation, CorpusExplanation],
) -> None:
    comparison = igw.compare_corpora(*runs, target="negative")
    view = DatasetView(comparison)
    try:
        assert view.wait(30) and view.mode == "comparison"
        assert view.importance_class == "negative"
        with pytest.raises(Exception, match="sort_by must be one of"):
            view.sort_by = "confidence"  # a one-run key
    finally:
        view.close()
    with pytest.raises(TypeError, match="no explainer"):
        DatasetView(comparison, igw.Explainer(toy_bundle("gru")))
    with pytest.raises(TypeError, match="second run"):
        DatasetView(comparison, runs[1])
