"""``python -m ig_widgets explain-dataset``: writes the Parquet file, resumes, sums up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from support.fastai_models import SENTENCES, toy_learner

import ig_widgets as igw
from ig_widgets.__main__ import main
from ig_widgets.cli.dataset import NEUTRAL_COST
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.engine.neutral import neutral_token_at
from ig_widgets.models import demo
from ig_widgets.views.normalize import score_format


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI's demo model replaced by the tests' small untrained fastai Learner."""
    learner = toy_learner()
    monkeypatch.setattr(demo, "load_demo_model", lambda name=None: learner)
    return learner


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    frame = pd.DataFrame(SENTENCES, columns=["review", "sentiment"])
    frame["key"] = [f"r{i}" for i in range(len(frame))]
    frame.loc[len(frame)] = ["", "negative", "empty"]
    frame.to_csv(path, index=False)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_writes_parquet_and_sums_up(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.parquet"
    argv = [
        "explain-dataset", str(reviews), "--text-column", "review", "--label-column",
        "sentiment", "--id-column", "key", "--out", str(out), "--steps", "8", "--top", "3",
    ]  # fmt: skip
    code, printed, err = run(argv, capsys)
    assert code == 0, err
    corpus = CorpusExplanation.load(out)
    assert len(corpus) == 13 and corpus.ids[0] == "r0" and corpus.settings["n_steps"] == 8
    lines = printed.splitlines()
    assert lines[0].startswith("13 texts in ") and lines[0].endswith(
        f"→ {out}; 1 could not be explained"
    )
    accuracy = corpus.accuracy()
    assert accuracy is not None and f"accuracy {accuracy:.3f} (12 labelled texts)" in lines
    assert lines[2] == "words that push towards each class (mean attribution, >= 5 uses):"
    top = corpus.word_importance("positive", min_count=5)["mean"].head(3)
    number = score_format(top.to_numpy())
    assert lines[4] == "  positive: " + ", ".join(f"{w} {number.format(m)}" for w, m in top.items())
    assert lines[5].startswith("worst completeness (|delta| / |F(input) - F(baseline)|): 'r")
    assert "explain_many" in err  # the progress bar


def test_resumes_an_earlier_run(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.parquet"
    base = ["explain-dataset", str(reviews), "--text-column", "review", "--out", str(out),
            "--steps", "8"]  # fmt: skip
    assert run([*base, "--limit", "5"], capsys)[0] == 0
    assert pq.read_table(out).num_rows == 5
    code, _, err = run(base, capsys)
    assert code == 0
    assert "5 done before" in err and "8/8" in err  # only the 8 missing rows ran
    assert CorpusExplanation.load(out).ids == list(range(13))
    code, _, err = run([*base, "--steps", "16"], capsys)
    assert code == 2 and err.startswith("error: ") and "n_steps 8 → 16" in err
    assert run([*base, "--steps", "16", "--restart", "--limit", "2"], capsys)[0] == 0
    assert CorpusExplanation.load(out).ids == [0, 1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--text-column", "body"], "the text column 'body' is not in the file; its columns: "
         "review, sentiment, key"),
        (["--text-column", "review", "--label-column", "stars"], "the label column 'stars'"),
        (["--text-column", "review", "--steps", "0"], "n_steps must be between 1 and"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(
    toy: Any,
    reviews: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    code, _, err = run(
        ["explain-dataset", str(reviews), "--out", str(tmp_path / "x.parquet"), *extra], capsys
    )
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain-dataset", "data.xlsx", "--text-column", "t", "--out", "o.parquet"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "cannot read data.xlsx: use a .csv, .tsv, .parquet, .jsonl file" in err
    code, _, err = run(["explain-dataset", str(tmp_path / "none.csv"), "--text-column", "t",
                        "--out", "o.parquet"], capsys)  # fmt: skip
    assert code == 2 and "no such file" in err


def test_real_entry_point_on_the_demo_model(reviews: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "ig_widgets", "explain-dataset", str(reviews), "--text-column",
         "review", "--label-column", "sentiment", "--out", str(out), "--limit", "4"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert result.stdout.startswith("4 texts in ") and "accuracy " in result.stdout
    assert CorpusExplanation.load(out).settings["n_steps"] == "auto"


# ------------------------------------------------------------------------------ --baseline
def reviews_run(
    reviews: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    argv = ["explain-dataset", str(reviews), "--text-column", "review", "--out", str(out)]
    return run([*argv, *extra], capsys)


def test_neutral_runs_each_text_at_its_length(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "neutral.parquet"
    code, printed, err = reviews_run(
        reviews, out, capsys, "--steps", "8", "--baseline", "[neutral]"
    )
    assert code == 0, err
    corpus = CorpusExplanation.load(out)
    assert corpus.settings["baseline_spec"] == {"kind": "neutral"}
    explainer = igw.Explainer(toy)
    for i, (text, _label) in enumerate(SENTENCES):
        length = sum(not s for s in explainer.tokenize(text).special)
        token = neutral_token_at(explainer, length).token
        assert token is not None and corpus[i].baseline == f"token {token!r}"
    last = printed.splitlines()[-1]
    assert last.startswith("baseline [neutral]") and last.endswith(
        "(each text's own is in its row)"
    )


@pytest.mark.parametrize(
    ("extra", "last"),
    [
        ([], "baseline token 'xxunk'; for each text's most neutral token: --baseline [neutral]"),
        (["--baseline", "[zero]"], "baseline zero embeddings; for each text's most neutral"),
    ],
)
def test_a_run_of_another_baseline_says_how_to_ask_for_neutral(
    toy: Any,
    reviews: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    last: str,
) -> None:
    out = tmp_path / "run.parquet"
    code, printed, err = reviews_run(reviews, out, capsys, "--steps", "8", *extra)
    assert code == 0, err
    assert printed.splitlines()[-1].startswith(last)
    assert printed.splitlines()[-1].endswith(f"({NEUTRAL_COST})")
    assert "×" in NEUTRAL_COST and "COST" not in NEUTRAL_COST  # the measured figure is there


def test_an_unknown_baseline_code_is_one_line(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bad.parquet"
    code, _, err = reviews_run(reviews, out, capsys, "--baseline", "[zeros]")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Unknown baseline '[zeros]': choose one of [neutral], [default]" in err
    assert not out.exists()
