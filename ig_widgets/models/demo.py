"""The demo models that ship inside the package: names and loaders."""

from __future__ import annotations

import importlib
from typing import Any

# name -> "module:function"; the first is the default of load_demo_model()
_DEMO_MODELS: dict[str, str] = {
    "awd_lstm": "ig_widgets.models.awd_lstm:load",
    "cnn": "ig_widgets.models.cnn:load",
}


def demo_models() -> list[str]:
    """Names of the bundled demo models, the default (the fastai AWD-LSTM) first."""
    return list(_DEMO_MODELS)


def load_demo_model(name: str | None = None) -> Any:
    """Load a bundled demo model, offline, from weights shipped in the package.

    Parameters
    ----------
    name : str, optional
        One of :func:`demo_models`; default the fastai AWD-LSTM sentiment ``Learner``.

    Returns
    -------
    Any
        For ``"awd_lstm"`` a fastai ``Learner`` (classes ``negative``/``positive``); for the
        other models a :class:`ig_widgets.models.bundle.TorchTextClassifier`.
    """
    key = name or next(iter(_DEMO_MODELS))
    if key not in _DEMO_MODELS:
        raise ValueError(f"Unknown demo model {key!r}; available: {demo_models()}")
    module, func = _DEMO_MODELS[key].split(":")
    return getattr(importlib.import_module(module), func)()
