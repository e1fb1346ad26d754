"""Live Integrated Gradients for NLP models inside Jupyter.

Public names are loaded lazily (PEP 562) so that ``import ig_widgets`` stays cheap: fastai,
captum and the widget libraries are imported only when a name that needs them is used.

This module is the top of the layers (``docs/ARCHITECTURE.md``): it also registers the views'
renderers with the engine, which draws an Explanation without importing any view.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.renderers import register_renderer as _register_renderer
from ig_widgets.engine.warnings import IGWidgetsWarning

__version__ = "0.1.0"


# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # models
    "load_demo_model": "ig_widgets.models.demo",
    "demo_models": "ig_widgets.models.demo",
    # engine
    "Explainer": "ig_widgets.engine.explainer",
    "Explanation": "ig_widgets.engine.explanation",
    "IGOptions": "ig_widgets.engine.options",
    "CorpusExplanation": "ig_widgets.engine.corpus",
    "CorpusComparison": "ig_widgets.engine.corpus",
    "compare_corpora": "ig_widgets.engine.corpus",
    "probe": "ig_widgets.engine.probes",
    "ClassAttribution": "ig_widgets.engine.explanation",
    "Word": "ig_widgets.engine.explanation",
    "Cancelled": "ig_widgets.engine.core",
    "TokenBaseline": "ig_widgets.engine.baselines",
    "ZeroBaseline": "ig_widgets.engine.baselines",
    "TextBaseline": "ig_widgets.engine.baselines",
    "AverageBaseline": "ig_widgets.engine.baselines",
    "UncertainBaseline": "ig_widgets.engine.baselines",
    "discover_neutral_tokens": "ig_widgets.engine.neutral",
    "NeutralToken": "ig_widgets.engine.neutral",
    "Tokenized": "ig_widgets.engine.adapters.base",
    # views
    "corpus_report": "ig_widgets.views.report",
    # widgets
    "SaliencyChips": "ig_widgets.widgets.chips",
    "AttributionBars": "ig_widgets.widgets.bars",
    "Explorer": "ig_widgets.widgets.explorer",
    "DatasetView": "ig_widgets.widgets.dataset_view",
    "Compare": "ig_widgets.widgets.compare",
    "PathView": "ig_widgets.widgets.teaching",
    "ConvergenceView": "ig_widgets.widgets.teaching",
    "BaselineLab": "ig_widgets.widgets.teaching",
    # a module listed under its own name is itself the public name: igw.metrics.comprehensiveness
    "metrics": "ig_widgets.engine.metrics",
}

__all__ = [
    "AttributionBars",
    "AverageBaseline",
    "BaselineLab",
    "Cancelled",
    "ClassAttribution",
    "Compare",
    "ConvergenceView",
    "CorpusComparison",
    "CorpusExplanation",
    "DatasetView",
    "Explainer",
    "Explanation",
    "Explorer",
    "IGOptions",
    "IGWidgetsWarning",
    "NeutralToken",
    "PathView",
    "SaliencyChips",
    "TextBaseline",
    "TokenBaseline",
    "Tokenized",
    "UncertainBaseline",
    "Word",
    "ZeroBaseline",
    "__version__",
    "compare_corpora",
    "corpus_report",
    "demo_models",
    "discover_neutral_tokens",
    "load_demo_model",
    "metrics",
    "probe",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ig_widgets' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if module.endswith(f".{name}") else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _html_view(explanation: Explanation, **options: Any) -> str:
    """:func:`ig_widgets.views.html.explanation_html`, the views imported on first use."""
    from ig_widgets.views.html import explanation_html

    return explanation_html(explanation, **options)


def _plot_view(explanation: Explanation, **options: Any) -> Figure:
    """:func:`ig_widgets.views.plot.plot_explanation`, the views imported on first use."""
    from ig_widgets.views.plot import plot_explanation

    return plot_explanation(explanation, **options)


# Explanation.to_html / _repr_html_ / plot call these: the engine never imports the views, and
# `import ig_widgets` (run before any submodule's import) stays free of numpy and matplotlib.
_register_renderer("html", _html_view)
_register_renderer("plot", _plot_view)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from matplotlib.figure import Figure

    from ig_widgets.engine import metrics as metrics
    from ig_widgets.engine.adapters.base import Tokenized
    from ig_widgets.engine.baselines import (
        AverageBaseline,
        TextBaseline,
        TokenBaseline,
        UncertainBaseline,
        ZeroBaseline,
    )
    from ig_widgets.engine.core import Cancelled
    from ig_widgets.engine.corpus import CorpusComparison, CorpusExplanation, compare_corpora
    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.engine.explanation import ClassAttribution, Explanation, Word
    from ig_widgets.engine.neutral import NeutralToken, discover_neutral_tokens
    from ig_widgets.engine.options import IGOptions
    from ig_widgets.engine.probes import probe
    from ig_widgets.models.demo import demo_models, load_demo_model
    from ig_widgets.views.report import corpus_report
    from ig_widgets.widgets.bars import AttributionBars
    from ig_widgets.widgets.chips import SaliencyChips
    from ig_widgets.widgets.compare import Compare
    from ig_widgets.widgets.dataset_view import DatasetView
    from ig_widgets.widgets.explorer import Explorer
    from ig_widgets.widgets.teaching import BaselineLab, ConvergenceView, PathView
