"""What a plain module's forward gets besides the ids: ``forward_kwargs``, fixed or per text."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch

#: ``forward_kwargs=``: inputs fixed for every text, or a function of a text's ids ``(n,)``
ForwardKwargs = Mapping[str, Any] | Callable[[torch.Tensor], Mapping[str, Any]]


def check_forward_kwargs(kwargs: Any, what: str = "forward_kwargs=") -> dict[str, Any]:
    """``forward_kwargs=`` (or what its function returned) checked: tensors of batch 1."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(
            f"{what} must be a dict (or a function of the ids returning one), not "
            f"{type(kwargs).__name__}"
        )
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] != 1:
            raise ValueError(
                f"{what}[{key!r}] has shape {tuple(value.shape)}: a tensor needs a "
                "batch dimension of 1 (it is broadcast to every path point)."
            )
    return dict(kwargs)


def stacked(rows: list[dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """Per-row keyword arguments (each tensor of batch 1) as one batch; others: the first row's."""
    out: dict[str, Any] = {}
    for key, first in rows[0].items():
        values = [r.get(key) for r in rows]
        if isinstance(first, torch.Tensor) and first.dim() > 0:
            out[key] = torch.cat([torch.as_tensor(v).to(device) for v in values])
        else:
            out[key] = first
    return out


def broadcast(kwargs: Mapping[str, Any], batch: int, device: torch.device) -> dict[str, Any]:
    """Tensors of ``kwargs`` on ``device``, their batch dimension 1 repeated ``batch`` times."""
    out = {}
    for key, value in kwargs.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            value = value.to(device).expand(batch, *value.shape[1:]).contiguous()
        out[key] = value
    return out


def keyword_names(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword parameters of ``fn``; None when it takes ``**kwargs`` (or has no signature)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in params if p.kind in kinds)


def second_is_offsets(fn: Callable[..., Any]) -> bool:
    """Whether the second positional parameter of a forward is its bags' ``offsets``.

    Named ``offsets``, ``offset``, ``offs`` or ``off…`` (``text_offsets`` too): TorchText's
    ``forward(text, offsets)`` and its shorter spellings.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p.name for p in params if p.kind in kinds]
    if len(positional) < 2:
        return False
    name = positional[1].lower()
    return name.startswith("off") or "offset" in name
