"""igw.Compare without a browser: alignment across tokenizers, the difference row, live updates."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from support.fastai_models import toy_learner
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.views.normalize import normalize
from ig_widgets.widgets.compare import Compare, CompareParams, align, difference

TEXT = "The movie wasn't very GOOD, but the acting is fun!!! Really."
WAIT = 120.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def demo_pair() -> list[Any]:
    """The two bundled demo models (AWD-LSTM, CNN): they ship in the package."""
    return [igw.load_demo_model(), igw.load_demo_model("cnn")]


def make_compare(models: list[Any] | None = None, **kwargs: Any) -> Compare:
    # the models' default tokens, not [neutral] (Compare's default): these tests compare with
    # Explainer.explain's own default
    options: dict[str, Any] = {"n_steps": 16, "debounce": 0.02, "baseline": "[default]"}
    options.update(kwargs)
    models = models if models is not None else [toy_bundle("gru"), toy_bundle("mean", seed=3)]
    compare = Compare(models, text=options.pop("text", TEXT), **options)
    assert compare.wait(WAIT), "the first comparison never finished"
    return compare


def assert_aligned(compare: Compare) -> None:
    """Every row shows the same words, with the spans of the text's whitespace pieces."""
    exps = compare.explanations
    assert exps is not None and compare.error == ""
    text = exps[0].text
    pieces = text.split()
    for chips, exp in zip(compare.row_chips, exps, strict=True):
        assert chips.tokens == pieces
        spans = [(w.start, w.end) for w in exp.words if not w.special]
        assert [text[s:e] for s, e in spans] == pieces
    spans_per_model = {tuple((w.start, w.end) for w in e.words if not w.special) for e in exps}
    assert len(spans_per_model) == 1
    assert compare.diff_chips.tokens == pieces


# ---------------------------------------------------------------------------- alignment
def test_rows_of_models_with_different_tokenizers_share_words_and_spans() -> None:
    # spaCy + fastai markers (xxbos, xxmaj, xxup, xxrep) against a regex word tokenizer
    compare = make_compare([toy_learner(), toy_bundle("gru", bos=False)])
    exps = compare.explanations
    assert exps is not None
    assert exps[0].tokens != exps[1].tokens  # really different tokenisations
    assert "xxbos" in exps[0].tokens and "xxmaj" in exps[0].tokens
    assert_aligned(compare)
    aligned = compare.alignment()
    assert aligned is not None
    for row, exp, chips in zip(aligned.scores, exps, compare.row_chips, strict=True):
        # a word's score is the sum of its tokens'; the dropped special words score zero
        keep = [i for i, w in enumerate(exp.words) if not w.special]
        full = exp.word_scores()[exp.class_index(compare.shown_target)]
        np.testing.assert_allclose(row, full[keep])
        np.testing.assert_allclose(np.delete(full, keep), 0.0, atol=1e-12)
        assert chips.scores == row.tolist()
    compare.close()


def test_demo_awd_lstm_and_cnn_rows_are_aligned() -> None:
    compare = make_compare(demo_pair(), n_steps=8)
    exps = compare.explanations
    assert exps is not None and exps[0].model_name != exps[1].model_name
    assert exps[0].tokens != exps[1].tokens
    assert_aligned(compare)
    assert [row["model"] for row in compare.rows] == compare.models
    compare.close()


def test_align_refuses_explanations_of_different_texts() -> None:
    explainer = igw.Explainer(toy_bundle("gru"))
    a = explainer.explain("a good film", n_steps=4)
    b = explainer.explain("a bad film", n_steps=4)
    with pytest.raises(ValueError, match="different texts"):
        align([a, b], "positive")


# ---------------------------------------------------------------------------- difference row
def test_difference_row_is_normalised_a_minus_b() -> None:
    compare = make_compare([toy_bundle("gru"), toy_bundle("lstm", seed=1), toy_bundle("mean")])
    aligned = compare.alignment()
    assert aligned is not None
    a, b = aligned.scores[0], aligned.scores[1]
    # the shared scale (default): raw units, one full colour for every row
    assert compare.scale == "shared"
    np.testing.assert_allclose(compare.diff_chips.scores, a - b, atol=1e-12)
    top = np.abs(aligned.scores).max()
    assert all(chips.vmax == pytest.approx(top) for chips in compare.row_chips)
    compare.set_state({"scale": "own"})
    assert all(chips.vmax == 0.0 for chips in compare.row_chips)
    expected = a / np.abs(a).max() - b / np.abs(b).max()
    np.testing.assert_allclose(compare.diff_chips.scores, expected, atol=1e-12)
    assert compare.diff_label == f"{compare.models[0]} − {compare.models[1]}"
    # choosing another pair re-renders without a model call
    compare.set_state({"diff_a": 2, "diff_b": 0})
    c = aligned.scores[2]
    expected = c / np.abs(c).max() - a / np.abs(a).max()
    np.testing.assert_allclose(compare.diff_chips.scores, expected, atol=1e-12)
    compare.close()


def test_difference_of_a_zero_row_and_the_scaling() -> None:
    a, b = np.array([0.2, -0.4, 0.1]), np.zeros(3)
    np.testing.assert_allclose(difference(a, b), [0.5, -1.0, 0.25])
    np.testing.assert_allclose(difference(b, a), -normalize(a))
    np.testing.assert_allclose(difference(a, 10 * a), 0.0)  # the scale of each model drops out


# ---------------------------------------------------------------------------- live controls
def test_rows_show_each_models_prediction_and_completeness_badge() -> None:
    compare = make_compare()
    exps = compare.explanations
    assert exps is not None and all(exp.is_final and exp.n_steps == 16 for exp in exps)
    target = exps[0].predicted_class
    assert compare.shown_target == target
    for row, exp in zip(compare.rows, exps, strict=True):
        attr = exp.for_class(target)
        assert row["prediction"] == exp.predicted_class
        assert [p["prob"] for p in row["probs"]] == pytest.approx(exp.probs, abs=1e-4)
        assert row["badge"]["total"] == pytest.approx(attr.total)
        assert row["badge"]["diff"] == pytest.approx(attr.f_input - attr.f_baseline)
        assert row["badge"]["delta"] == pytest.approx(attr.delta)
        assert row["n_tokens"] == len(exp.tokens)
    assert compare.parameters == CompareParams(TEXT, 16, "gausslegendre", "[default]")
    assert compare.computing is False and compare.progress == 100.0
    compare.close()


def test_shared_steps_and_baseline_update_every_row() -> None:
    compare = make_compare()
    before = [dict(row["badge"]) for row in compare.rows]
    compare.set_state({"n_steps": 3})
    assert compare.wait(WAIT)
    assert compare.explanations is not None
    assert [exp.n_steps for exp in compare.explanations] == [3, 3]
    after = [row["badge"] for row in compare.rows]
    assert all(a["delta"] != b["delta"] for a, b in zip(after, before, strict=True))
    for kind, expected in (("zero", "zero embeddings"), ("uncertain", "uncertain")):
        compare.set_state({"baseline": kind})
        assert compare.wait(WAIT) and compare.error == ""
        assert all(row["baseline"].startswith(expected) for row in compare.rows)
    reached = [u.last["probs"] for u in compare.uncertain_baselines]
    assert all(np.abs(p - 0.5).max() < 0.01 for p in reached)
    compare.close()


def test_target_switch_is_served_without_a_model_call() -> None:
    compare = make_compare()
    calls = {"n": 0}
    for explainer in compare.explainers:
        original = explainer.adapter.forward_embeds

        def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls["n"] += 1
            return _original(*args, **kwargs)

        explainer.adapter.forward_embeds = counted  # type: ignore[method-assign]
    for target in ("positive", "negative", ""):
        compare.set_state({"target": target})
        shown = target or compare.explanations[0].predicted_class  # type: ignore[index]
        assert compare.shown_target == shown
        assert all(row["badge"]["label"] == shown for row in compare.rows)
    assert calls["n"] == 0
    compare.close()


def test_a_burst_of_changes_ends_with_every_row_for_the_last_parameters() -> None:
    compare = make_compare()
    texts = ["a good film", "the plot was boring and bad", "fun , fun , fun !"]
    for i in range(30):
        compare.set_state({"n_steps": 2 + i % 9, "text": texts[i % 3]})
        time.sleep(0.003 * (i % 4))
    assert compare.wait(WAIT) and compare.error == ""
    exps = compare.explanations
    assert exps is not None
    assert {exp.text for exp in exps} == {texts[29 % 3]}
    assert {exp.n_steps for exp in exps} == {2 + 29 % 9}
    assert compare.row_chips[0].tokens == texts[29 % 3].split()
    compare.close()


# ---------------------------------------------------------------------------- errors
def test_errors_show_in_the_widget_and_keep_text_and_settings() -> None:
    compare = make_compare()
    shown = compare.explanations
    compare.set_state({"text": "   ", "n_steps": 12})
    assert compare.wait(WAIT)
    assert "empty" in compare.error
    assert compare.stale is True and compare.text == "   " and compare.n_steps == 12
    assert compare.explanations == shown  # the last good rows stay (dimmed)
    compare.set_state({"text": "a good film"})
    assert compare.wait(WAIT) and compare.error == "" and compare.stale is False
    compare.close()


def test_bad_construction_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least two models"):
        Compare([toy_bundle()], text=TEXT)
    with pytest.raises(ValueError, match="same class names"):
        Compare([toy_bundle(), toy_bundle(n_classes=3)], text=TEXT)
    with pytest.raises(ValueError, match="Unknown class"):
        Compare([toy_bundle(), toy_bundle("mean")], text=TEXT, target="neutral")
    with pytest.raises(Exception, match="baseline must be one of"):
        Compare([toy_bundle(), toy_bundle("mean")], text=TEXT, baseline="xxunk")


def test_one_explainer_per_model_and_unique_row_names() -> None:
    explainer = igw.Explainer(toy_bundle("gru"))
    compare = make_compare([explainer, toy_bundle("gru", seed=5)])
    assert compare.explainers[0] is explainer
    assert compare.models == ["toy-gru", "toy-gru #2"]
    assert [row["model"] for row in compare.rows] == compare.models
    compare.close()


def test_rows_show_each_models_faithfulness_for_the_shown_class() -> None:
    from ig_widgets.engine.metrics import comprehensiveness, sufficiency

    compare = make_compare(text="the plot is dull but the cast is fun and warm")
    exps = compare.explanations
    assert exps is not None
    for target in compare.classes:
        compare.set_state({"target": target})
        for row, exp, explainer in zip(compare.rows, exps, compare.explainers, strict=True):
            shown = row["faithfulness"]
            assert shown["label"] == target
            comp = comprehensiveness(exp, explainer, target=target).value
            suff = sufficiency(exp, explainer, target=target).value
            assert shown["comprehensiveness"] == pytest.approx(comp, abs=1e-9)
            assert shown["sufficiency"] == pytest.approx(suff, abs=1e-9)
    compare.close()
