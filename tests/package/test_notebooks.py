"""The lesson notebooks run top to bottom in a fresh kernel; every notebook is stored stripped."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from support.paths import REPO, SHARED_DATA

NOTEBOOKS = REPO / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
#: every notebook of the project: the lessons and those the browser tests open
STORED = PATHS + sorted((REPO / "tests" / "browser" / "notebooks").glob("*.ipynb"))
#: seconds one cell may take on a busy two-core machine before the run is declared stuck
CELL_TIMEOUT = int(os.environ.get("IGW_NOTEBOOK_CELL_TIMEOUT", "300"))
#: what a notebook that reads them names
DATA_FILES = re.compile(r"imdb_sample\.csv|rt-polarity")
#: terminal colour codes in IPython tracebacks
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.notebooks


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _kernel() -> KernelManager:
    """A manager for the ``python3`` kernel, checked to run this interpreter (the venv's)."""
    km = KernelManager(kernel_name="python3")
    command = km.format_kernel_cmd()
    if Path(command[0]).resolve() != Path(sys.executable).resolve():
        pytest.fail(
            f"The python3 kernel would run {command[0]}, not this interpreter {sys.executable}: "
            "install ipykernel into this environment so that its kernelspec is found first."
        )
    return km


def _failure(path: Path, exc: CellExecutionError, nb: nbformat.NotebookNode) -> str:
    """Which cell failed, its first lines and the error, for the test report."""
    for index, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            head = "\n    ".join(cell.source.splitlines()[:6])
            return ANSI.sub(
                "",
                f"{path.name}: cell {index} (id {cell.get('id')}) raised "
                f"{errors[0].ename}: {errors[0].evalue}\n    {head}\n\n{exc}",
            )
    return ANSI.sub("", f"{path.name}: {exc}")


@pytest.mark.skipif(not PATHS, reason="no notebooks in notebooks/")
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs(path: Path) -> None:
    nb = _read(path)
    if not SHARED_DATA.is_dir() and any(DATA_FILES.search(c.source) for c in nb.cells):
        pytest.skip(f"{path.name} reads the data sets in {SHARED_DATA}, which is absent")
    client = nbclient.NotebookClient(
        nb,
        km=_kernel(),
        timeout=CELL_TIMEOUT,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel runs in notebooks/
    )
    # One math thread per kernel: on a shared two-core machine, competing thread pools spin
    # and a notebook runs several times slower. A value set by the caller is kept.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    started = time.perf_counter()
    try:
        client.execute(env=env)
    except CellTimeoutError as exc:
        pytest.fail(f"{path.name}: a cell ran longer than {CELL_TIMEOUT} s\n{exc}")
    except CellExecutionError as exc:
        pytest.fail(_failure(path, exc, nb), pytrace=False)
    elapsed = time.perf_counter() - started
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "a code cell did not run"
    print(f"{path.name}: {len(code_cells)} code cells in {elapsed:.1f} s")


@pytest.mark.parametrize("path", STORED, ids=[str(p.relative_to(REPO)) for p in STORED])
def test_notebook_is_stored_stripped(path: Path) -> None:
    nb = _read(path)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; strip them"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata"
