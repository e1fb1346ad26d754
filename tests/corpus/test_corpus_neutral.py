"""Corpus runs take the widgets' baseline choices: [neutral] per text length, and the codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.baselines import (
    NEUTRAL,
    UncertainBaseline,
    baseline_from_choice,
    choice_of,
    from_spec,
    to_spec,
)
from ig_widgets.engine.corpus import CorpusExplanation, compare_corpora, explain_many
from ig_widgets.engine.neutral import neutral_token_at

#: 3, 6, 8 and 12 ordinary tokens: the demo model's [neutral] picks 'hours', 'top', 'the'
#: and 'power' there, and all fit in one lockstep group of the default window
SHORT = [
    "a dull film",
    "an awful plot , the cast",
    "the cast shines and the film is good",
    "a great film , the cast shines and the plot never drags at all",
]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def models() -> dict[str, igw.Explainer]:
    """The demo AWD-LSTM (lockstep groups) and a toy GRU (one text at a time)."""
    return {"demo": igw.Explainer(igw.load_demo_model()), "toy": igw.Explainer(toy_bundle("gru"))}


@pytest.fixture(scope="module")
def toy(models: dict[str, igw.Explainer]) -> igw.Explainer:
    return models["toy"]


def ordinary(explainer: igw.Explainer, text: str) -> int:
    return sum(not s for s in explainer.tokenize(text).special)


def assert_rows_are_neutral_explanations(
    explainer: igw.Explainer, texts: list[str], corpus: CorpusExplanation, **options: object
) -> list[str]:
    """Each row used the token [neutral] picks at its length, with explain()'s numbers."""
    tokens = []
    for i, text in enumerate(texts):
        choice = neutral_token_at(explainer, ordinary(explainer, text))
        assert choice.token is not None
        row = corpus[i]
        assert row.baseline == f"token {choice.token!r}"
        alone = explainer.explain(text, baseline=choice.token, **options)  # type: ignore[arg-type]
        np.testing.assert_allclose(row.scores, alone.scores, rtol=0, atol=1e-6)
        np.testing.assert_allclose(row.f_baseline, alone.f_baseline, rtol=0, atol=1e-9)
        tokens.append(choice.token)
    return tokens


def test_neutral_resolves_per_text_in_lockstep_groups(models: dict[str, igw.Explainer]) -> None:
    demo = models["demo"]
    assert demo.adapter.padding_room() > 12  # one window, one group if the tokens were equal
    corpus = explain_many(demo, SHORT, n_steps="auto", baseline=NEUTRAL, progress=False)
    assert corpus.complete and corpus.errors().empty
    tokens = assert_rows_are_neutral_explanations(demo, SHORT, corpus, n_steps="auto")
    assert len(set(tokens)) >= 3, tokens  # several tokens ran in one window
    assert corpus.settings["baseline_spec"] == {"kind": "neutral"}
    assert corpus.settings["baseline"].startswith("[neutral]")
    assert corpus.run_baseline() == NEUTRAL


def test_neutral_one_text_at_a_time(toy: igw.Explainer) -> None:
    texts = ["the film was good", "bad", "a great great film but a bad plot"]
    assert not toy.adapter.padding_room()
    corpus = explain_many(toy, texts, n_steps=16, baseline=NEUTRAL, progress=False)
    assert_rows_are_neutral_explanations(toy, texts, corpus, n_steps=16)


@pytest.mark.parametrize("code", ["[default]", "[zero]", "[average]", "[uncertain]"])
def test_the_other_codes_are_the_widgets_baselines(toy: igw.Explainer, code: str) -> None:
    texts = ["the film was good", "a bad plot"]
    corpus = explain_many(toy, texts, n_steps=8, baseline=code, progress=False)
    for i, text in enumerate(texts):
        wanted = baseline_from_choice(code, toy.adapter)
        if isinstance(wanted, UncertainBaseline):
            wanted = UncertainBaseline()  # a fresh one, as the run's
        alone = toy.explain(text, n_steps=8, baseline=wanted)
        np.testing.assert_allclose(corpus[i].scores, alone.scores, rtol=0, atol=1e-6)
        assert corpus[i].baseline.split(" (")[0] == alone.baseline.split(" (")[0]
    # the stored spec rebuilds the baseline, whose menu choice is the code again
    assert choice_of(corpus.run_baseline()) == code


def test_a_bracketed_vocabulary_token_is_still_a_token() -> None:
    bert_like = igw.Explainer(toy_bundle("mean", words=("film", "good", "[MASK]")))
    corpus = explain_many(bert_like, ["good film"], n_steps=4, baseline="[MASK]", progress=False)
    assert corpus[0].baseline == "token '[MASK]'"


def test_an_unknown_code_fails_before_any_work(toy: igw.Explainer, tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    wanted = r"Unknown baseline '\[zeros\]': choose one of \[neutral\]"
    with pytest.raises(ValueError, match=wanted):
        explain_many(toy, ["a film"], n_steps=4, baseline="[zeros]", out=out, progress=False)
    assert not out.exists()


def test_resume_takes_the_same_choice_and_refuses_another(
    toy: igw.Explainer, tmp_path: Path
) -> None:
    out = tmp_path / "run.parquet"
    texts = ["the film was good", "bad", "a great film", "a bad plot"]
    first = explain_many(toy, texts[:2], n_steps=8, baseline=NEUTRAL, out=out, progress=False)
    assert len(first) == 2
    resumed = explain_many(toy, texts, n_steps=8, baseline=NEUTRAL, out=out, progress=False)
    assert len(resumed) == 4 and resumed.run_baseline() == NEUTRAL
    assert_rows_are_neutral_explanations(toy, texts, resumed, n_steps=8)
    for other in ("[default]", None, "good"):
        with pytest.raises(ValueError, match=r"holds another run .*baseline"):
            explain_many(toy, texts, n_steps=8, baseline=other, out=out, progress=False)
    # and a run of the model's default token does not resume as [neutral]
    plain = tmp_path / "plain.parquet"
    explain_many(toy, texts[:1], n_steps=8, out=plain, progress=False)
    with pytest.raises(ValueError, match=r"holds another run .*baseline"):
        explain_many(toy, texts, n_steps=8, baseline=NEUTRAL, out=plain, progress=False)


def test_a_fallback_is_recorded_not_an_error() -> None:
    regression = igw.Explainer(toy_bundle("gru", n_classes=1, output="identity"))
    texts = ["the film was good", "bad"]
    corpus = explain_many(regression, texts, n_steps=8, baseline=NEUTRAL, progress=False)
    assert corpus.errors().empty
    default = regression.explain(texts[0], n_steps=8)
    for i, text in enumerate(texts):
        assert corpus[i].baseline == (
            f"{default.baseline} (neutral: the model's default instead, as a regression head "
            "has no neutral point)"
        )
        alone = regression.explain(text, n_steps=8)
        np.testing.assert_allclose(corpus[i].scores, alone.scores, rtol=0, atol=1e-6)


def test_reports_and_comparisons_take_a_neutral_run(toy: igw.Explainer) -> None:
    from ig_widgets.views.report import corpus_report

    texts = ["the film was good", "a bad plot", "a great film"]
    neutral = explain_many(toy, texts, n_steps=8, baseline=NEUTRAL, progress=False)
    plain = explain_many(toy, texts, n_steps=8, progress=False)
    comparison = compare_corpora(neutral, plain)
    assert len(comparison.texts()) == len(texts)
    page = corpus_report(neutral)
    assert "[neutral]" in page and "token " in page  # the run's choice and each row's token
    both = corpus_report(comparison)
    assert 'data-kind="comparison"' in both


def test_neutral_in_the_one_encoding() -> None:
    assert to_spec(NEUTRAL) == {"kind": "neutral"}
    assert from_spec({"kind": "neutral"}) == NEUTRAL
    assert choice_of(NEUTRAL) == NEUTRAL
    assert to_spec("power") == {"kind": "token", "token": "power"}  # a resolved token
    with pytest.raises(ValueError, match=r"cannot hold the model's default or \[neutral\]"):
        from_spec({"kind": "average", "items": [{"kind": "neutral"}]})
