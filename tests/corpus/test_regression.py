"""assert_explanations_stable and the explanation_reference fixture, on hand-made drifts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.models.bundle import TorchTextClassifier

# the fixture, imported so that it is found before the plugin's entry point is installed
from ig_widgets.pytest_plugin import ExplanationReference, explanation_reference  # noqa: F401
from ig_widgets.testing import assert_explanations_stable

TEXTS = (
    "the movie was good and fun",
    "a very bad plot , but great acting",
    "the film is awful and boring",
    "fun , not boring",
    "the acting was great",
    "a good movie and a fun film",
)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


def _run(bundle: TorchTextClassifier, texts: tuple[str, ...] = TEXTS) -> CorpusExplanation:
    return igw.Explainer(bundle).explain_many(list(texts), n_steps=16, progress=False)


def _leaning_on(word: str, push: float) -> TorchTextClassifier:
    """The toy model with ``word``'s embedding moved along the positive-minus-negative row."""
    bundle = toy_bundle()
    module = bundle.module
    with torch.no_grad():
        direction = module.head.weight[1] - module.head.weight[0]
        row = bundle.tokenizer.index[word]
        module.emb.weight[row] += push * direction / direction.norm()
    return bundle


@pytest.fixture(scope="module")
def reference() -> CorpusExplanation:
    return _run(toy_bundle())


def test_an_unchanged_model_passes(reference: CorpusExplanation) -> None:
    table = assert_explanations_stable(reference, _run(toy_bundle()))
    assert len(table) == len(TEXTS)
    assert table["max_shift"].max() == pytest.approx(0.0, abs=1e-6)
    assert {"top_reference", "top_current"} <= set(table.columns)


def test_a_model_that_leans_on_a_word_fails_naming_it(reference: CorpusExplanation) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_explanations_stable(reference, _run(_leaning_on("and", 3.0)), allow_flips=True)
    report = str(failure.value)
    assert "words whose mean share of the attribution moved by more than 0.05" in report
    drifted = report.split("words whose mean share")[1].splitlines()[1].strip()
    assert drifted.startswith("and: ") and "over 3 occurrences in 3 texts" in drifted
    assert "[0] 'the movie was good and fun'" in report  # a text it moved in, with top words
    assert "predictions that changed class" not in report  # allow_flips


def test_changed_predictions_fail_unless_allowed(reference: CorpusExplanation) -> None:
    leaning = _run(_leaning_on("the", 40.0))
    with pytest.raises(AssertionError, match=r"predictions that changed class \(\d of 6 texts\)"):
        assert_explanations_stable(reference, leaning, tol=1.0)
    flips = reference.compare(leaning).texts()["agree"].eq(False).sum()
    assert flips > 0
    assert_explanations_stable(reference, leaning, tol=1.0, allow_flips=True)


def test_a_small_drift_passes_within_tol(reference: CorpusExplanation) -> None:
    nudged = _run(_leaning_on("and", 0.02))
    table = assert_explanations_stable(reference, nudged, tol=0.05)
    assert 0 < table["max_shift"].max() < 0.05
    with pytest.raises(AssertionError, match="texts whose top words moved by more than 1e-06"):
        assert_explanations_stable(reference, nudged, text_tol=1e-6)


def test_missing_and_failed_texts_fail(reference: CorpusExplanation) -> None:
    fewer = _run(toy_bundle(), TEXTS[:4])
    with pytest.raises(AssertionError, match="2 reference texts are missing from the run: 4, 5"):
        assert_explanations_stable(reference, fewer)
    long_ref = _run(toy_bundle(), ("good", "the movie was bad"))
    long_new = igw.Explainer(toy_bundle()).explain_many(
        ["good", "the movie was bad"], n_steps=16, progress=False, max_tokens=3
    )
    with pytest.raises(AssertionError, match=r"\[1\] could not be explained"):
        assert_explanations_stable(long_ref, long_new)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"top_k": 0}, "top_k"), ({"tol": 2.0}, "tol"), ({"text_tol": -1.0}, "text_tol")],
)
def test_bad_settings_are_refused(
    reference: CorpusExplanation, options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assert_explanations_stable(reference, reference, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the fixture
def test_the_reference_is_stored_on_first_use_then_compared(
    tmp_path: Path, reference: CorpusExplanation
) -> None:
    store = ExplanationReference(tmp_path / "explanations", "test_x[p1]", update=False, ci=False)
    path = store.path()
    assert path.name == "test_x_p1_.parquet"
    with pytest.raises(pytest.skip.Exception, match="stored the reference run"):
        store.check(reference)
    assert path.is_file() and CorpusExplanation.load(path).ids == reference.ids
    table = store.check(_run(toy_bundle()))
    assert len(table) == len(TEXTS)
    with pytest.raises(AssertionError, match="and: "):
        store.check(_run(_leaning_on("and", 3.0)), allow_flips=True)
    assert store.path("lstm").name == "test_x_p1_-lstm.parquet"


def test_update_replaces_the_reference_and_ci_refuses_a_missing_one(
    tmp_path: Path, reference: CorpusExplanation
) -> None:
    leaning = _run(_leaning_on("and", 3.0))
    folder = tmp_path / "explanations"
    with pytest.raises(pytest.skip.Exception):
        ExplanationReference(folder, "t", update=False, ci=False).check(reference)
    with pytest.raises(pytest.skip.Exception, match="stored"):
        ExplanationReference(folder, "t", update=True, ci=True).check(leaning)
    ExplanationReference(folder, "t", update=False, ci=True).check(leaning, allow_flips=True)
    with pytest.raises(pytest.fail.Exception, match=r"no reference run at .*other\.parquet"):
        ExplanationReference(folder, "other", update=False, ci=True).check(leaning)
    assert not (folder / "other.parquet").exists()


def test_the_fixture_names_files_after_the_test(
    explanation_reference: ExplanationReference,  # noqa: F811  (the imported fixture)
) -> None:
    here = Path(__file__)
    assert explanation_reference.folder == here.parent / "explanations" / here.stem
    assert explanation_reference.path().name == (
        "test_the_fixture_names_files_after_the_test.parquet"
    )
    assert explanation_reference.update is False
