"""Probes and the pytest helpers, on a deliberately biased toy model (and the docs' example)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest
import torch
from support.paths import REPO
from support.toy_models import WORDS, MeanLinear, WordTokenizer

import ig_widgets as igw
from ig_widgets.engine.probes import probe, swap_table, swap_words
from ig_widgets.models.bundle import TorchTextClassifier
from ig_widgets.testing import assert_attribution_below, assert_prediction_stable

PRONOUNS = ("he", "she", "his", "her")
TEXTS = [
    "He was good",  # 0
    "the film was good and she was good",  # 1
    "a bad film",  # 2: no pronoun
    "SHE was bad",  # 3
    "his acting was bad but his film was good",  # 4
]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


def pronoun_model(bias: float) -> igw.Explainer:
    """Mean of 2-d embeddings → identity head: e = (negative, positive) evidence.

    "good"/"bad" carry the sentiment; "he"/"his" add ``bias`` towards positive, "she"/"her"
    nothing: a deliberately biased model when ``bias`` > 0, a fair one at 0.
    """
    tok = WordTokenizer(words=(*WORDS, *PRONOUNS))
    module = MeanLinear(len(tok.vocab), dim=2).eval()
    with torch.no_grad():
        module.emb.weight.zero_()
        module.head.weight.copy_(torch.eye(2))
        module.head.bias.zero_()
        module.emb.weight[tok.index["good"]] = torch.tensor([0.0, 3.0])
        module.emb.weight[tok.index["bad"]] = torch.tensor([3.0, 0.0])
        for word in ("he", "his"):
            module.emb.weight[tok.index[word]] = torch.tensor([0.0, bias])
    bundle = TorchTextClassifier(
        module, tok, module.emb, ("negative", "positive"), name=f"pronouns-{bias}",
        baseline_token="<pad>",
    )  # fmt: skip
    return igw.Explainer(bundle)


@pytest.fixture
def biased() -> igw.Explainer:
    return pronoun_model(6.0)


@pytest.fixture
def fair() -> igw.Explainer:
    return pronoun_model(0.0)


def test_swap_words_keeps_case_and_swaps_at_once() -> None:
    table = swap_table({"he": "she", "his": "her"})
    assert table == {"he": "she", "his": "her", "she": "he", "her": "his"}
    text, made = swap_words("He said she'd go; HIS car, not hers. The theme.", table)
    assert text == "She said he'd go; HER car, not hers. The theme."
    assert [(s.word, s.replacement) for s in made] == [("He", "She"), ("she", "he"), ("HIS", "HER")]
    for s in made:
        assert text[s.after[0] : s.after[1]] == s.replacement
    assert swap_words("nothing here", table) == ("nothing here", [])
    with pytest.raises(ValueError, match="one word for one word"):
        swap_table({"he": "the man"})
    with pytest.raises(ValueError, match="two replacements"):
        swap_table({"he": "she", "him": "she"})


def test_probe_measures_the_bias(biased: igw.Explainer) -> None:
    table = probe(biased, TEXTS, {"he": "she", "his": "her"}, n_steps=16, target="positive")
    assert table["id"].tolist() == [0, 1, 3, 4]  # text 2 has no pronoun
    row = table.set_index("id").loc[0]
    assert row["swapped"] == "She was good" and row["swaps"] == "He→She"
    before = biased.explain("He was good", n_steps=16)
    after = biased.explain("She was good", n_steps=16)
    assert row["p_before"] == pytest.approx(before.probs[1])
    assert row["p_after"] == pytest.approx(after.probs[1])
    assert row["change"] < -0.1
    assert row["attribution_before"] == pytest.approx(before.word_scores()[1][1])
    assert row["attribution_after"] == pytest.approx(0.0, abs=1e-9)
    assert row["share_before"] > 0.3 and row["share_after"] == 0.0
    flipped = table.set_index("id").loc[3]  # SHE was bad → HE was bad: the bias wins
    assert flipped["swapped"] == "HE was bad"
    assert flipped["change"] > 0 and flipped["p_after"] > flipped["p_before"]


def test_prediction_stable_fails_readably(biased: igw.Explainer, fair: igw.Explainer) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_prediction_stable(biased, TEXTS, {"he": "she", "his": "her"}, tol=0.05, n_steps=16)
    message = str(failure.value)
    assert message.startswith(
        "the prediction is not stable when swapping he→she, his→her (tol 0.05): 4 of 4 texts"
    )
    assert "[0] 'He was good' (He→She): P(positive) " in message
    assert "prediction negative → positive" in message  # SHE was bad → HE was bad
    table = assert_prediction_stable(fair, TEXTS, {"he": "she", "his": "her"}, n_steps=16)
    assert len(table) == 4 and table["change"].abs().max() < 1e-9
    with pytest.raises(AssertionError, match="nothing tested"):
        assert_prediction_stable(fair, ["a good film"], {"he": "she"})


def test_attribution_below_fails_readably(biased: igw.Explainer, fair: igw.Explainer) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_attribution_below(biased, TEXTS, ["he", "his"], max_share=0.2, n_steps=16)
    message = str(failure.value)
    assert message.startswith("he, his carry more than 20% of the attribution in 2 of 2 texts")
    assert "[0] 'He was good': He " in message and "% of |attribution|" in message
    table = assert_attribution_below(fair, TEXTS, ["he", "his"], max_share=0.01, n_steps=16)
    assert table["id"].tolist() == [0, 4] and table["share"].max() == 0.0
    with pytest.raises(ValueError, match="max_share"):
        assert_attribution_below(fair, TEXTS, ["he"], max_share=2)


def test_failed_texts_are_reported(fair: igw.Explainer) -> None:
    with pytest.raises(AssertionError, match=r"\[1\] '': could not be explained: the text is"):
        assert_attribution_below(fair, ["he was good", ""], ["he"], max_share=0.5, n_steps=8)


def test_docs_example_runs() -> None:
    """docs/example_model_test.py, the file users copy, passes on the demo model."""
    path = REPO / "docs" / "example_model_test.py"
    spec = importlib.util.spec_from_file_location("example_model_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    explainer = module.make_explainer()
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert len(tests) >= 2
    for test in tests:
        if any(mark.name == "xfail" for mark in getattr(test, "pytestmark", [])):
            with pytest.raises(AssertionError, match=r"P\((negative|positive)\) [\d.]+ → [\d.]+"):
                test(explainer)  # a finding the example records as an expected failure
        else:
            assert test(explainer) is None
