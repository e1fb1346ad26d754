"""Starting Ray for a corpus run: it starts on a busy machine, or a clear error says why."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pyarrow.parquet as pq
import pytest

import ig_widgets as igw
from ig_widgets.engine.corpus import explain_many, ray_start
from ig_widgets.engine.corpus.ray_start import (
    RayStartError,
    launch_head,
    publish_ports,
    start_cause,
    start_ray,
    stop_ray,
)

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


class FakeHead:
    """What ``launch_head`` returns: an address, and processes that can be killed."""

    def __init__(self, number: int) -> None:
        self.address = f"127.0.0.1:{6000 + number}"
        self.kills = 0

    def kill_all_processes(self, **kwargs: object) -> None:
        self.kills += 1


class Launcher:
    """A stand-in for ``launch_head`` that raises ``failures`` times, then returns heads."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[int | None] = []
        self.heads: list[FakeHead] = []

    def __call__(self, num_cpus: int | None) -> FakeHead:
        self.calls.append(num_cpus)
        if len(self.calls) <= self.failures:
            raise RuntimeError("The current node timed out during startup. [raylet: ...]")
        self.heads.append(FakeHead(len(self.calls)))
        return self.heads[-1]


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_start, "RETRY_PAUSE", 0.0)


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_a_slow_start_is_retried_and_each_failed_head_stopped(failures: int) -> None:
    fake, launch = FlakyRay(failures), Launcher()
    start_ray(num_cpus=2, ray_module=fake, launch=launch)
    assert launch.calls == [2] * (failures + 1) and fake.shutdowns == failures
    assert [head.kills for head in launch.heads] == [1] * failures + [0]
    assert [init["address"] for init in fake.inits] == [h.address for h in launch.heads]
    stop_ray(ray_module=fake)  # disconnects, then stops the head that worked
    assert fake.shutdowns == failures + 1 and launch.heads[-1].kills == 1
    stop_ray(ray_module=fake)  # a second stop has nothing left to kill
    assert launch.heads[-1].kills == 1


def test_a_head_that_does_not_come_up_is_retried() -> None:
    fake, launch = FlakyRay(0), Launcher(failures=2)
    start_ray(num_cpus=2, ray_module=fake, launch=launch)
    assert len(launch.calls) == 3 and len(fake.inits) == 1
    stop_ray(ray_module=fake)


def test_a_start_that_never_succeeds_says_why_and_what_to_do() -> None:
    fake, launch = FlakyRay(0), Launcher(failures=99)
    with pytest.raises(RayStartError) as caught:
        start_ray(num_cpus=2, ray_module=fake, launch=launch)
    assert len(launch.calls) == ray_start.START_ATTEMPTS and not fake.inits
    message = str(caught.value)
    for part in (
        "3 attempts",
        "timed out during startup",
        "cores are too busy",
        "ray start --head",
        "backend='local'",
        "resume=True",
    ):
        assert part in message
    assert not ray_start._heads


def test_a_cluster_address_is_tried_once_and_starts_nothing() -> None:
    fake, launch = FlakyRay(99), Launcher()
    with pytest.raises(RayStartError, match=r"cluster at 'ray://nowhere:10001'.*ray status"):
        start_ray(address="ray://nowhere:10001", ray_module=fake, launch=launch)
    assert len(fake.inits) == 1 and fake.inits[0]["address"] == "ray://nowhere:10001"
    assert not launch.calls


def test_the_raylets_reason_is_read_from_its_log(tmp_path: Path) -> None:
    class Logged:
        def get_logs_dir_path(self) -> str:
            return str(tmp_path)

    assert start_cause(Logged()) == ""
    (tmp_path / "raylet.out").write_text(
        "[2026-12-04 01:38:55,140 C 20203 20203] (raylet) node_manager.cc:3588: ... Check "
        "failed: statussetor3588.has_value() Timed out waiting for file /tmp/x/ray/session_1/"
        "dashboard_agent_listen_port_70568dc45327e84dcf6a4fe90b3a572310e611f1\n"
    )
    assert start_cause(Logged()) == (
        "raylet: timed out waiting for the agents' dashboard_agent_listen_port"
    )
    assert start_cause(object()) == ""  # a node that never got a session directory


def test_a_head_that_fails_is_stopped_and_its_reason_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray._private.node import Node

    (tmp_path / "raylet.out").write_text(
        "Check failed: x Timed out waiting for file /s/metrics_agent_port_0123abcd\n"
    )
    killed: list[dict] = []

    def failing_init(self: Any, params: Any, **kwargs: object) -> None:
        assert params.metrics_agent_port > 0 and params.runtime_env_agent_port > 0
        assert params._system_config == ray_start.BUSY_MACHINE_CONFIG
        raise Exception("The current node timed out during startup.")

    monkeypatch.setattr(Node, "__init__", failing_init)
    monkeypatch.setattr(Node, "get_logs_dir_path", lambda self: str(tmp_path))
    monkeypatch.setattr(Node, "kill_all_processes", lambda self, **kw: killed.append(kw))
    with pytest.raises(RuntimeError) as caught:
        launch_head(2)
    assert str(caught.value) == (
        "The current node timed out during startup. "
        "[raylet: timed out waiting for the agents' metrics_agent_port]"
    )
    assert killed == [{"check_alive": False, "allow_graceful": True, "wait": True}]


def test_the_agents_port_files_are_written_as_the_agents_would(tmp_path: Path) -> None:
    from ray._private.utils import get_dashboard_dependency_error
    from ray._raylet import get_port_filename, wait_for_persisted_port

    node_id = "ab" * 28
    node = SimpleNamespace()  # the session appears while the writer waits, as in a start
    ports = dict(zip(ray_start.AGENT_PORTS, ray_start.free_ports(4), strict=True))
    done = threading.Event()
    writer = threading.Thread(target=publish_ports, args=(node, ports, done))
    writer.start()
    time.sleep(0.2)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / get_port_filename(node_id, "runtime_env_agent_port")).write_text("1234")
    node._node_id, node._session_dir = node_id, str(tmp_path / "s")
    writer.join(timeout=10)
    assert not writer.is_alive()
    minimal = get_dashboard_dependency_error() is not None

    def read(name: str) -> int:
        return int(wait_for_persisted_port(str(tmp_path / "s"), node_id, name, timeout_ms=0))

    assert read("metrics_agent_port") == (-1 if minimal else ports["metrics_agent_port"])
    assert read("metrics_export_port") == (-1 if minimal else ports["metrics_export_port"])
    listen = -1 if minimal else ports["dashboard_agent_listen_port"]
    assert read("dashboard_agent_listen_port") == listen
    assert read("runtime_env_agent_port") == 1234  # an agent's own file is left alone


def test_the_port_writer_stops_when_told(tmp_path: Path) -> None:
    done = threading.Event()
    ports = dict(zip(ray_start.AGENT_PORTS, ray_start.free_ports(4), strict=True))
    writer = threading.Thread(target=publish_ports, args=(SimpleNamespace(), ports, done))
    writer.start()
    done.set()
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_a_failed_start_loses_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    explainer = igw.Explainer(igw.load_demo_model())  # the demo models need no model_factory
    out = tmp_path / "run.parquet"
    explain_many(explainer, TEXTS[:3], ids=range(3), n_steps=4, out=out, progress=False)
    monkeypatch.setattr(ray_start, "launch_head", Launcher(failures=99))
    with pytest.raises(RayStartError, match="resume=True"):
        explain_many(explainer, TEXTS, n_steps=4, out=out, backend="ray", progress=False)
    assert pq.read_table(out).column("id").to_pylist() == [0, 1, 2]
    monkeypatch.undo()
    done = explain_many(explainer, TEXTS, n_steps=4, out=out, progress=False)  # resumes
    assert done.ids == list(range(len(TEXTS))) and done.complete


#: CPU-bound processes beside the real start: as many as this machine has cores (2 here),
#: on top of whatever else it runs
SPINNERS = 2


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Other CPU-heavy jobs on the machine: processes that keep cores busy throughout."""
    spin = "import time\nend = time.time() + 900\nwhile time.time() < end:\n    pass\n"
    jobs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(SPINNERS)]
    time.sleep(1.0)
    try:
        yield
    finally:
        for job in jobs:
            job.kill()
            job.wait()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`use_:DeprecationWarning:ray")
def test_ray_starts_while_other_cpu_heavy_jobs_run(
    busy_machine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[psutil.Process] = []

    def watched(num_cpus: int | None) -> Any:
        node = launch_head(num_cpus)
        started.extend(
            psutil.Process(info.process.pid)
            for infos in node.all_processes.values()
            for info in infos
        )
        return node

    monkeypatch.setattr(ray_start, "launch_head", watched)
    assert not ray.is_initialized()  # the backend starts (and stops) its own local Ray
    explainer = igw.Explainer(igw.load_demo_model())
    corpus = explain_many(explainer, TEXTS, n_steps=4, backend="ray", progress=False)
    assert corpus.complete and not ray.is_initialized()
    assert len(started) >= 3  # gcs, raylet, reaper, ...: stopped with the run
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive and not ray_start._heads
    local = explain_many(explainer, TEXTS, n_steps=4, progress=False)
    for i in range(len(TEXTS)):
        assert abs(corpus[i].scores - local[i].scores).max() <= 1e-6
