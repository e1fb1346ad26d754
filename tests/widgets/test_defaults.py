"""Right by default: the first screen's steps and baseline, and warnings that offer their fix."""

from __future__ import annotations

import ast
import json
import time
from typing import Any

import numpy as np
import pytest
import torch
from support.paths import REPO
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.engine import neutral
from ig_widgets.engine.baselines import NEUTRAL, baseline_from_choice, from_spec, to_spec
from ig_widgets.widgets.compare import Compare
from ig_widgets.widgets.explorer import Explorer
from ig_widgets.widgets.teaching.path import PathView

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WAIT = 180.0
MIXED = "The cast is wonderful, but the script wastes them on a plot that goes nowhere."


def demo_examples() -> dict[str, str]:
    """The example reviews of the demo notebook (``EXAMPLES = {...}`` in its code)."""
    notebook = json.loads((REPO / "notebooks" / "demo.ipynb").read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
                return dict(ast.literal_eval(node.value))
    raise AssertionError("the demo notebook defines no EXAMPLES")


@pytest.fixture(scope="module")
def learners() -> dict[str, Any]:
    return {name: igw.load_demo_model(name) for name in igw.demo_models("classifier")}


def settle(widget: Any) -> None:
    """Wait for the widget's final result (the coarse stages and the background work)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if widget.wait(WAIT) and not widget.computing:
            return
        time.sleep(0.02)
    raise AssertionError("the widget never settled")


def explained_share(exp: igw.Explanation) -> float:
    """``(F(x) − F(x′)) / (F(x) − 1/C)`` of the predicted class: what the chips carry."""
    p = exp.predicted
    return float((exp.f_input[p] - exp.f_baseline[p]) / (exp.f_input[p] - 1 / len(exp.classes)))


@pytest.mark.parametrize("model", ["awd_lstm", "cnn"])
def test_the_first_screen_warns_about_nothing_on_every_demo_example(
    learners: dict[str, Any], model: str
) -> None:
    for name, text in demo_examples().items():
        explorer = Explorer(learners[model], text=text, debounce=0.01)
        settle(explorer)
        exp = explorer.explanation
        assert exp is not None and exp.is_final and explorer.error == ""
        assert explorer.auto_steps and explorer.baseline == NEUTRAL
        assert explorer.badge["ok"] and explorer.badge["meaning"] == "", (name, explorer.badge)
        assert explorer.badge["fix"] == ""
        info = explorer.baseline_info
        assert not info["far"] and info["meaning"] == "" and info["suggest"] == "", (name, info)
        assert info["note"].startswith("neutral token"), info
        assert explained_share(exp) >= 0.5, (name, explained_share(exp))
        explorer.close()


def test_neutral_resolves_to_the_token_a_result_stores(learners: dict[str, Any]) -> None:
    """A result of ``[neutral]`` holds the resolved token: reloading it gives its numbers."""
    explorer = Explorer(learners["awd_lstm"], text=MIXED, debounce=0.01, faithfulness=False)
    settle(explorer)
    exp = explorer.explanation
    assert exp is not None
    explainer = explorer.explainer
    length = sum(not s for s in explainer.tokenize(MIXED).special)
    token = baseline_from_choice(NEUTRAL, explainer.adapter, length=length)
    assert isinstance(token, str) and exp.baseline == f"token {token!r}"
    spec = to_spec(token)
    assert spec == {"kind": "token", "token": token}
    again = explainer.explain(MIXED, n_steps="auto", baseline=from_spec(spec))
    np.testing.assert_allclose(again.scores, exp.scores, rtol=0, atol=1e-9)
    explorer.close()


def test_the_shortlist_is_found_once_per_model_and_follows_its_weights() -> None:
    bundle = toy_bundle("gru", n_classes=2)
    explainer = igw.Explainer(bundle)
    first = neutral.neutral_shortlist(explainer)
    calls = []
    original = explainer.adapter.forward_embeds
    explainer.adapter.forward_embeds = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[method-assign]
    assert neutral.neutral_shortlist(explainer) is first and calls == []
    assert neutral.neutral_shortlist(igw.Explainer(bundle)) is first  # another Explainer
    with torch.no_grad():
        next(explainer.adapter.network.parameters()).add_(0.5)
    assert neutral.neutral_shortlist(explainer) is not first and calls  # new weights: scanned


def test_a_regression_head_falls_back_with_its_reason() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=1, output="identity"))
    explorer = Explorer(explainer, text="a fine film", debounce=0.01, discover_neutral=False)
    settle(explorer)
    assert explorer.error == "" and explorer.explanation is not None
    default = explainer.adapter.default_baseline_token
    assert explorer.explanation.baseline == f"token {default!r}"  # the model's default
    assert "regression head has no neutral point" in explorer.baseline_info["note"]
    explorer.close()


def test_explorer_warnings_say_what_they_mean_and_fix_it(learners: dict[str, Any]) -> None:
    explorer = Explorer(
        learners["awd_lstm"],
        text=MIXED,
        n_steps=4,
        baseline="[default]",
        debounce=0.01,
        discover_neutral=False,
        faithfulness=False,
    )
    settle(explorer)
    assert not explorer.badge["ok"] and "too few points" in explorer.badge["meaning"]
    assert explorer.badge["fix"] == "compute the steps automatically"
    info = explorer.baseline_info
    assert info["far"] and "confident prediction" in info["meaning"]
    assert info["suggest"] == NEUTRAL and info["suggest_text"] == "use a neutral baseline"
    explorer.vue_fix_steps()
    settle(explorer)
    assert explorer.auto_steps and explorer.badge["ok"] and explorer.badge["fix"] == ""
    explorer.vue_use_suggested_baseline()
    settle(explorer)
    exp = explorer.explanation
    assert explorer.baseline == NEUTRAL and exp is not None and "xxunk" not in exp.baseline
    assert not explorer.baseline_info["far"] and explorer.baseline_info["meaning"] == ""
    assert explained_share(exp) >= 0.5
    explorer.close()


def test_compare_defaults_and_its_fixes(learners: dict[str, Any]) -> None:
    models = [learners["awd_lstm"], learners["cnn"]]
    compare = Compare(models, text=MIXED, debounce=0.01)
    settle(compare)
    assert compare.auto_steps and compare.baseline == NEUTRAL and compare.error == ""
    for row in compare.rows:
        assert row["badge"]["ok"] and row["baseline_meaning"] == "", row
    compare.close()
    compare = Compare(models, text=MIXED, n_steps=4, baseline="[default]", debounce=0.01)
    settle(compare)
    assert any(row["badge"]["fix"] for row in compare.rows)
    assert any(row["baseline_fix"] for row in compare.rows)
    compare.vue_fix_steps()
    settle(compare)
    assert all(row["badge"]["ok"] for row in compare.rows)
    compare.vue_fix_baseline()
    settle(compare)
    assert compare.baseline == NEUTRAL
    assert all(row["baseline_fix"] == "" for row in compare.rows)
    compare.close()


def test_path_view_fixes_its_warnings(learners: dict[str, Any]) -> None:
    view = PathView(learners["awd_lstm"], MIXED, n_steps=4, debounce=0.01)
    settle(view)
    assert [w["kind"] for w in view.warnings] == ["steps", "baseline"]
    assert all(w["meaning"] and w["fix"] for w in view.warnings)
    view.vue_fix("steps")
    settle(view)
    settle(view)  # the slider takes the count found, and the path is drawn again at it
    assert view.n_steps > 4 and [w["kind"] for w in view.warnings] == ["baseline"]
    view.vue_fix("baseline")
    settle(view)
    assert view.warnings == [] and "xxunk" not in view.summary["baseline"]
    view.close()


def test_a_linked_path_view_draws_the_explorers_neutral_path(learners: dict[str, Any]) -> None:
    """[neutral] resolves at the text's length in both: the path ends where the chips do."""
    explorer = Explorer(learners["awd_lstm"], text=MIXED, debounce=0.01, faithfulness=False)
    settle(explorer)
    at_8 = baseline_from_choice(NEUTRAL, explorer.explainer.adapter, length=8)
    assert explorer.explanation is not None and repr(at_8) not in explorer.explanation.baseline
    view = PathView.from_explorer(explorer, debounce=0.01)
    settle(view)
    exp = explorer.explanation
    assert exp is not None and view.summary["baseline"] == exp.baseline
    assert view.summary["f_baseline"] == float(exp.f_baseline[exp.predicted])
    view.close()
    explorer.close()
