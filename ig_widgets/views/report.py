"""The shareable corpus report: one offline HTML file of a run, or of a comparison of two runs."""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.views.html import _CSS as CHIP_CSS
from ig_widgets.views.normalize import (
    HUE_NAMES,
    color_for,
    display_scale,
    text_color_for,
)
from ig_widgets.views.selection import DELTA_TOLERANCE, legend, select

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation
    from ig_widgets.engine.explanation import Explanation

#: the page the data is poured into (shipped beside this module, in the wheel too)
TEMPLATE = Path(__file__).with_name("report.html")
#: colour steps of the chips' scale: a display value v in [-1, 1] is painted with colour
#: ``round((v + 1) * LEVELS / 2)``, computed here by the views' own colour functions
LEVELS = 200
#: words in the word-importance chart (largest |mean| or |mean change| first)
CHART_WORDS = 30
#: significant digits kept of the numbers of the table and the chart, and of a chip row's scale
DIGITS = 4
#: a chip's score is stored as the integer ``round(score / scale * QUANTUM)``: to 1/10,000 of
#: the row's largest |score| (5 characters instead of 8: 1,000 reviews stay under 5 MB)
QUANTUM = 10_000

# what the table shows for one run and for a comparison: key, heading, kind of cell
_RUN_COLUMNS = (
    ("id", "id", "text"), ("label", "label", "text"), ("predicted", "predicted", "text"),
    ("confidence", "confidence", "number"), ("correct", "correct", "bool"),
    ("delta_share", "delta", "percent"), ("n_tokens", "tokens", "int"),
)  # fmt: skip
_COMPARE_COLUMNS = (
    ("id", "id", "text"),
    ("predicted_a", "predicted ({a})", "text"),
    ("predicted_b", "predicted ({b})", "text"),
    ("score_a", "F ({a})", "number"),
    ("score_b", "F ({b})", "number"),
    ("score_change", "F change", "signed"),
    ("agree", "agree", "bool"),
    ("attribution_change", "attribution change", "number"),
    ("disagreement", "disagreement", "number"),
)


def corpus_report(
    run: CorpusExplanation | CorpusComparison,
    run_b: CorpusExplanation | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    target: int | str | None = None,
    names: tuple[str, str] | None = None,
    min_count: int = 5,
    palette: str = "default",
    title: str | None = None,
) -> str:
    """One self-contained HTML file of a corpus run, or of a comparison of two runs.

    The page needs no kernel, no CDN and no network: its data is JSON inside a
    ``<script type="application/json">`` block (``<``, ``>`` and ``&`` escaped) and a small
    inline script draws it with ``textContent`` only, so texts and tokens stay inert.
    It holds a sortable, filterable, paged table of the texts, the corpus-level word
    importance as a bar chart, and, on a click on a row, that text's word chips; for a
    comparison, the two runs' chips one above the other on one shared scale.

    Parameters
    ----------
    run : CorpusExplanation or CorpusComparison
        A run (``explainer.explain_many(...)`` or :meth:`CorpusExplanation.load`), or a
        comparison (:func:`ig_widgets.compare_corpora`).
    run_b : CorpusExplanation, optional
        A second run of the same texts: the report compares ``run`` with it
        (``compare_corpora(run, run_b, target=target, names=names, min_count=min_count)``).
    path : str or PathLike, optional
        Also write the page there (UTF-8).
    target : int, str or None
        The class the chips explain: each text's predicted class for one run (None); for a
        comparison, the compared class (None: the comparison's own).
    names : (str, str), optional
        What the two runs are called (default: the comparison's names).
    min_count : int
        Words seen fewer times are left out of the word chart.
    palette : {"default", "colorblind"}
        Red/green, or the colour-blind-safe orange/blue.
    title : str, optional
        The page's heading (default: the model names).

    Returns
    -------
    str
        The page, ``<!doctype html>`` … ; root ``#igw-report`` (``data-kind`` ``"run"`` or
        ``"comparison"``), rows ``tr.igw-report-row`` (``data-id``), headers
        ``th[data-sort]``, the chart ``.igw-report-words``, the detail ``.igw-report-detail``
        holding one ``.igw-chips`` per run (chips ``.igw-chip`` with ``data-score``, the raw
        attribution).
    """
    from ig_widgets.engine.corpus import CorpusExplanation

    color_for(0.0, palette)  # an unknown palette fails before any work
    if run_b is not None or not isinstance(run, CorpusExplanation):
        data = _comparison_data(_comparison(run, run_b, target, names, min_count), palette)
    else:
        data = _run_data(run, target, min_count, palette)
    data["title"] = title or data["title"]
    data["colors"] = _colour_scale(palette)
    data["hues"] = list(HUE_NAMES[palette])
    data["delta_tolerance"] = DELTA_TOLERANCE
    data["quantum"] = QUANTUM
    page = _fill(data)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def _comparison(run: Any, run_b: Any, target: Any, names: Any, min_count: int) -> CorpusComparison:
    """The comparison to report: ``run`` itself, or ``compare_corpora(run, run_b, ...)``."""
    from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation, compare_corpora

    if isinstance(run, CorpusComparison):
        if run_b is not None:
            raise TypeError("give a CorpusComparison alone, or two CorpusExplanations")
        if target is None and names is None:
            return run
        return compare_corpora(
            run.a,
            run.b,
            target=run.target if target is None else target,
            names=names or run.names,
            min_count=min_count,
        )
    for which, given in (("run", run), ("run_b", run_b)):
        if not isinstance(given, CorpusExplanation):
            raise TypeError(
                f"{which} must be a CorpusExplanation (or run a CorpusComparison), "
                f"got {type(given).__name__}"
            )
    return compare_corpora(run, run_b, target=target, names=names, min_count=min_count)


# ------------------------------------------------------------------------------ one run
def _run_data(
    run: CorpusExplanation, target: int | str | None, min_count: int, palette: str
) -> dict[str, Any]:
    frame = run.to_dataframe()
    chips = dict(_run_chips(run, target, palette))
    rows = []
    for row in frame.itertuples(index=False):
        key = str(row.id)
        rows.append(
            {
                "id": key,
                "text": _text(row.text),
                "label": _text(row.label),
                "predicted": _text(row.predicted),
                "confidence": _number(row.confidence),
                "correct": _flag(row.correct),
                "delta_share": _number(row.delta_share),
                "n_tokens": None if _missing(row.n_tokens) else int(row.n_tokens),
                "error": _text(row.error),
                "chips": chips.get(key, []),
            }
        )
    chart = {
        name: _chart(run.word_importance(name, min_count=min_count), "mean", "mean_abs")
        for name in run.classes
    }
    return {
        "kind": "run",
        "title": f"ig_widgets corpus report: {run.model_name}",
        "names": [run.model_name],
        "classes": list(run.classes),
        "columns": _columns(_RUN_COLUMNS, ("", "")),
        "filters": ["predicted", "correct"],
        "rows": rows,
        "chart": {"by_class": chart, "min_count": int(min_count), "kind": "mean"},
        "summary": _run_summary(run, frame),
    }


def _run_chips(
    run: CorpusExplanation, target: int | str | None, palette: str
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each explained text's chips: its own max-|score| scale, the class ``target``."""
    for id_, exp in run.explanations():
        words, scores, special = _words(exp, target)
        label = exp.classes[exp.predicted if target is None else exp.class_index(target)]
        chip = _chip_row(exp.text, words, scores, special, display_scale(scores), run.model_name)
        chip["legend"] = legend(label, "word", palette)
        yield str(id_), [chip]


def _run_summary(run: CorpusExplanation, frame: pd.DataFrame) -> list[str]:
    failed = int(frame["error"].notna().sum())
    lines = [f"{len(frame)} texts, {failed} could not be explained; model {run.model_name}"]
    accuracy = run.accuracy()
    if accuracy is not None:
        lines.append(f"accuracy {accuracy:.3f} ({int(frame['correct'].notna().sum())} labelled)")
    settings = run.settings
    if settings:
        steps, method = settings.get("n_steps", "?"), settings.get("method") or "default rule"
        lines.append(f"{steps} steps, {method}, baseline {settings.get('baseline', '?')}")
    return lines


# ---------------------------------------------------------------------------- two runs
def _comparison_data(comparison: CorpusComparison, palette: str) -> dict[str, Any]:
    a, b = comparison.names
    texts = comparison.texts()
    chips = dict(_comparison_chips(comparison, texts, palette))
    rows = []
    for row in texts.itertuples(index=False):
        key = str(row.id)
        errors = [f"{n}: {e}" for n, e in ((a, row.error_a), (b, row.error_b)) if _text(e)]
        rows.append(
            {
                "id": key,
                "text": _text(row.text),
                "predicted_a": _text(row.predicted_a),
                "predicted_b": _text(row.predicted_b),
                "score_a": _number(row.score_a),
                "score_b": _number(row.score_b),
                "score_change": _number(row.score_change),
                "agree": _flag(row.agree),
                "attribution_change": _number(row.attribution_change),
                "disagreement": _number(row.disagreement),
                "error": "; ".join(errors),
                "chips": chips.get(key, []),
            }
        )
    target = comparison.target
    words = comparison.words()
    return {
        "kind": "comparison",
        "title": f"ig_widgets comparison: {a} vs {b}",
        "names": [a, b],
        "classes": list(comparison.a.classes),
        "columns": _columns(_COMPARE_COLUMNS, (a, b)),
        "filters": ["disagree"],
        "rows": rows,
        "chart": {
            "words": _change_chart(words),
            "target": target,
            "min_count": comparison.min_count,
            "kind": "change",
        },
        "summary": _comparison_summary(comparison, texts, target),
    }


def _comparison_chips(
    comparison: CorpusComparison, texts: pd.DataFrame, palette: str
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Both runs' chips of each shared text, for the compared class, on one shared scale.

    Where both runs explained the text, the two rows hold the same words
    (:meth:`CorpusComparison.aligned`, as Compare aligns them across tokenizers); where one
    failed, the other shows its own words and the failed one none.
    """
    target = comparison.target
    names = comparison.names
    for row in texts.itertuples(index=False):
        failed = (_text(row.error_a), _text(row.error_b))
        rows: list[tuple[list[str], list[float], list[int]]]
        if not any(failed):
            words, attr_a, attr_b = comparison.aligned(row.id)
            rows = [(words, [float(x) for x in attr], []) for attr in (attr_a, attr_b)]
        else:
            runs = (comparison.a, comparison.b)
            rows = [
                ([], [], []) if error else _words(run.by_id(row.id), target)
                for run, error in zip(runs, failed, strict=True)
            ]
        scale = max(display_scale(scores) for _, scores, _ in rows)
        chips = [_chip_row(row.text, *r, scale, name) for r, name in zip(rows, names, strict=True)]
        chips[0]["legend"] = legend(target, "word", palette)
        if not any(failed):  # one word list for both rows: the second reads the first's
            del chips[1]["spans"], chips[1]["extra"]
        yield str(row.id), chips


def _comparison_summary(
    comparison: CorpusComparison, texts: pd.DataFrame, target: str
) -> list[str]:
    a, b = comparison.names
    agree = texts["agree"].dropna()
    lines = [
        f"{len(texts)} shared texts; {a}: {comparison.a.model_name}, {b}: "
        f"{comparison.b.model_name}; scores and attributions of class {target}",
    ]
    if len(agree):
        lines.append(f"the two predict the same class for {float(agree.mean()):.1%} of them")
    unmatched = len(comparison.only_a) + len(comparison.only_b)
    if unmatched:
        lines.append(
            f"{unmatched} texts are in one run only and are not shown "
            f"({len(comparison.only_a)} only in {a}, {len(comparison.only_b)} only in {b})"
        )
    return lines


# ------------------------------------------------------------------------------ pieces
def _words(exp: Explanation, target: int | str | None) -> tuple[list[str], list[float], list[int]]:
    """The words shown for ``target`` (views.selection), their raw scores, the special ones."""
    view = select(exp, target, "word")
    special = [i for i, flag in enumerate(view.special) if flag]
    return list(view.tokens), list(view.scores), special


def _chip_row(
    text: str,
    words: list[str],
    scores: list[float],
    special: list[int],
    scale: float,
    name: str,
) -> dict[str, Any]:
    """One chip row: where its words lie in ``text``, its scores, the ``|score|`` at full colour.

    Keys: ``spans`` (per word, the UTF-16 offset from the previous word's end and the word's
    length: the page cuts the words out of the text it already holds), ``extra`` (the words
    that are not the next piece of the text, e.g. special tokens, by index), ``q`` (each
    score as ``round(score / scale * QUANTUM)``), ``scale`` and ``special`` (indices). The
    page paints a score ``s`` with the colour step of ``clip(s / scale, -1, 1)`` (all zeros
    when ``scale`` is 0), as :func:`ig_widgets.views.normalize.scaled` does.
    :func:`decode_chips` reads a row back.
    """
    spans: list[int] = []
    extra: dict[str, str] = {}
    cursor = 0
    flagged = set(special)
    for i, word in enumerate(words):
        start = -1 if i in flagged or not word else text.find(word, cursor)
        if start < 0 or text[cursor:start].strip():
            spans += [0, 0]
            extra[str(i)] = word
            continue
        spans += [_utf16(text[cursor:start]), _utf16(word)]
        cursor = start + len(word)
    rounded = _round(scale)
    return {
        "name": name,
        "spans": spans,
        "extra": extra,
        "q": [round(x / rounded * QUANTUM) if rounded > 0 else 0 for x in scores],
        "scale": rounded,
        "special": special,
    }


def _utf16(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (JavaScript's string indices)."""
    return len(text.encode("utf-16-le")) // 2


def decode_chips(
    text: str, chips: dict[str, Any], words_of: dict[str, Any] | None = None
) -> tuple[list[str], list[float]]:
    """The words and scores of one chip row of the report's data, as the page reads them.

    Parameters
    ----------
    text : str
        The row's text (``row["text"]``).
    chips : dict
        One of ``row["chips"]``; a row without ``spans`` (the second of a comparison)
        has the words of ``row["chips"][0]``, passed as ``words_of``.
    words_of : dict, optional
        The chip row whose words ``chips`` shares.

    Returns
    -------
    words : list of str
        ``(n_words,)``.
    scores : list of float
        ``(n_words,)``, to 1/:data:`QUANTUM` of the row's scale.
    """
    units = text.encode("utf-16-le")
    words, cursor = [], 0
    source = chips if "spans" in chips else words_of
    assert source is not None, "this chip row shares the words of another: pass words_of"
    spans, extra = source["spans"], source["extra"]
    for i in range(len(spans) // 2):
        if str(i) in extra:
            words.append(extra[str(i)])
            continue
        start = cursor + spans[2 * i]
        cursor = start + spans[2 * i + 1]
        words.append(units[2 * start : 2 * cursor].decode("utf-16-le"))
    scores = [q * chips["scale"] / QUANTUM for q in chips["q"]]
    return words, scores


def _colour_scale(palette: str) -> dict[str, list[str]]:
    """The background and text colour of every step of the chips' scale (views.normalize)."""
    values = np.linspace(-1.0, 1.0, LEVELS + 1)
    return {
        "background": [color_for(float(v), palette) for v in values],
        "text": [text_color_for(float(v), palette) for v in values],
    }


def _chart(words: pd.DataFrame, mean: str, mean_abs: str) -> list[list[Any]]:
    """The chart's words: ``[word, mean, mean |attribution|, count]``, largest |mean| first."""
    top = words.reindex(words[mean].abs().sort_values(ascending=False, kind="stable").index)
    return [
        [str(word), _round(row[mean]), _round(row[mean_abs]), int(row["count"])]
        for word, row in top.head(CHART_WORDS).iterrows()
    ]


def _change_chart(words: pd.DataFrame) -> list[list[Any]]:
    """``[word, mean_a, mean_b, change, low, high, count_a, count_b]``, largest |change| first."""
    frame = words.reset_index() if "word" not in words.columns else words
    order = frame["mean_change"].abs().sort_values(ascending=False, kind="stable").index
    return [
        [
            str(row["word"]),
            _round(row["mean_a"]),
            _round(row["mean_b"]),
            _round(row["mean_change"]),
            _number(row["mean_change_low"]),
            _number(row["mean_change_high"]),
            int(row["count_a"]),
            int(row["count_b"]),
        ]
        for _, row in frame.loc[order].head(CHART_WORDS).iterrows()
    ]


def _columns(spec: tuple[tuple[str, str, str], ...], names: tuple[str, str]) -> list[dict]:
    a, b = names
    return [{"key": k, "title": t.format(a=a, b=b), "kind": kind} for k, t, kind in spec]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas NA
    except TypeError:
        return True


def _number(value: Any) -> float | None:
    return None if _missing(value) or not math.isfinite(float(value)) else _round(value)


def _round(value: Any) -> float:
    number = float(value)
    return float(f"{number:.{DIGITS}g}") if math.isfinite(number) else 0.0


def _flag(value: Any) -> bool | None:
    return None if _missing(value) else bool(value)


def _text(value: Any) -> str:
    """A string cell as it is; anything else (None, NaN) as ``""``."""
    return value if isinstance(value, str) else ""


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: ``<``, ``>``, ``&`` escaped.

    No sequence in the output can close the script element (``</script>``) or open a
    comment, whatever the texts hold; ``JSON.parse`` reads the escapes back unchanged.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _fill(data: dict[str, Any]) -> str:
    """The template with the title (escaped) and the data (script-safe JSON) put in."""
    pieces = re.split(r"@@(CHIP_CSS|TITLE|KIND|DATA)@@", TEMPLATE.read_text(encoding="utf-8"))
    # re.split keeps each placeholder's name at the odd places; nothing put in is read as one
    values = {
        "CHIP_CSS": CHIP_CSS,
        "TITLE": html.escape(str(data["title"]), quote=True),
        "KIND": html.escape(data["kind"]),
        "DATA": script_json(data),
    }
    return "".join(values[p] if i % 2 else p for i, p in enumerate(pieces))
