"""explain_many accepts and refuses the IG options that explain does, with the same messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.corpus import explain_many
from ig_widgets.engine.options import IGOptions

TEXT = "great fun"
#: explain runs these today (n_steps=3 with the adaptive rule was refused by explain_many)
GOOD: list[dict[str, Any]] = [
    {"n_steps": 3, "method": "adaptive"},
    {"n_steps": 2, "method": "adaptive"},
    {"n_steps": 1},
    {"n_steps": 2, "method": "riemann_trapezoid"},
    {"n_steps": 6, "method": "riemann_left"},
    {"n_steps": "auto", "tol": 0.05, "max_steps": 16},
    {"n_steps": 5, "method": "adaptive", "tol": 0.5},
    {"n_steps": None},  # None is the default (50), as for every option
]
BAD: list[dict[str, Any]] = [
    {"n_steps": 0},
    {"n_steps": 100_000},
    {"n_steps": 1, "method": "riemann_trapezoid"},
    {"n_steps": "lots"},
    {"n_steps": 2.5},
    {"n_steps": True},
    {"method": "simpson"},
    {"n_steps": 8, "method": 3},
    {"n_steps": "auto", "tol": 0},
    {"n_steps": "auto", "tol": 1.5},
    {"n_steps": "auto", "max_steps": 1},
    {"n_steps": "auto", "max_steps": 10_000},
    {"n_steps": "auto", "max_steps": True},
    {"n_steps": "auto", "tol": "x"},
    {"n_steps": 10, "tol": 2},
    {"n_steps": 8, "max_steps": 2.0},
]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread: None) -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def toy() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru"))


def outcome(run: Any) -> str:
    """``"ok"``, or the error's type and message."""
    try:
        run()
    except (ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


@pytest.mark.parametrize("options", [*GOOD, *BAD], ids=repr)
def test_explain_many_takes_what_explain_takes(toy: igw.Explainer, options: dict) -> None:
    alone = outcome(lambda: toy.explain(TEXT, **options))
    many = outcome(lambda: explain_many(toy, [TEXT], progress=False, **options))
    assert many == alone
    assert (many == "ok") == any(options is good for good in GOOD)  # True == 1: not `in`


@pytest.mark.parametrize("options", BAD, ids=repr)
def test_explain_many_refuses_what_the_options_refuse(toy: igw.Explainer, options: dict) -> None:
    built = outcome(lambda: IGOptions.build(**options))
    assert built != "ok"
    assert outcome(lambda: explain_many(toy, [TEXT], progress=False, **options)) == built


def test_a_short_adaptive_run_equals_explain(toy: igw.Explainer) -> None:
    corpus = explain_many(toy, [TEXT, "awful plot"], n_steps=3, method="adaptive", progress=False)
    for i, text in enumerate([TEXT, "awful plot"]):
        alone = toy.explain(text, n_steps=3, method="adaptive")
        assert corpus[i].n_steps == alone.n_steps == 3
        assert (abs(corpus[i].scores - alone.scores) <= 1e-6).all()
