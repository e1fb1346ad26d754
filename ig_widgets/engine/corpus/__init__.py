"""Integrated Gradients over a corpus: ``explain_many``, its Parquet results, CorpusExplanation.

The parts: :mod:`.inputs` (the run's settings and checked rows), :mod:`.work` (explaining
rows in this process), :mod:`.ray_backend` (on Ray Data actors), :mod:`.store` (the sink
that writes Arrow tables as row groups, and the store that reads them) and :mod:`.result`
(:class:`CorpusExplanation`) and :mod:`.compare` (two runs side by side,
:func:`compare_corpora`); the file format is :mod:`ig_widgets.engine.fileformat`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.baselines import Baseline
from ig_widgets.engine.core import CancelHook
from ig_widgets.engine.corpus.compare import CorpusComparison, compare_corpora
from ig_widgets.engine.corpus.inputs import (
    InputRow,
    RunSettings,
    corpus_baseline,
    input_rows,
    label_index,
    run_settings,
    same_run,
    weights_fingerprint,
)
from ig_widgets.engine.corpus.ray_backend import run_ray
from ig_widgets.engine.corpus.result import CorpusExplanation, word_key
from ig_widgets.engine.corpus.store import (
    FLUSH_ROWS,
    FLUSH_SECONDS,
    ResultWriter,
    Store,
    release_memory,
)
from ig_widgets.engine.corpus.work import (
    GROUP,
    WINDOW,
    Progress,
    ProgressBar,
    explain_row,
    explain_window,
    row_result,
    run_local,
)
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.fileformat import (
    COMPLETE_KEY,
    FILE_FIELDS,
    FORMAT,
    META_KEY,
    ROW_FIELDS,
    WORD_FIELDS,
    decode,
    encode,
    file_meta,
    schema,
)
from ig_widgets.engine.warnings import IGWidgetsWarning

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer

__all__ = [
    "BACKENDS",
    "COMPLETE_KEY",
    "FILE_FIELDS",
    "FLUSH_ROWS",
    "FLUSH_SECONDS",
    "FORMAT",
    "GROUP",
    "META_KEY",
    "ROW_FIELDS",
    "WINDOW",
    "WORD_FIELDS",
    "CorpusComparison",
    "CorpusExplanation",
    "InputRow",
    "ProgressBar",
    "ResultWriter",
    "RunSettings",
    "compare_corpora",
    "corpus_baseline",
    "decode",
    "encode",
    "explain_many",
    "explain_row",
    "explain_window",
    "input_rows",
    "label_index",
    "load_explanation",
    "release_memory",
    "row_result",
    "run_settings",
    "save_explanation",
    "schema",
    "weights_fingerprint",
    "word_key",
]

#: a backend: explains ``rows`` and hands each result to the writer; False when stopped
Backend = Callable[..., bool]
#: the backends of :func:`explain_many`, by name
BACKENDS: dict[str, Backend] = {"local": run_local, "ray": run_ray}
#: the store of results (the name the widgets' tests use)
_Store = Store


def explain_many(
    explainer: Explainer,
    texts: Iterable[Any],
    labels: Iterable[Any] | None = None,
    ids: Iterable[Any] | None = None,
    *,
    n_steps: int | str = 50,
    method: str | None = None,
    baseline: Baseline | str | None = None,
    tol: float = 0.01,
    max_steps: int = 512,
    max_tokens: int | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: Progress = True,
    cancel: CancelHook | None = None,
    backend: str = "local",
    **backend_options: Any,
) -> CorpusExplanation:
    """Integrated Gradients for every text of a corpus; see :meth:`Explainer.explain_many`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {backend!r}")
    if backend == "local" and backend_options:
        raise TypeError(f"unexpected options for the local backend: {sorted(backend_options)}")
    if isinstance(texts, str):
        raise TypeError("texts must be a list of texts, not one string (use explain for one)")
    if not explainer.classes:  # a language model without prompt=: classes change per text
        raise ValueError(
            "explain_many needs fixed classes, and a language model's are each prompt's top "
            "next tokens: make it a classifier with prompt='…{text}…' and labels={name: word}."
        )
    baseline = corpus_baseline(baseline, explainer)
    settings = run_settings(
        explainer,
        n_steps=n_steps,
        method=method,
        baseline=baseline,
        tol=tol,
        max_steps=max_steps,
        max_tokens=max_tokens,
    )
    rows, total, id_type = input_rows(texts, labels, ids, explainer.classes)
    meta = file_meta(
        explainer.classes,
        explainer.adapter.output,
        explainer.name,
        kind="corpus",
        settings=asdict(settings),
    )
    writer = ResultWriter(
        out,
        schema(id_type, meta),
        resume=resume,
        overwrite=overwrite,
        same_run=same_run(settings, explainer.classes),
        flush_rows=FLUSH_ROWS,
        flush_seconds=FLUSH_SECONDS,
    )
    pending = (row for row in rows if row.id not in writer.done)
    remaining = None if total is None else max(total - len(writer.done), 0)
    bar = ProgressBar(progress, remaining, initial=writer.resumed)
    try:
        run = BACKENDS[backend]
        complete = run(
            explainer, pending, settings, baseline, writer, bar, cancel, **backend_options
        )
    except BaseException:
        bar.close()
        try:
            writer.close(complete=False)  # what was finished is kept; the error goes on
        except Exception:
            writer.abandon()  # the writer itself failed: the previous file stays
        raise
    bar.close()
    corpus = CorpusExplanation(writer.close(complete=complete))
    if not complete:
        where = f" in {writer.out} (resume=True continues)" if writer.out is not None else ""
        warnings.warn(
            f"explain_many stopped: {bar.done} texts explained this run{where}",
            IGWidgetsWarning,
            stacklevel=3,
        )
    return corpus


def save_explanation(exp: Explanation, path: str | os.PathLike[str]) -> None:
    """Write one Explanation to a Parquet file (:meth:`Explanation.save`)."""
    exp.save(path)


def load_explanation(path: str | os.PathLike[str]) -> Explanation:
    """Read an Explanation written by :func:`save_explanation` (:meth:`Explanation.load`)."""
    return Explanation.load(path)
