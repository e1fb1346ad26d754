"""One IG-options object: the same options accepted and refused everywhere, and points recorded."""

from __future__ import annotations

import dataclasses
import io
import re
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest
import torch
from support.fastai_models import toy_learner
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.__main__ import main
from ig_widgets.engine.baselines import AverageBaseline, TokenBaseline
from ig_widgets.engine.options import (
    COMPLETENESS_TOLERANCE,
    DEFAULT_STEPS,
    IGOptions,
    default_method,
)
from ig_widgets.engine.quadrature import ALL_METHODS, Method, alpha_key
from ig_widgets.engine.stages import plan_stages
from ig_widgets.models import demo
from ig_widgets.views.selection import DELTA_TOLERANCE

TEXT = "The movie was not very good , but the acting was great !"

#: options accepted everywhere: (given, resolved n_steps, resolved method)
GOOD: list[tuple[dict[str, Any], int | str, str]] = [
    ({}, DEFAULT_STEPS, "gausslegendre"),
    ({"n_steps": 16}, 16, "gausslegendre"),
    ({"n_steps": 1}, 1, "gausslegendre"),
    ({"n_steps": 3, "method": "adaptive"}, 3, "adaptive"),  # explain_many refused this
    ({"n_steps": 9, "method": "riemann_trapezoid", "tol": 0.5}, 9, "riemann_trapezoid"),
    ({"n_steps": "auto", "tol": 0.05, "max_steps": 32}, "auto", "adaptive"),
    ({"n_steps": "auto", "method": "riemann_right", "max_steps": 16}, "auto", "riemann_right"),
]
#: options refused everywhere, with the same error type and message
BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"n_steps": 0}, ValueError, "n_steps must be between 1 and 4096 for gausslegendre, got 0"),
    ({"n_steps": 5000}, ValueError, "n_steps must be between 1 and 4096"),
    ({"n_steps": 1, "method": "riemann_left"}, ValueError,
     "n_steps must be between 2 and 4096 for riemann_left, got 1"),
    ({"n_steps": "many"}, ValueError, "n_steps must be an integer or 'auto', got 'many'"),
    ({"n_steps": 2.5}, TypeError, "n_steps must be an integer or 'auto', got 2.5"),
    ({"method": "simpson"}, ValueError, "Unknown integration method 'simpson'"),
    ({"n_steps": "auto", "tol": 1.5}, ValueError, "tol must be between 0 and 1, got 1.5"),
    ({"n_steps": 16, "tol": 0.0}, ValueError, "tol must be between 0 and 1, got 0.0"),
    ({"tol": "small"}, TypeError, "tol must be a number, got 'small'"),
    ({"n_steps": "auto", "max_steps": 1}, ValueError, "max_steps must be an int in [2, 4096]"),
    ({"max_steps": 2.0}, TypeError, "max_steps must be an int, got 2.0"),
]  # fmt: skip


@pytest.fixture(scope="module")
def gru() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru", seed=1))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def cli_flags(given: dict[str, Any]) -> list[str] | None:
    """The command-line flags of ``given``; None when a value cannot be typed as a flag."""
    flags = {"n_steps": "--steps", "method": "--method", "tol": "--tol", "max_steps": "--max-steps"}
    typed = {"n_steps": (int, str), "method": (str,), "tol": (float,), "max_steps": (int,)}
    argv: list[str] = []
    for name, value in given.items():
        if not isinstance(value, typed[name]):
            return None
        argv += [flags[name], str(value)]
    return argv


# ---------------------------------------------------------------------- accepted everywhere
@pytest.mark.parametrize(("given", "n_steps", "method"), GOOD)
def test_good_options_resolve_alike(
    gru: igw.Explainer, given: dict[str, Any], n_steps: int | str, method: str
) -> None:
    options = IGOptions.build(**given)
    assert (options.n_steps, options.method.value) == (n_steps, method)
    assert IGOptions.coerce(None, **given) == options
    assert IGOptions.coerce(options) is options  # built once, passed down as it is
    exp = gru.explain(TEXT, **given)
    assert exp.method == method and exp.is_final
    if n_steps != "auto":
        assert exp.n_steps == n_steps
    assert gru.explain(TEXT, options=options).scores.tolist() == exp.scores.tolist()
    first = next(iter(gru.refine(TEXT, **given)))
    assert first.method == method and first.stage == 1


def test_good_options_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    learner = toy_learner()
    monkeypatch.setattr(demo, "load_demo_model", lambda name=None: learner)
    explainer = igw.Explainer(learner)
    for given, _, method in GOOD:
        argv = cli_flags(given)
        assert argv is not None
        # the CLI's own defaults: --steps auto (so the default method is adaptive) and the
        # [neutral] baseline; the model's default token here, so explain() can be compared
        argv += ["--baseline", "[default]"]
        code, out, err = run_cli(["explain", "a dull and boring film", "--no-color", *argv])
        assert code == 0, err
        if "n_steps" not in given:
            given, method = {"n_steps": "auto", **given}, "adaptive"
        exp = explainer.explain("a dull and boring film", **given)
        header = re.search(r"· (\d+) steps (\w+) ·", out)
        assert header is not None and (int(header[1]), header[2]) == (exp.n_steps, method)


# ---------------------------------------------------------------------- refused everywhere
@pytest.mark.parametrize(("given", "error", "message"), BAD)
def test_bad_options_are_refused_alike(
    gru: igw.Explainer, given: dict[str, Any], error: type[Exception], message: str
) -> None:
    expected = re.escape(message)
    with pytest.raises(error, match=expected):
        IGOptions.build(**given)
    with pytest.raises(error, match=expected):
        gru.explain(TEXT, **given)
    with pytest.raises(error, match=expected):
        next(iter(gru.refine(TEXT, **given)))
    with pytest.raises(error, match=expected):  # beside good options too
        gru.explain(TEXT, options=IGOptions.build(n_steps=8), **given)


@pytest.mark.parametrize(
    ("given", "message"), [(g, m) for g, _, m in BAD if cli_flags(g) is not None]
)
def test_bad_options_through_the_cli(given: dict[str, Any], message: str) -> None:
    argv = cli_flags(given)
    assert argv is not None
    code, out, err = run_cli(["explain", "a film", *argv])
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    if given.get("method", "adaptive") not in ALL_METHODS or given.get("n_steps") == "many":
        assert "--method" in err or "--steps" in err  # argparse's own choices or type
    else:  # refused by IGOptions, before the model is loaded, with its message
        flag = {"n_steps": "--steps", "tol": "--tol", "max_steps": "--max-steps"}
        assert f"argument {flag[message.split()[0]]}: {message}" in err


def test_refused_before_any_model_call(gru: igw.Explainer) -> None:
    calls = [0]
    original = gru.adapter.forward_embeds

    def counting(embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return original(embeds, ids)

    gru.adapter.forward_embeds = counting  # type: ignore[method-assign]
    try:
        with pytest.raises(ValueError, match="tol must be between"):
            gru.explain("a brand new text nobody explained", n_steps="auto", tol=2.0)
    finally:
        gru.adapter.forward_embeds = original  # type: ignore[method-assign]
    assert calls[0] == 0


def test_options_are_frozen_and_typed() -> None:
    assert igw.IGOptions is IGOptions
    options = IGOptions.build("auto", tol=0.02)
    with pytest.raises(AttributeError):
        options.tol = 0.5  # type: ignore[misc]
    assert options.as_kwargs() == {
        "n_steps": "auto",
        "method": "adaptive",
        "tol": 0.02,
        "max_steps": 512,
    }
    assert options.with_steps(12) == IGOptions.build(12, "adaptive", 0.02)
    with pytest.raises(TypeError, match="options must be an IGOptions"):
        IGOptions.coerce({"n_steps": 8})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the default rule
def test_the_default_method_rule(gru: igw.Explainer) -> None:
    assert default_method("auto") is Method.ADAPTIVE
    assert all(default_method(n) is Method.GAUSS_LEGENDRE for n in (1, 16, 4096))
    assert IGOptions.build("auto").method is Method.ADAPTIVE
    assert IGOptions.build(16).method is Method.GAUSS_LEGENDRE
    assert plan_stages(None, "auto").method is Method.ADAPTIVE
    assert plan_stages(None, 16).method is Method.GAUSS_LEGENDRE
    assert gru.explain(TEXT, n_steps="auto", max_steps=32).method == "adaptive"
    assert gru.explain(TEXT, n_steps=16).method == "gausslegendre"
    # a named rule wins; options given beside an object replace only its own entries
    assert IGOptions.build("auto", "riemann_right").method is Method.RIEMANN_RIGHT
    kept = IGOptions.coerce(IGOptions.build(16, "riemann_left"), n_steps="auto")
    assert (kept.n_steps, kept.method) == ("auto", Method.RIEMANN_LEFT)
    assert set(ALL_METHODS) == {m.value for m in Method}


def test_one_completeness_tolerance() -> None:
    assert DELTA_TOLERANCE == COMPLETENESS_TOLERANCE == IGOptions().tol
    options = IGOptions()
    assert options.passes(0.01, 1.0) and options.passes(-0.01, -1.0)
    assert not options.passes(0.0101, 1.0)


# ---------------------------------------------------------------------- points evaluated
def gradient_rows(explainer: igw.Explainer) -> list[int]:
    """Count the gradient rows the model runs (forward-only rows are not points)."""
    rows = [0]
    original = explainer.adapter.forward_embeds

    def counting(embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        if embeds.requires_grad:
            rows[0] += embeds.shape[0]
        return original(embeds, ids)

    explainer.adapter.forward_embeds = counting  # type: ignore[method-assign]
    return rows


def test_a_fixed_count_records_its_points() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=4))
    rows = gradient_rows(explainer)
    exp = explainer.explain(TEXT, n_steps=16)
    assert (exp.n_evaluated, exp.n_computed) == (16, 16) and rows[0] == 16
    again = explainer.explain(TEXT, n_steps=16, target="negative")  # all cached
    assert (again.n_evaluated, again.n_computed) == (16, 0) and rows[0] == 16


def test_auto_records_the_distinct_points_of_its_path() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=3))
    rows = gradient_rows(explainer)
    exp = explainer.explain(TEXT, n_steps="auto", tol=0.001, max_steps=256)
    assert exp.path is not None and exp.method == "adaptive"
    assert exp.n_evaluated == len(set(exp.path.alphas.tolist())) == exp.n_steps
    assert exp.n_computed == exp.n_evaluated == rows[0]
    again = explainer.explain(TEXT, n_steps="auto", tol=0.001, max_steps=256)
    assert (again.n_evaluated, again.n_computed) == (exp.n_evaluated, 0)


def test_every_stage_counts_what_it_rests_on() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=5))
    rows = gradient_rows(explainer)
    ladder = list(
        explainer.refine(TEXT, n_steps="auto", method="gausslegendre", tol=1e-9, max_steps=32)
    )
    # never passes at 1e-9: the whole ladder, 6, 9, 14, 21, 32; its points are not nested,
    # but the odd counts share α = ½, which is computed once
    assert [s.n_steps for s in ladder] == [6, 9, 14, 21, 32]
    seen: set[float] = set()
    for stage in ladder:
        assert stage.path is not None
        seen |= {alpha_key(a) for a in stage.path.alphas}
        assert stage.n_evaluated == len(seen) == stage.n_computed
    assert ladder[-1].n_evaluated == rows[0] == 6 + 9 + 14 + 21 + 32 - 1
    nested = list(explainer.refine(TEXT, n_steps=32, method="riemann_right"))
    assert [s.n_evaluated for s in nested] == [8, 16, 32]  # nested: the last stage's points


def test_a_refinement_computes_only_its_new_points() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=7))
    coarse = explainer.explain(TEXT, n_steps=16, method="riemann_right")
    fine = explainer.explain(TEXT, n_steps=32, method="riemann_right")
    assert (coarse.n_evaluated, coarse.n_computed) == (16, 16)
    assert (fine.n_evaluated, fine.n_computed) == (32, 16)


def test_an_averaged_baseline_counts_each_start() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=8))
    rows = gradient_rows(explainer)
    both = AverageBaseline([igw.ZeroBaseline(), TokenBaseline("<unk>")])
    exp = explainer.explain(TEXT, n_steps=12, baseline=both)
    assert exp.n_evaluated == exp.n_computed == 24 == rows[0]


def test_a_hand_made_result_records_nothing(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=4)
    bare = dataclasses.replace(exp, n_evaluated=None, n_computed=None)
    assert bare.n_evaluated is None and bare.n_computed is None
    compared = {f.name: f.compare for f in dataclasses.fields(igw.Explanation)}
    # what a result rests on is part of it; what one call computed is not
    assert compared["n_evaluated"] and not compared["n_computed"]
