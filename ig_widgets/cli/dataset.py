"""The ``explain-dataset`` sub-command: explain every text of a table into a Parquet file."""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ig_widgets.engine.warnings import IGWidgetsWarning
from ig_widgets.views.normalize import score_format

if TYPE_CHECKING:
    import pandas as pd

    from ig_widgets.engine.corpus import CorpusExplanation
    from ig_widgets.engine.explainer import Explainer

#: a word must be used this often to be listed in the explain-dataset summary
MIN_COUNT = 5
#: the exit code of a run that stopped before the end (Ctrl-C): run it again to resume
EXIT_INTERRUPTED = 130
#: what ``--baseline [neutral]`` costs a run, measured by benchmarks/corpus_neutral.py
NEUTRAL_COST = "1.6-3.6× the time on IMDb reviews: 30 tokens re-ranked per distinct length"


def positive(value: str) -> int:
    """An ``argparse`` type: a positive integer."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def add_parser(
    commands: argparse._SubParsersAction,
    add_ig_options: Callable[[argparse.ArgumentParser, int | str], None],
) -> None:
    """Add the ``explain-dataset`` sub-command (``add_ig_options`` adds ``--steps`` …)."""
    dataset = commands.add_parser(
        "explain-dataset",
        help="explain every text of a CSV (or Parquet) file into a Parquet file",
        description="Explain every text of a table with a bundled demo model, writing each "
        "text's whole explanation to a Parquet file as it goes (an interrupted run resumes "
        "where it stopped), then print a short summary: accuracy, the words that drive each "
        "class and the texts whose attributions add up worst.",
    )
    dataset.add_argument("data", type=Path, help="a .csv, .tsv, .parquet or .jsonl file")
    dataset.add_argument("--text-column", required=True, help="the column holding the texts")
    dataset.add_argument("--label-column", default=None, help="the true labels (names or indices)")
    dataset.add_argument("--id-column", default=None, help="unique ids (default: row numbers)")
    dataset.add_argument("--model", default=None, help="bundled demo model (see 'models')")
    dataset.add_argument("--out", type=Path, required=True, help="the Parquet file to write")
    add_ig_options(dataset, "auto")
    dataset.add_argument(
        "--baseline",
        default=None,
        help="a vocabulary token, or [neutral] (each text's most neutral frequent token at its "
        f"length; {NEUTRAL_COST}), [default], [zero], [average], [uncertain] (default: the "
        "model's own token)",
    )
    dataset.add_argument(
        "--max-tokens", type=positive, default=None, help="record longer texts as errors"
    )
    dataset.add_argument("--limit", type=positive, default=None, help="only the first N rows")
    dataset.add_argument("--backend", default="local", choices=("local", "ray"))
    dataset.add_argument("--address", default=None, help="a Ray cluster to join (--backend ray)")
    dataset.add_argument(
        "--actors", type=positive, default=2, help="Ray actors (--backend ray, default 2)"
    )
    dataset.add_argument(
        "--restart", action="store_true", help="replace --out instead of resuming it"
    )
    dataset.add_argument(
        "--top", type=positive, default=8, help="words per class in the summary (default 8)"
    )


def read_table(path: Path) -> pd.DataFrame:
    """A data file as a DataFrame, by its suffix (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``)."""
    import pandas as pd

    readers = {
        ".csv": pd.read_csv,
        ".tsv": lambda p: pd.read_csv(p, sep="\t"),
        ".parquet": pd.read_parquet,
        ".jsonl": lambda p: pd.read_json(p, lines=True),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"cannot read {path}: use a {', '.join(readers)} file")
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return reader(path)


def _column(frame: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise ValueError(f"the {what} column {name!r} is not in the file; its columns: {columns}")
    return frame[name]


def summary(corpus: CorpusExplanation, top: int = 8, seconds: float | None = None) -> str:
    """The closing report of ``explain-dataset``: counts, accuracy, words per class, deltas."""
    frame = corpus.to_dataframe()
    failed = int(frame["error"].notna().sum())
    where = f" → {corpus.path}" if corpus.path is not None else ""
    rate = f" in {seconds:.1f} s" if seconds else ""
    lines = [f"{len(frame)} texts{rate}{where}; {failed} could not be explained"]
    if not corpus.complete:
        lines.append("stopped before the end: run the same command again to resume")
    accuracy = corpus.accuracy()
    if accuracy is not None:
        labelled = int(frame["correct"].notna().sum())
        lines.append(f"accuracy {accuracy:.3f} ({labelled} labelled texts)")
    if failed < len(frame):
        lines.append(f"words that push towards each class (mean attribution, >= {MIN_COUNT} uses):")
        for name in corpus.classes:
            means = corpus.word_importance(name, min_count=MIN_COUNT)["mean"].head(top)
            number = score_format(means.to_numpy())
            shown = ", ".join(f"{w} {number.format(m)}" for w, m in means.items())
            lines.append(f"  {name}: {shown or '(no word used often enough)'}")
        worst = frame.dropna(subset=["delta_share"]).nlargest(min(top, 5), "delta_share")
        cells = ", ".join(
            f"{i!r} {s:.1%}" for i, s in zip(worst["id"], worst["delta_share"], strict=True)
        )
        lines.append(f"worst completeness (|delta| / |F(input) - F(baseline)|): {cells}")
    lines.append(baseline_line(corpus.settings))
    return "\n".join(lines) + "\n"


def baseline_line(settings: dict[str, Any]) -> str:
    """The summary's last line: the run's baseline, and how to ask for ``[neutral]``."""
    described = settings.get("baseline", "?")
    if (settings.get("baseline_spec") or {}).get("kind") == "neutral":
        return f"baseline {described} (each text's own is in its row)"
    ask = f"for each text's most neutral token: --baseline [neutral] ({NEUTRAL_COST})"
    return f"baseline {described}; {ask}"


def run(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    explainer_for: Callable[[str | None, TextIO], Explainer],
) -> int:
    """Run ``explain-dataset``; the exit code (130 when the run stopped before the end).

    ``explainer_for(model_name, err)`` gives the explainer of the chosen demo model.
    """
    frame = read_table(args.data)
    texts = _column(frame, args.text_column, "text")
    labels = None if args.label_column is None else _column(frame, args.label_column, "label")
    ids = None if args.id_column is None else _column(frame, args.id_column, "id")
    if args.limit is not None:
        texts = texts.iloc[: args.limit]
        labels, ids = (c.iloc[: args.limit] if c is not None else None for c in (labels, ids))
    from ig_widgets.engine.corpus import explain_many

    explainer = explainer_for(args.model, err)
    options: dict[str, Any] = {}
    if args.backend == "ray":
        options = {"address": args.address, "num_actors": args.actors}
    started = time.perf_counter()
    with warnings.catch_warnings():  # an interrupted run is reported below, not as a warning
        warnings.filterwarnings("ignore", message="explain_many stopped", category=IGWidgetsWarning)
        corpus = explain_many(
            explainer,
            texts,
            labels,
            ids,
            **args.options.as_kwargs(),
            baseline=args.baseline,
            max_tokens=args.max_tokens,
            out=args.out,
            resume=not args.restart,
            overwrite=args.restart,
            backend=args.backend,
            **options,
        )
    out.write(summary(corpus, args.top, time.perf_counter() - started))
    return 0 if corpus.complete else EXIT_INTERRUPTED
