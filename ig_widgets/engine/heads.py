"""What the engine attributes: the model's outputs through a head (softmax, sigmoid or none)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

#: ``F``: softmax probabilities, raw logits, one sigmoid per label, the outputs as they are, or
#: log-softmax probabilities (Captum's ``LLMAttribution`` convention for language models)
Output = Literal["probs", "logits", "sigmoid", "identity", "logprob"]
OUTPUTS: tuple[Output, ...] = ("probs", "logits", "sigmoid", "identity", "logprob")

#: what each head's ``F`` is, in words (for errors and views)
MEANINGS: dict[str, str] = {
    "probs": "softmax probabilities (single-label classification)",
    "logits": "raw logits",
    "sigmoid": "one sigmoid probability per label (multi-label classification)",
    "identity": "the outputs in their own units (regression)",
    "logprob": "log-softmax probabilities (log-probabilities, e.g. of a next token)",
}


def check_output(output: object) -> Output:
    """``output`` as an :data:`Output`; ``ValueError`` naming the choices otherwise."""
    for name in OUTPUTS:
        if output == name:
            return name
    meanings = "; ".join(f"{name}: {MEANINGS[name]}" for name in OUTPUTS)
    raise ValueError(
        f"output must be 'probs', 'logits', 'sigmoid' or 'identity', or for a language model "
        f"'logprob' ({meanings}), not {output!r}."
    )


def apply_head(logits: torch.Tensor, output: Output) -> torch.Tensor:
    """``F`` from the model's outputs; the class axis is the last one.

    Parameters
    ----------
    logits : torch.Tensor
        ``(batch, n_classes)`` or, per token, ``(batch, n_tokens, n_classes)``.

    Returns
    -------
    torch.Tensor
        The same shape: softmax (or log-softmax) over the classes, sigmoid of each, or the
        input itself.
    """
    if output == "probs":
        return torch.softmax(logits, dim=-1)
    if output == "logprob":
        return torch.log_softmax(logits, dim=-1)
    if output == "sigmoid":
        return torch.sigmoid(logits)
    return logits


def check_logits(logits: torch.Tensor, n_classes: int, n_tokens: int | None = None) -> None:
    """``ValueError`` unless ``logits`` is ``(batch, n_classes)`` or ``(batch, n, n_classes)``.

    ``n_tokens`` (when known) is what the middle axis of a per-token output must be.
    """
    per_token = logits.dim() == 3 and (n_tokens is None or logits.shape[1] == n_tokens)
    if logits.shape[-1] != n_classes or not (logits.dim() == 2 or per_token):
        tokens = "n_tokens" if n_tokens is None else str(n_tokens)
        raise ValueError(
            f"The model's output has shape {tuple(logits.shape)}; expected (batch, {n_classes}) "
            f"for {n_classes} classes, or (batch, {tokens}, {n_classes}) for one output per "
            "token. Check classes= (one name per output), output_key= and output_select=."
        )
    if not torch.isfinite(logits).all():
        raise ValueError(
            "The model's output contains NaN or infinity; Integrated Gradients needs finite "
            "outputs. Check the model's weights and inputs."
        )


def has_uncertainty(output: str) -> bool:
    """Whether the head's outputs have a point of no information (all but ``identity``)."""
    return output != "identity"


def uninformed(output: str, n_classes: int) -> float:
    """Each class's probability when the model knows nothing: ``1/C``, or ½ per sigmoid label.

    Raises
    ------
    ValueError
        For ``identity`` (regression): its outputs have no such point.
    """
    if not has_uncertainty(output):
        raise ValueError(
            "A regression output (output='identity') has no 'uncertain' or 'neutral' point: "
            "those baselines make class probabilities uninformative. Use a token, zero or "
            "average baseline."
        )
    return 0.5 if output == "sigmoid" else 1.0 / n_classes


def class_probabilities(out: torch.Tensor, output: str) -> torch.Tensor:
    """Each class's probability from ``F`` ``(..., n_classes)``, differentiably.

    Softmax probabilities are ``F``; logits go through a softmax; log-probabilities are
    exponentiated; sigmoid labels are their own probabilities. ``ValueError`` for
    ``identity`` (see :func:`uninformed`).
    """
    uninformed(output, out.shape[-1])  # raises for identity
    if output == "logprob":
        return out.exp()
    return out.softmax(-1) if output == "logits" else out


def probabilities(f: np.ndarray, output: str) -> np.ndarray:
    """What views show as each class's probability, from ``F`` ``(..., n_classes)``.

    Softmax probabilities are ``F``; logits go through a softmax; log-probabilities are
    exponentiated; sigmoid labels are their own probabilities (they need not sum to 1); for
    ``identity`` these are the outputs in their own units, not probabilities.
    """
    values = np.asarray(f, dtype=np.float64)
    if output == "logprob":
        return np.exp(values)
    if output != "logits":
        return values
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))
