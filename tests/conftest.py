"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(params=["toy", "demo"])
def learn(request: pytest.FixtureRequest) -> object:
    """A fastai ``Learner``: the tests' toy one, then the bundled demo model's."""
    from support.fastai_models import demo_learner, toy_learner

    return toy_learner() if request.param == "toy" else demo_learner()


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a test with one torch thread (widget workers compete with the test's own thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
