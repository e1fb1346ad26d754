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


# --- the head a model's own prediction uses, read from the model ---------------------------
# Every family asks these (one rule, one place); an explicit ``output=`` always wins.

#: how close to 1 a sum of non-negative outputs must be to count as probabilities already
_SUMS_TO_ONE = 1e-5


def chosen_output(given: object, default: Output) -> Output:
    """The user's ``output=`` when given (checked), else the head read from the model."""
    return default if given is None else check_output(given)


def output_from_config(config: object) -> Output:
    """The head of a Hugging Face model, from its config, as its own loss reads it.

    ``problem_type="regression"`` or ``num_labels == 1`` (transformers' regression
    convention) → ``identity``; ``"multi_label_classification"`` → ``sigmoid``; else the
    softmax, ``probs``.
    """
    problem = getattr(config, "problem_type", None)
    if problem == "multi_label_classification":
        return "sigmoid"
    if problem == "regression" or int(getattr(config, "num_labels", 2)) == 1:
        return "identity"
    return "probs"


def output_from_pipeline(task: str, config: object, function_to_apply: object) -> Output:
    """The head a ``transformers`` classification pipeline applies to the logits.

    Parameters
    ----------
    task : str
        The pipeline's task (``"text-classification"``, ``"token-classification"`` …).
    config : object
        The model's config (``problem_type``, ``num_labels``).
    function_to_apply : object
        The pipeline's ``function_to_apply`` (an enum or a string: ``none``, ``sigmoid``,
        ``softmax``), or None for its default.

    Returns
    -------
    Output
        ``none`` → ``identity``, ``sigmoid`` → ``sigmoid``, ``softmax`` → ``probs``; with no
        function given, the text pipeline's own rule: regression → ``identity``,
        multi-label or one label → ``sigmoid``, else ``probs`` (token pipelines: ``probs``).
    """
    applied = "" if function_to_apply is None else str(function_to_apply).lower()
    for suffix, head in (("none", "identity"), ("sigmoid", "sigmoid"), ("softmax", "probs")):
        if applied.endswith(suffix):
            return head  # type: ignore[return-value]  # one of OUTPUTS
    if task not in ("text-classification", "sentiment-analysis"):
        return "probs"
    problem = getattr(config, "problem_type", None)
    if problem == "regression":
        return "identity"
    if problem == "multi_label_classification" or int(getattr(config, "num_labels", 2)) == 1:
        return "sigmoid"
    return "probs"


#: fastai loss functions (by class name) whose predictions are not a softmax
_LOSS_HEADS: dict[str, Output] = {
    "BCEWithLogitsLossFlat": "sigmoid",
    "BCEWithLogitsLoss": "sigmoid",
    "MSELossFlat": "identity",
    "L1LossFlat": "identity",
    "MSELoss": "identity",
    "L1Loss": "identity",
}


def output_from_loss(loss_func: object) -> Output:
    """The head of a fastai ``Learner``, as ``learn.predict`` applies it after its loss.

    ``BCEWithLogitsLossFlat`` → ``sigmoid`` (multi-label), ``MSELossFlat``/``L1LossFlat`` →
    ``identity`` (regression), anything else (``CrossEntropyLossFlat`` …) → ``probs``.
    A flattened loss (``MSELossFlat()`` is a ``BaseLoss``) is read by the loss it wraps.
    """
    for loss in (loss_func, getattr(loss_func, "func", None)):
        head = _LOSS_HEADS.get(type(loss).__name__)
        if head is not None:
            return head
    return "probs"


def refuse_second_softmax(logits: torch.Tensor, output: Output, explicit: bool) -> None:
    """``ValueError`` when a softmax head would be put on outputs that are probabilities.

    A model whose forward already ends in a softmax gives non-negative outputs that sum to 1;
    a second softmax would explain another function (0.57 where the model says 0.979).
    Only the default head is refused: an explicit ``output="probs"`` is the user's choice.

    Parameters
    ----------
    logits : torch.Tensor
        The model's outputs on one text, ``(1, n_classes)`` or ``(1, n_tokens, n_classes)``.
    """
    if explicit or output != "probs" or logits.shape[-1] < 2:
        return
    values = logits.detach().double()
    sums = values.sum(-1)
    if bool((values >= 0).all()) and bool(((sums - 1).abs() <= _SUMS_TO_ONE).all()):
        raise ValueError(
            "The model's outputs are already probabilities (non-negative, summing to 1: its "
            "forward ends in a softmax); the default head would apply a second softmax and "
            "explain another function. Pass output='identity' to explain these probabilities "
            "as they are (or output='probs' if a softmax on top is really meant)."
        )
