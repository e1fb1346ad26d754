"""Static views of an Explanation (HTML, matplotlib) and the shared colour scale."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from ig_widgets.engine.explanation import Explanation, Word
from ig_widgets.views.html import explanation_html
from ig_widgets.views.normalize import (
    BACKGROUNDS,
    PALETTES,
    color_for,
    contrast_ratio,
    normalize,
    rgb_for,
    score_format,
    text_rgb_for,
)

XSS = "<img src=x onerror=alert(1)>"
TEXT = f"Great {XSS} film"


def make_explanation(
    scores: np.ndarray | None = None,
    delta_error: float = 1e-4,
    classes: tuple[str, ...] = ("negative", "positive"),
    probs: tuple[float, ...] = (0.2, 0.8),
    oov: tuple[bool, ...] | None = None,
) -> Explanation:
    """A hand-built explanation of TEXT: 7 tokens folded into 6 words (xxmaj+great -> Great)."""
    tokens = ("xxbos", "xxmaj", "great", "<img", "src=x", "onerror=alert(1)>", "film")
    spans = (None, None, (0, 5), (6, 10), (11, 16), (17, 34), (35, 39))
    for tok, span in zip(tokens[3:], spans[3:], strict=True):
        assert span is not None and TEXT[span[0] : span[1]] == tok
    unknown = oov or (False,) * len(tokens)
    words = tuple(
        Word(text, start, end, members, special=special, oov=all(unknown[i] for i in members))
        for text, start, end, members, special in (
            ("xxbos", 0, 0, (0,), True),
            ("Great", 0, 5, (1, 2), False),
            ("<img", 6, 10, (3,), False),
            ("src=x", 11, 16, (4,), False),
            ("onerror=alert(1)>", 17, 34, (5,), False),
            ("film", 35, 39, (6,), False),
        )
    )
    if scores is None:
        rng = np.random.default_rng(3)
        first = rng.normal(scale=0.2, size=len(tokens))
        rows = [first, -first] if len(classes) == 2 else [first * (c + 1) for c in range(3)]
        scores = np.array(rows)
    f_baseline = np.full(len(classes), 1.0 / len(classes))
    f_input = f_baseline + scores.sum(-1) - delta_error
    exp = Explanation(
        text=TEXT,
        tokens=tokens,
        token_ids=tuple(range(len(tokens))),
        token_spans=spans,
        special=(True, True, False, False, False, False, False),
        words=words,
        classes=classes,
        probs=np.array(probs),
        predicted=int(np.argmax(probs)),
        scores=scores,
        f_input=f_input,
        f_baseline=f_baseline,
        delta=scores.sum(-1) - (f_input - f_baseline),
        n_steps=50,
        method="gausslegendre",
        baseline="xxunk",
        model_name="toy <b>model</b>",
        oov=unknown,
    )
    return exp


class _Elements(HTMLParser):
    """Collects every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def with_class(self, name: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.elements if name in (a.get("class") or "").split()]


def parse(markup: str) -> _Elements:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    return parser


def chip_scores(markup: str) -> list[float]:
    chips = parse(markup).with_class("igw-chip")
    assert [int(c["data-index"] or -1) for c in chips] == list(range(len(chips)))
    return [float(c["data-score"] or "nan") for c in chips]


# ---------------------------------------------------------------------------------- HTML
def test_user_text_is_escaped_and_output_is_self_contained() -> None:
    exp = make_explanation()
    for level in ("word", "token"):
        out = explanation_html(exp, level=level, full_page=True)
        assert "<img" not in out
        assert "&lt;img" in out
        assert "onerror=alert(1)&gt;" in out
        assert "<b>model</b>" not in out and "toy &lt;b&gt;model&lt;/b&gt;" in out
        assert "<script" not in out.lower()
        assert not re.search(r"https?:|//[a-z]", out.lower())
        assert "src=" not in [k for _, a in parse(out).elements for k in a]
        assert [tag for tag, _ in parse(out).elements if tag == "img"] == []


def test_chips_carry_the_raw_scores_word_and_token_level() -> None:
    exp = make_explanation()
    assert chip_scores(explanation_html(exp, level="word")) == exp.word_scores()[1].tolist()
    assert chip_scores(explanation_html(exp, level="token")) == exp.scores[1].tolist()
    assert len(chip_scores(explanation_html(exp, level="word"))) == len(exp.words) == 6
    assert len(chip_scores(explanation_html(exp, level="token"))) == len(exp.tokens) == 7


def test_chip_titles_and_text() -> None:
    exp = make_explanation()
    chips = parse(explanation_html(exp)).with_class("igw-chip")
    assert chips[1]["title"] == f"Great: {exp.word_scores()[1][1]:+.6g}"
    assert "igw-special" in (chips[0]["class"] or "")
    assert "igw-special" not in (chips[1]["class"] or "")


def test_default_target_is_the_prediction_and_names_work() -> None:
    exp = make_explanation(probs=(0.9, 0.1))
    out = explanation_html(exp)
    assert "Why negative?" in out
    assert chip_scores(out) == exp.word_scores()[0].tolist()
    assert chip_scores(explanation_html(exp, target="positive")) == exp.word_scores()[1].tolist()
    with pytest.raises(ValueError, match="Unknown class"):
        explanation_html(exp, target="neutral")


def test_contrast_target() -> None:
    exp = make_explanation(classes=("a", "b", "c"), probs=(0.2, 0.5, 0.3))
    out = explanation_html(exp, target=("b", 2))
    expected = exp.word_scores()[1] - exp.word_scores()[2]
    np.testing.assert_array_equal(chip_scores(out), expected)
    assert "Why b and not c?" in out
    with pytest.raises(ValueError, match="two different classes"):
        explanation_html(exp, target=("b", "b"))


def test_bars_all_in_text_order_or_top_k_sorted() -> None:
    exp = make_explanation()
    words = exp.word_scores()[1]
    bars = parse(explanation_html(exp)).with_class("igw-bar")
    assert [int(b["data-index"] or -1) for b in bars] == list(range(len(words)))
    bars = parse(explanation_html(exp, top_k=3)).with_class("igw-bar")
    assert [int(b["data-index"] or -1) for b in bars] == list(np.argsort(-np.abs(words))[:3])
    assert len(parse(explanation_html(exp, top_k=3)).with_class("igw-chip")) == 6
    with pytest.raises(ValueError, match="top_k"):
        explanation_html(exp, top_k=0)


def test_root_classes_and_completeness_badge() -> None:
    exp = make_explanation(delta_error=1e-5)
    elements = parse(explanation_html(exp))
    for name in ("igw-view", "igw-chips", "igw-bars", "igw-delta", "igw-baseline", "igw-legend"):
        assert len(elements.with_class(name)) == 1, name
    badge = elements.with_class("igw-delta")[0]
    assert "igw-warn" not in (badge["class"] or "") and badge["data-ok"] == "true"
    attr = exp.for_class(exp.predicted)
    assert float(badge["data-delta"] or "nan") == pytest.approx(exp.delta[1])
    assert float(badge["data-total"] or "nan") == pytest.approx(attr.total)
    assert float(badge["data-diff"] or "nan") == pytest.approx(attr.f_input - attr.f_baseline)
    assert "✓ adds up: delta" in explanation_html(exp)
    big = make_explanation(delta_error=0.2)
    badge = parse(explanation_html(big)).with_class("igw-delta")[0]
    assert "igw-warn" in (badge["class"] or "") and badge["data-ok"] == "false"
    assert "⚠ add steps" in explanation_html(big)


def test_unknown_words_are_marked_and_explained() -> None:
    tokens_oov = (False, False, False, False, True, False, False)  # "src=x"
    exp = make_explanation(oov=tokens_oov)
    for level, index in (("word", 3), ("token", 4)):
        chips = parse(explanation_html(exp, level=level)).with_class("igw-chip")
        marked = [int(c["data-index"] or -1) for c in chips if c.get("data-oov") == "true"]
        assert marked == [index], level
        assert "igw-oov" in (chips[index]["class"] or "")
        assert "not in the model's vocabulary" in (chips[index]["title"] or "")
    out = explanation_html(exp)
    assert '.igw-oov::after{content:"?"' in out  # the mark; the chip's text stays the word
    assert "data-oov" not in explanation_html(make_explanation())


def test_legend_baseline_and_why_not_note() -> None:
    exp = make_explanation()
    out = explanation_html(exp, palette="colorblind")
    legend = parse(out).with_class("igw-legend")
    assert len(legend) == 1
    swatches = parse(out).with_class("igw-swatch")
    assert [s["style"] for s in swatches] == [
        f"background:{color_for(1.0, 'colorblind')}",
        f"background:{color_for(-1.0, 'colorblind')}",
    ]
    assert "blue words push towards positive" in out and "orange words" in out
    assert "green words push towards positive" in explanation_html(exp)
    assert "baseline xxunk → " in out
    assert not parse(out).with_class("igw-note")
    contrast = explanation_html(exp, target=("positive", "negative"))
    assert len(parse(contrast).with_class("igw-note")) == 1 and "every score doubled" in contrast


def test_sentence_level() -> None:
    exp = make_explanation()
    chips = parse(explanation_html(exp, level="sentence")).with_class("igw-chip")
    assert len(chips) == 1  # TEXT has no sentence end: one sentence
    assert float(chips[0]["data-score"] or "nan") == pytest.approx(exp.word_scores()[1].sum())


def test_full_page_and_repr_html() -> None:
    exp = make_explanation()
    page = explanation_html(exp, full_page=True)
    assert page.lower().startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in page
    assert page.rstrip().endswith("</html>")
    fragment = explanation_html(exp)
    assert "<!doctype" not in fragment.lower()
    assert exp._repr_html_() == fragment
    assert exp.to_html(level="token", full_page=True) == explanation_html(
        exp, level="token", full_page=True
    )


def test_colours_follow_normalisation_and_palette() -> None:
    exp = make_explanation()
    words = exp.word_scores()[1]
    strongest = int(np.argmax(np.abs(words)))
    chips = parse(explanation_html(exp, palette="colorblind")).with_class("igw-chip")
    sign = 1.0 if words[strongest] > 0 else -1.0
    assert f"background:{color_for(sign, 'colorblind')}" in (chips[strongest]["style"] or "")
    dark = parse(explanation_html(exp, theme="dark")).with_class("igw-view")[0]
    assert "igw-dark" in (dark["class"] or "")
    with pytest.raises(ValueError, match="palette"):
        explanation_html(exp, palette="rainbow")
    with pytest.raises(ValueError, match="normalisation"):
        explanation_html(exp, normalize="softmax")
    with pytest.raises(ValueError, match="level"):
        explanation_html(exp, level="paragraph")


# ------------------------------------------------------------------------- normalisation
def test_normalize_modes() -> None:
    scores = np.array([0.5, -2.0, 1.0, 0.0])
    np.testing.assert_allclose(normalize(scores), [0.25, -1.0, 0.5, 0.0])
    np.testing.assert_allclose(normalize(scores, "maxabs"), scores / 2.0)
    l2 = normalize(scores, "l2")
    np.testing.assert_allclose(np.linalg.norm(l2), 1.0)
    np.testing.assert_allclose(l2, scores / np.sqrt(5.25))
    np.testing.assert_allclose(normalize(scores, "none"), [0.5, -1.0, 1.0, 0.0])
    np.testing.assert_allclose(normalize([0.1, -0.3], "none"), [0.1, -0.3])
    for mode in ("maxabs", "l2", "none"):
        np.testing.assert_array_equal(normalize(np.zeros(3), mode), np.zeros(3))
        assert normalize(np.zeros(0), mode).shape == (0,)
    with pytest.raises(ValueError, match="Unknown normalisation"):
        normalize(scores, "minmax")
    with pytest.raises(ValueError, match="finite"):
        normalize([np.nan, 1.0])


def test_colour_scale_by_sign_and_magnitude() -> None:
    for palette, (negative, positive) in PALETTES.items():
        for theme, background in BACKGROUNDS.items():
            assert rgb_for(0.0, palette, theme) == background
            assert rgb_for(1.0, palette, theme) == positive
            assert rgb_for(-1.0, palette, theme) == negative
            assert rgb_for(5.0, palette, theme) == positive  # clamped
            half = rgb_for(0.5, palette, theme)
            assert half not in (background, positive)
    assert color_for(1.0) != color_for(-1.0)
    assert color_for(1.0, "colorblind") != color_for(1.0)
    assert re.fullmatch(r"rgb\(\d+, \d+, \d+\)", color_for(0.3))
    with pytest.raises(ValueError, match="palette"):
        color_for(0.5, palette="viridis")
    with pytest.raises(ValueError, match="theme"):
        color_for(0.5, theme="sepia")
    with pytest.raises(ValueError, match="finite"):
        color_for(float("nan"))


def test_text_stays_legible_in_both_themes() -> None:
    for palette in PALETTES:
        for theme in BACKGROUNDS:
            for value in np.linspace(-1.0, 1.0, 81):
                chip = rgb_for(value, palette, theme)
                assert contrast_ratio(chip, text_rgb_for(chip)) >= 4.5, (palette, theme, value)


# ------------------------------------------------------------------------------ matplotlib
def bar_count(ax: object) -> int:
    return len(ax.patches)  # type: ignore[attr-defined]


def test_plot_pair_for_two_classes() -> None:
    from matplotlib.figure import Figure

    exp = make_explanation()
    fig = exp.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["why positive?", "why not negative?"]
    assert [bar_count(ax) for ax in fig.axes] == [6, 6]
    widths = sorted(p.get_width() for p in fig.axes[1].patches)
    np.testing.assert_allclose(widths, sorted(exp.word_scores()[0]))


def test_plot_single_target_contrast_top_k_and_ax() -> None:
    import matplotlib.pyplot as plt

    exp = make_explanation(classes=("a", "b", "c"), probs=(0.2, 0.5, 0.3))
    fig = exp.plot()
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "why b?"
    fig = exp.plot(target="c", level="token", top_k=4)
    assert bar_count(fig.axes[0]) == 4
    top = np.sort(np.abs(exp.scores[2]))[::-1][:4]
    np.testing.assert_allclose([abs(p.get_width()) for p in fig.axes[0].patches], top)
    fig = exp.plot(target=("a", "c"), top_k=None)
    assert fig.axes[0].get_title() == "why a and not c?"
    assert bar_count(fig.axes[0]) == 6
    own_fig, own_ax = plt.subplots()
    try:
        assert make_explanation().plot(ax=own_ax) is own_fig
        assert len(own_fig.axes) == 1 and bar_count(own_ax) == 6
    finally:
        plt.close(own_fig)
    root = plt.figure()
    try:
        inner = root.subfigures(1, 2)[1].subplots()
        assert make_explanation().plot(ax=inner) is root
    finally:
        plt.close(root)
    with pytest.raises(ValueError, match="top_k"):
        exp.plot(top_k=0)
    with pytest.raises(ValueError, match="palette"):
        exp.plot(palette="neon")


def test_tiny_scores_stay_readable() -> None:
    assert score_format([0.5, -0.02]) == "{:+.4f}"
    assert score_format([0.0, 0.0]) == "{:+.4f}"
    assert score_format([3e-4, -1e-5]).format(3e-4) == "+3.000e-04"
    tiny = make_explanation(scores=np.array([[1e-5, 2e-5, -3e-5, 0, 4e-5, 5e-5, -6e-5]] * 2))
    values = re.findall(r'class="igw-bar-value">([^<]*)<', explanation_html(tiny))
    assert values[-1] == "-6.000e-05" and len(values) == 6
    assert "Σ attributions +3.000e-05" in explanation_html(tiny, level="token")


def test_plot_says_what_the_colours_mean_and_marks_unknown_words() -> None:
    exp = make_explanation(oov=(False, False, False, False, True, False, False))
    fig = exp.plot(target="positive", palette="colorblind")
    ax = fig.axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["blue words push towards positive", "orange words push away from it"]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert "src=x (?)" in labels and "film" in labels
    assert "✓ adds up" in ax.get_xlabel() and "not in the model's vocabulary" in ax.get_xlabel()
    plain = make_explanation().plot(target="positive").axes[0]
    assert "vocabulary" not in plain.get_xlabel()
    sentences = exp.plot(level="sentence", target="positive").axes[0]
    assert bar_count(sentences) == 1
