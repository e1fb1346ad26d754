"""Write small notebooks for the browser tests (code cells only, no outputs)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook whose code cells are ``cells`` and return its path."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
