"""The logits inside whatever a forward returned, checked and turned into ``F``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ig_widgets.engine.adapters.base import Output
from ig_widgets.engine.heads import apply_head, check_logits


def pick_logits(out: Any, output_key: int | str | None = None) -> torch.Tensor:
    """The logits tensor inside whatever a model's forward returned.

    A tensor is taken as is; a ``NamedTuple`` gives its field ``output_key`` (default
    ``logits`` when it has one, else element 0); a tuple or list gives element
    ``output_key`` (default 0); a mapping (dict, Hugging Face ``ModelOutput``) or an object
    with attributes (a dataclass) gives key ``output_key`` (default ``"logits"``).
    """
    named = isinstance(out, tuple) and hasattr(out, "_fields")
    by_name = named and (
        isinstance(output_key, str) or (output_key is None and "logits" in out._fields)
    )
    if isinstance(out, torch.Tensor):
        picked: Any = out
    elif isinstance(out, (tuple, list)) and not by_name:
        if isinstance(output_key, str):
            raise TypeError(
                f"The model returned a {type(out).__name__}; output_key must be an int index "
                f"(got {output_key!r})."
            )
        index = 0 if output_key is None else output_key
        if not -len(out) <= index < len(out):
            raise ValueError(f"output_key={index} is out of range: the model returned {len(out)}")
        picked = out[index]
    elif isinstance(out, Mapping) or hasattr(out, "logits") or by_name:
        if isinstance(output_key, int):
            raise TypeError(f"The model returned a {type(out).__name__}; output_key must be a key.")
        key = output_key or "logits"
        found = out.get(key) if isinstance(out, Mapping) else getattr(out, key, None)
        if found is None:
            keys = list(out) if isinstance(out, Mapping) else list(getattr(out, "_fields", []))
            raise ValueError(
                f"The model's output has no {key!r}; pass output_key= naming the logits. "
                f"Keys: {keys}"
            )
        picked = found
    else:
        raise TypeError(
            f"Cannot find logits in a {type(out).__name__}: the forward must return a tensor, "
            "a tuple/list (see output_key=), a NamedTuple, a dict or an object with .logits."
        )
    if not isinstance(picked, torch.Tensor):
        raise TypeError(f"The picked model output is a {type(picked).__name__}, not a tensor.")
    return picked


def logits_to_f(
    logits: torch.Tensor, n_classes: int, output: Output, n_tokens: int | None = None
) -> torch.Tensor:
    """Check the model's outputs and turn them into ``F`` (see :mod:`ig_widgets.engine.heads`).

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, n_classes)``, per token ``(batch, n_tokens, n_classes)``, or ``(batch,)``
        for a single output.
    n_tokens : int, optional
        The input's length, which a per-token output must match.
    """
    if logits.dim() == 1 and n_classes == 1:
        logits = logits.unsqueeze(-1)
    check_logits(logits, n_classes, n_tokens)
    return apply_head(logits, output)
