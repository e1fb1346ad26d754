"""The corpus report's page: data escaped for a script block, equal to the runs' own figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.views.normalize import color_for, text_color_for
from ig_widgets.views.report import LEVELS, QUANTUM, corpus_report, decode_chips, script_json
from ig_widgets.views.selection import select

TEXTS = [
    "a great film </script><script>alert(1)</script>",
    "awful & boring <img src=x onerror=alert(2)>",
    "great fun, great cast",
    "not good <!-- a comment --> at all",
    "",
    "boring boring film",
]
LABELS = ["positive", "negative", "positive", "negative", "negative", "negative"]


@pytest.fixture(scope="module")
def run() -> CorpusExplanation:
    return igw.Explainer(toy_bundle("gru")).explain_many(TEXTS, LABELS, n_steps=8, progress=False)


@pytest.fixture(scope="module")
def run_b() -> CorpusExplanation:
    bundle = toy_bundle("mean", seed=2)
    return igw.Explainer(bundle).explain_many(TEXTS, LABELS, n_steps=8, progress=False)


def _data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="igw-report-data">(.*?)</script>', page)
    assert match is not None
    return json.loads(match.group(1))


def test_script_json_cannot_close_the_script_and_reads_back() -> None:
    hostile = {"t": "</script><!-- <script> & \u2028 ]]>", "n": [1.5, None, True]}
    text = script_json(hostile)
    assert not set("<>&") & set(text)
    assert json.loads(text) == hostile


def test_run_page_is_self_contained_and_holds_the_runs_figures(
    run: CorpusExplanation, tmp_path: Path
) -> None:
    path = tmp_path / "run.html"
    page = corpus_report(run, path=path, min_count=1, title="<b>my</b> run @@DATA@@")
    assert path.read_text(encoding="utf-8") == page
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data and the code
    code = re.sub(r'(id="igw-report-data">).*?(</script>)', r"\1\2", page)
    assert not re.search(r"(src|href|url)\s*[=(]|https?:|//cdn", code), "the page loads nothing"
    assert "default-src 'none'" in page  # and the browser is told to refuse any request
    assert "<title>&lt;b&gt;my&lt;/b&gt; run @@DATA@@</title>" in page
    data = _data(page)
    frame = run.to_dataframe()
    assert [r["id"] for r in data["rows"]] == [str(i) for i in frame["id"]]
    assert [r["text"] for r in data["rows"]] == TEXTS
    failed = [r for r in data["rows"] if r["error"]]
    assert len(failed) == 1 and failed[0]["text"] == "" and failed[0]["chips"] == []
    assert data["quantum"] == QUANTUM
    for row, (id_, exp) in zip(
        [r for r in data["rows"] if not r["error"]], run.explanations(), strict=True
    ):
        assert row["id"] == str(id_) and row["predicted"] == exp.predicted_class
        view = select(exp, None, "word")
        (chips,) = row["chips"]
        words, scores = decode_chips(row["text"], chips)
        assert words == view.tokens
        top = max(abs(s) for s in view.scores)
        assert np.allclose(scores, view.scores, rtol=1e-3, atol=top / QUANTUM)
        assert chips["scale"] == pytest.approx(top, rel=1e-3)
        assert row["confidence"] == pytest.approx(float(exp.probs[exp.predicted]), rel=1e-3)
    for name in run.classes:
        words = run.word_importance(name, min_count=1)
        chart = data["chart"]["by_class"][name]
        assert chart[0][0] == words["mean"].abs().idxmax()
        for word, mean, mean_abs, count in chart:
            assert mean == pytest.approx(words.loc[word, "mean"], rel=1e-3)
            assert mean_abs == pytest.approx(words.loc[word, "mean_abs"], rel=1e-3)
            assert count == words.loc[word, "count"]
    # the page's colour steps are the views' own colours
    assert len(data["colors"]["background"]) == LEVELS + 1
    assert data["colors"]["background"][0] == color_for(-1.0)
    assert data["colors"]["background"][LEVELS // 2] == color_for(0.0)
    assert data["colors"]["text"][LEVELS] == text_color_for(1.0)


def test_comparison_page_holds_the_comparisons_figures(
    run: CorpusExplanation, run_b: CorpusExplanation
) -> None:
    comparison = igw.compare_corpora(run, run_b, names=("gru", "mean"), min_count=1)
    page = corpus_report(run, run_b, names=("gru", "mean"), min_count=1)
    assert page == corpus_report(comparison)
    data = _data(page)
    assert data["kind"] == "comparison" and data["names"] == ["gru", "mean"]
    texts = comparison.texts()
    rows = {r["id"]: r for r in data["rows"]}
    for t in texts.itertuples(index=False):
        row = rows[str(t.id)]
        assert row["predicted_a"] == (t.predicted_a if isinstance(t.predicted_a, str) else "")
        if not isinstance(t.error_a, str):
            assert row["score_change"] == pytest.approx(t.score_change, rel=1e-3, abs=1e-12)
            assert row["agree"] == bool(t.agree)
            words, attr_a, attr_b = comparison.aligned(t.id)
            chips_a, chips_b = row["chips"]
            top = max(np.abs(attr_a).max(), np.abs(attr_b).max())
            assert "spans" not in chips_b  # one word list for both rows
            for chips, attr in ((chips_a, attr_a), (chips_b, attr_b)):
                shown, scores = decode_chips(row["text"], chips, chips_a)
                assert shown == words
                assert np.allclose(scores, attr, rtol=1e-3, atol=top / QUANTUM)
            assert chips_a["scale"] == chips_b["scale"] == pytest.approx(top, rel=1e-3)
        else:
            assert row["error"] and all(not c["q"] for c in row["chips"])
    words = comparison.words().set_index("word")
    chart = data["chart"]["words"]
    assert chart[0][0] == words["mean_change"].abs().idxmax()
    assert chart[0][3] == pytest.approx(words.loc[chart[0][0], "mean_change"], rel=1e-3)


def test_chips_are_cut_out_of_the_text_even_past_the_basic_plane() -> None:
    from ig_widgets.views.report import _chip_row

    text = "😀 great  film, <b>x</b>"
    words = ["xxbos", "😀", "great", "film,", "<b>x</b>", "absent"]
    row = _chip_row(text, words, [0.5, -1.0, 2.0, 0.25, 0.0, 1.0], [0], 2.0, "m")
    assert set(row["extra"]) == {"0", "5"}  # the special token and a word not in the text
    assert row["q"] == [2500, -5000, 10000, 1250, 0, 5000]
    assert decode_chips(text, row) == (words, [0.5, -1.0, 2.0, 0.25, 0.0, 1.0])


def test_bad_arguments_say_what_is_wrong(run: CorpusExplanation, run_b: CorpusExplanation) -> None:
    with pytest.raises(ValueError, match="palette"):
        corpus_report(run, palette="neon")
    with pytest.raises(TypeError, match="run_b must be a CorpusExplanation"):
        corpus_report(run, "run.parquet")  # type: ignore[arg-type]
    comparison = igw.compare_corpora(run, run_b)
    with pytest.raises(TypeError, match="alone"):
        corpus_report(comparison, run_b)
