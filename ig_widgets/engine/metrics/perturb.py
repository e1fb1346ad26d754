"""The perturbation core of the metrics: rankings, sizes and batched runs of perturbed texts."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from ig_widgets.engine.core import check_finite
from ig_widgets.engine.explanation import Explanation

if TYPE_CHECKING:
    from ig_widgets.engine.adapters.base import ModelAdapter
    from ig_widgets.engine.explainer import Explainer

Mode = Literal["delete", "baseline"]
#: the two ways of taking a token out of a text
MODES: tuple[str, ...] = ("delete", "baseline")
#: at most this many tokens (rows × length) in one batch of perturbed texts
TOKENS_PER_BATCH = 16384


def ranking(exp: Explanation, target: int | str | None = None) -> np.ndarray:
    """Positions of the ordinary tokens, the highest attribution for ``target`` first.

    Parameters
    ----------
    exp : Explanation
        The explanation to rank.
    target : int, str or None
        The class; None is the predicted class.

    Returns
    -------
    np.ndarray
        Token positions, shape ``(n,)`` with ``n`` the number of non-special tokens; ties
        keep text order.
    """
    t = target_index(exp, target)
    free = np.flatnonzero(~np.asarray(exp.special, dtype=bool))
    order = np.argsort(-exp.scores[t, free], kind="stable")
    return free[order]


def top_count(fraction: float, n: int) -> int:
    """How many tokens "the top ``fraction``" of ``n`` ordinary tokens is: ``int(fraction · n)``.

    A margin of 1e-9 absorbs float rounding (``0.29 · 100`` is 28.999…); for ERASER's sizes
    it changes nothing.
    """
    if isinstance(fraction, bool) or not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"A fraction of the tokens must be in [0, 1], got {fraction!r}")
    return int(float(fraction) * n + 1e-9)


def replacement_token(
    exp: Explanation, adapter: ModelAdapter, token: str | None = None
) -> str | None:
    """The token ``mode="baseline"`` puts in place of a removed one.

    ``token`` when given (checked against the vocabulary); else the explanation's baseline
    token when its baseline was a :class:`~ig_widgets.TokenBaseline` (its description reads
    ``token 'xxpad'``); else the model's default baseline token (``xxunk``, ``<unk>``);
    None when the model has none (zero embeddings are used then).
    """
    if token is None:
        match = re.fullmatch(r"token (.+)", exp.baseline)
        if match is not None:
            parsed = ast.literal_eval(match.group(1))
            token = parsed if isinstance(parsed, str) and adapter.has_token(parsed) else None
    if token is None:
        token = adapter.default_baseline_token
    if token is not None:
        adapter.token_id(token)  # ValueError with close matches when unknown
    return token


def perturbed_probs(
    exp: Explanation,
    explainer: Explainer,
    present: np.ndarray,
    *,
    mode: Mode = "delete",
    token: str | None = None,
) -> np.ndarray:
    """Class probabilities of perturbed copies of the explained text, in batches.

    Parameters
    ----------
    exp : Explanation
        The explained text (its ``token_ids`` are perturbed; nothing is re-tokenised).
    explainer : Explainer
        Whose adapter runs the model, under the model's lock (one batch at a time).
    present : np.ndarray
        Which tokens each perturbed copy keeps, shape ``(n_rows, n_tokens)``, bool. Special
        tokens are kept whatever it says.
    mode : {"delete", "baseline"}
        Drop the absent tokens, or replace them (:func:`replacement_token`).
    token : str, optional
        The replacement token of ``mode="baseline"``.

    Returns
    -------
    np.ndarray
        Softmax probabilities, shape ``(n_rows, n_classes)``, float64.

    Raises
    ------
    ValueError
        For an explanation of another model, a bad mode or shape, or (``mode="delete"``) a
        copy left with no token at all.
    """
    adapter = adapter_of(exp, explainer)
    check_mode(mode)
    ids = np.asarray(exp.token_ids, dtype=np.int64)
    mask = np.asarray(present, dtype=bool)
    if mask.ndim != 2 or mask.shape[1] != len(ids):
        raise ValueError(f"present must have shape (n_rows, {len(ids)}), got {mask.shape}")
    mask = mask | np.asarray(exp.special, dtype=bool)
    out = np.empty((len(mask), len(exp.classes)))
    if mode == "baseline":
        fill = _replacement_embedding(exp, adapter, token)
        _run_rows(
            adapter, np.broadcast_to(ids, mask.shape), ids, out, np.arange(len(mask)), mask, fill
        )
    else:
        lengths = mask.sum(axis=1)
        if len(mask) and lengths.min() == 0:
            raise ValueError(
                "mode='delete' would leave a text with no token at all (the model adds no "
                "special token to keep); use mode='baseline'"
            )
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            kept = np.stack([ids[mask[r]] for r in rows])  # (n_group, length)
            _run_rows(adapter, kept, None, out, rows, None, None)
    return out


def _run_rows(
    adapter: ModelAdapter,
    rows_ids: np.ndarray,
    mask_ids: np.ndarray | None,
    out: np.ndarray,
    where: np.ndarray,
    present: np.ndarray | None,
    fill: torch.Tensor | None,
) -> None:
    """Run equal-length rows of ids ``(n_rows, length)`` in batches; write probabilities to ``out``.

    ``mask_ids`` (``(length,)``) is what the model's padding mask follows (None: each
    batch's first row); where ``present`` is False the embedding is replaced by ``fill``.
    """
    length = rows_ids.shape[1]
    per_batch = max(1, TOKENS_PER_BATCH // max(length, 1))
    for start in range(0, len(rows_ids), per_batch):
        block = torch.from_numpy(np.array(rows_ids[start : start + per_batch], dtype=np.int64))
        masks = block[0] if mask_ids is None else torch.from_numpy(mask_ids)
        with adapter.prepared(), torch.no_grad():
            embeds = adapter.embed(block)
            if present is not None and fill is not None:
                absent = torch.from_numpy(~present[start : start + per_batch])
                embeds[absent] = fill.to(embeds.dtype)
            f = adapter.forward_embeds(embeds, masks)
        check_finite(f, "on a perturbed text")
        probs = f if adapter.output == "probs" else f.softmax(-1)
        out[where[start : start + len(block)]] = probs.double().cpu().numpy()


def target_index(exp: Explanation, target: int | str | None) -> int:
    """The index of ``target`` among ``exp``'s classes; None is the predicted class."""
    return exp.predicted if target is None else exp.class_index(target)


def check_mode(mode: str) -> None:
    """``ValueError`` unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'delete' or 'baseline', got {mode!r}")


def adapter_of(exp: Explanation, explainer: Explainer) -> ModelAdapter:
    """``explainer``'s adapter; ``ValueError`` when ``exp`` was made with another model."""
    adapter: ModelAdapter | None = getattr(explainer, "adapter", None)
    if adapter is None:
        raise TypeError(
            f"explainer must be an ig_widgets.Explainer, got {type(explainer).__name__}"
        )
    if exp.model_name and exp.model_name != adapter.name:
        raise ValueError(
            f"The explanation was computed with {exp.model_name!r}, the explainer runs "
            f"{adapter.name!r}: score an explanation with its own model's explainer"
        )
    if tuple(exp.classes) != tuple(adapter.classes):
        raise ValueError(
            f"The explanation's classes {exp.classes} are not the model's {adapter.classes}"
        )
    return adapter


def _replacement_embedding(
    exp: Explanation, adapter: ModelAdapter, token: str | None
) -> torch.Tensor:
    """The embedding ``mode="baseline"`` writes in place of a token, ``(dim,)``."""
    name = replacement_token(exp, adapter, token)
    tid = exp.token_ids[0] if name is None else adapter.token_id(name)
    with torch.no_grad():
        row = adapter.embed(torch.tensor([[tid]], dtype=torch.long))[0, 0]
    return torch.zeros_like(row) if name is None else row
