"""CorpusExplanation: a run's explanations, read a row group at a time, with summaries."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ig_widgets.engine.baselines import Baseline, from_spec
from ig_widgets.engine.core import CancelHook
from ig_widgets.engine.corpus.store import Store
from ig_widgets.engine.explanation import Explanation, class_index, record_kinds
from ig_widgets.engine.fileformat import decode
from ig_widgets.engine.words import word_key

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus.compare import CorpusComparison
    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.engine.metrics import FaithfulnessSummary

#: the columns a summary (to_dataframe) reads
_SUMMARY = ("id", "order", "text", "label", "error", "predicted", "probs", "f_input")
_SUMMARY_LISTS = ("f_baseline", "delta")

__all__ = ["CorpusExplanation", "word_key"]


class CorpusExplanation:
    """The Integrated Gradients explanations of a corpus, one per text, with summaries.

    Results live in a Parquet file (``out=`` of :meth:`Explainer.explain_many`, or
    :meth:`load`) and are read a row group at a time, or in memory. Texts are in input order.

    Examples
    --------
    >>> corpus = explainer.explain_many(texts, labels, out="run.parquet")
    >>> corpus[0]                          # the first text's Explanation
    >>> corpus.to_dataframe()              # one row per text
    >>> corpus.word_importance("positive")  # per word, over the corpus
    >>> corpus.errors()                    # the misclassified texts
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._kinds = record_kinds()
        self._importance: pd.DataFrame | None = None
        self._frame: pd.DataFrame | None = None
        table = store.columns(["id", "order"])
        #: file row of each text, in input order
        self._order = np.argsort(table.column("order").to_numpy(), kind="stable")
        ids = table.column("id").to_pylist()
        self._ids = [ids[r] for r in self._order]
        self._index = {id_: i for i, id_ in enumerate(self._ids)}

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CorpusExplanation:
        """Open results written by ``explain_many(out=...)`` or :meth:`save`."""
        store = Store.open(Path(path))
        if store.meta.get("kind") != "corpus":
            raise ValueError(f"{path} holds one explanation: read it with Explanation.load")
        return cls(store)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the results to one Parquet file (exact; :meth:`load` reads it back)."""
        self._store.write_to(Path(path))

    @property
    def complete(self) -> bool:
        """False when the run stopped (cancel, Ctrl-C, an error) before every text was done."""
        return self._store.complete

    @property
    def path(self) -> Path | None:
        """The Parquet file the results are read from (None when they are in memory)."""
        return self._store.path

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, in the model's output order."""
        return tuple(self._store.meta["classes"])

    @property
    def model_name(self) -> str:
        """The model's short name."""
        return str(self._store.meta["model_name"])

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings (steps, method, baseline, tolerances, model fingerprint)."""
        return dict(self._store.meta.get("settings", {}))

    def run_baseline(self) -> Baseline | str | None:
        """The run's baseline, rebuilt from the spec stored with it (None: the model's default).

        Pass it to :meth:`Explainer.explain` (or an Explorer) to reproduce a row exactly. A
        run of ``"[neutral]"`` gives that choice back: an Explorer takes it as it is (and
        resolves it at the text's length, as the run did); for ``explain``,
        :func:`~ig_widgets.engine.baselines.baseline_from_choice` with the text's number of
        ordinary tokens gives the token (each row's ``baseline`` names it too).

        Raises
        ------
        ValueError
            When the results do not hold the baseline as data: a file of results format 1
            (only its description, ``settings["baseline"]``, was kept) or a baseline class
            of its own.
        """
        settings = self.settings
        spec = settings.get("baseline_spec")
        if spec is None:
            why = (
                "results format 1 kept only its description"
                if self._store.meta.get("read_format") == 1
                else "it is a baseline class that cannot be rebuilt from data"
            )
            raise ValueError(
                f"the run's baseline ({settings.get('baseline', 'unknown')}) cannot be "
                f"reproduced: {why}"
            )
        return from_spec(spec)

    @property
    def ids(self) -> list[int | str]:
        """The texts' ids, in input order."""
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        where = f", {self.path}" if self.path is not None else ""
        failed = int(self.to_dataframe()["error"].notna().sum())
        state = "" if self.complete else ", incomplete"
        return (
            f"CorpusExplanation({len(self)} texts, {failed} failed, "
            f"{self.model_name}{where}{state})"
        )

    def __getitem__(self, i: int) -> Explanation:
        """The Explanation of the ``i``-th text (``ValueError`` for a text that failed)."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a corpus is indexed by position (int), got {type(i).__name__}")
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"text {int(i)} is out of range for {n} texts")
        row = self._store.row(int(self._order[int(i) % n]))
        if row["error"] is not None:
            raise ValueError(f"text {row['id']!r} has no explanation: {row['error']}")
        return decode(row, self._store.meta, self._kinds)

    def __iter__(self) -> Iterator[Explanation]:
        """The explanations of the texts that did not fail, in input order."""
        for _, exp in self.explanations():
            yield exp

    def position(self, id_: int | str) -> int:
        """The position of the text with id ``id_`` (``KeyError`` when there is none)."""
        if id_ not in self._index:
            raise KeyError(f"no text has id {id_!r}")
        return self._index[id_]

    def by_id(self, id_: int | str) -> Explanation:
        """The Explanation of the text with id ``id_``."""
        return self[self.position(id_)]

    def explanations(self) -> Iterator[tuple[int | str, Explanation]]:
        """``(id, Explanation)`` of every text that did not fail, a row group at a time.

        Memory stays flat: one row group is decoded at a time (in file order).
        """
        meta = self._store.meta
        for g in range(self._store.num_groups):
            for row in self._store.group(g).to_pylist():
                if row["error"] is None:
                    yield row["id"], decode(row, meta, self._kinds)

    # ------------------------------------------------------------------ summaries
    def to_dataframe(self) -> pd.DataFrame:
        """One row per text, in input order.

        Columns: ``id``, ``text``, ``label`` and ``predicted`` (class names; None when
        unknown), ``probabilities`` (a tuple in class order), ``confidence`` (the predicted
        class's probability), ``correct`` (None without a label), ``delta`` (the completeness
        error of the predicted class), ``delta_share`` (``|delta| / |F(input) −
        F(baseline)|``), ``n_tokens``, ``n_steps`` and ``error`` (None when it worked).
        """
        if self._frame is None:
            self._frame = self._summary()
        return self._frame.copy()

    def _summary(self) -> pd.DataFrame:
        import pandas as pd

        table = self._store.columns([*_SUMMARY, *_SUMMARY_LISTS, "n_steps", "tokens"]).take(
            pa.array(self._order)
        )
        n_classes = len(self.classes)
        lengths = pc.list_value_length(table.column("tokens")).to_numpy(zero_copy_only=False)

        def matrix(name: str) -> np.ndarray:
            values = table.column(name).to_pylist()
            return np.array(
                [v if v is not None else [np.nan] * n_classes for v in values], dtype=np.float64
            ).reshape(len(values), n_classes)

        probs, f_in, f_base, delta = (
            matrix(n) for n in ("probs", "f_input", "f_baseline", "delta")
        )
        predicted = table.column("predicted").to_pylist()
        labels = table.column("label").to_pylist()
        rows = np.arange(len(predicted))
        pick = np.array([p if p is not None else 0 for p in predicted], dtype=np.intp)
        ok = np.array([p is not None for p in predicted])
        chosen_delta = np.where(ok, delta[rows, pick], np.nan)
        diff = np.abs(f_in[rows, pick] - f_base[rows, pick])
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(ok, np.abs(chosen_delta) / diff, np.nan)
        names = self.classes
        correct = [
            None if p is None or y is None else bool(p == y)
            for p, y in zip(predicted, labels, strict=True)
        ]
        return pd.DataFrame(
            {
                "id": table.column("id").to_pylist(),
                "text": table.column("text").to_pylist(),
                "label": [None if y is None else names[y] for y in labels],
                "predicted": [None if p is None else names[p] for p in predicted],
                "probabilities": [
                    tuple(float(x) for x in row) if k else None
                    for row, k in zip(probs, ok, strict=True)
                ],
                "confidence": np.where(ok, probs[rows, pick], np.nan),
                "correct": pd.array(correct, dtype="boolean"),
                "delta": chosen_delta,
                "delta_share": share,
                "n_tokens": pd.array(
                    [int(n) if k else None for n, k in zip(lengths, ok, strict=True)],
                    dtype="Int64",
                ),
                "n_steps": pd.array(table.column("n_steps").to_pylist(), dtype="Int64"),
                "error": table.column("error").to_pylist(),
            }
        )

    def errors(self) -> pd.DataFrame:
        """The misclassified texts (label known, prediction differs), most confident first."""
        frame = self.to_dataframe()
        wrong = frame[frame["correct"].eq(False).fillna(False).astype(bool)]
        return wrong.sort_values("confidence", ascending=False, kind="stable")

    def failures(self) -> pd.DataFrame:
        """The texts that could not be explained, with their error."""
        frame = self.to_dataframe()
        return frame.loc[frame["error"].notna(), ["id", "text", "label", "error"]]

    def accuracy(self) -> float | None:
        """The share of labelled, explained texts predicted correctly (None without labels)."""
        correct = self.to_dataframe()["correct"].dropna()
        return float(correct.mean()) if len(correct) else None

    def faithfulness(
        self,
        explainer: Explainer,
        *,
        metrics: Sequence[str] = ("comprehensiveness", "sufficiency"),
        k: Any = None,
        mode: str | None = None,
        target: int | str | None = None,
        confidence: float = 0.95,
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelHook | None = None,
    ) -> FaithfulnessSummary:
        """How faithful the corpus's explanations are: per-text values and means with intervals.

        Runs :func:`ig_widgets.metrics.faithfulness_summary` over every text that did not
        fail, a row group at a time (memory stays flat; only the values are kept). The
        corpus does not hold the model: pass the ``explainer`` that made it.

        Parameters
        ----------
        explainer : Explainer
            The explainer of the model the corpus was explained with.
        metrics, k, mode, target, confidence, progress, cancel
            As :func:`ig_widgets.metrics.faithfulness_summary` takes them (defaults:
            comprehensiveness and sufficiency at 20 %, words deleted, each text's predicted
            class, 95 % Student-t intervals).

        Returns
        -------
        FaithfulnessSummary
            ``summary["comprehensiveness"].mean`` …; ``.per_text()`` in the order of the
            texts that did not fail.
        """
        from ig_widgets.engine.metrics import faithfulness_summary

        done = len(self) - len(self.failures())
        return faithfulness_summary(
            (exp for _, exp in self.explanations()),
            explainer,
            metrics=metrics,
            k=k,
            mode=mode,  # type: ignore[arg-type]  # checked by the metrics
            target=target,
            confidence=confidence,
            progress=progress,
            cancel=cancel,
            total=done,
        )

    def compare(
        self,
        other: CorpusExplanation,
        *,
        target: int | str | None = None,
        names: tuple[str, str] | None = None,
        min_count: int = 5,
    ) -> CorpusComparison:
        """Compare this run with ``other`` over their shared texts (changes are other − self).

        See :func:`ig_widgets.engine.corpus.compare.compare_corpora` (``igw.compare_corpora``).
        """
        from ig_widgets.engine.corpus.compare import compare_corpora

        return compare_corpora(self, other, target=target, names=names, min_count=min_count)

    def word_importance(self, target: int | str, min_count: int = 5) -> pd.DataFrame:
        """What each word does for class ``target``, over the corpus.

        Words are grouped by :func:`word_key`: lower-cased, HTML tag fragments removed and
        surrounding punctuation stripped (``"Great!"`` and ``"great"`` are one word;
        ``don't`` keeps its apostrophe). Special tokens and words made only of punctuation
        are left out; a word's attribution is the sum over its tokens (markers included).

        Parameters
        ----------
        target : int or str
            The class (name or index).
        min_count : int
            Keep words seen at least this many times.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``word``, sorted by ``mean`` (largest first), with columns ``count``
            (occurrences), ``texts`` (texts holding it), ``mean`` and ``mean_abs`` (signed
            and absolute attribution per occurrence) and ``share_towards`` (of the texts
            holding it, the share where its attribution there is positive: it pushes
            towards ``target``).
        """
        c = class_index(self.classes, target)
        stats = self._word_stats()
        columns = ["count", "texts", f"sum{c}", f"abs{c}", f"towards{c}"]
        picked = stats.loc[stats["count"] >= min_count, columns]
        out = picked[["count", "texts"]].astype("int64")
        out["mean"] = picked[f"sum{c}"] / picked["count"]
        out["mean_abs"] = picked[f"abs{c}"] / picked["count"]
        out["share_towards"] = picked[f"towards{c}"] / picked["texts"]
        out.index.name = "word"
        return out.sort_values(["mean", "count"], ascending=[False, False], kind="stable")

    def _word_stats(self) -> pd.DataFrame:
        """Per word key: occurrences, texts, and per class the sums, |sums| and 'towards'."""
        import pandas as pd

        if self._importance is not None:
            return self._importance
        n_classes = len(self.classes)
        parts: list[pd.DataFrame] = []
        keys: list[str] = []
        texts: list[int] = []
        values: list[np.ndarray] = []

        def fold() -> None:
            if not keys:
                return
            scores = np.vstack(values)
            frame = pd.DataFrame(scores, columns=[f"sum{c}" for c in range(n_classes)])
            frame["key"], frame["text"], frame["count"] = keys, texts, 1
            for c in range(n_classes):
                frame[f"abs{c}"] = np.abs(scores[:, c])
            per_text = frame.groupby(["key", "text"], sort=False).sum()
            for c in range(n_classes):
                per_text[f"towards{c}"] = (per_text[f"sum{c}"] > 0).astype(np.int64)
            per_text["texts"] = 1
            parts.append(per_text.groupby(level="key", sort=False).sum())
            keys.clear()
            texts.clear()
            values.clear()

        for n, (_, exp) in enumerate(self.explanations()):
            words = exp.word_scores().T  # (n_words, n_classes)
            for w, word in enumerate(exp.words):
                key = "" if word.special else word_key(word.text)
                if key:
                    keys.append(key)
                    texts.append(n)
                    values.append(words[w])
            if len(keys) > 200_000:
                fold()
        fold()
        columns = ["count", "texts"] + [
            f"{kind}{c}" for kind in ("sum", "abs", "towards") for c in range(n_classes)
        ]
        if parts:
            stats = pd.concat(parts).groupby(level=0, sort=False).sum()[columns]
        else:
            stats = pd.DataFrame(columns=columns, dtype=np.float64)
        self._importance = stats
        return stats
