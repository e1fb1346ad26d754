"""Where a run's results go: a sink that writes Arrow tables as row groups, and their store."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ig_widgets.engine.fileformat import COMPLETE_KEY, atomic_write, conform, meta_of

#: rows buffered before they are written as one row group (also written after FLUSH_SECONDS)
FLUSH_ROWS = 32
FLUSH_SECONDS = 10.0


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


class Store:
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
        self.meta = meta_of(schema_, path or "the results")
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
    def open(cls, path: Path) -> Store:
        """The results file at ``path`` (``ValueError`` when it is none)."""
        try:
            schema_ = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ValueError(f"cannot read {path} as a Parquet file: {exc}") from exc
        return cls(schema_, path=path)

    @property
    def num_rows(self) -> int:
        """How many rows the results hold."""
        return int(self.starts[-1])

    @property
    def num_groups(self) -> int:
        """How many row groups the results hold."""
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
        """The columns ``names`` of every row, in file order."""
        if self._file is not None:
            return self._file.read(columns=list(names))
        assert self._tables is not None
        if not self._tables:
            return self.schema.empty_table().select(list(names))
        return pa.concat_tables([t.select(list(names)) for t in self._tables])

    def row(self, r: int) -> dict[str, Any]:
        """File row ``r`` as a dict of its columns."""
        g = int(np.searchsorted(self.starts, r, side="right") - 1)
        return self.group(g).slice(r - int(self.starts[g]), 1).to_pylist()[0]

    def write_to(self, path: Path) -> None:
        """A copy of the results as one Parquet file at ``path`` (atomically)."""
        if self.path is not None:
            if self.path.resolve() == path.resolve():
                return
            source = self.path
            atomic_write(path, lambda target: _copy_file(source, target))
            return

        def write(target: Path) -> None:
            with pq.ParquetWriter(target, self.schema) as writer:
                for table in self._tables or []:
                    writer.write_table(table)
                writer.add_key_value_metadata({COMPLETE_KEY: json.dumps(self.complete)})

        atomic_write(path, write)


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
        self._rows: list[dict[str, Any]] = []  # rows from Python (the local backend)
        self._pieces: list[pa.Table] = []  # Arrow tables as they came (the Ray backend)
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._tables: list[pa.Table] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self.resumed = 0
        if self.out is None:
            return
        if self.out.is_dir():
            raise IsADirectoryError(f"out={str(self.out)!r} is a folder; give a file name")
        old: Store | None = None
        if self.out.exists():
            if not resume and not overwrite:
                raise FileExistsError(
                    f"{self.out} exists: resume=True continues it, overwrite=True replaces it"
                )
            if resume:
                old = Store.open(self.out)
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
                table = conform(old.group(g), schema_)
                self.done.update(table.column("id").to_pylist())
                self._writer.write_table(table)
            self.resumed = old.num_rows

    def add(self, row: dict[str, Any]) -> bool:
        """Buffer one row; False (and nothing kept) when its id was written already."""
        if row["id"] in self.done:
            return False
        self.done.add(row["id"])
        self._rows.append(row)
        self._buffered += 1
        self._maybe_flush()
        return True

    def add_table(self, table: pa.Table) -> pa.Table:
        """Add the rows of an Arrow table of this schema (a Ray batch) as they are.

        Rows whose id was written already are dropped; only the id column is read in
        Python. Returns the rows that were new.
        """
        ids = table.column("id").to_pylist()
        new = [id_ not in self.done for id_ in ids]
        if not all(new):
            table = table.filter(pa.array(new, type=pa.bool_()))
        self.done.update(id_ for id_, fresh in zip(ids, new, strict=True) if fresh)
        if table.num_rows:
            self._pieces.append(table.select(self.schema.names).cast(self.schema))
            self._buffered += table.num_rows
            self._maybe_flush()
        return table

    def _maybe_flush(self) -> None:
        if (
            self._buffered >= self.flush_rows
            or time.monotonic() - self._last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one row group, and hand freed memory back to the OS."""
        self._last_flush = time.monotonic()
        if not self._buffered:
            return
        pieces = self._pieces
        if self._rows:
            pieces = [pa.Table.from_pylist(self._rows, schema=self.schema), *pieces]
        table = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        self._rows, self._pieces, self._buffered = [], [], 0
        if self._writer is not None:
            self._writer.write_table(table)
        else:
            self._tables.append(table.combine_chunks())
        release_memory()

    def close(self, complete: bool = True) -> Store:
        """Write what is buffered, finish the file and move it into place; the results.

        ``complete`` says whether every input text was processed (kept in the file).
        """
        self.flush()
        if self._writer is None:
            return Store(self.schema, tables=self._tables, complete=complete)
        assert self.out is not None and self._tmp is not None
        self._writer.add_key_value_metadata({COMPLETE_KEY: json.dumps(complete)})
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.out)
        return Store.open(self.out)

    def abandon(self) -> None:
        """Close after an error in the writer itself: the previous file stays as it was."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
