"""Integrated Gradients over a corpus: ``explain_many``, its Parquet results, CorpusExplanation."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import re
import string
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence, Sized
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ig_widgets.engine.baselines import Baseline, parse_baseline
from ig_widgets.engine.core import CancelHook, Cancelled, is_cancelled
from ig_widgets.engine.explanation import Explanation, PathTrace, Word, class_index
from ig_widgets.engine.lockstep import explain_together
from ig_widgets.engine.quadrature import MAX_STEPS, Method, check_steps, parse_method

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.engine.metrics import FaithfulnessSummary

#: the version of the file layout below (in the file's metadata)
FORMAT = 1
#: the key of the package's metadata in a Parquet file's schema
META_KEY = b"ig_widgets"
#: the file metadata key that says whether every input text was processed
COMPLETE_KEY = "ig_widgets.complete"
#: rows buffered before they are written as one row group (also written after FLUSH_SECONDS)
FLUSH_ROWS = 32
FLUSH_SECONDS = 10.0
#: the backends of :func:`explain_many`
BACKENDS = ("local", "ray")

Progress = bool | Callable[[int, int], None]

_FLOATS = pa.list_(pa.float64())
_MATRIX = pa.list_(_FLOATS)
_WORD = pa.struct(
    [
        ("text", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("tokens", pa.list_(pa.int64())),
        ("special", pa.bool_()),
        ("oov", pa.bool_()),
    ]
)
#: the Word fields a word struct holds
WORD_FIELDS = frozenset(_WORD.names)
_PATH = pa.struct(
    [
        ("alphas", _FLOATS),
        ("weights", _FLOATS),
        ("f", _MATRIX),
        ("dfdalpha", _MATRIX),
        ("grad_norm", _MATRIX),
    ]
)
#: one row per text: where it came from, and its whole Explanation (null when it failed)
_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("order", pa.int64()),
    ("text", pa.string()),
    ("label", pa.int32()),
    ("error", pa.string()),
    ("predicted", pa.int32()),
    ("probs", _FLOATS),
    ("scores", _MATRIX),
    ("f_input", _FLOATS),
    ("f_baseline", _FLOATS),
    ("delta", _FLOATS),
    ("tokens", pa.list_(pa.string())),
    ("token_ids", pa.list_(pa.int64())),
    ("token_spans", pa.list_(pa.list_(pa.int64()))),
    ("special", pa.list_(pa.bool_())),
    ("oov", pa.list_(pa.bool_())),
    ("words", pa.list_(_WORD)),
    ("n_steps", pa.int32()),
    ("method", pa.string()),
    ("baseline", pa.string()),
    ("stage", pa.int32()),
    ("n_stages", pa.int32()),
    ("path", _PATH),
    ("position", pa.int32()),
    ("token_labels", pa.list_(pa.string())),
)
#: the Explanation fields a row holds; the file's metadata holds classes, output, model_name
ROW_FIELDS = frozenset(name for name, _ in _COLUMNS) - {"order", "text", "label", "error"}
FILE_FIELDS = frozenset({"text", "classes", "output", "model_name"})
#: the columns a summary (to_dataframe) reads
_SUMMARY = ("id", "order", "text", "label", "error", "predicted", "probs", "f_input")
_SUMMARY_LISTS = ("f_baseline", "delta")


def schema(id_type: Literal["int", "str"], meta: dict[str, Any] | None = None) -> pa.Schema:
    """The Parquet schema of corpus results, ids of ``id_type``, ``meta`` as JSON metadata."""
    id_field = pa.field("id", pa.int64() if id_type == "int" else pa.string(), nullable=False)
    fields = [id_field, *(pa.field(name, kind) for name, kind in _COLUMNS)]
    metadata = {META_KEY: json.dumps(meta).encode()} if meta is not None else None
    return pa.schema(fields, metadata=metadata)


# ---------------------------------------------------------------------------- one row
def encode(exp: Explanation) -> dict[str, Any]:
    """The row columns of an Explanation (lossless: float64 values, every field, the path)."""
    path = exp.path
    return {
        "predicted": int(exp.predicted),
        "probs": exp.probs.tolist(),
        "scores": exp.scores.tolist(),
        "f_input": exp.f_input.tolist(),
        "f_baseline": exp.f_baseline.tolist(),
        "delta": exp.delta.tolist(),
        "tokens": list(exp.tokens),
        "token_ids": [int(i) for i in exp.token_ids],
        "token_spans": [None if s is None else [int(s[0]), int(s[1])] for s in exp.token_spans],
        "special": [bool(s) for s in exp.special],
        "oov": [bool(s) for s in exp.oov],
        "words": [
            {
                "text": w.text,
                "start": int(w.start),
                "end": int(w.end),
                "tokens": [int(i) for i in w.tokens],
                "special": bool(w.special),
                "oov": bool(w.oov),
            }
            for w in exp.words
        ],
        "n_steps": int(exp.n_steps),
        "method": exp.method,
        "baseline": exp.baseline,
        "stage": int(exp.stage),
        "n_stages": int(exp.n_stages),
        "position": getattr(exp, "position", None),
        "token_labels": list(getattr(exp, "token_labels", ())),
        "path": None
        if path is None
        else {
            "alphas": np.asarray(path.alphas, dtype=np.float64).tolist(),
            "weights": np.asarray(path.weights, dtype=np.float64).tolist(),
            "f": np.asarray(path.f, dtype=np.float64).tolist(),
            "dfdalpha": np.asarray(path.dfdalpha, dtype=np.float64).tolist(),
            "grad_norm": np.asarray(path.grad_norm, dtype=np.float64).tolist(),
        },
    }


def decode(row: dict[str, Any], meta: dict[str, Any]) -> Explanation:
    """The Explanation of a row written by :func:`encode` (file metadata ``meta``)."""
    path = row["path"]
    return Explanation(
        text=row["text"],
        tokens=tuple(row["tokens"]),
        token_ids=tuple(row["token_ids"]),
        token_spans=tuple(None if s is None else (s[0], s[1]) for s in row["token_spans"]),
        special=tuple(row["special"]),
        oov=tuple(row["oov"]),
        words=tuple(Word(**{**w, "tokens": tuple(w["tokens"])}) for w in row["words"]),
        classes=tuple(meta["classes"]),
        probs=np.array(row["probs"], dtype=np.float64),
        predicted=row["predicted"],
        scores=np.array(row["scores"], dtype=np.float64).reshape(
            len(meta["classes"]), len(row["tokens"])
        ),
        f_input=np.array(row["f_input"], dtype=np.float64),
        f_baseline=np.array(row["f_baseline"], dtype=np.float64),
        delta=np.array(row["delta"], dtype=np.float64),
        n_steps=row["n_steps"],
        method=row["method"],
        baseline=row["baseline"],
        output=meta["output"],
        model_name=meta["model_name"],
        stage=row["stage"],
        n_stages=row["n_stages"],
        path=None
        if path is None
        else PathTrace(**{k: np.array(v, dtype=np.float64) for k, v in path.items()}),
        **_optional(row),
    )


def _optional(row: dict[str, Any]) -> dict[str, Any]:
    """The columns of Explanation fields that only some versions have (token models)."""
    have = {f.name for f in fields(Explanation)}
    extra = {"position": row.get("position"), "token_labels": tuple(row.get("token_labels") or ())}
    return {k: v for k, v in extra.items() if k in have}


def _meta_of(schema_: pa.Schema, where: object) -> dict[str, Any]:
    raw = (schema_.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError(f"{where} holds no ig_widgets results (no {META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(
            f"{where} has results in format {meta.get('format')}; this version reads {FORMAT}"
        )
    return meta


def _file_meta(classes: Sequence[str], output: str, model_name: str, **extra: Any) -> dict:
    return {
        "format": FORMAT,
        "classes": list(classes),
        "output": output,
        "model_name": model_name,
        **extra,
    }


def save_explanation(exp: Explanation, path: str | os.PathLike[str]) -> None:
    """Write one Explanation to a Parquet file (exact; see :meth:`Explanation.save`)."""
    meta = _file_meta(exp.classes, exp.output, exp.model_name, kind="explanation")
    row = {"id": 0, "order": 0, "text": exp.text, "label": None, "error": None, **encode(exp)}
    table = pa.Table.from_pylist([row], schema=schema("int", meta))
    _atomic_write(Path(path), lambda target: pq.write_table(table, target))


def load_explanation(path: str | os.PathLike[str]) -> Explanation:
    """Read an Explanation written by :func:`save_explanation` (or a corpus's first text)."""
    table = pq.read_table(path)
    meta = _meta_of(table.schema, path)
    if table.num_rows == 0:
        raise ValueError(f"{path} holds no explanation")
    if table.num_rows > 1:
        raise ValueError(
            f"{path} holds {table.num_rows} texts: read it with CorpusExplanation.load"
        )
    row = table.to_pylist()[0]
    if row["error"] is not None:
        raise ValueError(f"{path} holds a failed text: {row['error']}")
    return decode(row, meta)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` to a temporary file beside ``path``, then move it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Glibc's ``malloc_trim``, or None on other C libraries."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Return the heap's free memory to the OS (glibc only; elsewhere nothing happens).

    Texts of ever new lengths leave freed blocks of every size behind, and glibc keeps them:
    over 1,200 sentences a loop of ``explain`` grew by 120 MB that one ``malloc_trim`` gave
    back. Trimming after each row group (about 0.2 ms per text) keeps a long run flat.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def weights_fingerprint(module: Any) -> str:
    """A SHA-256 of a torch module's state (names, dtypes, shapes and bytes), in hex."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class RunSettings:
    """The settings every text of a run is explained with (stored with the results).

    Attributes
    ----------
    n_steps : int or "auto"
        Quadrature points, as in :meth:`Explainer.explain`.
    method : str
        The quadrature rule (resolved: never None).
    baseline : str
        The baseline, described in words (``Explanation.baseline``).
    tol, max_steps : float, int
        For ``n_steps="auto"``.
    max_tokens : int or None
        Texts with more tokens are recorded as errors, not explained.
    fingerprint : str
        :func:`weights_fingerprint` of the model (a resumed run must use the same weights).
    """

    n_steps: int | str
    method: str
    baseline: str
    tol: float
    max_steps: int
    max_tokens: int | None
    fingerprint: str

    def explain_options(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`Explainer.explain` (the baseline object aside)."""
        return {
            "n_steps": self.n_steps,
            "method": self.method,
            "tol": self.tol,
            "max_steps": self.max_steps,
        }


def run_settings(
    explainer: Explainer,
    *,
    n_steps: int | str,
    method: str | None,
    baseline: Baseline | str | None,
    tol: float,
    max_steps: int,
    max_tokens: int | None,
) -> RunSettings:
    """Validate a run's settings before any work (``ValueError``/``TypeError`` when bad)."""
    auto = n_steps == "auto"
    m = parse_method(method if method is not None else ("adaptive" if auto else "gausslegendre"))
    if auto:
        if not 0 < tol < 1:
            raise ValueError(f"tol must be between 0 and 1, got {tol}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int):
            raise TypeError(f"max_steps must be an int, got {max_steps!r}")
        if not 2 <= max_steps <= MAX_STEPS:
            raise ValueError(f"max_steps must be in [2, {MAX_STEPS}], got {max_steps}")
    elif isinstance(n_steps, str):
        raise ValueError(f"n_steps must be an integer or 'auto', got {n_steps!r}")
    else:
        n_steps = check_steps(n_steps, m)
        if m is Method.ADAPTIVE and n_steps < 5:
            raise ValueError(f"the adaptive rule needs n_steps of at least 5, got {n_steps}")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    described = parse_baseline(baseline, explainer.adapter).description
    return RunSettings(
        n_steps=n_steps,
        method=m.value,
        baseline=described,
        tol=float(tol),
        max_steps=int(max_steps),
        max_tokens=max_tokens,
        fingerprint=weights_fingerprint(explainer.adapter.network),
    )


# ---------------------------------------------------------------------------- input rows
@dataclass(frozen=True)
class InputRow:
    """One text to explain, checked.

    Attributes
    ----------
    order : int
        Its index in the input.
    id : int or str
        Its id (the key resume and the Ray backend write by).
    text : str or None
        The text, or None when the input was not a string.
    label : int or None
        The index of its label among the classes, or None when unknown or unlabelled.
    error : str or None
        Why it cannot be explained (no text, bad label), or None.
    """

    order: int
    id: int | str
    text: str | None
    label: int | None
    error: str | None

    def failed(self, error: str) -> dict[str, Any]:
        """The row of this text when it failed with ``error``."""
        return {**self.head(), "error": error}

    def head(self) -> dict[str, Any]:
        """The columns every row has (id, order, text, label, error)."""
        return {
            "id": self.id,
            "order": self.order,
            "text": self.text,
            "label": self.label,
            "error": self.error,
        }


def _missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT``: no value."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def label_index(value: Any, classes: Sequence[str]) -> int | None:
    """The class index of a label: a class name, an index (int or digits), or None/NaN.

    Raises
    ------
    ValueError
        For a name that is no class or an index out of range.
    """
    if _missing(value):
        return None
    names = list(classes)
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        if value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise ValueError(f"label {value!r} is not a class; the classes are {names}")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"label {value!r} is neither a class name nor a class index")
    if not 0 <= int(value) < len(names):
        raise ValueError(f"label index {int(value)} is out of range for the classes {names}")
    return int(value)


def _check_row(
    order: int, id_: int | str, text: Any, label: Any, classes: Sequence[str]
) -> InputRow:
    error = None
    if _missing(text):
        error, text = "no text (missing value)", None
    elif not isinstance(text, str):
        error, text = f"the text is a {type(text).__name__}, not a string", None
    elif not text.strip():
        error = "the text is empty"
    try:
        index = label_index(label, classes)
    except ValueError as exc:
        index, error = None, error or str(exc)
    return InputRow(order, id_, text, index, error)


def _normalise_ids(ids: Iterable[Any] | None, n: int | None) -> list[int] | list[str] | None:
    """Ids as Python ints or strs, checked unique; None keeps the input positions."""
    if ids is None:
        return None
    values = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    if n is not None and len(values) != n:
        raise ValueError(f"ids has {len(values)} entries for {n} texts")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        out: list[int] | list[str] = [int(v) for v in values]
    elif all(isinstance(v, str) for v in values):
        out = list(values)
    else:
        raise TypeError("ids must be all integers or all strings")
    if len(set(out)) != len(out):
        seen: set[Hashable] = set()
        twice = [v for v in out if v in seen or seen.add(v)][:5]  # type: ignore[func-returns-value]
        raise ValueError(f"ids must be unique; repeated: {twice}")
    return out


def _values(items: Any) -> Iterable[Any]:
    """A pandas Series' values (not its index), or the iterable itself."""
    return items.tolist() if hasattr(items, "tolist") and hasattr(items, "index") else items


def input_rows(
    texts: Iterable[Any],
    labels: Iterable[Any] | None,
    ids: Iterable[Any] | None,
    classes: Sequence[str],
) -> tuple[Iterator[InputRow], int | None, Literal["int", "str"]]:
    """The checked input rows (lazily), their number when known, and the id type."""
    n = len(texts) if isinstance(texts, Sized) else None
    id_list = _normalise_ids(ids, n)
    id_type: Literal["int", "str"] = (
        "str" if id_list is not None and id_list and isinstance(id_list[0], str) else "int"
    )
    n_labels = len(labels) if isinstance(labels, Sized) else None
    if n is not None and n_labels is not None and n_labels != n:
        raise ValueError(f"labels has {n_labels} entries for {n} texts")

    def rows() -> Iterator[InputRow]:
        label_iter = iter(_values(labels)) if labels is not None else None
        for order, text in enumerate(_values(texts)):
            label = next(label_iter, None) if label_iter is not None else None
            id_ = id_list[order] if id_list is not None else order
            yield _check_row(order, id_, text, label, classes)

    return rows(), n if id_list is None else len(id_list), id_type


def explain_row(explainer: Explainer, row: InputRow, settings: RunSettings, **options: Any) -> dict:
    """The row of one checked input: its Explanation's columns, or its error.

    Errors of the text (too long, unknown to the tokenizer, the model failing) are recorded
    in the row; :class:`Cancelled` and ``KeyboardInterrupt`` pass through.
    """
    if row.error is not None:
        return row.head()
    assert row.text is not None
    try:
        if settings.max_tokens is not None:
            n = len(explainer.tokenize(row.text))
            if n > settings.max_tokens:
                return row.failed(f"too long: {n} tokens (max_tokens={settings.max_tokens})")
        exp = explainer.explain(row.text, **settings.explain_options(), **options)
    except Cancelled:
        raise
    except Exception as exc:  # a bad row never stops the run
        return row_result(row, exc)
    return row_result(row, exp)


def row_result(row: InputRow, answer: Explanation | Exception) -> dict[str, Any]:
    """The row of an input and its explanation, or of the error its text raised."""
    if isinstance(answer, Exception):
        message = str(answer) if isinstance(answer, (ValueError, TypeError)) else repr(answer)
        return row.failed(" ".join(message.split()) or type(answer).__name__)
    return {**row.head(), **encode(answer)}


# ---------------------------------------------------------------------------- storage
class _Store:
    """Row groups of results with their metadata: a Parquet file, or tables in memory."""

    def __init__(
        self,
        schema_: pa.Schema,
        *,
        path: Path | None = None,
        tables: list[pa.Table] | None = None,
        complete: bool = True,
    ) -> None:
        self.schema = schema_
        self.meta = _meta_of(schema_, path or "the results")
        self.path = path
        self._tables = tables
        self._file = pq.ParquetFile(path) if path is not None else None
        self.complete = complete
        if self._file is not None:
            flag = (self._file.metadata.metadata or {}).get(COMPLETE_KEY.encode())
            self.complete = flag is None or json.loads(flag)
        sizes = (
            [self._file.metadata.row_group(g).num_rows for g in range(self._file.num_row_groups)]
            if self._file is not None
            else [t.num_rows for t in tables or []]
        )
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._cache: OrderedDict[int, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> _Store:
        try:
            schema_ = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ValueError(f"cannot read {path} as a Parquet file: {exc}") from exc
        return cls(schema_, path=path)

    @property
    def num_rows(self) -> int:
        return int(self.starts[-1])

    @property
    def num_groups(self) -> int:
        return len(self.starts) - 1

    def group(self, g: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Row group ``g`` (all columns are cached for the last two groups read)."""
        if columns is not None:
            if self._file is not None:
                return self._file.read_row_group(g, columns=list(columns))
            assert self._tables is not None
            return self._tables[g].select(list(columns))
        with self._lock:
            if g in self._cache:
                self._cache.move_to_end(g)
                return self._cache[g]
        if self._file is not None:
            table = self._file.read_row_group(g)
        else:
            assert self._tables is not None
            table = self._tables[g]
        with self._lock:
            self._cache[g] = table
            while len(self._cache) > 2:
                self._cache.popitem(last=False)
        return table

    def columns(self, names: Sequence[str]) -> pa.Table:
        if self._file is not None:
            return self._file.read(columns=list(names))
        assert self._tables is not None
        if not self._tables:
            return self.schema.empty_table().select(list(names))
        return pa.concat_tables([t.select(list(names)) for t in self._tables])

    def row(self, r: int) -> dict[str, Any]:
        g = int(np.searchsorted(self.starts, r, side="right") - 1)
        return self.group(g).slice(r - int(self.starts[g]), 1).to_pylist()[0]

    def write_to(self, path: Path) -> None:
        """A copy of the results as one Parquet file at ``path`` (atomically)."""
        if self.path is not None:
            if self.path.resolve() == path.resolve():
                return
            source = self.path
            _atomic_write(path, lambda target: _copy_file(source, target))
            return

        def write(target: Path) -> None:
            with pq.ParquetWriter(target, self.schema) as writer:
                for table in self._tables or []:
                    writer.write_table(table)
                writer.add_key_value_metadata({COMPLETE_KEY: json.dumps(self.complete)})

        _atomic_write(path, write)


def _copy_file(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


class ResultWriter:
    """Writes result rows as they come: row groups of a Parquet file, or tables in memory.

    The file is written under a temporary name beside ``out`` and moved into place by
    :meth:`close`, so ``out`` is always a valid file: the previous run's (on resume its row
    groups are copied first) until the run ends, stops or fails, then the new one. Rows are
    keyed by id: a row whose id was written already is dropped (resume; a retried task).
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None,
        schema_: pa.Schema,
        *,
        resume: bool = True,
        overwrite: bool = False,
        same_run: Callable[[dict[str, Any]], str | None] | None = None,
        flush_rows: int | None = None,
        flush_seconds: float | None = None,
    ) -> None:
        self.schema = schema_
        self.out = Path(out) if out is not None else None
        self.done: set[int | str] = set()
        self.flush_rows = max(1, int(flush_rows or FLUSH_ROWS))
        self.flush_seconds = float(flush_seconds or FLUSH_SECONDS)
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._tables: list[pa.Table] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self.resumed = 0
        if self.out is None:
            return
        if self.out.is_dir():
            raise IsADirectoryError(f"out={str(self.out)!r} is a folder; give a file name")
        old: _Store | None = None
        if self.out.exists():
            if not resume and not overwrite:
                raise FileExistsError(
                    f"{self.out} exists: resume=True continues it, overwrite=True replaces it"
                )
            if resume:
                old = _Store.open(self.out)
                problem = same_run(old.meta) if same_run is not None else None
                if problem:
                    raise ValueError(
                        f"{self.out} holds another run ({problem}): resume it with the same "
                        "settings, or write to another file"
                    )
                old_id = old.schema.field("id").type
                if old_id != schema_.field("id").type:
                    raise TypeError(f"{self.out} has ids of type {old_id}; these ids differ")
        self._tmp = self.out.with_name(f".{self.out.name}.partial")
        self._tmp.unlink(missing_ok=True)  # a run killed before it could move it into place
        self._writer = pq.ParquetWriter(self._tmp, schema_)
        if old is not None:
            for g in range(old.num_groups):
                table = old.group(g).cast(schema_)
                self.done.update(table.column("id").to_pylist())
                self._writer.write_table(table)
            self.resumed = old.num_rows

    def add(self, row: dict[str, Any]) -> bool:
        """Buffer one row; False (and nothing kept) when its id was written already."""
        if row["id"] in self.done:
            return False
        self.done.add(row["id"])
        self._buffer.append(row)
        if (
            len(self._buffer) >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()
        return True

    def add_table(self, table: pa.Table) -> int:
        """Add the rows of a table (e.g. a Ray batch); returns how many were new."""
        return sum(self.add(row) for row in table.to_pylist())

    def flush(self) -> None:
        """Write the buffered rows as one row group, and hand freed memory back to the OS."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer = []
        if self._writer is not None:
            self._writer.write_table(table)
        else:
            self._tables.append(table)
        release_memory()

    def close(self, complete: bool = True) -> _Store:
        """Write what is buffered, finish the file and move it into place; the results.

        ``complete`` says whether every input text was processed (kept in the file).
        """
        self.flush()
        if self._writer is None:
            return _Store(self.schema, tables=self._tables, complete=complete)
        assert self.out is not None and self._tmp is not None
        self._writer.add_key_value_metadata({COMPLETE_KEY: json.dumps(complete)})
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.out)
        return _Store.open(self.out)

    def abandon(self) -> None:
        """Close after an error in the writer itself: the previous file stays as it was."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the run
class ProgressBar:
    """A tqdm bar (the notebook flavour in Jupyter) and/or a ``progress(done, total)`` hook."""

    def __init__(self, progress: Progress, total: int | None, initial: int = 0) -> None:
        from tqdm.auto import tqdm

        self.hook = progress if callable(progress) else None
        self.total = total
        self.done = 0
        self.failed = 0
        self.bar = tqdm(
            total=total,
            unit="text",
            desc=f"explain_many ({initial} done before)" if initial else "explain_many",
            disable=progress is not True,
            dynamic_ncols=True,
        )

    def update(self, n: int, failed: int = 0) -> None:
        """``n`` more texts finished, ``failed`` of them with an error."""
        self.done += n
        self.failed += failed
        if failed:
            self.bar.set_postfix(errors=self.failed, refresh=False)
        self.bar.update(n)
        if self.hook is not None:
            self.hook(self.done, self.total if self.total is not None else -1)

    def close(self) -> None:
        """Close the bar (it stays on screen)."""
        self.bar.close()


def _same_run(settings: RunSettings, explainer: Explainer) -> Callable[[dict], str | None]:
    """A check that an existing file's run matches these settings: None, or what differs."""

    def check(meta: dict[str, Any]) -> str | None:
        if meta.get("kind") != "corpus":
            return "it holds a single explanation"
        if list(meta["classes"]) != list(explainer.classes):
            return f"classes {meta['classes']}, not {list(explainer.classes)}"
        old = meta.get("settings", {})
        mine = asdict(settings)
        changed = [k for k in mine if old.get(k) != mine[k]]
        if changed:
            return ", ".join(f"{k} {old.get(k)!r} → {mine[k]!r}" for k in changed)
        return None

    return check


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
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "local" and backend_options:
        raise TypeError(f"unexpected options for the local backend: {sorted(backend_options)}")
    if isinstance(texts, str):
        raise TypeError("texts must be a list of texts, not one string (use explain for one)")
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
    meta = _file_meta(
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
        same_run=_same_run(settings, explainer),
    )
    pending = (row for row in rows if row.id not in writer.done)
    remaining = None if total is None else max(total - len(writer.done), 0)
    bar = ProgressBar(progress, remaining, initial=writer.resumed)
    try:
        if backend == "ray":
            from ig_widgets.engine.corpus_ray import run_ray

            complete = run_ray(
                explainer, pending, settings, baseline, writer, bar, cancel, **backend_options
            )
        else:
            complete = _run_local(explainer, pending, settings, baseline, writer, bar, cancel)
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
            _warning(),
            stacklevel=3,
        )
    return corpus


def _warning() -> type[Warning]:
    from ig_widgets import IGWidgetsWarning

    return IGWidgetsWarning


#: rows read ahead and sorted by token length, so that nearly equal lengths run together
WINDOW = 32
#: texts explained in lockstep (:func:`ig_widgets.engine.lockstep.explain_together`)
GROUP = 8


def _run_local(
    explainer: Explainer,
    rows: Iterator[InputRow],
    settings: RunSettings,
    baseline: Baseline | str | None,
    writer: ResultWriter,
    bar: ProgressBar,
    cancel: CancelHook | None,
) -> bool:
    """Explain the rows in this process; False when cancelled or interrupted.

    When the model allows padding at the end (``padding_room()``: the AWD-LSTM), rows are
    read :data:`WINDOW` at a time, sorted by length, and explained up to :data:`GROUP` at a
    time in lockstep, so that the adaptive rule's rounds of one or two points share a batch.
    A batch of one text's points costs far more per point than of five (65 and 33 µs per
    point and token), while batches of 8 or more gain nothing, so only small rounds are
    shared. Other models' texts are explained one by one.
    """

    def done(result: dict[str, Any]) -> None:
        writer.add(result)
        bar.update(1, failed=result["error"] is not None)

    size = WINDOW if explainer.adapter.padding_room() else 1
    options = {"baseline": baseline, "cancel": cancel}
    try:
        window: list[InputRow] = []
        for row in rows:
            if is_cancelled(cancel):
                return False
            window.append(row)
            if len(window) == size:
                explain_window(explainer, window, settings, done, **options)
                window = []
        if window:
            explain_window(explainer, window, settings, done, **options)
    except (Cancelled, KeyboardInterrupt):
        return False
    return True


def explain_window(
    explainer: Explainer,
    window: list[InputRow],
    settings: RunSettings,
    done: Callable[[dict[str, Any]], None],
    **options: Any,
) -> None:
    """Explain ``window``'s rows, handing each row's result to ``done`` once it is finished.

    Where the adapter allows padding, texts are sorted by length, and groups of up to
    :data:`GROUP` within its ``padding_room()`` run in lockstep
    (:func:`~ig_widgets.engine.lockstep.explain_together`); otherwise one by one.
    """
    room = explainer.adapter.padding_room()
    if not room:
        for row in window:
            done(explain_row(explainer, row, settings, **options))
        return
    sized: list[tuple[int, InputRow]] = []
    for row in window:
        n = None
        if row.error is None:
            assert row.text is not None
            with contextlib.suppress(Exception):  # explain_row records the text's error
                n = len(explainer.tokenize(row.text))
        if n is None or (settings.max_tokens is not None and n > settings.max_tokens):
            done(explain_row(explainer, row, settings, **options))
        else:
            sized.append((n, row))
    sized.sort(key=lambda pair: pair[0])
    start = 0
    while start < len(sized):
        end = start + 1
        while end < len(sized) and end - start < GROUP and sized[end][0] - sized[start][0] <= room:
            end += 1
        group = [row for _, row in sized[start:end]]
        texts = [row.text for row in group if row.text is not None]
        assert len(texts) == len(group)  # rows without a text carry their error
        answers = explain_together(explainer, texts, **settings.explain_options(), **options)
        for row, answer in zip(group, answers, strict=True):
            done(row_result(row, answer))
        start = end


# ---------------------------------------------------------------------------- the result
#: quotes, dashes and ellipses stripped from a word's ends besides ASCII punctuation
_PUNCTUATION = string.punctuation + "“”‘’«»…–—"
#: HTML tag fragments left in whitespace-separated words (``<br />`` in IMDB reviews)
_TAG = re.compile(r"<[^>\s]*>?|^[^<\s]*/?>")


def word_key(text: str) -> str:
    """How :meth:`CorpusExplanation.word_importance` groups words.

    Lower-cased, HTML tag fragments (``<br``, ``/>``) removed and the punctuation around the
    word stripped; punctuation inside a word stays (``don't``, ``well-made``). ``""`` for a
    word made only of punctuation.
    """
    return _TAG.sub("", text).strip(_PUNCTUATION + string.whitespace).lower()


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

    def __init__(self, store: _Store) -> None:
        self._store = store
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
        store = _Store.open(Path(path))
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
        return decode(row, self._store.meta)

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
                    yield row["id"], decode(row, meta)

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
        lengths = pa.compute.list_value_length(table.column("tokens")).to_numpy(
            zero_copy_only=False
        )

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
