"""The teaching views without a browser: PathView, ConvergenceView, BaselineLab and their charts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.widgets.explorer import Explorer
from ig_widgets.widgets.teaching import BaselineLab, ConvergenceView, PathView
from ig_widgets.widgets.teaching.charts import Axis, Chart, Series, log_ticks, nice_ticks

TEXT = "The movie was not very good, but the acting is fun!"
WAIT = 120.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def explainer() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru", n_classes=3))


def count_model_calls(explainer: igw.Explainer) -> dict[str, int]:
    calls = {"n": 0}
    original = explainer.adapter.forward_embeds

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return original(*args, **kwargs)

    explainer.adapter.forward_embeds = counted  # type: ignore[method-assign]
    return calls


def demo_explainer() -> igw.Explainer:
    try:
        return igw.Explainer(igw.load_demo_model())
    except (FileNotFoundError, OSError) as exc:
        pytest.skip(f"the demo model's weights are not in the package yet: {exc}")


# ---------------------------------------------------------------------------- PathView
@pytest.mark.parametrize("target", [None, "c0", "c2"])
def test_path_curve_runs_from_f_baseline_to_f_input(
    explainer: igw.Explainer, target: str | None
) -> None:
    view = PathView(explainer, text=TEXT, target=target, n_steps=8, debounce=0.01)
    assert view.wait(WAIT) and view.error == ""
    exp, dense = view.result.explanation, view.result.dense
    c = exp.predicted if target is None else exp.class_index(target)
    assert dense.path.alphas[0] == 0.0 and dense.path.alphas[-1] == 1.0
    assert dense.path.f[c][0] == pytest.approx(exp.f_baseline[c], abs=1e-6)
    assert dense.path.f[c][-1] == pytest.approx(exp.f_input[c], abs=1e-6)
    # the marked points are the rule's own, and the cells' area is Σ attributions
    np.testing.assert_allclose(
        exp.path.alphas, np.sort(np.polynomial.legendre.leggauss(8)[0] + 1) / 2
    )
    area = float((exp.path.weights * exp.path.dfdalpha[c]).sum())
    assert area == pytest.approx(exp.scores[c].sum(), abs=1e-9)
    f_panel, integrand, grad = (w.panel for w in view.charts)
    assert len(f_panel["dots"]) == 8 and len(integrand["rects"]) == 8 and len(grad["dots"]) == 8
    assert len(f_panel["lines"][0]["points"].split()) == 33
    assert view.summary["target"] == exp.classes[c]
    assert view.summary["total"] == pytest.approx(exp.scores[c].sum())
    view.close()


def test_path_target_switch_needs_no_model_call(explainer: igw.Explainer) -> None:
    view = PathView(explainer, text=TEXT, n_steps=6, debounce=0.01)
    assert view.wait(WAIT)
    calls = count_model_calls(explainer)
    before = view.charts[0].panel
    view.target = "c1" if view.summary["target"] != "c1" else "c0"
    assert view.summary["target"] == view.target and view.charts[0].panel != before
    assert calls["n"] == 0
    view.close()


def test_path_view_follows_an_explorer(explainer: igw.Explainer) -> None:
    explorer = Explorer(explainer, text=TEXT, n_steps=16, debounce=0.01, discover_neutral=False)
    assert explorer.wait(WAIT)
    view = PathView.from_explorer(explorer, debounce=0.01)
    assert view.wait(WAIT) and view.linked
    explorer.set_state(
        {
            "text": "a bad , boring film",
            "n_steps": 12,
            "method": "riemann_middle",
            "baseline": "[zero]",
        }
    )
    assert explorer.wait(WAIT) and view.wait(WAIT) and view.error == ""
    exp = view.result.explanation
    assert (exp.text, exp.n_steps, exp.method) == ("a bad , boring film", 12, "riemann_middle")
    assert exp.baseline == "zero embeddings"
    np.testing.assert_allclose(exp.scores, explorer.explanation.scores, atol=1e-12)
    explorer.target = "c2"
    assert view.target == "c2" and view.summary["target"] == "c2"
    view.close()
    explorer.set_state({"text": "fun"})  # a closed view no longer follows
    assert explorer.wait(WAIT) and view.result.explanation.text == "a bad , boring film"
    explorer.close()


def test_path_view_errors_show_inside_it(explainer: igw.Explainer) -> None:
    view = PathView(explainer, text="   ", debounce=0.01)
    assert view.wait(WAIT)
    assert "empty" in view.error and view.computing is False
    view.set_state({"text": TEXT, "method": "simpson"})
    assert view.wait(WAIT) and "Unknown integration method" in view.error
    view.set_state({"method": "riemann_left"})
    assert view.wait(WAIT) and view.error == "" and view.result.explanation.method == "riemann_left"
    with pytest.raises(ValueError, match="Unknown class"):
        PathView(explainer, text=TEXT, target="nope")
    view.close()


# ---------------------------------------------------------------------------- ConvergenceView
def check_convergence(explainer: igw.Explainer, text: str) -> ConvergenceView:
    view = ConvergenceView(explainer, text=text, debounce=0.01)
    assert view.wait(WAIT) and view.error == ""
    table = view.table
    assert table is not None and table.steps == (2, 4, 8, 16, 32, 64)
    gl, right = table.row("gausslegendre"), table.row("riemann_right")
    assert gl["abs_delta"][-1] < right["abs_delta"][-1]
    assert gl["abs_delta"][-1] < 0.01 * abs(table.diff)
    return view


def test_convergence_gauss_legendre_beats_riemann_right(explainer: igw.Explainer) -> None:
    view = check_convergence(explainer, TEXT)
    table = view.table
    assert table is not None
    fresh = explainer.explain(TEXT, n_steps=32, method="riemann_middle")
    c = fresh.predicted
    m = table.methods.index("riemann_middle")
    assert table.delta[m, table.steps.index(32)] == pytest.approx(fresh.delta[c], abs=1e-12)
    errors = view.charts[1].panel
    assert [line["name"] for line in errors["lines"]] == list(table.methods)
    assert [row["method"] for row in view.rows] == list(ALL_METHODS)
    assert len(view.rows[0]["cells"]) == 6
    # a class switch re-reads the cached explanations
    calls = count_model_calls(explainer)
    view.target = "c1"
    assert view.table is not None and view.table.target == "c1" and calls["n"] == 0
    view.close()


def test_convergence_on_the_demo_model() -> None:
    # The AWD-LSTM's head (max-pool over time, ReLU) puts kinks into F along the path, so no
    # rule converges monotonically on every review and Gauss-Legendre does not always beat
    # riemann_right at 64 steps (the toy GRU above shows the smooth case). What must hold:
    # the view reports the engine's own |delta| for each rule, and Gauss-Legendre at 64 steps
    # is within 1 % of F(input) − F(baseline) on these reviews.
    explainer = demo_explainer()
    reviews = (
        "a gorgeous, moving film with a great cast",
        "The plot is thin and the jokes are stale.",
        "A gorgeous, moving film, although the second half drags.",
    )
    for text in reviews:
        view = ConvergenceView(explainer, text=text, steps=(16, 64), debounce=0.01)
        assert view.wait(WAIT) and view.error == ""
        table = view.table
        assert table is not None
        for method in ("gausslegendre", "riemann_right"):
            exp = explainer.explain(text, n_steps=64, method=method)
            c = exp.class_index(table.target)
            assert table.row(method)["abs_delta"][-1] == pytest.approx(abs(exp.delta[c]))
        assert table.row("gausslegendre")["abs_delta"][-1] < 0.01 * abs(table.diff)
        view.close()


def test_convergence_refuses_bad_steps_and_shows_errors(explainer: igw.Explainer) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ConvergenceView(explainer, text=TEXT, steps=(1, 4))
    view = ConvergenceView(explainer, text="", debounce=0.01)
    assert view.wait(WAIT) and "empty" in view.error
    view.close()


# ---------------------------------------------------------------------------- BaselineLab
def test_baseline_lab_lists_neutral_tokens_and_the_uncertain_curve(
    explainer: igw.Explainer,
) -> None:
    lab = BaselineLab(explainer, top_k=4, debounce=0.01)
    assert lab.wait(WAIT) and lab.error == ""
    expected = igw.discover_neutral_tokens(explainer, top_k=4)
    tokens = [row for row in lab.candidates if row["kind"] == "token"]
    assert [row["label"] for row in tokens] == [n.token for n in expected]
    for row, n in zip(tokens, expected, strict=True):
        assert row["probs"] == pytest.approx(n.probs, abs=1e-4)
    kinds = [row["kind"] for row in lab.candidates[:3]]
    assert kinds == ["default", "zero", "uncertain"]
    uncertain = lab.last_uncertain
    assert uncertain is not None
    history = uncertain.last["history"]
    assert lab.iterations == len(history) > 1
    assert history[-1] <= uncertain.tol < history[0]
    assert lab.reached == pytest.approx(uncertain.last["probs"])
    assert max(abs(p - 1 / 3) for p in lab.reached) <= uncertain.tol
    assert len(lab.chart.panel["lines"][0]["points"].split()) == len(history)
    lab.set_state({"top_k": 2})
    assert lab.wait(WAIT) and len([r for r in lab.candidates if r["kind"] == "token"]) == 2
    lab.close()


def test_baseline_lab_ranks_baselines_by_faithfulness(explainer: igw.Explainer) -> None:
    from ig_widgets.engine.metrics import comprehensiveness, sufficiency

    sample = ["a dull film with a stale plot", "the plot is fun and the cast is great"]
    lab = BaselineLab(explainer, top_k=2, sample=sample, n_steps=8, debounce=0.01)
    assert lab.wait(WAIT) and lab.error == ""
    kinds = sorted(row["kind"] for row in lab.ranking)
    assert kinds == ["average", "default", "token", "uncertain", "zero"]
    # best first: comprehensiveness down, ties broken by sufficiency
    keys = [(-row["comprehensiveness"], row["sufficiency"]) for row in lab.ranking]
    assert keys == sorted(keys)
    default = next(row for row in lab.ranking if row["kind"] == "default")
    exp = explainer.explain(lab.text, n_steps=8)
    assert default["comprehensiveness"] == pytest.approx(
        comprehensiveness(exp, explainer).value, abs=1e-9
    )
    assert default["sufficiency"] == pytest.approx(sufficiency(exp, explainer).value, abs=1e-9)
    assert lab.sample_size == 2
    mean, half = default["sample"]["comprehensiveness"]
    values = [comprehensiveness(explainer.explain(t, n_steps=8), explainer).value for t in sample]
    assert mean == pytest.approx(float(np.mean(values)), abs=1e-9) and half > 0
    lab.close()


def test_baseline_lab_errors(explainer: igw.Explainer) -> None:
    with pytest.raises(ValueError, match="top_k"):
        BaselineLab(explainer, top_k=0)
    lab = BaselineLab(explainer, top_k=2, text=" ", debounce=0.01)
    assert lab.wait(WAIT) and "empty" in lab.error
    lab.close()


# ---------------------------------------------------------------------------- charts
def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.013, 0.052) == [0.0, 0.02, 0.04]
    assert nice_ticks(3.0, 3.0) == [3.0]
    assert log_ticks(1e-9, 1.0) == [1e-9, 1e-7, 1e-5, 1e-3, 1e-1]
    assert log_ticks(1e-3, 1e-1) == [1e-3, 1e-2, 1e-1]


def test_chart_layout_maps_data_into_the_plot_box() -> None:
    chart = Chart(
        "t",
        Axis("x", 0.0, 1.0),
        Axis("y", log=True),
        series=[Series("s", [0.0, 0.5, 1.0], [1e-6, 0.0, 1e-2], markers=True)],
    )
    layout = chart.layout(width=200, height=100)
    box = layout["box"]
    points = [tuple(map(float, p.split(","))) for p in layout["lines"][0]["points"].split()]
    assert len(points) == 2  # the zero has no logarithm and is left out
    assert points[0] == (box["x0"], box["y0"]) and points[1] == (box["x1"], box["y1"])
    assert [d["x"] for d in layout["dots"]] == [box["x0"], box["x1"]]
