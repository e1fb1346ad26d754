"""The Parquet results format: schema, ``FORMAT``, the row codec, older formats, atomic writes."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import Explanation, PathTrace, Word

#: the version of the file layout below (in the file's metadata). 2: a corpus run's settings
#: hold ``baseline_spec`` (the baseline as data) beside its description, and each row the
#: points its result rests on (``n_evaluated``) and computed (``n_computed``), and a language
#: model's target tokens (``target_tokens``, ``target_ids``)
FORMAT = 2
#: the formats this version reads (older ones are upgraded as they are read)
READABLE = (1, 2)
#: the key of the package's metadata in a Parquet file's schema
META_KEY = b"ig_widgets"
#: the file metadata key that says whether every input text was processed
COMPLETE_KEY = "ig_widgets.complete"

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
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
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
    ("n_evaluated", pa.int32()),
    ("n_computed", pa.int32()),
    ("target_tokens", pa.list_(pa.string())),
    ("target_ids", pa.list_(pa.int64())),
)
#: the Explanation fields a row holds; the file's metadata holds classes, output, model_name
ROW_FIELDS = frozenset(name for name, _ in COLUMNS) - {"order", "text", "label", "error"}
FILE_FIELDS = frozenset({"text", "classes", "output", "model_name"})


class RecordKinds(NamedTuple):
    """The classes :func:`decode` builds (passed in: this module imports no result class)."""

    explanation: type[Explanation]
    word: type[Word]
    path: type[PathTrace]


def schema(id_type: Literal["int", "str"], meta: dict[str, Any] | None = None) -> pa.Schema:
    """The Parquet schema of corpus results, ids of ``id_type``, ``meta`` as JSON metadata."""
    id_field = pa.field("id", pa.int64() if id_type == "int" else pa.string(), nullable=False)
    columns = [id_field, *(pa.field(name, kind) for name, kind in COLUMNS)]
    metadata = {META_KEY: json.dumps(meta).encode()} if meta is not None else None
    return pa.schema(columns, metadata=metadata)


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
        "n_evaluated": exp.n_evaluated,
        "n_computed": exp.n_computed,
        "target_tokens": list(exp.target_tokens),
        "target_ids": [int(i) for i in exp.target_ids],
        "path": None
        if path is None
        else {
            name: np.asarray(getattr(path, name), dtype=np.float64).tolist() for name in _PATH.names
        },
    }


def decode(row: dict[str, Any], meta: dict[str, Any], kinds: RecordKinds) -> Explanation:
    """The Explanation of a row written by :func:`encode` (file metadata ``meta``)."""
    path = row["path"]
    return kinds.explanation(
        text=row["text"],
        tokens=tuple(row["tokens"]),
        token_ids=tuple(row["token_ids"]),
        token_spans=tuple(None if s is None else (s[0], s[1]) for s in row["token_spans"]),
        special=tuple(row["special"]),
        oov=tuple(row["oov"]),
        words=tuple(kinds.word(**{**w, "tokens": tuple(w["tokens"])}) for w in row["words"]),
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
        else kinds.path(**{k: np.array(v, dtype=np.float64) for k, v in path.items()}),
        **_optional(row, kinds),
    )


def _optional(row: dict[str, Any], kinds: RecordKinds) -> dict[str, Any]:
    """The columns of Explanation fields that only some rows or formats have.

    Token models' ``position``/``token_labels``; language models' target tokens; the points
    counts, absent (None) in format 1.
    """
    have = {f.name for f in fields(kinds.explanation)}
    extra = {
        "position": row.get("position"),
        "token_labels": tuple(row.get("token_labels") or ()),
        "n_evaluated": row.get("n_evaluated"),
        "n_computed": row.get("n_computed"),
        "target_tokens": tuple(row.get("target_tokens") or ()),
        "target_ids": tuple(row.get("target_ids") or ()),
    }
    return {k: v for k, v in extra.items() if k in have}


def conform(table: pa.Table, target: pa.Schema) -> pa.Table:
    """``table`` (rows of an older format) in the ``target`` schema: new columns null, cast."""
    missing = [f for f in target if f.name not in table.column_names]
    for f in missing:
        table = table.append_column(f, pa.nulls(table.num_rows, type=f.type))
    return table.select(target.names).cast(target)


# ---------------------------------------------------------------------------- metadata
def file_meta(classes: Sequence[str], output: str, model_name: str, **extra: Any) -> dict:
    """The package's metadata of a results file in the current :data:`FORMAT`."""
    return {
        "format": FORMAT,
        "classes": list(classes),
        "output": output,
        "model_name": model_name,
        **extra,
    }


def _from_format_1(meta: dict[str, Any]) -> dict[str, Any]:
    """Format 1 → 2: the run's baseline was kept only in words; its spec is unknown (None)."""
    if "settings" in meta:
        meta = {**meta, "settings": {**meta["settings"], "baseline_spec": None}}
    return {**meta, "format": 2}


#: the upgrade of each older format's metadata to the next one (the rows are unchanged)
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_format_1}


def meta_of(schema_: pa.Schema, where: object) -> dict[str, Any]:
    """The package's metadata of a results file, upgraded to the current :data:`FORMAT`.

    ``read_format`` in the result holds the format the file was written in.
    """
    raw = (schema_.metadata or {}).get(META_KEY)
    if raw is None:
        raise ValueError(f"{where} holds no ig_widgets results (no {META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    written = meta.get("format")
    if written not in READABLE:
        raise ValueError(
            f"{where} has results in format {written}; this version reads formats "
            f"{', '.join(map(str, READABLE))}"
        )
    while meta["format"] != FORMAT:
        meta = _UPGRADES[meta["format"]](meta)
    return {**meta, "read_format": written}


def stored_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` as a file written now stores it (without what the reader added)."""
    return {k: v for k, v in meta.items() if k != "read_format"}


# ---------------------------------------------------------------------------- files
def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` to a temporary file beside ``path``, then move it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def save_explanation(exp: Explanation, path: str | os.PathLike[str]) -> None:
    """Write one Explanation to a Parquet file (exact; see :meth:`Explanation.save`)."""
    meta = file_meta(exp.classes, exp.output, exp.model_name, kind="explanation")
    row = {"id": 0, "order": 0, "text": exp.text, "label": None, "error": None, **encode(exp)}
    table = pa.Table.from_pylist([row], schema=schema("int", meta))
    atomic_write(Path(path), lambda target: pq.write_table(table, target))


def load_explanation(path: str | os.PathLike[str], kinds: RecordKinds) -> Explanation:
    """Read an Explanation written by :func:`save_explanation` (any readable format)."""
    table = pq.read_table(path)
    meta = meta_of(table.schema, path)
    if table.num_rows == 0:
        raise ValueError(f"{path} holds no explanation")
    if table.num_rows > 1:
        raise ValueError(
            f"{path} holds {table.num_rows} texts: read it with CorpusExplanation.load"
        )
    row = table.to_pylist()[0]
    if row["error"] is not None:
        raise ValueError(f"{path} holds a failed text: {row['error']}")
    return decode(row, meta, kinds)
