"""Model families behind one interface; :func:`adapter_for` picks the one that fits a model."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ig_widgets.engine.adapters.base import ModelAdapter, Tokenized

__all__ = ["ModelAdapter", "Tokenized", "adapter_for"]


def _load_families() -> None:
    """Import every module of this package once, so each family registers itself."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def adapter_for(model: Any, **kwargs: Any) -> ModelAdapter:
    """Wrap ``model`` in the first registered adapter that accepts it.

    Raises
    ------
    TypeError
        When no family accepts the model, naming what is supported.
    """
    if isinstance(model, ModelAdapter):
        return model
    _load_families()
    for family in ModelAdapter.registry:
        if family.accepts(model, **kwargs):
            make: Callable[..., ModelAdapter] = family  # every family takes (model, **kwargs)
            return make(model, **kwargs)
    names = ", ".join(f.family for f in ModelAdapter.registry)
    raise TypeError(
        f"No adapter accepts a {type(model).__module__}.{type(model).__name__}. Supported: "
        f"{names}. A plain torch.nn.Module needs tokenizer=, embedding= and classes=."
    )
