"""The Ray backend of explain_many, on a real local Ray: equal to local, survives a killed actor."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import CorpusExplanation, explain_many
from ig_widgets.engine.corpus.ray_start import start_ray, stop_ray

ray = pytest.importorskip("ray", reason="the Ray backend needs ig-widgets[ray]")

pytestmark = [
    pytest.mark.slow,
    # Ray Data's own deprecated settings, touched by Ray itself when it copies its context
    pytest.mark.filterwarnings("ignore:`use_:DeprecationWarning:ray"),
]

SENTENCES = [
    f"{start} film, {middle} and {end}."
    for start in ("a great", "an awful", "a dull")
    for middle in ("the cast shines", "the plot drags", "nothing happens")
    for end in ("I loved it", "skip it", "fine")
]
TEXTS = [*SENTENCES[:24], "", None]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray of 2 CPUs for the module (the backend leaves a running Ray alone)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    start_ray(num_cpus=2)  # as the backend starts it: the machine may be busy
    yield
    stop_ray()


@pytest.fixture(scope="module")
def local_run() -> CorpusExplanation:
    """The same corpus on the local backend, from a fresh explainer."""
    return explain_many(igw.Explainer(igw.load_demo_model()), TEXTS, n_steps=8, progress=False)


def assert_equal_runs(a: CorpusExplanation, b: CorpusExplanation) -> None:
    assert a.ids == b.ids
    frame_a, frame_b = a.to_dataframe(), b.to_dataframe()
    assert frame_a["error"].tolist() == frame_b["error"].tolist()
    for i in range(len(a)):
        if frame_a["error"].isna()[i]:
            x, y = a[i], b[i]
            assert x.tokens == y.tokens and x.words == y.words
            np.testing.assert_allclose(x.scores, y.scores, rtol=0, atol=1e-6)
            np.testing.assert_allclose(x.delta, y.delta, rtol=0, atol=1e-6)


def test_ray_equals_local(local_ray: None, local_run: CorpusExplanation, tmp_path: Path) -> None:
    out = tmp_path / "ray.parquet"
    explainer = igw.Explainer(igw.load_demo_model())
    corpus = explain_many(explainer, TEXTS, n_steps=8, out=out, backend="ray", progress=False)
    assert corpus.complete and len(corpus) == len(TEXTS)
    assert_equal_runs(corpus, local_run)
    assert pq.read_table(out, columns=["id"]).num_rows == len(TEXTS)


class DyingExplainer(igw.Explainer):
    """Kills its own process (SIGKILL) on its ``at``-th text, in the first actor built only."""

    def __init__(self, model: Any, marker: str, at: int) -> None:
        super().__init__(model)
        self.marker = marker
        try:  # exactly one actor wins the marker; a restarted actor finds it and lives
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            self.countdown = at
        except FileExistsError:
            self.countdown = -1

    def explain_steps(self, text: str, **options: Any) -> Any:
        """Every text's run starts here, alone or in lockstep with others."""
        self.countdown -= 1
        if self.countdown == 0:
            Path(self.marker + ".died").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().explain_steps(text, **options)


def dying_demo(marker: str, at: int) -> DyingExplainer:
    return DyingExplainer(igw.load_demo_model(), marker, at)


def test_ray_survives_a_killed_actor(
    local_ray: None, local_run: CorpusExplanation, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    out = tmp_path / "ray.parquet"
    corpus = explain_many(
        igw.Explainer(igw.load_demo_model()),
        TEXTS,
        n_steps=8,
        out=out,
        backend="ray",
        model_factory=functools.partial(dying_demo, str(marker), 3),
        batch_size=4,
        progress=False,
    )
    assert (tmp_path / "killed.died").exists(), "no actor was killed"
    assert corpus.complete
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(len(TEXTS)))  # nothing lost, nothing twice
    assert_equal_runs(corpus, local_run)


def test_custom_factory(local_ray: None) -> None:
    texts = TEXTS[:6]
    cnn = igw.Explainer(igw.load_demo_model("cnn"))
    local = explain_many(cnn, texts, n_steps=8, progress=False)
    remote = explain_many(
        cnn, texts, n_steps=8, backend="ray", progress=False,
        model_factory=functools.partial(igw.load_demo_model, "cnn"),
    )  # fmt: skip
    assert_equal_runs(remote, local)


def test_factory_of_another_model_fails_clearly(local_ray: None) -> None:
    explainer = igw.Explainer(igw.load_demo_model())
    with pytest.raises(RuntimeError, match="weights differ from the explainer's"):
        explain_many(
            explainer, TEXTS[:4], n_steps=8, backend="ray", progress=False,
            model_factory=functools.partial(igw.load_demo_model, "cnn"),
        )  # fmt: skip


def test_unknown_model_needs_a_factory() -> None:
    toy = igw.Explainer(toy_bundle("mean"))
    with pytest.raises(ValueError, match="needs model_factory="):
        explain_many(toy, TEXTS[:4], n_steps=8, backend="ray", progress=False)
    with pytest.raises(ValueError, match="num_actors must be a positive int"):
        explain_many(toy, TEXTS[:4], backend="ray", num_actors=0, model_factory=lambda: 1,
                     progress=False)  # fmt: skip
