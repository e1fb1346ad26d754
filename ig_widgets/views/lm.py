"""What a language model's result shows: next-token candidates, continuation rows, the baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ig_widgets.engine.explanation import Explanation
from ig_widgets.views.selection import Selection, class_index, select


@dataclass(frozen=True)
class ContinuationRow:
    """One row of a continuation's view: a target token (or the whole) and its prompt words.

    Attributes
    ----------
    name : str
        The class: a target token (``" great"``) or the whole continuation.
    score : str
        Its ``F`` at the input in words (``"p 0.031"`` or ``"log p -3.47"``).
    whole : bool
        True for the row of the whole continuation.
    view : Selection
        The prompt's words (or tokens) and their attributions for this class.
    """

    name: str
    score: str
    whole: bool
    view: Selection


def is_continuation(exp: Explanation) -> bool:
    """Whether ``exp`` explains a continuation (its classes: each target token, the whole)."""
    return len(exp.target_tokens) > 0


def f_words(value: float, output: str) -> str:
    """``F`` of a language-model class in words: ``p 0.031`` or ``log p -3.47``."""
    return f"log p {value:.2f}" if output == "logprob" else f"p {value:.3g}"


def shown_class(exp: Explanation, target: str, wanted: str = "") -> str:
    """The class a language model's main view shows: ``target``, else a sensible one.

    ``target`` when it is one of ``exp.classes``; else ``wanted`` (a one-token continuation
    typed in the box) when it is one; else, for a continuation, the whole; else ``""``
    (follow the most probable next token).
    """
    if target and target in exp.classes:
        return target
    if wanted and wanted in exp.classes:
        return wanted
    if is_continuation(exp):
        return exp.classes[-1]
    return ""


def candidate_items(exp: Explanation, shown: str) -> list[dict[str, Any]]:
    """The next-token menu: one item per candidate, most probable first.

    Returns
    -------
    list of dict
        ``{"index", "name", "id", "prob", "text", "explained"}`` per class of ``exp``
        (``(n_classes,)``): ``text`` is ``F`` in words; ``explained`` marks the class the
        main view shows (``shown``, or the predicted one for ``""``). Empty for a
        continuation.
    """
    if is_continuation(exp):
        return []
    index = class_index(exp.classes, shown) if shown else None
    explained = exp.predicted if index is None else index
    values = np.asarray(exp.f_input, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    ids = list(exp.target_ids) or [-1] * len(exp.classes)
    return [
        {
            "index": int(i),
            "name": exp.classes[i],
            "id": int(ids[i]),
            "prob": float(exp.probs[i]),
            "text": f_words(float(values[i]), exp.output),
            "explained": bool(i == explained),
        }
        for i in order
    ]


def continuation_rows(exp: Explanation, level: str) -> list[ContinuationRow]:
    """One row per target token of a continuation, then the whole (``[]`` for a next token)."""
    if not is_continuation(exp):
        return []
    values = np.asarray(exp.f_input, dtype=np.float64)
    last = len(exp.classes) - 1
    return [
        ContinuationRow(
            name=name,
            score=f_words(float(values[i]), exp.output),
            whole=i == last,
            view=select(exp, i, level),
        )
        for i, name in enumerate(exp.classes)
    ]


def baseline_next(description: str, token: str, prob: float) -> str:
    """The baseline's own most probable next token, in words.

    E.g. ``"baseline token '<pad>' → next ' the' 0.04"``: what the model predicts after the
    baseline itself, over its whole vocabulary (not only the candidates shown).
    """
    return f"baseline {description} → next {token!r} {prob:.2f}"


def needs_prompt(view: str, model: str) -> str:
    """Why ``view`` (one with fixed classes) refuses the bare language model ``model``."""
    return (
        f"{view} needs fixed classes; {model} is a language model whose classes are each "
        "prompt's top next tokens. Make it a classifier: Explainer(lm, tokenizer=tok, "
        "prompt='Review: {text}\\nSentiment:', labels={'positive': ' good', 'negative': "
        "' bad'}), or explore it live in igw.Explorer(lm)."
    )
