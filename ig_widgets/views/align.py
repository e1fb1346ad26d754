"""Several models' explanations of one text on one word list, and the difference of two rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ig_widgets.engine.explanation import ClassAttribution, Explanation, Word
from ig_widgets.views.normalize import normalize

__all__ = ["Alignment", "align", "difference"]


@dataclass(frozen=True)
class Alignment:
    """Every model's attributions for one class on the shared word list.

    Attributes
    ----------
    words : tuple[Word, ...]
        The text's words (whitespace pieces, identical for every tokenizer), ``(n_words,)``;
        the models' special tokens are left out (every baseline keeps them, so their
        attribution is zero).
    scores : np.ndarray
        Raw attributions, ``(n_models, n_words)``.
    attributions : tuple[ClassAttribution, ...]
        Each model's attributions for the class, with its completeness check.
    """

    words: tuple[Word, ...]
    scores: np.ndarray
    attributions: tuple[ClassAttribution, ...]


def align(explanations: Sequence[Explanation], target: str) -> Alignment:
    """Put several models' explanations of one text on one word list.

    Parameters
    ----------
    explanations : sequence of Explanation
        One per model, all of the same text.
    target : str
        The class (by name) every row explains.

    Raises
    ------
    ValueError
        When the explanations are of different texts or their words do not line up.
    """
    if not explanations:
        raise ValueError("align needs at least one explanation")
    texts = {exp.text for exp in explanations}
    if len(texts) != 1:
        raise ValueError("the explanations are of different texts; they cannot be aligned")
    keyed = []
    for exp in explanations:
        keep = [i for i, w in enumerate(exp.words) if not w.special]
        spans = tuple((exp.words[i].start, exp.words[i].end) for i in keep)
        keyed.append((keep, spans))
    reference = keyed[0][1]
    for exp, (_, spans) in zip(explanations, keyed, strict=True):
        if spans != reference:
            raise ValueError(
                f"The words of {exp.model_name!r} do not line up with those of "
                f"{explanations[0].model_name!r}: {len(spans)} against {len(reference)} words"
            )
    attrs = tuple(exp.for_class(target) for exp in explanations)
    scores = np.stack(
        [attr.word_scores[keep] for attr, (keep, _) in zip(attrs, keyed, strict=True)]
    )
    words = tuple(explanations[0].words[i] for i in keyed[0][0])
    return Alignment(words, scores, attrs)


def difference(a: np.ndarray, b: np.ndarray, scale: str = "own") -> np.ndarray:
    """A − B per word, for the difference row.

    Parameters
    ----------
    a, b : np.ndarray
        Raw word attributions of two models for the same class, ``(n_words,)`` each.
    scale : {"own", "shared"}
        ``"own"``: each row scaled to its own ``max |score|`` first (values in [-2, 2]; a row
        of zeros scales to zeros). ``"shared"``: the raw difference, in F's units.

    Returns
    -------
    np.ndarray
        ``(n_words,)``.
    """
    if scale == "shared":
        return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return normalize(a, "maxabs") - normalize(b, "maxabs")
