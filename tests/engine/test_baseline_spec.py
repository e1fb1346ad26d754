"""Baselines as data: to_spec/from_spec round trips, and the menu choices read the same kinds."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

import ig_widgets as igw
from ig_widgets.engine.baselines import (
    AVERAGE,
    DEFAULT,
    UNCERTAIN,
    ZERO,
    choice_of,
    from_spec,
    to_spec,
)

CASES = [
    (None, {"kind": "default"}),
    ("xxunk", {"kind": "token", "token": "xxunk"}),
    (igw.ZeroBaseline(keep_special=False), {"kind": "zero", "keep_special": False}),
    (igw.TextBaseline("an ordinary film"), {"kind": "text", "text": "an ordinary film"}),
    (
        igw.UncertainBaseline(max_iter=40, lr=0.1, tol=0.01),
        {"kind": "uncertain", "max_iter": 40, "lr": 0.1, "tol": 0.01},
    ),
    (
        igw.AverageBaseline([igw.TokenBaseline("the"), igw.ZeroBaseline(), "a plain text"]),
        {
            "kind": "average",
            "items": [
                {"kind": "token", "token": "the"},
                {"kind": "zero", "keep_special": True},
                {"kind": "text", "text": "a plain text"},
            ],
        },
    ),
]


@pytest.mark.parametrize(("baseline", "spec"), CASES, ids=lambda c: repr(c)[:30])
def test_round_trip(baseline: object, spec: dict) -> None:
    assert to_spec(baseline) == spec  # type: ignore[arg-type]
    assert json.loads(json.dumps(spec)) == spec
    back = from_spec(spec)
    assert to_spec(back) == spec
    if isinstance(baseline, igw.UncertainBaseline):
        assert (back.max_iter, back.lr, back.tol) == (40, 0.1, 0.01)  # type: ignore[union-attr]
    elif isinstance(baseline, str):
        assert back == igw.TokenBaseline(baseline)
    elif isinstance(baseline, igw.AverageBaseline):
        assert back is not None and back.description == baseline.description
    else:
        assert back == baseline


def test_the_reason_of_the_default_zeros_is_not_data() -> None:
    announced = igw.ZeroBaseline(reason="the model has no unknown or mask token")
    assert from_spec(to_spec(announced)) == announced  # type: ignore[arg-type]


def test_classes_of_their_own_have_no_spec() -> None:
    @dataclass(frozen=True)
    class Mine(igw.ZeroBaseline):
        pass

    assert to_spec(Mine()) is None
    assert to_spec(igw.AverageBaseline([Mine(), "a text"])) is None
    with pytest.raises(TypeError, match="has no menu choice"):
        choice_of(Mine())


def test_choices_are_the_kinds_of_the_specs() -> None:
    assert [choice_of(b) for b, _ in CASES if not isinstance(b, igw.TextBaseline)] == [
        DEFAULT, "xxunk", ZERO, UNCERTAIN, AVERAGE,
    ]  # fmt: skip
    assert choice_of(igw.TokenBaseline("xxpad")) == "xxpad"
    with pytest.raises(TypeError, match="TextBaseline has no menu choice"):
        choice_of(igw.TextBaseline("a text"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("zero", "a dict with a 'kind'"),
        ({"kind": "pad"}, "unknown baseline kind 'pad'"),
        ({"kind": "token"}, "lacks 'token'"),
        ({"kind": "average", "items": [{"kind": "default"}]}, "cannot hold the model's default"),
    ],
)
def test_bad_specs(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_spec(spec)  # type: ignore[arg-type]
