"""The presentation module: targets, levels, contrast, and the plain-words badge and notes."""

from __future__ import annotations

import numpy as np
import pytest

from ig_widgets.engine.explanation import ClassAttribution, Explanation, Word
from ig_widgets.views.selection import (
    DELTA_TOLERANCE,
    badge,
    baseline_summary,
    class_index,
    class_name,
    completeness,
    contrast_class,
    legend,
    rule_items,
    select,
    why_not_note,
)

TEXT = "Good film. Bad end! fine"


def make(
    probs: tuple[float, ...] = (0.3, 0.7),
    f_baseline: tuple[float, ...] = (0.5, 0.5),
    output: str = "probs",
    oov: tuple[bool, ...] = (),
) -> Explanation:
    """[CLS] Good film . Bad end ! fine [SEP]: words 'Good', 'film.', 'Bad', 'end!', 'fine'."""
    tokens = ("[CLS]", "good", "film", ".", "bad", "end", "!", "fine", "[SEP]")
    spans = (None, (0, 4), (5, 9), (9, 10), (11, 14), (15, 18), (18, 19), (20, 24), None)
    unknown = oov or (False,) * len(tokens)
    words = tuple(
        Word(text, start, end, members, special=special, oov=all(unknown[i] for i in members))
        for text, start, end, members, special in (
            ("[CLS]", 0, 0, (0,), True),
            ("Good", 0, 4, (1,), False),
            ("film.", 5, 10, (2, 3), False),
            ("Bad", 11, 14, (4,), False),
            ("end!", 15, 19, (5, 6), False),
            ("fine", 20, 24, (7,), False),
            ("[SEP]", 24, 24, (8,), True),
        )
    )
    n = len(tokens)
    first = np.array([0.0, 0.3, 0.1, 0.01, -0.2, -0.05, 0.0, 0.04, 0.0])
    scores = np.stack([-first, first][: len(probs)] + [first * 0.5] * (len(probs) - 2))
    f_base = np.resize(np.array(f_baseline), len(probs))
    f_input = f_base + scores.sum(-1)
    return Explanation(
        text=TEXT,
        tokens=tokens,
        token_ids=tuple(range(n)),
        token_spans=spans,
        special=tuple(t.startswith("[") for t in tokens),
        words=words,
        classes=("negative", "positive", "neutral")[: len(probs)],
        probs=np.array(probs),
        predicted=int(np.argmax(probs)),
        scores=scores,
        f_input=f_input,
        f_baseline=f_base,
        delta=np.zeros(len(probs)),
        n_steps=16,
        method="gausslegendre",
        baseline="'[UNK]'",
        output=output,
        oov=unknown,
    )


def attribution(total: float, diff: float) -> ClassAttribution:
    scores = np.array([total])
    return ClassAttribution("positive", scores, scores, diff, 0.0, total - diff)


def test_class_index_and_name() -> None:
    classes = ("negative", "positive")
    assert class_index(classes, None) is None and class_index(classes, "") is None
    assert class_index(classes, "positive") == 1 and class_index(classes, -2) == 0
    assert class_name(classes, 1) == "positive" and class_name(classes, None) == ""
    with pytest.raises(ValueError, match="Unknown class 'neutral'"):
        class_index(classes, "neutral")
    with pytest.raises(ValueError, match="out of range"):
        class_index(classes, 2)
    with pytest.raises(TypeError, match="name or an index"):
        class_index(classes, True)


def test_rule_items_list_every_rule() -> None:
    from ig_widgets.engine.quadrature import ALL_METHODS

    assert [item["value"] for item in rule_items()] == list(ALL_METHODS)
    assert all(item["title"] for item in rule_items())


def test_word_token_and_sentence_levels_keep_the_totals() -> None:
    exp = make()
    words = select(exp, "positive", "word")
    tokens = select(exp, "positive", "token")
    sentences = select(exp, "positive", "sentence")
    assert words.tokens == ["[CLS]", "Good", "film.", "Bad", "end!", "fine", "[SEP]"]
    assert tokens.tokens == list(exp.tokens)
    assert sentences.tokens == ["Good film.", "Bad end!", "fine"]
    assert sum(sentences.scores) == pytest.approx(sum(tokens.scores))
    assert sentences.scores[0] == pytest.approx(0.3 + 0.1 + 0.01)
    # each sentence keeps its words, specials included where they stand
    assert [[p.text for p in parts] for parts in sentences.parts] == [
        ["[CLS]", "Good", "film."],
        ["Bad", "end!"],
        ["fine", "[SEP]"],
    ]
    assert [p.score for p in sentences.parts[1]] == pytest.approx([-0.2, -0.05])
    assert words.parts == [[] for _ in words.tokens]
    with pytest.raises(ValueError, match="level must be one of"):
        select(exp, None, "paragraph")


def test_default_target_is_the_prediction_and_contrast_subtracts() -> None:
    exp = make(probs=(0.2, 0.5, 0.3))
    assert select(exp).attribution.label == "positive"
    other = contrast_class(exp, None)
    assert exp.classes[other] == "neutral"  # the most probable other class
    shown = select(exp, None, "token", other)
    assert shown.attribution.label == "positive − neutral"
    np.testing.assert_allclose(shown.scores, exp.scores[1] - exp.scores[2])
    with pytest.raises(ValueError, match="other than 'positive'"):
        contrast_class(exp, "positive", "positive")


def test_oov_flags_follow_the_engine() -> None:
    assert select(make(), level="word").oov == [False] * 7
    flags = (False, False, False, False, True, False, False, True, False)
    exp = make(oov=flags)
    assert select(exp, level="token").oov == list(flags)
    # a word is unknown when every one of its tokens is
    assert select(exp, level="word").oov == [False, False, False, True, False, True, False]


@pytest.mark.parametrize(
    ("total", "diff", "ok", "text"),
    [
        (0.4996, 0.5, True, "✓ adds up: delta < 0.1 % of the change"),
        (0.498, 0.5, True, "✓ adds up: delta 0.4 % of the change"),
        (0.485, 0.5, False, "⚠ add steps: 3.0 % missing"),
        (0.55, 0.5, False, "⚠ add steps: 10 % too much"),
        (-0.485, -0.5, False, "⚠ add steps: 3.0 % missing"),
        (0.49498, 0.5, False, "⚠ add steps: 1.00 % missing"),
        (0.49502, 0.5, True, "✓ adds up: delta 1.00 % of the change"),
    ],
)
def test_completeness_speaks_plainly(total: float, diff: float, ok: bool, text: str) -> None:
    check = completeness(attribution(total, diff))
    assert check.ok is ok and check.text == text
    assert check.ok is (abs(check.delta) <= DELTA_TOLERANCE * abs(check.diff))
    assert "Σ attributions" in check.detail and "delta" in check.detail
    shown = badge(attribution(total, diff))
    assert shown["large"] is (not ok) and shown["text"] == text
    assert shown["total"] == pytest.approx(total) and shown["diff"] == pytest.approx(diff)


def test_baseline_summary_flags_a_baseline_far_from_neutral() -> None:
    text, far = baseline_summary(make(f_baseline=(0.83, 0.17)))
    assert text == "baseline '[UNK]' → negative 0.83" and far
    assert not baseline_summary(make(f_baseline=(0.55, 0.45)))[1]
    logits = baseline_summary(make(f_baseline=(2.0, 0.0), output="logits"))
    assert logits[0].endswith("negative 0.88") and logits[1]


def test_why_not_note_for_two_classes_only() -> None:
    two = make()
    note = why_not_note(two, "positive", None)
    assert "P(positive) = 1 − P(negative)" in note and "doubled" in note
    assert why_not_note(make(probs=(0.2, 0.5, 0.3)), None, None) == ""
    assert why_not_note(make(output="logits"), None, None) == ""


def test_legend_names_the_class() -> None:
    assert legend("positive") == "green words push towards positive · red words push away from it"
    assert "towards positive rather than negative" in legend("positive − negative", "token")
    # the palette names its own hues; a class called "red wine" keeps its name
    assert legend("red wine", "sentence", "colorblind") == (
        "blue sentences push towards red wine · orange sentences push away from it"
    )
    with pytest.raises(ValueError, match="palette"):
        legend("positive", palette="neon")
