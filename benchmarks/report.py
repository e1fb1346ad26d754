"""The corpus report's size and open time: 1,000 texts in one HTML file, opened in Chromium.

Run: ``.venv/bin/python benchmarks/report.py [--opens 7] [--work DIR] [--json out.json]``.
Needs ``../shared/data`` beside the project (rt-polarity.*, imdb_sample.csv) and the Debian
chromium. Targets (issue 19): a report of 1,000 texts is at most 5 MB and opens in Chromium in
at most 2 s on this machine.

Four reports, each of 1,000 texts explained by the demo CNN at 8 Gauss-Legendre steps (the
report's size follows the number of words, not the steps):

- ``sentences``: 1,000 rt-polarity sentences (500 of each polarity, ~21 words each), one run;
- ``sentences-compare``: the same sentences, the CNN with its default baseline against the
  CNN with the zero baseline (two baselines of one model; a second model would only make the
  benchmark slower: the report holds the same words and numbers per text either way);
- ``reviews``: the 1,000 imdb_sample reviews (~230 words each), one run;
- ``reviews-compare``: the reviews, the two baselines as for the sentences.

Open time: a fresh page (its own browser context, nothing cached) goes to the file and waits
until the report has drawn its table (``#igw-report[data-ready=true]``), measured from
Python around ``goto``: the Playwright round trips are included, so the figure is an upper
bound. The median and the range of ``--opens`` opens are printed, then the time from a click
on the first row to its chips. The runs are kept in ``--work`` (default
``artifacts/bench_report``) and reused by the next call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from benchmarks.run import DATA  # noqa: E402

N_TEXTS = 1000
N_STEPS = 8


def sentences() -> list[str]:
    texts = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        path = DATA / name
        if not path.exists():
            sys.exit(f"benchmark needs {path} (the shared data beside the project)")
        lines = path.read_text(encoding="latin-1").splitlines()
        texts += [line.strip() for line in lines if line.strip()][: N_TEXTS // 2]
    return texts


def reviews() -> list[str]:
    import pandas as pd

    path = DATA / "imdb_sample.csv"
    if not path.exists():
        sys.exit(f"benchmark needs {path} (the shared data beside the project)")
    return pd.read_csv(path)["text"].astype(str).tolist()[:N_TEXTS]


def explained(work: Path, name: str, model: str, texts: list[str], baseline: Any = None) -> Any:
    """A run of ``texts`` kept at ``work/name.parquet`` (explained once, then reused)."""
    import ig_widgets as igw
    from ig_widgets.engine.corpus import CorpusExplanation

    path = work / f"{name}.parquet"
    if path.exists():
        run = CorpusExplanation.load(path)
        if run.complete and len(run) == len(texts):
            return run
    started = time.perf_counter()
    explainer = igw.Explainer(igw.load_demo_model(model))
    run = explainer.explain_many(  # resumes a run an earlier call left unfinished
        texts, n_steps=N_STEPS, baseline=baseline, out=path, resume=True, progress=False
    )
    if not run.complete:
        sys.exit(f"  {name} stopped before the end: run the benchmark again to resume it")
    print(f"  explained {name}: {len(texts)} texts in {time.perf_counter() - started:.0f} s")
    return run


def open_times(path: Path, opens: int) -> tuple[list[float], float]:
    """Seconds from ``goto`` to the drawn table, per fresh page; then a row click's seconds."""
    from playwright.sync_api import sync_playwright

    from tests.browser.pages import launch_chromium

    times, click = [], float("nan")
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            for i in range(opens):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(path.as_uri())
                page.wait_for_selector("#igw-report[data-ready=true]", timeout=60_000)
                times.append(time.perf_counter() - started)
                if i == opens - 1:
                    started = time.perf_counter()
                    page.locator("tr.igw-report-row").first.click()
                    page.wait_for_selector(".igw-report-detail .igw-chip", timeout=60_000)
                    click = time.perf_counter() - started
                context.close()
        finally:
            browser.close()
    return times, click


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=7, help="opens per report (default 7)")
    parser.add_argument("--work", type=Path, default=ROOT / "artifacts" / "bench_report")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--only", default="", help="comma-separated report names")
    args = parser.parse_args()
    import torch

    import ig_widgets as igw
    from ig_widgets.engine.baselines import ZeroBaseline

    torch.set_num_threads(2)
    args.work.mkdir(parents=True, exist_ok=True)
    short, long = sentences(), reviews()
    plans = {
        "sentences": lambda: (explained(args.work, "sentences_cnn", "cnn", short),),
        "sentences-compare": lambda: (
            explained(args.work, "sentences_cnn", "cnn", short),
            explained(args.work, "sentences_cnn_zero", "cnn", short, ZeroBaseline()),
        ),
        "reviews": lambda: (explained(args.work, "reviews_cnn", "cnn", long),),
        "reviews-compare": lambda: (
            explained(args.work, "reviews_cnn", "cnn", long),
            explained(args.work, "reviews_cnn_zero", "cnn", long, ZeroBaseline()),
        ),
    }
    wanted = [n for n in args.only.split(",") if n] or list(plans)
    figures: dict[str, dict[str, float]] = {}
    print(f"command: {' '.join(sys.argv)}")
    for name in wanted:
        runs = plans[name]()
        started = time.perf_counter()
        path = args.work / f"{name}.html"
        igw.corpus_report(*runs, path=path)
        build = time.perf_counter() - started
        size = path.stat().st_size / 1e6
        times, click = open_times(path, args.opens)
        figures[name] = {
            "texts": len(runs[0]),
            "mb": round(size, 3),
            "build_s": round(build, 2),
            "open_median_s": round(statistics.median(times), 3),
            "open_min_s": round(min(times), 3),
            "open_max_s": round(max(times), 3),
            "click_s": round(click, 3),
        }
        f = figures[name]
        print(
            f"{name:18s} {f['texts']} texts  {f['mb']:.2f} MB (target <= 5)  open median "
            f"{f['open_median_s']:.3f} s [{f['open_min_s']:.3f}-{f['open_max_s']:.3f}] over "
            f"{args.opens} opens (target <= 2)  row click {f['click_s']:.3f} s  "
            f"built in {f['build_s']:.1f} s"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
