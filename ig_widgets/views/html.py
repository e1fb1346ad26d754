"""Self-contained HTML of an Explanation: chips and bars, inline CSS, no scripts, text escaped."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ig_widgets.views.normalize import color_for, score_format, text_color_for
from ig_widgets.views.normalize import normalize as normalize_scores
from ig_widgets.views.selection import (
    LEVELS,
    baseline_summary,
    completeness,
    legend,
    select,
    why_not_note,
)

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import ClassAttribution, Explanation

Target = int | str | tuple[int | str, int | str] | None

#: the tooltip of a chip the model reads as its unknown token
OOV_TIP = "not in the model's vocabulary: read as its unknown token"

# Layout only: every colour that carries meaning is an inline style attribute, so the output
# still reads in viewers that strip <style> blocks. All selectors are scoped under .igw-view.
_CSS = """
.igw-view{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px;
line-height:1.5;color:#222;background:#fff;padding:8px 12px;border:1px solid #ddd;
border-radius:6px;max-width:960px}
.igw-view.igw-dark{color:#eee;background:#1e1e1e;border-color:#444}
.igw-view h4{margin:4px 0 6px;font-size:15px}
.igw-view .igw-meta{color:#666;font-size:12px;margin:2px 0}
.igw-view.igw-dark .igw-meta{color:#aaa}
.igw-view .igw-probs{margin:0;padding:0;list-style:none;display:flex;gap:12px;flex-wrap:wrap}
.igw-view .igw-delta{display:inline-block;margin:6px 0;padding:2px 8px;border-radius:10px;
font-size:12px;border:1px solid #9c9}
.igw-view .igw-delta.igw-warn{border-color:#d90;background:#fff3cd;color:#5c4400}
.igw-view .igw-delta .igw-detail{opacity:0.75;margin-left:6px}
.igw-view .igw-chips{margin:8px 0;line-height:2.1}
.igw-view .igw-chip{padding:1px 4px;margin:0 1px;border-radius:4px;white-space:pre-wrap}
.igw-view .igw-chip.igw-special{font-style:italic;outline:1px dashed #888}
.igw-view .igw-oov{text-decoration:underline dotted;text-underline-offset:3px}
.igw-view .igw-oov::after{content:"?";font-size:0.7em;font-weight:bold;vertical-align:super;
line-height:0;margin-left:1px}
.igw-view .igw-chips,.igw-view .igw-chip{overflow-wrap:anywhere}
.igw-view .igw-legend{display:flex;flex-wrap:wrap;gap:2px 16px;font-size:12px;margin:4px 0}
.igw-view .igw-swatch{display:inline-block;width:11px;height:11px;border-radius:2px;
margin-right:5px;vertical-align:-1px}
.igw-view .igw-baseline{font-size:12px;margin:2px 0}
.igw-view .igw-baseline.igw-warn{color:#8a4b00}
.igw-view.igw-dark .igw-baseline.igw-warn{color:#f0b060}
.igw-view .igw-note{font-size:12px;margin:4px 0;padding:3px 8px;border-left:3px solid #2166ac}
.igw-view .igw-bars{margin:8px 0;display:grid;grid-template-columns:max-content 1fr max-content;
gap:2px 8px;align-items:center;font-size:12px}
.igw-view .igw-bar{display:contents}
.igw-view .igw-bar-label{text-align:right;white-space:pre}
.igw-view .igw-bar-track{position:relative;height:14px;border-left:1px solid transparent}
.igw-view .igw-bar-fill{position:absolute;top:0;height:100%;border-radius:2px}
.igw-view .igw-bar-axis{position:absolute;left:50%;top:-2px;bottom:-2px;border-left:1px solid #999}
.igw-view .igw-bar-value{font-variant-numeric:tabular-nums}
"""


@dataclass(frozen=True)
class _Item:
    """One chip or bar: its index in text order, its label and its raw score."""

    index: int
    label: str
    score: float
    special: bool
    oov: bool = False


def _e(value: object) -> str:
    """Escape anything (text or attribute) for HTML."""
    return html.escape(str(value), quote=True)


def _heading(exp: Explanation, target: Target) -> tuple[str, str | None, str]:
    """The class, the contrast class and a heading that says what the scores explain."""
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError(f"A contrast target is a pair (a, b), got {target!r}")
        a, b = (exp.classes[exp.class_index(t)] for t in target)
        if a == b:
            exp.contrast(*target)  # the engine's own message for two equal classes
        return a, b, f"Why {a} and not {b}? (attributions of {a} − {b})"
    name = exp.classes[exp.predicted if target is None else exp.class_index(target)]
    return name, None, f"Why {name}? (attributions of {name})"


def _items(
    exp: Explanation, target: int | str | None, level: str, other: str | None
) -> tuple[ClassAttribution, list[_Item]]:
    view = select(exp, target, level, other)
    items = [
        _Item(i, text, score, special, oov)
        for i, (text, score, special, oov) in enumerate(
            zip(view.tokens, view.scores, view.special, view.oov, strict=True)
        )
    ]
    return view.attribution, items


def _score_attrs(item: _Item) -> str:
    """``data-index``/``data-score`` (the raw score, round-trip exact) and a hover title."""
    tip = f"{item.label}: {item.score:+.6g}" + (f"\n{OOV_TIP}" if item.oov else "")
    oov = ' data-oov="true"' if item.oov else ""
    return f'data-index="{item.index}" data-score="{item.score!r}"{oov} title="{_e(tip)}"'


def _chips(items: list[_Item], shown: np.ndarray, palette: str, theme: str) -> str:
    spans = []
    for item, value in zip(items, shown, strict=True):
        cls = (
            "igw-chip" + (" igw-special" if item.special else "") + (" igw-oov" if item.oov else "")
        )
        style = (
            f"background:{color_for(value, palette, theme)};"
            f"color:{text_color_for(value, palette, theme)}"
        )
        attrs = f'class="{cls}" {_score_attrs(item)} style="{style}"'
        spans.append(f"<span {attrs}>{_e(item.label)}</span>")
    return '<div class="igw-chips">' + " ".join(spans) + "</div>"


def _bars(
    items: list[_Item], shown: np.ndarray, palette: str, theme: str, top_k: int | None
) -> str:
    number = score_format([it.score for it in items])
    order = list(range(len(items)))
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
        order = sorted(order, key=lambda i: -abs(items[i].score))[:top_k]
    rows = []
    for i in order:
        item, value = items[i], float(shown[i])
        half = 50.0 * min(abs(value), 1.0)
        left = 50.0 if value >= 0 else 50.0 - half
        side = f"left:{left:.2f}%;width:{half:.2f}%"
        fill = color_for(1.0 if value >= 0 else -1.0, palette, theme)
        rows.append(
            f'<div class="igw-bar" {_score_attrs(item)}>'
            f'<span class="igw-bar-label">{_e(item.label)}</span>'
            f'<span class="igw-bar-track"><span class="igw-bar-axis"></span>'
            f'<span class="igw-bar-fill" style="{side};background:{fill}"></span></span>'
            f'<span class="igw-bar-value">{number.format(item.score)}</span></div>'
        )
    return '<div class="igw-bars">' + "".join(rows) + "</div>"


def _header(exp: Explanation, heading: str) -> str:
    probs = "".join(
        f"<li><b>{_e(c)}</b> {p:.3f}</li>" if i == exp.predicted else f"<li>{_e(c)} {p:.3f}</li>"
        for i, (c, p) in enumerate(zip(exp.classes, exp.probs, strict=True))
    )
    model = f"{_e(exp.model_name)} · " if exp.model_name else ""
    stage = f" · stage {exp.stage}/{exp.n_stages}" if exp.n_stages > 1 else ""
    return (
        f'<div class="igw-prediction">Prediction: <b>{_e(exp.predicted_class)}</b></div>'
        f'<ul class="igw-probs">{probs}</ul>'
        f'<p class="igw-meta">{model}{exp.n_steps} steps, {_e(exp.method)}, '
        f"baseline {_e(exp.baseline)}, F = {_e(exp.output)}{stage}</p>"
        f"<h4>{_e(heading)}</h4>"
    )


def _delta_badge(attribution: ClassAttribution) -> str:
    """The completeness check in plain words, its numbers beside them and as data attributes."""
    check = completeness(attribution)
    numbers = " ".join(
        f'data-{name}="{value!r}"'
        for name, value in (("total", check.total), ("diff", check.diff), ("delta", check.delta))
    )
    return (
        f'<div class="igw-delta{"" if check.ok else " igw-warn"}" {numbers} '
        f'data-ok="{str(check.ok).lower()}">{_e(check.text)}'
        f'<span class="igw-detail">({_e(check.detail)})</span></div>'
    )


def _legend(label: str, level: str, palette: str, theme: str) -> str:
    """The colour legend: a swatch of the positive hue, then of the negative one."""
    pieces = legend(label, level, palette).split(" · ")
    swatches = [color_for(1.0, palette, theme), color_for(-1.0, palette, theme)]
    spans = "".join(
        f'<span><span class="igw-swatch" style="background:{colour}"></span>{_e(piece)}</span>'
        for piece, colour in zip(pieces, swatches, strict=False)
    )
    return f'<div class="igw-legend">{spans}</div>'


def _baseline(exp: Explanation) -> str:
    """What the model predicts for the baseline; flagged when far from neutral."""
    text, far = baseline_summary(exp)
    if far:
        text = f"⚠ {text}: far from neutral, the attributions explain the move from it"
    return f'<p class="igw-baseline{" igw-warn" if far else ""}">{_e(text)}</p>'


def explanation_html(
    exp: Explanation,
    target: Target = None,
    level: str = "word",
    normalize: str = "maxabs",
    palette: str = "default",
    top_k: int | None = None,
    full_page: bool = False,
    theme: str = "light",
) -> str:
    """Render an explanation as self-contained HTML: prediction, check, chips and bars.

    The output has inline CSS only: no script, no external resource. Every piece of text
    from the model or the user (tokens, words, class and model names) is escaped.

    Parameters
    ----------
    exp : Explanation
        The engine's result.
    target : int, str, (a, b) or None
        The class to explain (default: the predicted one), or a pair ``(a, b)`` for the
        contrast "why a and not b" (class a's attributions minus class b's).
    level : {"word", "token", "sentence"}
        One chip per word (attributions summed over its tokens), per model token, or per
        sentence.
    normalize : {"maxabs", "l2", "none"}
        How raw scores map to colour strength and bar length (see
        :func:`ig_widgets.views.normalize.normalize`). ``data-score`` always holds the raw
        attribution.
    palette : {"default", "colorblind"}
        Red/green, or the colour-blind-safe orange/blue.
    top_k : int, optional
        Show only the ``top_k`` bars of largest ``|score|``, sorted by it; default every bar
        in text order. Chips always show the whole text.
    full_page : bool
        Wrap the fragment in a complete HTML document (``<!doctype html>``, UTF-8).
    theme : {"light", "dark"}
        Background of the fragment and the colours blended into it.

    Returns
    -------
    str
        The HTML: a root ``div.igw-view`` holding ``.igw-delta`` (the check in plain words,
        with ``data-total``, ``data-diff``, ``data-delta``), ``.igw-baseline`` (the
        baseline's own prediction), ``.igw-legend``, ``.igw-chips`` (each chip ``.igw-chip``
        with ``data-index`` and ``data-score``; ``data-oov="true"`` and a "?" mark for words
        the model does not know) and ``.igw-bars`` (each bar ``.igw-bar`` with
        ``data-index``).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    cls, other, heading = _heading(exp, target)
    attribution, items = _items(exp, cls, level, other)
    shown = normalize_scores(np.array([it.score for it in items]), normalize)
    color_for(0.0, palette, theme)  # unknown palette/theme -> ValueError even with no items
    note = why_not_note(exp, cls, other) if other is not None else ""
    root = "igw-view igw-dark" if theme == "dark" else "igw-view"
    body = (
        f'<div class="{root}" data-level="{_e(level)}">'
        f"<style>{_CSS}</style>"
        f"{_header(exp, heading)}{_delta_badge(attribution)}{_baseline(exp)}"
        f"{_legend(attribution.label, level, palette, theme)}"
        + (f'<p class="igw-note">{_e(note)}</p>' if note else "")
        + f"{_chips(items, shown, palette, theme)}"
        f"{_bars(items, shown, palette, theme, top_k)}</div>"
    )
    if not full_page:
        return body
    title = _e(f"ig_widgets: {exp.predicted_class} — {exp.text[:60]}")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body>{body}</body></html>\n"
    )
