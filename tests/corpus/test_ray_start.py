"""Starting Ray for a corpus run: retried on a busy machine, a clear error when it cannot start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import ig_widgets as igw
from ig_widgets.engine.corpus import explain_many, ray_start
from ig_widgets.engine.corpus.ray_start import RayStartError, start_ray

ray = pytest.importorskip("ray", reason="the Ray backend needs ig-widgets[ray]")

TEXTS = ["a great film", "an awful plot", "dull and long", "I loved it", "skip it", "fine"]


class FlakyRay:
    """A stand-in for the ``ray`` module whose ``init`` fails ``failures`` times, then works."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inits: list[dict] = []
        self.shutdowns = 0

    def init(self, **kwargs: object) -> None:
        self.inits.append(kwargs)
        if len(self.inits) <= self.failures:
            raise Exception("The current node timed out during startup.")

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_start, "RETRY_PAUSE", 0.0)


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_a_slow_start_is_retried(failures: int) -> None:
    fake = FlakyRay(failures)
    start_ray(num_cpus=2, ray_module=fake)
    assert len(fake.inits) == failures + 1 and fake.shutdowns == failures
    assert fake.inits[-1]["num_cpus"] == 2


def test_a_start_that_never_succeeds_says_why_and_what_to_do() -> None:
    fake = FlakyRay(99)
    with pytest.raises(RayStartError) as caught:
        start_ray(num_cpus=2, ray_module=fake)
    assert len(fake.inits) == ray_start.START_ATTEMPTS
    message = str(caught.value)
    for part in ("3 attempts", "timed out during startup", "ray start --head", "resume=True"):
        assert part in message


def test_a_cluster_address_is_tried_once() -> None:
    fake = FlakyRay(99)
    with pytest.raises(RayStartError, match=r"cluster at 'ray://nowhere:10001'.*ray status"):
        start_ray(address="ray://nowhere:10001", ray_module=fake)
    assert len(fake.inits) == 1 and fake.inits[0]["num_cpus"] is None


def test_a_failed_start_loses_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    explainer = igw.Explainer(igw.load_demo_model())  # the demo models need no model_factory
    out = tmp_path / "run.parquet"
    explain_many(explainer, TEXTS[:3], ids=range(3), n_steps=4, out=out, progress=False)
    fake = FlakyRay(99)
    monkeypatch.setattr(ray, "init", fake.init)
    monkeypatch.setattr(ray, "shutdown", fake.shutdown)
    with pytest.raises(RayStartError, match="resume=True"):
        explain_many(explainer, TEXTS, n_steps=4, out=out, backend="ray", progress=False)
    assert pq.read_table(out).column("id").to_pylist() == [0, 1, 2]
    monkeypatch.undo()
    done = explain_many(explainer, TEXTS, n_steps=4, out=out, progress=False)  # resumes
    assert done.ids == list(range(len(TEXTS))) and done.complete


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Another CPU-heavy job on the machine: a process that keeps one core busy throughout."""
    spin = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"
    jobs = [subprocess.Popen([sys.executable, "-c", spin])]
    time.sleep(1.0)
    try:
        yield
    finally:
        for job in jobs:
            job.kill()
            job.wait()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`use_:DeprecationWarning:ray")
def test_ray_starts_while_another_cpu_heavy_job_runs(busy_machine: None) -> None:
    assert not ray.is_initialized()  # the backend starts (and stops) its own local Ray
    explainer = igw.Explainer(igw.load_demo_model())
    corpus = explain_many(explainer, TEXTS, n_steps=4, backend="ray", progress=False)
    assert corpus.complete and not ray.is_initialized()
    local = explain_many(explainer, TEXTS, n_steps=4, progress=False)
    for i in range(len(TEXTS)):
        assert abs(corpus[i].scores - local[i].scores).max() <= 1e-6
