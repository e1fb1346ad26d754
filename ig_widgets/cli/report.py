"""The ``report`` sub-command: one offline HTML file of a corpus run, or of two runs compared."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ig_widgets.cli.dataset import positive
from ig_widgets.views.normalize import PALETTES

if TYPE_CHECKING:
    from ig_widgets.engine.corpus import CorpusExplanation

#: the exit code of a report that could not be written
EXIT_IO = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    report = commands.add_parser(
        "report",
        help="write a self-contained HTML report of an explain-dataset run (or of two runs)",
        description="Write one HTML file that opens offline in any browser: the run's texts "
        "as a sortable, filterable table, the words that drive each class, and a text's "
        "chips on a click. With two runs of the same texts (two models, two versions), the "
        "report compares them: both predictions and their change, a 'disagree' filter, the "
        "two texts' chips on one scale and the words whose mean attribution changed most.",
    )
    report.add_argument("run", type=Path, help="a Parquet file of explain-dataset or explain_many")
    report.add_argument(
        "run_b", type=Path, nargs="?", default=None, help="a second run of the same texts"
    )
    report.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    report.add_argument(
        "--target",
        default=None,
        help="the class the chips explain (default: each text's predicted class; with two "
        "runs, the compared class: default the last class, e.g. positive)",
    )
    report.add_argument(
        "--names", nargs=2, metavar=("A", "B"), default=None, help="what to call the two runs"
    )
    report.add_argument(
        "--min-count",
        type=positive,
        default=5,
        help="words seen fewer times are left out of the word chart (default 5)",
    )
    report.add_argument("--palette", default="default", choices=tuple(PALETTES))
    report.add_argument("--title", default=None, help="the page's heading")


def _load(path: Path) -> CorpusExplanation:
    """A run from its Parquet file; a clear ``ValueError`` when there is none to read."""
    from ig_widgets.engine.corpus import CorpusExplanation

    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    try:
        return CorpusExplanation.load(path)
    except (OSError, KeyError) as error:  # not Parquet, or Parquet without a run in it
        raise ValueError(f"{path} is not a run of explain-dataset: {error}") from None


def _target(value: str | None, classes: tuple[str, ...]) -> int | str | None:
    """A class name, or an index typed as digits when no class has that name."""
    if value is None or value in classes or not value.lstrip("-").isdigit():
        return value
    return int(value)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``report``: write the page and say where it is (exit 1 when it cannot be written)."""
    from ig_widgets.views.report import corpus_report

    first = _load(args.run)
    second = None if args.run_b is None else _load(args.run_b)
    if args.names is not None and second is None:
        raise ValueError("--names names the two runs of a comparison: give a second run")
    page = corpus_report(
        first,
        second,
        target=_target(args.target, first.classes),
        names=None if args.names is None else (args.names[0], args.names[1]),
        min_count=args.min_count,
        palette=args.palette,
        title=args.title,
    )
    try:
        args.out.write_text(page, encoding="utf-8")
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=err)
        return EXIT_IO
    what = f"{len(first)} texts" if second is None else f"{len(first)} and {len(second)} texts"
    out.write(f"report of {what}: {args.out} ({len(page.encode('utf-8')) / 1e6:.2f} MB)\n")
    return 0
