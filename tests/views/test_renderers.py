"""Explanation.to_html / plot / _repr_html_ call the renderer registered from above the engine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from support.paths import REPO
from support.toy_models import toy_bundle

from ig_widgets.engine import renderers
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.renderers import register_renderer, renderer_for


@pytest.fixture
def exp() -> Explanation:
    return Explainer(toy_bundle("mean")).explain("the film was fun", n_steps=4)


@pytest.fixture
def registered() -> Iterator[dict[str, object]]:
    """Whatever a test registers is undone: the views' renderers are put back afterwards."""
    saved = dict(renderers._RENDERERS)
    yield renderers._RENDERERS
    renderers._RENDERERS.clear()
    renderers._RENDERERS.update(saved)


def test_the_views_are_registered_and_imported_only_when_drawing() -> None:
    """The engine alone draws HTML and plots; the views load on the first drawing, not before."""
    code = (
        "import sys\n"
        "from support.toy_models import toy_bundle\n"
        "from ig_widgets.engine.explainer import Explainer\n"
        "exp = Explainer(toy_bundle('mean')).explain('the film was fun', n_steps=4)\n"
        "assert not any(m.startswith('ig_widgets.views') for m in sys.modules), 'views early'\n"
        "page = exp.to_html()\n"
        "assert 'ig_widgets.views.html' in sys.modules and '<' in page\n"
        "assert exp._repr_html_() == page\n"
        "from matplotlib.figure import Figure\n"
        "assert isinstance(exp.plot(), Figure)\n"
        "print('ok')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "MPLBACKEND": "Agg",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_registered_renderer_is_what_the_explanation_calls(exp, registered) -> None:
    calls: list[tuple[Explanation, object, dict[str, object]]] = []

    def fake(explanation: Explanation, target: object = None, **options: object) -> str:
        calls.append((explanation, target, options))
        return "<p>fake</p>"

    previous = register_renderer("html", fake)
    assert previous is not None and previous is not fake
    assert exp.to_html(target="positive", top_k=3) == "<p>fake</p>"
    assert exp._repr_html_() == "<p>fake</p>"
    assert calls == [(exp, "positive", {"top_k": 3}), (exp, None, {})]
    register_renderer("plot", fake)
    assert exp.plot(1) == "<p>fake</p>" and calls[-1] == (exp, 1, {})
    register_renderer("html", previous)
    assert "fake" not in exp.to_html()


def test_without_a_renderer_the_error_says_what_to_register(exp, registered) -> None:
    registered.clear()
    with pytest.raises(LookupError, match=r"No 'html' renderer.*register_renderer\('html'"):
        exp.to_html()
    with pytest.raises(LookupError, match="No 'plot' renderer"):
        exp.plot()


def test_register_renderer_checks_its_arguments(registered) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        register_renderer("svg", str)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        register_renderer("html", "explanation_html")  # type: ignore[arg-type]
    assert renderer_for("html") is registered["html"]
