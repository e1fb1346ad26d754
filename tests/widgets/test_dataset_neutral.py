"""DatasetView's "Open in Explorer" on a [neutral] run: the Explorer shows the row's numbers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ig_widgets as igw
from ig_widgets.engine.baselines import NEUTRAL
from ig_widgets.engine.corpus import CorpusExplanation, explain_many
from ig_widgets.widgets.dataset_view import DatasetView

#: 3 and 12 ordinary tokens: the demo model's [neutral] is 'hours' for one, 'power' for the other
TEXTS = ["a dull film", "a great film , the cast shines and the plot never drags at all"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


def test_a_neutral_row_reopens_with_its_own_token(tmp_path: Path) -> None:
    explainer = igw.Explainer(igw.load_demo_model())
    out = tmp_path / "neutral.parquet"
    explain_many(explainer, TEXTS, n_steps="auto", baseline=NEUTRAL, out=out, progress=False)
    corpus = CorpusExplanation.load(out)
    assert corpus[0].baseline != corpus[1].baseline  # one token per length
    view = DatasetView(corpus, explainer)
    try:
        for i in (0, 1):
            view.vue_select_row(str(i))
            time.sleep(0.15)  # past the debounce
            assert view.wait(30)
            view.vue_open_explorer()
            explorer = view.explorer
            assert explorer is not None and not view.explore_note
            assert explorer.baseline == NEUTRAL and explorer.auto_steps
            assert explorer.wait(60)
            shown = explorer.explanation
            assert shown is not None and shown.is_final
            assert shown.baseline == corpus[i].baseline
            np.testing.assert_allclose(shown.scores, corpus[i].scores, rtol=0, atol=1e-6)
            np.testing.assert_allclose(shown.f_baseline, corpus[i].f_baseline, rtol=0, atol=1e-6)
            assert explorer.baseline_info["note"].startswith("neutral token")
        # the model's default token gives other numbers: the check above can fail
        default = explainer.explain(TEXTS[1], n_steps="auto")
        assert np.abs(default.scores - corpus[1].scores).max() > 1e-3
    finally:
        view.close()
