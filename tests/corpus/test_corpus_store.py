"""The results sink: Arrow tables (a Ray batch) are written as they come, beside Python rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, ResultWriter, explain_many


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.mark.parametrize("to_file", [True, False])
def test_tables_and_rows_share_row_groups(tmp_path: Path, to_file: bool) -> None:
    toy = igw.Explainer(toy_bundle("gru"))
    texts = [f"great fun {'and ' * k}a film" for k in range(7)]
    source = explain_many(toy, texts, n_steps=8, progress=False)
    store = source._store
    rows = store.group(0).to_pylist()
    out = tmp_path / "run.parquet" if to_file else None
    writer = ResultWriter(out, store.schema, flush_rows=4)
    assert writer.add(rows[0]) and not writer.add(rows[0])
    batch = pa.Table.from_pylist(rows[:5], schema=store.schema)  # row 0 is there already
    new = writer.add_table(batch)
    assert new.column("id").to_pylist() == [1, 2, 3, 4]  # flushed: 5 rows buffered ≥ 4
    assert writer.add_table(batch).num_rows == 0  # a retried batch adds nothing
    writer.add_table(pa.Table.from_pylist(rows[5:], schema=store.schema))
    result = CorpusExplanation(writer.close())
    assert result.ids == list(range(7))
    assert result.to_dataframe().equals(source.to_dataframe())
    assert result._store.num_groups == 2  # 5 rows, then the last 2 at close
    if out is not None:
        assert pq.ParquetFile(out).num_row_groups == 2
