"""``explain-dataset --baseline``: the menu's codes, [neutral] per text, and the summary's hint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support.fastai_models import SENTENCES, toy_learner

import ig_widgets as igw
from ig_widgets.__main__ import main
from ig_widgets.cli.dataset import NEUTRAL_COST
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.engine.neutral import neutral_token_at
from ig_widgets.models import demo


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
    pd.DataFrame(SENTENCES[:6], columns=["review", "sentiment"]).to_csv(path, index=False)
    return path


def explain_dataset(
    reviews: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str]:
    argv = ["explain-dataset", str(reviews), "--text-column", "review", "--out", str(out)]
    code = main([*argv, "--steps", "8", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_neutral_runs_each_text_at_its_length(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "neutral.parquet"
    code, printed, err = explain_dataset(reviews, out, capsys, "--baseline", "[neutral]")
    assert code == 0, err
    corpus = CorpusExplanation.load(out)
    assert corpus.settings["baseline_spec"] == {"kind": "neutral"}
    explainer = igw.Explainer(toy)
    for i, (text, _label) in enumerate(SENTENCES[:6]):
        length = sum(not s for s in explainer.tokenize(text).special)
        choice = neutral_token_at(explainer, length)
        assert choice.token is not None
        assert corpus[i].baseline == f"token {choice.token!r}"
    last = printed.splitlines()[-1]
    assert last.startswith("baseline [neutral]") and "its row" in last


def test_the_default_run_says_how_to_ask_for_neutral(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed, err = explain_dataset(reviews, tmp_path / "plain.parquet", capsys)
    assert code == 0, err
    last = printed.splitlines()[-1]
    assert last == (
        "baseline token 'xxunk'; for each text's most neutral token: --baseline [neutral] "
        f"({NEUTRAL_COST})"
    )
    assert "×" in NEUTRAL_COST and "COST" not in NEUTRAL_COST


def test_codes_and_an_unknown_code(
    toy: Any, reviews: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "zero.parquet"
    code, _, err = explain_dataset(reviews, out, capsys, "--baseline", "[zero]")
    assert code == 0, err
    assert CorpusExplanation.load(out).run_baseline() == igw.ZeroBaseline()
    bad = tmp_path / "bad.parquet"
    code, _, err = explain_dataset(reviews, bad, capsys, "--baseline", "[zeros]")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Unknown baseline '[zeros]': choose one of [neutral], [default]" in err
    assert not bad.exists()
