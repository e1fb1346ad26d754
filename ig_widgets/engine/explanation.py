"""Frozen result objects of the engine: raw attributions for every class, with their check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.renderers import renderer_for

if TYPE_CHECKING:
    import os

    import pandas as pd
    from matplotlib.figure import Figure

    from ig_widgets.engine.fileformat import RecordKinds


def _frozen(array: Any, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def class_index(classes: Sequence[str], target: int | str) -> int:
    """The index of a class given by name or (possibly negative) index among ``classes``.

    Raises
    ------
    ValueError
        For an unknown name or an index out of range.
    TypeError
        For anything but a name or an int.
    """
    if isinstance(target, bool) or not isinstance(target, (int, np.integer, str)):
        raise TypeError(f"A class is a name or an index, got {type(target).__name__}")
    names = list(classes)
    if isinstance(target, str):
        if target in names:
            return names.index(target)
        raise ValueError(f"Unknown class {target!r}; the classes are {names}")
    index = int(target)
    if not -len(names) <= index < len(names):
        raise ValueError(f"Class index {index} is out of range for {len(names)} classes {names}")
    return index % len(names)


@dataclass(frozen=True)
class Word:
    """A word of the original text and the tokens that make it up.

    Attributes
    ----------
    text : str
        The word as it stands in the original text (for a special token: the token itself).
    start, end : int
        Character span ``[start, end)`` in the original text; ``start == end`` for special
        tokens that have no characters of their own.
    tokens : tuple[int, ...]
        Indices of the tokens folded into this word (markers such as ``xxmaj`` included).
    special : bool
        True for words made only of special tokens (``xxbos``, ``[CLS]``, ``[SEP]``).
    oov : bool
        True when the model knows none of the word's tokens: every non-special one was
        mapped to the unknown token (its attribution says nothing about the word itself).
    """

    text: str
    start: int
    end: int
    tokens: tuple[int, ...]
    special: bool = False
    oov: bool = False


@dataclass(frozen=True)
class ClassAttribution:
    """Attributions for one class, or for a contrast "a and not b".

    Attributes
    ----------
    label : str
        The class name, or ``"a − b"`` for a contrast.
    scores : np.ndarray
        Raw attributions per token, shape ``(n_tokens,)``.
    word_scores : np.ndarray
        Attributions summed per word, shape ``(n_words,)``.
    f_input, f_baseline, delta : float
        ``F`` at the input and at the start of the path, and
        ``delta = scores.sum() − (f_input − f_baseline)``.
    """

    label: str
    scores: np.ndarray
    word_scores: np.ndarray
    f_input: float
    f_baseline: float
    delta: float

    @property
    def total(self) -> float:
        """The sum of the attributions."""
        return float(self.scores.sum())

    @property
    def relative_delta(self) -> float:
        """``|delta| / |f_input − f_baseline|`` (inf when the difference is zero)."""
        diff = abs(self.f_input - self.f_baseline)
        return abs(self.delta) / diff if diff > 0 else float("inf")


@dataclass(frozen=True)
class PathTrace:
    """What the engine saw along the straight path from the baseline to the input.

    Attributes
    ----------
    alphas : np.ndarray
        The quadrature points used, sorted, shape ``(n_points,)``.
    weights : np.ndarray
        Their quadrature weights, shape ``(n_points,)``.
    f : np.ndarray
        ``F`` at each point for every class, shape ``(n_classes, n_points)``.
    dfdalpha : np.ndarray
        ``dF/dα`` at each point for every class, shape ``(n_classes, n_points)``; the
        integrand of completeness (its weighted sum is the sum of the attributions).
    grad_norm : np.ndarray
        The L2 norm of the embedding gradient at each point, shape ``(n_classes, n_points)``.
    """

    alphas: np.ndarray
    weights: np.ndarray
    f: np.ndarray
    dfdalpha: np.ndarray
    grad_norm: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Integrated Gradients on the embedding layer for every class of one text.

    Attributes
    ----------
    text : str
        The explained text.
    tokens : tuple[str, ...]
        The model's tokens, ``(n_tokens,)``.
    token_ids : tuple[int, ...]
        Their ids, ``(n_tokens,)``.
    token_spans : tuple[tuple[int, int] | None, ...]
        Character span of each token (None for special tokens).
    special : tuple[bool, ...]
        True for special tokens.
    words : tuple[Word, ...]
        The word-level view, ``(n_words,)``.
    classes : tuple[str, ...]
        Class names, ``(n_classes,)``.
    probs : np.ndarray
        Class probabilities for the input, ``(n_classes,)``: for ``output="logits"`` the
        softmax of ``F``; for ``"sigmoid"`` each label's own probability (they need not sum
        to 1); for ``"identity"`` the outputs in their own units, not probabilities.
    predicted : int
        Index of the predicted class.
    scores : np.ndarray
        Raw attributions, ``(n_classes, n_tokens)``; never normalised here.
    f_input, f_baseline, delta : np.ndarray
        ``F`` at the input and at the path start, and
        ``delta = scores.sum(-1) − (f_input − f_baseline)``, each ``(n_classes,)``.
    n_steps : int
        Number of quadrature points.
    method : str
        Quadrature rule (Captum's names).
    baseline : str
        What the baseline was, in words.
    output : str
        What ``F`` is: ``"probs"`` (softmax), ``"logits"``, ``"sigmoid"`` (one probability
        per label, multi-label) or ``"identity"`` (regression: the model's own units).
    model_name : str
        The model's short name.
    stage, n_stages : int
        For progressive refinement: this result's stage (1-based) of ``n_stages``.
    oov : tuple[bool, ...]
        ``(n_tokens,)``: True for tokens the model does not know (mapped to its unknown token
        although the text was not literally that token); ``()`` when built by hand is all
        False.
    path : PathTrace | None
        The values along the path (for teaching views).
    position : int or None
        For a token-classification model, the index of the explained token in ``tokens``
        (``classes`` are its labels, ``scores`` explain its output); None for a sequence
        classifier.
    token_labels : tuple[str, ...]
        For a token-classification model, each token's predicted label, ``(n_tokens,)``;
        ``()`` for a sequence classifier.
    n_evaluated : int or None
        The gradient points this result rests on: the distinct points ``α`` of every stage
        of the computation that made it, up to this one, counted once per path start (an
        averaged baseline has several), whether this call computed them or found them
        cached. It is what the result costs from an empty cache and does not depend on
        the cache: ``n_steps`` for one stage and one start; for ``n_steps="auto"`` with
        the adaptive rule the distinct points of ``path.alphas``; for Gauss-Legendre's
        ladder the sum of its stages. Forward-only rows (``F`` at the path's two ends,
        when the rule lacks them) are not counted. None: not recorded (built by hand, or
        read from a file written before the field existed).
    n_computed : int or None
        Of :attr:`n_evaluated`, how many points the call that made this result computed
        (the rest were in the explainer's cache): 0 for a target switch, the new points
        only for a refinement. A fact of that call, not of the result, so equality
        ignores it. None: not recorded.
    target_tokens : tuple[str, ...]
        For a language model's continuation, its tokens, ``(n_target,)``: the first
        ``n_target`` classes, each explained given the prompt and the tokens before it (the
        last class is the whole continuation); ``()`` otherwise. See :attr:`target_scores`.
    target_ids : tuple[int, ...]
        For a language model, the token ids of the classes that are tokens: every next-token
        candidate, or a continuation's tokens (``(n_target,)``); ``()`` otherwise.
    """

    text: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    token_spans: tuple[tuple[int, int] | None, ...]
    special: tuple[bool, ...]
    words: tuple[Word, ...]
    classes: tuple[str, ...]
    probs: np.ndarray
    predicted: int
    scores: np.ndarray
    f_input: np.ndarray
    f_baseline: np.ndarray
    delta: np.ndarray
    n_steps: int
    method: str
    baseline: str
    output: str = "probs"
    model_name: str = ""
    stage: int = 1
    n_stages: int = 1
    oov: tuple[bool, ...] = ()
    path: PathTrace | None = field(default=None, repr=False, compare=False)
    position: int | None = None
    token_labels: tuple[str, ...] = ()
    n_evaluated: int | None = None
    n_computed: int | None = field(default=None, compare=False)
    target_tokens: tuple[str, ...] = ()
    target_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("probs", "scores", "f_input", "f_baseline", "delta"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        n_classes, n_tokens = len(self.classes), len(self.tokens)
        object.__setattr__(self, "oov", tuple(bool(f) for f in self.oov) or (False,) * n_tokens)
        if len(self.oov) != n_tokens:
            raise ValueError(f"oov must have one flag per token ({n_tokens}), got {len(self.oov)}")
        if self.position is not None and not 0 <= self.position < n_tokens:
            raise ValueError(f"position {self.position} is not a token index (0..{n_tokens - 1})")
        if self.token_labels and len(self.token_labels) != n_tokens:
            raise ValueError(f"token_labels must have one label per token ({n_tokens})")
        if self.target_tokens and len(self.target_tokens) >= n_classes:
            raise ValueError("target_tokens must be fewer than the classes (the whole follows)")
        if self.scores.shape != (n_classes, n_tokens):
            raise ValueError(
                f"scores must have shape (n_classes, n_tokens) = {(n_classes, n_tokens)}, "
                f"got {self.scores.shape}"
            )

    # ------------------------------------------------------------------ lookups
    @property
    def is_final(self) -> bool:
        """True for the last stage of a progressive computation."""
        return self.stage == self.n_stages

    @property
    def all_unknown(self) -> bool:
        """True when the model knows none of the text's tokens (every non-special one is OOV).

        Every attribution is then about the unknown token, not about the text: say so rather
        than show the scores.
        """
        flags = [o for o, s in zip(self.oov, self.special, strict=True) if not s]
        return bool(flags) and all(flags)

    @property
    def target_scores(self) -> np.ndarray:
        """A continuation's rows: which prompt token drove each target token.

        Raw attributions ``(n_target, n_tokens)``, row ``i`` explaining ``target_tokens[i]``
        given the prompt and the target tokens before it; ``(0, n_tokens)`` when the
        explanation is not of a continuation.
        """
        return self.scores[: len(self.target_tokens)]

    @property
    def predicted_class(self) -> str:
        """Name of the predicted class."""
        return self.classes[self.predicted]

    def class_index(self, target: int | str) -> int:
        """Index of a class given by name or index; ``ValueError`` when it does not exist."""
        return class_index(self.classes, target)

    def word_matrix(self) -> np.ndarray:
        """The token→word summing matrix, shape ``(n_tokens, n_words)``."""
        matrix = np.zeros((len(self.tokens), len(self.words)))
        for j, word in enumerate(self.words):
            matrix[list(word.tokens), j] = 1.0
        return matrix

    def word_scores(self) -> np.ndarray:
        """Attributions summed per word, shape ``(n_classes, n_words)`` (computed once)."""
        return self._word_scores

    @cached_property
    def _word_scores(self) -> np.ndarray:
        owner = np.repeat(np.arange(len(self.words)), [len(w.tokens) for w in self.words])
        members = np.fromiter((i for w in self.words for i in w.tokens), dtype=np.intp)
        out = np.zeros((len(self.classes), len(self.words)))
        np.add.at(out.T, owner, self.scores[:, members].T)
        return _frozen(out)

    def for_class(self, target: int | str) -> ClassAttribution:
        """The attributions that explain one class ("why this class?")."""
        c = self.class_index(target)
        return ClassAttribution(
            label=self.classes[c],
            scores=_frozen(self.scores[c]),
            word_scores=_frozen(self.word_scores()[c]),
            f_input=float(self.f_input[c]),
            f_baseline=float(self.f_baseline[c]),
            delta=float(self.delta[c]),
        )

    def contrast(self, a: int | str, b: int | str) -> ClassAttribution:
        """Attributions for "why ``a`` and not ``b``": class a's minus class b's.

        The check is kept: ``delta`` is ``delta_a − delta_b``, the completeness error of
        ``F_a − F_b``.
        """
        ia, ib = self.class_index(a), self.class_index(b)
        if ia == ib:
            raise ValueError(f"A contrast needs two different classes, got {self.classes[ia]!r}")
        words = self.word_scores()
        return ClassAttribution(
            label=f"{self.classes[ia]} − {self.classes[ib]}",
            scores=_frozen(self.scores[ia] - self.scores[ib]),
            word_scores=_frozen(words[ia] - words[ib]),
            f_input=float(self.f_input[ia] - self.f_input[ib]),
            f_baseline=float(self.f_baseline[ia] - self.f_baseline[ib]),
            delta=float(self.delta[ia] - self.delta[ib]),
        )

    # ------------------------------------------------------------------ exports
    def to_dataframe(self, level: str = "token") -> pd.DataFrame:
        """One row per token (``level="token"``) or word (``level="word"``), a column per class.

        Columns: ``position``, ``token`` (or ``word``), ``start``, ``end``, ``special`` and
        one column of raw attributions per class name.
        """
        import pandas as pd

        if level == "token":
            data: dict[str, Any] = {
                "position": range(len(self.tokens)),
                "token": list(self.tokens),
                "start": [s[0] if s else None for s in self.token_spans],
                "end": [s[1] if s else None for s in self.token_spans],
                "special": list(self.special),
            }
            values = self.scores
        elif level == "word":
            data = {
                "position": range(len(self.words)),
                "word": [w.text for w in self.words],
                "start": [w.start for w in self.words],
                "end": [w.end for w in self.words],
                "special": [w.special for w in self.words],
            }
            values = self.word_scores()
        else:
            raise ValueError(f"level must be 'token' or 'word', got {level!r}")
        for c, name in enumerate(self.classes):
            data[name] = values[c]
        return pd.DataFrame(data)

    def to_html(self, target: int | str | None = None, **options: Any) -> str:
        """A self-contained HTML page fragment: chips and a bar chart, token text escaped.

        Drawn by the ``"html"`` renderer (:mod:`ig_widgets.engine.renderers`; the views'
        ``explanation_html`` unless another is registered), with ``target`` and ``options``.
        """
        html: str = renderer_for("html")(self, target=target, **options)
        return html

    def _repr_html_(self) -> str:
        return self.to_html()

    def plot(self, target: int | str | None = None, **options: Any) -> Figure:
        """A matplotlib bar chart; for two classes, the "why? / why not?" pair.

        Drawn by the ``"plot"`` renderer (:mod:`ig_widgets.engine.renderers`; the views'
        ``plot_explanation`` unless another is registered).
        """
        figure: Figure = renderer_for("plot")(self, target=target, **options)
        return figure

    def summary(self) -> str:
        """One line: prediction, probabilities and the completeness check."""
        probs = ", ".join(f"{c} {p:.3f}" for c, p in zip(self.classes, self.probs, strict=True))
        c = self.predicted
        where = ""
        if self.position is not None:
            where = f"token {self.position} {self.tokens[self.position]!r}: "
        return (
            f"{where}{self.predicted_class} ({probs}); Σ attributions {self.scores[c].sum():+.4f}, "
            f"F(input) − F(baseline) {self.f_input[c] - self.f_baseline[c]:+.4f}, "
            f"delta {self.delta[c]:+.2e} ({self.n_steps} steps, {self.method})"
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this explanation to one Parquet file, exactly (every field, the path too).

        :meth:`load` reads it back equal to the last bit; the file is the one-row form of
        ``explain_many``'s results (see :mod:`ig_widgets.engine.fileformat`).
        """
        from ig_widgets.engine.fileformat import save_explanation

        save_explanation(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Explanation:
        """Read an explanation written by :meth:`save` (this version's format or an older one)."""
        from ig_widgets.engine.fileformat import load_explanation

        return load_explanation(path, record_kinds())


def record_kinds() -> RecordKinds:
    """The result classes the results file's codec builds (:func:`fileformat.decode`)."""
    from ig_widgets.engine.fileformat import RecordKinds

    return RecordKinds(Explanation, Word, PathTrace)
