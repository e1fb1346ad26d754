"""Many explainers on one model, computing from threads at once, give a serial run's numbers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from support.fastai_models import LONG_REVIEW, demo_learner
from support.toy_models import import_transformers, tiny_bert, toy_bundle

import ig_widgets as igw
from ig_widgets.engine.locks import model_lock

#: how many explainers share one model
N_EXPLAINERS = 8
#: texts of different lengths (the last one is the long test review cut to about 60 words)
TEXTS = (
    "a fine film",
    "The acting was not good, but the film is very fun!",
    " ".join(LONG_REVIEW.split()[:60]),
)
METHODS = ("gausslegendre", "riemann_trapezoid")

Job = tuple[str, dict[str, Any]]


def jobs(index: int, baselines: Sequence[Any]) -> list[Job]:
    """What explainer ``index`` computes, in order: every text, rules and baselines rotated."""
    return [
        (
            TEXTS[(index + k) % len(TEXTS)],
            {
                "n_steps": 16,
                "method": METHODS[(index + k) % len(METHODS)],
                "baseline": baselines[(index + k) % len(baselines)],
            },
        )
        for k in range(len(TEXTS))
    ]


def serial(make: Callable[[], igw.Explainer], baselines: Sequence[Any]) -> list[list[Any]]:
    """Each explainer's jobs, one explainer after the other."""
    runs = []
    for i in range(N_EXPLAINERS):
        explainer = make()
        runs.append([explainer.explain(text, **kw) for text, kw in jobs(i, baselines)])
    return runs


def concurrent(make: Callable[[], igw.Explainer], baselines: Sequence[Any]) -> list[list[Any]]:
    """The same jobs, every explainer in its own thread, all started together."""
    explainers = [make() for _ in range(N_EXPLAINERS)]
    start = threading.Barrier(N_EXPLAINERS)
    runs: list[list[Any]] = [[] for _ in explainers]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        start.wait()
        try:
            for text, kw in jobs(i, baselines):
                runs[i].append(explainers[i].explain(text, **kw))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(N_EXPLAINERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a computation never finished"
    if errors:
        raise errors[0]
    return runs


def assert_same(expected: list[list[Any]], got: list[list[Any]]) -> None:
    """Bitwise equal results: each thread ran the very same batches as the serial run.

    Equality is exact, not within a tolerance: every explainer sizes its chunks from its own
    measurement of the same first point, so the threaded run repeats the serial run's
    floating-point operations one for one (with one torch thread).
    """
    for runs_a, runs_b in zip(expected, got, strict=True):
        for a, b in zip(runs_a, runs_b, strict=True):
            assert (a.text, a.baseline, a.method, a.n_steps) == (
                b.text,
                b.baseline,
                b.method,
                b.n_steps,
            )
            for name in ("scores", "f_input", "f_baseline", "delta", "probs"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def training_flags(module: torch.nn.Module) -> list[bool]:
    return [m.training for m in module.modules()]


def check(
    model: Any, module: torch.nn.Module, baselines: Callable[[], list[Any]], **kw: Any
) -> None:
    """Serial run, threaded run, equal numbers, and the model left as it was found.

    ``baselines()`` makes each run's own baseline objects, so an uncertain baseline is
    optimised again in the threaded run (it caches per model), not read from the serial one.
    """
    flags = training_flags(module)

    def make() -> igw.Explainer:
        return igw.Explainer(model, **kw)

    expected = serial(make, baselines())
    got = concurrent(make, baselines())
    assert_same(expected, got)
    assert training_flags(module) == flags


def recurrent_state(awd: Any) -> tuple[list[torch.Tensor], int]:
    """A copy of the AWD-LSTM's mutable state: its hidden tensors and batch size."""
    return [h.clone() for pair in awd.hidden for h in pair], awd.bs


@pytest.mark.usefixtures("one_torch_thread")
def test_fastai_demo_learner_shared_by_threads() -> None:
    learn = demo_learner()
    awd = learn.model[0].module
    before = recurrent_state(awd)
    check(learn, learn.model, lambda: [None, "xxpad", igw.ZeroBaseline()])
    after = recurrent_state(awd)
    assert after[1] == before[1]
    assert all(torch.equal(a, b) for a, b in zip(after[0], before[0], strict=True))


@pytest.mark.usefixtures("one_torch_thread")
def test_plain_torch_model_shared_by_threads() -> None:
    bundle = toy_bundle("gru", n_classes=3, seed=3)
    bundle.module.train()  # fresh from training: dropout is on until the engine switches it off
    check(
        bundle,
        bundle.module,
        lambda: [None, igw.ZeroBaseline(), igw.UncertainBaseline(max_iter=40), "the"],
    )


@pytest.mark.usefixtures("one_torch_thread")
def test_hugging_face_model_shared_by_threads() -> None:
    pytest.importorskip("tokenizers")
    try:
        import_transformers()
    except ImportError:  # pragma: no cover - the optional extra is missing
        pytest.skip("transformers (optional extra) is not installed")
    model, tokenizer = tiny_bert(max_length=128)
    model.train()
    check(model, model, lambda: [None, igw.ZeroBaseline(), "the"], tokenizer=tokenizer)


def test_one_lock_per_model() -> None:
    bundle = toy_bundle("mean")
    a, b = (
        igw.Explainer(bundle),
        igw.Explainer(
            bundle.module, tokenizer=bundle.tokenizer, embedding="emb", classes=bundle.classes
        ),
    )
    assert a.adapter.lock is b.adapter.lock is model_lock(bundle.module)
    assert igw.Explainer(toy_bundle("mean")).adapter.lock is not a.adapter.lock
