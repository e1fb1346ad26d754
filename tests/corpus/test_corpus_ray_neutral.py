"""The Ray backend with [neutral]: each actor resolves every text at its length, as local does."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ig_widgets as igw
from ig_widgets.engine.baselines import NEUTRAL
from ig_widgets.engine.corpus import CorpusExplanation, explain_many
from ig_widgets.engine.corpus.ray_start import start_ray, stop_ray
from ig_widgets.engine.neutral import neutral_token_at

ray = pytest.importorskip("ray", reason="the Ray backend needs ig-widgets[ray]")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:`use_:DeprecationWarning:ray"),
]

#: 3, 6, 8 and 12 ordinary tokens: four different neutral tokens on the demo model
TEXTS = [
    "a dull film",
    "an awful plot , the cast",
    "the cast shines and the film is good",
    "a great film , the cast shines and the plot never drags at all",
    "",
]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    start_ray(num_cpus=2)
    yield
    stop_ray()


def test_ray_resolves_neutral_per_text_as_local(local_ray: None, tmp_path: Path) -> None:
    explainer = igw.Explainer(igw.load_demo_model())
    out = tmp_path / "ray.parquet"
    corpus = explain_many(
        explainer, TEXTS, n_steps=8, baseline=NEUTRAL, out=out, backend="ray",
        batch_size=2, progress=False,
    )  # fmt: skip
    assert corpus.complete and corpus.run_baseline() == NEUTRAL
    local = explain_many(explainer, TEXTS, n_steps=8, baseline=NEUTRAL, progress=False)
    frame = CorpusExplanation.load(out).to_dataframe()
    assert frame["error"].notna().tolist() == [False] * 4 + [True]
    tokens = set()
    for i, text in enumerate(TEXTS[:4]):
        length = sum(not s for s in explainer.tokenize(text).special)
        token = neutral_token_at(explainer, length).token
        assert corpus[i].baseline == local[i].baseline == f"token {token!r}"
        np.testing.assert_allclose(corpus[i].scores, local[i].scores, rtol=0, atol=1e-6)
        tokens.add(token)
    assert len(tokens) >= 3
