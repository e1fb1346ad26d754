"""Model families behind one interface; :func:`adapter_for` picks the one that fits a model."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ig_widgets.engine.adapters._refused import refuse_compiled, refuse_unexplainable
from ig_widgets.engine.adapters.base import ModelAdapter, Tokenized

__all__ = ["ModelAdapter", "Tokenized", "adapter_for", "families"]


def _load_families() -> None:
    """Import every family module of this package once, so each family registers itself.

    ``base`` and the private helper modules (``_name``) define no family.
    """
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def families() -> list[type[ModelAdapter]]:
    """The registered families in the order they are asked: highest ``priority`` first.

    Families of equal priority keep their registration order (the sort is stable).
    """
    _load_families()
    return sorted(ModelAdapter.registry, key=lambda family: -family.priority)


def adapter_for(model: Any, **kwargs: Any) -> ModelAdapter:
    """Wrap ``model`` in the registered adapter of highest priority that accepts it.

    Raises
    ------
    TypeError
        When no family accepts the model, naming what is supported; for a TorchScript or a
        quantized model (:mod:`~ig_widgets.engine.adapters._refused`).
    ValueError
        For a model whose weights are on the meta device.
    """
    if isinstance(model, ModelAdapter):
        return model
    refuse_compiled(model)
    ordered = families()
    for family in ordered:
        if family.accepts(model, **kwargs):
            make: Callable[..., ModelAdapter] = family  # every family takes (model, **kwargs)
            adapter = make(model, **kwargs)
            refuse_unexplainable(adapter.network)
            return adapter
    names = ", ".join(f.family for f in ordered)
    raise TypeError(
        f"No adapter accepts a {type(model).__module__}.{type(model).__name__}. Supported: "
        f"{names}. A plain torch.nn.Module needs tokenizer=, embedding= and classes=."
    )
