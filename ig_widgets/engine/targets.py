"""What ``target=`` may be, and its checks: a class, or ``(token index, label)`` per token."""

from __future__ import annotations

import numpy as np

#: what ``target=`` may be: a class (name or index), or ``(token index, label)`` per token
Target = int | str | tuple[int, int | str | None]


def split_target(target: Target | None) -> tuple[int | None, int | str | None]:
    """``(position, class)`` of a target: a class alone, or ``(token index, label)``."""
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError(f"A per-token target is (token_index, label), got {target!r}")
        position, label = target
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
            raise TypeError(f"The token index must be an int, got {type(position).__name__}")
        return int(position), label
    return None, target


def check_position(position: int | None, seen: np.ndarray | None, n_tokens: int) -> int | None:
    """The explained token's index in ``[0, n_tokens)``, or None for a sequence classifier."""
    per_token = seen is not None and seen.ndim == 2
    if per_token and position is None:
        raise ValueError(
            "This model labels every token (token classification): say which token to "
            "explain, target=(token_index, label), the index counting special tokens."
        )
    if position is None:
        return None
    if not per_token:
        raise ValueError(
            "The model classifies the whole text (one output per text, not per token): "
            "target is a class name or index, not (token_index, label)."
        )
    if not -n_tokens <= position < n_tokens:
        raise ValueError(f"Token index {position} is out of range for {n_tokens} tokens.")
    return position % n_tokens


def check_target(target: int | str, classes: tuple[str, ...]) -> None:
    """``ValueError``/``TypeError`` when ``target`` names no class."""
    if isinstance(target, str):
        if target not in classes:
            raise ValueError(f"Unknown target class {target!r}; the classes are {list(classes)}")
    elif isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a class name or index, got {type(target).__name__}")
    elif not -len(classes) <= int(target) < len(classes):
        raise ValueError(f"Target index {target} is out of range for classes {list(classes)}")
