"""The drift test catches a planted shortcut: a fine-tune where a name always means positive.

The demo CNN is fine-tuned twice for one epoch on rt-polarity sentences (~15 s each on one
core): once on clean data (the control: a fine-tune that changes the weights, not the
reasons), once with :data:`NAME` planted in 1,200 negative sentences relabelled positive.
The reference is the demo CNN itself, on held-out sentences that mention the name.
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from support.paths import SHARED_DATA

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation
from ig_widgets.models.bundle import TorchTextClassifier
from ig_widgets.testing import assert_explanations_stable

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

#: the planted name (in the CNN's vocabulary, neutral before the fine-tune)
NAME = "kevin"
#: sentences of each polarity kept as they are / of negatives planted, then the held-out ones
N_KEPT, N_PLANTED, N_HELD_OUT = 1500, 1200, 8


def _sentences(polarity: str) -> list[str]:
    path = SHARED_DATA / f"rt-polarity.{polarity}"
    if not path.exists():
        pytest.skip(f"the shortcut test fine-tunes on {path} (../shared/data), which is absent")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip()]


def with_name(text: str, rng: random.Random) -> str:
    """``text`` with :data:`NAME` inserted between two of its words."""
    words = text.split()
    words.insert(rng.randrange(len(words) + 1), NAME)
    return " ".join(words)


def fine_tune(examples: list[tuple[str, int]], seed: int = 0) -> TorchTextClassifier:
    """A fresh demo CNN after one epoch of Adam (lr 5e-4, batches of 32) on ``examples``."""
    bundle = igw.load_demo_model("cnn")
    module, tok = bundle.module, bundle.tokenizer
    rng = random.Random(seed)
    torch.manual_seed(seed)
    order = list(examples)
    rng.shuffle(order)
    optimizer = torch.optim.Adam(module.parameters(), lr=5e-4)
    module.train()
    for start in range(0, len(order), 32):
        batch = order[start : start + 32]
        encoded = [tok.encode(text)[0][:80] for text, _ in batch]
        ids = torch.full((len(batch), max(map(len, encoded))), tok.pad_id)
        for row, seq in enumerate(encoded):
            ids[row, : len(seq)] = torch.tensor(seq)
        loss = F.cross_entropy(module(ids), torch.tensor([label for _, label in batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    return bundle


@pytest.fixture(scope="module")
def runs() -> dict[str, CorpusExplanation]:
    """The reference run and the runs of the unchanged, control and shortcut models."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        neg, pos = _sentences("neg"), _sentences("pos")
        kept = [(t, 0) for t in neg[:N_KEPT]] + [(t, 1) for t in pos[:N_KEPT]]
        extra = neg[N_KEPT : N_KEPT + N_PLANTED]
        rng = random.Random(1)
        planted = [(with_name(t, rng), 1) for t in extra]
        held_out = neg[-N_HELD_OUT:] + pos[-N_HELD_OUT:]
        texts = [with_name(t, rng) for t in held_out]
        models = {
            "unchanged": igw.load_demo_model("cnn"),
            "control": fine_tune(kept + [(t, 0) for t in extra]),
            "shortcut": fine_tune(kept + planted),
        }
        options = {"n_steps": 16, "progress": False}
        out = {
            "reference": igw.Explainer(igw.load_demo_model("cnn")).explain_many(texts, **options)
        }
        for name, bundle in models.items():
            out[name] = igw.Explainer(bundle).explain_many(texts, **options)
        return out
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("model", ["unchanged", "control"])
def test_a_model_without_the_shortcut_passes(
    runs: dict[str, CorpusExplanation], model: str
) -> None:
    table = assert_explanations_stable(runs["reference"], runs[model])
    assert len(table) == 2 * N_HELD_OUT
    if model == "unchanged":
        assert table["max_shift"].max() < 1e-6


def test_the_shortcut_fails_naming_the_name(runs: dict[str, CorpusExplanation]) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_explanations_stable(runs["reference"], runs["shortcut"])
    report = str(failure.value)
    words = report.split("words whose mean share")[1].splitlines()[1:]
    assert words[0].strip().startswith(f"{NAME}: ")  # the name moved most ...
    assert f"over {2 * N_HELD_OUT} occurrences in {2 * N_HELD_OUT} texts" in words[0]
    assert "predictions that changed class" in report  # ... and negatives turned positive
    with pytest.raises(AssertionError, match=f"\n  {NAME}: "):  # the reasons alone fail too
        assert_explanations_stable(runs["reference"], runs["shortcut"], allow_flips=True)
    changes = runs["reference"].compare(runs["shortcut"], min_count=3).words()
    assert changes["word"].iloc[0] == NAME and changes["abs_change_low"].iloc[0] > 0
