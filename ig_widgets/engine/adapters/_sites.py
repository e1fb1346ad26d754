"""Where the IG path enters a torch model: an embedding module's output, read and replaced."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: how far an ``nn.EmbeddingBag``'s output may be from the reduction of its rows (relative)
BAG_RTOL = 1e-5


class EmbeddingSite:
    """How path points take the place of an embedding module's output.

    The module's output for the token ids, read during an ordinary forward, is the path's
    end (what the model really sees, whatever else the module's output depends on); in a
    forward over path points the output is replaced by the points, ``(batch, n_tokens, dim)``.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def capture(self, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> torch.Tensor:
        """The per-token embeddings ``(batch, n_tokens, dim)`` in this call's output."""
        if not isinstance(out, torch.Tensor) or out.dim() != 3:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise TypeError(
                f"The embedding module returned {shape}; it must return a (batch, n_tokens, "
                "dim) tensor (or be an nn.EmbeddingBag)."
            )
        return out.detach().clone()

    def replace(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, points: torch.Tensor
    ) -> torch.Tensor:
        """What the module returns instead of ``out`` in a forward over ``points``."""
        if not isinstance(out, torch.Tensor) or out.shape != points.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"The embedding module's output {shape} does not match the path points "
                f"{tuple(points.shape)}."
            )
        return points.clone()  # the model may change its embeddings in place


class BagSite(EmbeddingSite):
    """An ``nn.EmbeddingBag``: the path runs through its rows, one per token.

    A bag never shows its rows: its output is their sum, mean or max per bag. The path's
    points are per-token rows, ``(batch, n_tokens, dim)``, reduced here as the bag would
    (``per_sample_weights`` and ``padding_idx`` honoured), so each token gets its own
    attribution. Each bag is one text: ids ``(batch, n)``, or flat ids with offsets
    ``0, n, 2n, …``.
    """

    module: nn.EmbeddingBag

    def __init__(self, module: nn.EmbeddingBag) -> None:
        if module.max_norm is not None:
            raise ValueError(
                "An nn.EmbeddingBag with max_norm renormalises its weights in place during "
                "the forward; it cannot be explained token by token."
            )
        super().__init__(module)

    def _rows(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ids as ``(batch, n)`` rows and the per-sample weights, ``(batch, n)`` or None."""
        names = ("input", "offsets", "per_sample_weights")
        given = dict(zip(names, args, strict=False)) | {
            k: v for k, v in kwargs.items() if v is not None
        }
        ids, offsets = given["input"], given.get("offsets")
        weights = given.get("per_sample_weights")
        if ids.dim() == 2:
            return ids, None if weights is None else weights.view_as(ids)
        if offsets is None:
            raise ValueError("An nn.EmbeddingBag called with 1-D ids needs offsets.")
        n_bags = len(offsets) - (1 if self.module.include_last_offset else 0)
        n = len(ids) // max(n_bags, 1)
        expected = torch.arange(n_bags, device=offsets.device) * n
        if n * n_bags != len(ids) or not torch.equal(offsets[:n_bags], expected):
            raise ValueError(
                "The nn.EmbeddingBag's bags must each be one whole text of equal length "
                f"(offsets 0, n, 2n, …); got offsets {offsets.tolist()[:6]} for {len(ids)} ids."
            )
        rows = ids.view(n_bags, n)
        return rows, None if weights is None else weights.view(n_bags, n)

    def _reduce(
        self, rows: torch.Tensor, embeds: torch.Tensor, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The bag's output from per-token rows ``embeds`` ``(batch, n, dim)``: ``(batch, dim)``."""
        mode = self.module.mode
        keep = torch.ones_like(rows, dtype=embeds.dtype)
        if self.module.padding_idx is not None:
            keep = (rows != self.module.padding_idx).to(embeds.dtype)
        if weights is not None:
            if mode != "sum":
                raise ValueError(
                    "per_sample_weights only work with an nn.EmbeddingBag of mode 'sum'."
                )
            keep = keep * weights.to(embeds.dtype)
        if mode == "max":
            masked = embeds.masked_fill(keep.unsqueeze(-1) == 0, float("-inf"))
            out = masked.max(dim=1).values
            return torch.where(torch.isinf(out), torch.zeros_like(out), out)
        total = (embeds * keep.unsqueeze(-1)).sum(dim=1)
        if mode == "mean":
            count = (
                (rows != self.module.padding_idx).sum(1)
                if self.module.padding_idx is not None
                else None
            )
            n = (
                torch.full_like(total[:, :1], rows.shape[1])
                if count is None
                else count.unsqueeze(-1)
            )
            return total / n.clamp_min(1).to(total.dtype)
        return total

    def capture(self, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> torch.Tensor:
        """The bag's rows for this call's ids, checked against its own output."""
        rows, weights = self._rows(args, kwargs)
        embeds = nn.functional.embedding(rows, self.module.weight).detach()
        reduced = self._reduce(rows, embeds, weights)
        scale = max(float(out.abs().max()), 1e-12)
        if out.shape != reduced.shape or float((out - reduced).abs().max()) > BAG_RTOL * scale:
            raise ValueError(
                "The nn.EmbeddingBag's output is not the reduction of its rows the engine "
                "computes; it cannot be explained token by token."
            )
        return embeds.clone()

    def replace(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, points: torch.Tensor
    ) -> torch.Tensor:
        """The bag's output from the points (per-token rows), reduced as the bag does."""
        rows, weights = self._rows(args, kwargs)
        if rows.shape != points.shape[:2]:
            raise ValueError(
                f"The nn.EmbeddingBag got {tuple(rows.shape)} ids; the path points are "
                f"{tuple(points.shape)}."
            )
        return self._reduce(rows, points, weights)


def site_for(module: nn.Module) -> EmbeddingSite:
    """The site of an embedding module: :class:`BagSite` for an ``nn.EmbeddingBag``."""
    if isinstance(module, nn.EmbeddingBag):
        return BagSite(module)
    return EmbeddingSite(module)
