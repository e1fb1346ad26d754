"""Two corpus runs of the same texts side by side: per text, per word, and where they disagree.

:func:`compare_corpora` pairs two :class:`CorpusExplanation` runs (two models, two versions of
a model, two baselines) by text id and returns a :class:`CorpusComparison` with one DataFrame
per question:

- :meth:`CorpusComparison.texts`: per shared text, both predictions, the change of ``F`` and
  of the probability of the compared class, and how far apart the two explanations are;
- :meth:`CorpusComparison.words`: per word, the change of its mean signed and mean absolute
  attribution, with counts and 95 % intervals;
- :meth:`CorpusComparison.disagreements`: the texts ranked by how much the runs disagree;
- :meth:`CorpusComparison.aligned`: one text's two attribution vectors on one word list.

What the two runs must share
----------------------------
- **Class names**: the same set of names (``ValueError`` otherwise). Their order may differ;
  classes are matched by name, and ``target`` names one of them.
- **Texts**: texts are paired by id (``CorpusExplanation.ids``). A shared id must hold the
  same text in both runs (``ValueError`` otherwise); ids of ``int`` and ``str`` never match.
  Ids present in one run only are kept in :attr:`CorpusComparison.only_a` /
  :attr:`~CorpusComparison.only_b` and listed by :meth:`~CorpusComparison.unmatched`; no
  shared id at all is a ``ValueError``.

Word alignment across tokenizers
--------------------------------
As :class:`ig_widgets.Compare` does (:func:`ig_widgets.engine.words.align`): the words of a
text are its whitespace pieces with their character spans, the same for every tokenizer; a
word's attribution is the sum of its tokens' (markers such as ``xxmaj`` included), and kept
special tokens (``xxbos``, ``[CLS]``) are left out (every baseline keeps them, so their
attribution is zero). The per-word table groups words like
:meth:`CorpusExplanation.word_importance` (:func:`word_key`: lower-cased, tag fragments and
surrounding punctuation removed; words made only of punctuation are left out).

Units: ``F`` is each run's own output (``probs``, logits …: ``CorpusExplanation`` keeps it
per run); attributions are in ``F``'s units, so compare runs with the same output when the
sizes matter. ``prob_*`` columns are always probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.explanation import class_index
from ig_widgets.engine.words import align, attribution_distance, word_key

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus.result import CorpusExplanation

__all__ = ["CONFIDENCE", "CorpusComparison", "attribution_distance", "compare_corpora"]

#: the level of the per-word intervals
CONFIDENCE = 0.95

#: texts() columns, in order (see CorpusComparison.texts for their meaning)
TEXT_COLUMNS = (
    "id", "text", "label", "predicted_a", "predicted_b", "agree", "score_a", "score_b",
    "score_change", "prob_a", "prob_b", "prob_change", "attribution_change", "top_word_a",
    "top_word_b", "n_words", "disagreement", "error_a", "error_b",
)  # fmt: skip
#: words() columns, in order (see CorpusComparison.words for their meaning)
WORD_COLUMNS = (
    "word", "count_a", "count_b", "texts", "mean_a", "mean_b", "mean_change",
    "mean_change_low", "mean_change_high", "abs_mean_a", "abs_mean_b", "abs_change",
    "abs_change_low", "abs_change_high",
)  # fmt: skip


def compare_corpora(
    a: CorpusExplanation,
    b: CorpusExplanation,
    *,
    target: int | str | None = None,
    names: tuple[str, str] | None = None,
    min_count: int = 5,
) -> CorpusComparison:
    """Compare two corpus runs of the same texts (``b`` against ``a``: changes are b − a).

    Parameters
    ----------
    a, b : CorpusExplanation
        The two runs (e.g. the old model and the new one). They must share their class
        names (any order) and pair their texts by id; see the module's notes.
    target : int, str or None
        The compared class, by name or by index among ``a.classes``. None: the last of
        ``a.classes`` (with two classes the second, ``positive`` for the demo models).
    names : (str, str), optional
        What to call the runs in reports; default their model names (``" (b)"`` appended to
        the second when they are the same).
    min_count : int
        :meth:`CorpusComparison.words` keeps words seen at least this often in both runs.

    Returns
    -------
    CorpusComparison
        Its tables are computed on first use (one pass over both runs, a row group at a time).

    Raises
    ------
    ValueError
        Different class names, no shared text id, a shared id holding two different texts.
    TypeError
        When ``a`` or ``b`` is not a CorpusExplanation.
    """
    for which, run in (("a", a), ("b", b)):
        # duck-typed: this module is imported by CorpusExplanation.compare, not the reverse
        if not all(hasattr(run, n) for n in ("explanations", "by_id", "classes", "ids")):
            raise TypeError(f"{which} must be a CorpusExplanation, got {type(run).__name__}")
    if sorted(a.classes) != sorted(b.classes):
        raise ValueError(
            "the two runs must have the same class names (in any order): "
            f"{list(a.classes)} against {list(b.classes)}"
        )
    picked = a.classes[-1] if target is None else a.classes[class_index(a.classes, target)]
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive int, got {min_count!r}")
    if names is None:
        first, second = a.model_name, b.model_name
        names = (first, f"{second} (b)" if second == first else second)
    elif len(names) != 2 or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"names must be two non-empty strings, got {names!r}")
    in_b = set(b.ids)
    in_a = set(a.ids)
    shared = tuple(i for i in a.ids if i in in_b)
    if not shared:
        raise ValueError(
            f"the two runs share no text id ({len(a)} and {len(b)} texts): "
            "explain the same texts with the same ids"
        )
    _check_same_texts(a, b, shared)
    return CorpusComparison(
        a=a,
        b=b,
        names=(str(names[0]), str(names[1])),
        target=picked,
        min_count=min_count,
        shared=shared,
        only_a=tuple(i for i in a.ids if i not in in_b),
        only_b=tuple(i for i in b.ids if i not in in_a),
    )


def _check_same_texts(
    a: CorpusExplanation, b: CorpusExplanation, shared: Sequence[int | str]
) -> None:
    """``ValueError`` naming the ids whose texts differ between the runs."""
    text_a = dict(zip(a.ids, a.to_dataframe()["text"], strict=True))
    text_b = dict(zip(b.ids, b.to_dataframe()["text"], strict=True))
    differ = [i for i in shared if text_a[i] != text_b[i]]
    if differ:
        shown = ", ".join(repr(i) for i in differ[:5])
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        raise ValueError(
            f"{len(differ)} shared ids hold different texts in the two runs ({shown}{more}): "
            "pair the runs by the same ids for the same texts"
        )


@dataclass(frozen=True)
class _Pairs:
    """What one pass over both runs collects: per text and per word occurrence."""

    per_text: dict[int | str, dict[str, Any]]
    keys: np.ndarray  # (n_occurrences,) word keys
    text_of: np.ndarray  # (n_occurrences,) position of the occurrence's text among shared
    score_a: np.ndarray  # (n_occurrences,)
    score_b: np.ndarray  # (n_occurrences,)


@dataclass(frozen=True)
class CorpusComparison:
    """Two corpus runs of the same texts, compared (made by :func:`compare_corpora`).

    Attributes
    ----------
    a, b : CorpusExplanation
        The runs; every change is ``b − a``.
    names : (str, str)
        The runs' names for reports.
    target : str
        The compared class (by name; it is found by name in each run).
    min_count : int
        The fewest occurrences (in each run) of a word that :meth:`words` keeps.
    shared : tuple
        Ids of the texts in both runs, in ``a``'s input order.
    only_a, only_b : tuple
        Ids of the texts in one run only (in its input order); left out of every table but
        :meth:`unmatched`.
    """

    a: CorpusExplanation
    b: CorpusExplanation
    names: tuple[str, str]
    target: str
    min_count: int
    shared: tuple[int | str, ...]
    only_a: tuple[int | str, ...] = ()
    only_b: tuple[int | str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        unmatched = len(self.only_a) + len(self.only_b)
        extra = f", {unmatched} in one run only" if unmatched else ""
        return (
            f"CorpusComparison({self.names[0]} → {self.names[1]}, {len(self.shared)} shared "
            f"texts{extra}, target {self.target!r})"
        )

    # ------------------------------------------------------------------ tables
    def texts(self) -> pd.DataFrame:
        """One row per shared text id, in ``a``'s input order.

        Columns
        -------
        id, text, label
            The text (its label as ``a`` has it; None without one).
        predicted_a, predicted_b : str or None
            Each run's predicted class (None where that run failed on the text).
        agree : boolean
            Both predicted the same class (``<NA>`` where a run failed).
        score_a, score_b, score_change : float
            ``F(input)`` of the compared class in each run (each run's own output: a
            probability with the ``probs`` head) and ``score_b − score_a``.
        prob_a, prob_b, prob_change : float
            The compared class's probability in each run and ``prob_b − prob_a``.
        attribution_change : float
            :func:`attribution_distance` of the two runs' word-aligned attributions for the
            compared class: ``1 − cosine``, in ``[0, 2]`` (0: same proportions; 1:
            unrelated; 2: opposite). Scale-free: a run that attributes ten times more but in
            the same proportions scores 0.
        top_word_a, top_word_b : str
            The word with the largest ``|attribution|`` in each run (its text as written).
        n_words : int
            Words aligned (special tokens left out).
        disagreement : float
            The ranking key of :meth:`disagreements`:
            ``|prob_change| + attribution_change / 2``, in ``[0, 2]``: each part is in
            ``[0, 1]``, so a text ranks high when the predictions move apart, when the
            reasons do, or both.
        error_a, error_b : str or None
            Why a run could not explain the text; every number of the row is ``nan`` then.
        """
        import pandas as pd

        if "texts" not in self._cache:
            frame_a = self.a.to_dataframe().set_index("id")
            frame_b = self.b.to_dataframe().set_index("id")
            per_text = self._pairs().per_text
            rows = []
            for id_ in self.shared:
                ra, rb = frame_a.loc[id_], frame_b.loc[id_]
                row = {
                    "id": id_,
                    "text": ra["text"],
                    "label": ra["label"],
                    "predicted_a": ra["predicted"],
                    "predicted_b": rb["predicted"],
                    "error_a": ra["error"],
                    "error_b": rb["error"],
                }
                row.update(per_text.get(id_, {}))
                rows.append(row)
            frame = pd.DataFrame(rows, columns=list(TEXT_COLUMNS))
            both = frame["error_a"].isna() & frame["error_b"].isna()
            frame["agree"] = pd.array(
                [
                    bool(pa == pb) if ok else None
                    for pa, pb, ok in zip(
                        frame["predicted_a"], frame["predicted_b"], both, strict=True
                    )
                ],
                dtype="boolean",
            )
            numeric = ["score_a", "score_b", "score_change", "prob_a", "prob_b"]
            numeric += ["prob_change", "attribution_change", "disagreement"]
            frame[numeric] = frame[numeric].astype(np.float64)
            frame["n_words"] = pd.array(frame["n_words"], dtype="Int64")
            self._cache["texts"] = frame
        return self._cache["texts"].copy()

    def disagreements(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` shared texts where the runs disagree most (:meth:`texts`' rows).

        Sorted by ``disagreement`` (largest first; ties by ``|prob_change|``, then input
        order); texts a run could not explain come last. ``n=None`` keeps every row.
        """
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"n must be a non-negative int or None, got {n!r}")
        frame = self.texts()
        frame["_moved"] = frame["prob_change"].abs()
        ranked = frame.sort_values(
            ["disagreement", "_moved"], ascending=False, kind="stable", na_position="last"
        ).drop(columns="_moved")
        return ranked if n is None else ranked.head(n)

    def words(self) -> pd.DataFrame:
        """Per word, what it does for the compared class in each run, and the change.

        Over the texts both runs explained (shared ids without an error in either), each
        word occurrence paired across the runs by its place in the text. Words are grouped
        by :func:`word_key`; a word is kept when it occurs at least ``min_count`` times in
        both runs. When the runs hold the same texts and none failed, ``count_*``,
        ``mean_*`` and ``abs_mean_*`` equal each run's ``word_importance(target)``
        ``count``, ``mean`` and ``mean_abs``.

        Columns
        -------
        word : str
            The word key.
        count_a, count_b : int
            Its occurrences in each run (the same: both runs see the same words; kept
            separate so a report can show them).
        texts : int
            The texts holding it.
        mean_a, mean_b : float
            Mean signed attribution per occurrence in each run.
        mean_change, mean_change_low, mean_change_high : float
            ``mean_b − mean_a`` and its 95 % Student-t interval, paired over occurrences
            (``mean(d) ± t · sd(d) / √n`` with ``d`` = b − a per occurrence; ``nan`` bounds
            for a word seen once).
        abs_mean_a, abs_mean_b : float
            Mean ``|attribution|`` per occurrence in each run (how much it matters, either way).
        abs_change, abs_change_low, abs_change_high : float
            ``abs_mean_b − abs_mean_a`` and its paired 95 % interval: positive where ``b``
            relies on the word more than ``a`` does.

        Sorted by ``|abs_change|``, largest first (the words one run relies on and the other
        does not come first).
        """
        import pandas as pd

        if "words" not in self._cache:
            pairs = self._pairs()
            frame = pd.DataFrame(
                {
                    "word": pairs.keys,
                    "text": pairs.text_of,
                    "a": pairs.score_a,
                    "b": pairs.score_b,
                    "abs_a": np.abs(pairs.score_a),
                    "abs_b": np.abs(pairs.score_b),
                }
            )
            frame["d"] = frame["b"] - frame["a"]
            frame["abs_d"] = frame["abs_b"] - frame["abs_a"]
            grouped = frame.groupby("word", sort=False)
            count = grouped.size()
            out = pd.DataFrame({"count_a": count, "count_b": count})
            out["texts"] = grouped["text"].nunique()
            means = grouped[["a", "b", "abs_a", "abs_b"]].mean()
            out["mean_a"], out["mean_b"] = means["a"], means["b"]
            spread = grouped[["d", "abs_d"]].std(ddof=1)
            half = _half_width(spread, count)
            out["mean_change"] = grouped["d"].mean()
            out["mean_change_low"] = out["mean_change"] - half["d"]
            out["mean_change_high"] = out["mean_change"] + half["d"]
            out["abs_mean_a"], out["abs_mean_b"] = means["abs_a"], means["abs_b"]
            out["abs_change"] = grouped["abs_d"].mean()
            out["abs_change_low"] = out["abs_change"] - half["abs_d"]
            out["abs_change_high"] = out["abs_change"] + half["abs_d"]
            kept = out[out["count_a"] >= self.min_count].reset_index()
            kept = kept.astype({"count_a": "int64", "count_b": "int64", "texts": "int64"})
            order = kept["abs_change"].abs().sort_values(ascending=False, kind="stable").index
            self._cache["words"] = kept.loc[order, list(WORD_COLUMNS)].reset_index(drop=True)
        return self._cache["words"].copy()

    def unmatched(self) -> pd.DataFrame:
        """The texts in one run only: ``id``, ``text`` and ``run`` (the name of that run)."""
        import pandas as pd

        rows = []
        for run, name, ids in (
            (self.a, self.names[0], self.only_a),
            (self.b, self.names[1], self.only_b),
        ):
            if ids:
                texts = dict(zip(run.ids, run.to_dataframe()["text"], strict=True))
                rows += [{"id": i, "text": texts[i], "run": name} for i in ids]
        return pd.DataFrame(rows, columns=["id", "text", "run"])

    def aligned(
        self, id_: int | str, target: int | str | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """One shared text's words and both runs' attributions for the compared class.

        ``target`` (a name, or an index among ``a.classes``) reads another class than the
        comparison's :attr:`target`.

        Returns
        -------
        words : list of str
            The text's words as written (special tokens left out), ``n_words`` of them.
        attr_a, attr_b : np.ndarray
            Raw attributions per word, ``(n_words,)`` each, in each run's units.

        Raises
        ------
        KeyError
            When ``id_`` is not in both runs.
        ValueError
            When a run could not explain the text.
        """
        if id_ not in set(self.shared):
            where = (
                "in neither run" if id_ not in set(self.only_a + self.only_b) else "in one run only"
            )
            raise KeyError(f"text {id_!r} is {where}")
        name = (
            self.target if target is None else self.a.classes[class_index(self.a.classes, target)]
        )
        rows = align([self.a.by_id(id_), self.b.by_id(id_)], name)
        return [w.text for w in rows.words], rows.scores[0].copy(), rows.scores[1].copy()

    # ------------------------------------------------------------------ the pass
    def _pairs(self) -> _Pairs:
        """One pass over ``a`` (file order), each text paired with ``b``'s by id."""
        if "pairs" in self._cache:
            return self._cache["pairs"]
        position = {id_: k for k, id_ in enumerate(self.shared)}
        failed_b = set(self.b.failures()["id"])
        ca = class_index(self.a.classes, self.target)
        cb = class_index(self.b.classes, self.target)
        per_text: dict[int | str, dict[str, Any]] = {}
        keys: list[str] = []
        text_of: list[int] = []
        scores_a: list[np.ndarray] = []
        scores_b: list[np.ndarray] = []
        for id_, exp_a in self.a.explanations():
            if id_ not in position or id_ in failed_b:
                continue
            exp_b = self.b.by_id(id_)
            rows = align([exp_a, exp_b], self.target)
            sa, sb = rows.scores[0], rows.scores[1]
            att_a, att_b = rows.attributions
            prob_a, prob_b = float(exp_a.probs[ca]), float(exp_b.probs[cb])
            distance = attribution_distance(sa, sb)
            per_text[id_] = {
                "score_a": att_a.f_input,
                "score_b": att_b.f_input,
                "score_change": att_b.f_input - att_a.f_input,
                "prob_a": prob_a,
                "prob_b": prob_b,
                "prob_change": prob_b - prob_a,
                "attribution_change": distance,
                "top_word_a": _top_word(rows.words, sa),
                "top_word_b": _top_word(rows.words, sb),
                "n_words": len(rows.words),
                "disagreement": abs(prob_b - prob_a) + distance / 2,
            }
            picked = [(w, word_key(word.text)) for w, word in enumerate(rows.words)]
            picked = [(w, key) for w, key in picked if key]
            keys += [key for _, key in picked]
            text_of += [position[id_]] * len(picked)
            index = np.array([w for w, _ in picked], dtype=np.intp)
            scores_a.append(sa[index])
            scores_b.append(sb[index])
        pairs = _Pairs(
            per_text=per_text,
            keys=np.array(keys, dtype=object),
            text_of=np.array(text_of, dtype=np.int64),
            score_a=np.concatenate(scores_a) if scores_a else np.zeros(0),
            score_b=np.concatenate(scores_b) if scores_b else np.zeros(0),
        )
        self._cache["pairs"] = pairs
        return pairs


def _top_word(words: Sequence[Any], scores: np.ndarray) -> str | None:
    """The text of the word with the largest ``|score|`` (None for a text with no words)."""
    if len(words) == 0:
        return None
    return str(words[int(np.argmax(np.abs(scores)))].text)


def _half_width(spread: pd.DataFrame, count: pd.Series) -> pd.DataFrame:
    """Half widths of the Student-t intervals at :data:`CONFIDENCE`: ``t · sd / √n`` per row."""
    from scipy.stats import t as student_t

    n = count.to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(
            n >= 2, student_t.ppf((1 + CONFIDENCE) / 2, np.maximum(n - 1, 1)) / np.sqrt(n), np.nan
        )
    return spread.mul(factor, axis=0)
