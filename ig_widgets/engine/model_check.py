"""The check that the engine's ``F`` at the input is the model's own forward on the text."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import torch

from ig_widgets.engine.adapters import ModelAdapter, Tokenized
from ig_widgets.engine.core import check_finite, forward

#: how far F at the input may be from the model's own forward, relative to its largest value
SAME_FUNCTION_RTOL = 1e-5


class ModelCheck:
    """The model's own output on a text (cached) and its comparison with ``F`` at the input.

    A part of :class:`~ig_widgets.Explainer`, which holds the state declared here.
    """

    adapter: ModelAdapter
    cache_size: int
    _seen: OrderedDict[Hashable, np.ndarray | None]

    def _model_output(
        self,
        tok: Tokenized,
        ids: torch.Tensor,
        inputs: torch.Tensor | None,
        position: int | None,
    ) -> np.ndarray | None:
        """The model's own ``F`` on the text, ``(n_classes,)`` or per token ``(n, n_classes)``.

        From :meth:`ModelAdapter.reference_forward` (cached per text); where the family has
        none, a token-classification request falls back on the engine's ``F`` at the input
        (for the token labels), and a sequence classifier needs nothing.
        """
        key = (self.adapter.weights_version, tok.ids, self.adapter.head_key)
        if key not in self._seen:
            with self.adapter.lock, torch.no_grad():
                out = self.adapter.reference_forward(ids)
            seen: np.ndarray | None = None
            if out is not None:
                check_finite(out, "on the text")
                seen = out.detach().double().cpu().numpy()[0]
            elif position is not None and inputs is not None:
                seen = forward(self.adapter, inputs.unsqueeze(0), ids)[0]
            else:
                return None  # nothing to compare with, and not asked per token
            self._seen[key] = seen
            while len(self._seen) > self.cache_size:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        return self._seen[key]

    def _check_same_function(
        self,
        f_end: np.ndarray,
        seen: np.ndarray | None,
        inputs: torch.Tensor,
        ids: torch.Tensor,
        position: int | None,
    ) -> None:
        """``ValueError`` when ``F`` at the input is not the model's own output on the text.

        The engine runs the model with the path's points in place of the embedding layer's
        output; at α = 1 that must be the model's own forward (to
        :data:`SAME_FUNCTION_RTOL` of its largest value). A first comparison uses ``F`` as
        computed with the path's points; only when it fails is ``F`` recomputed alone (a
        batch of one, as the reference) to tell rounding from a real difference.
        ``f_end`` is ``F`` at the input as the path computed it, ``(n_classes,)``.
        """
        if seen is not None:
            expected = seen[position] if seen.ndim == 2 and position is not None else seen
            scale = max(float(np.abs(expected).max()), 1e-12)
            if np.abs(f_end - expected).max() > SAME_FUNCTION_RTOL * scale:
                alone = forward(self.adapter, inputs.unsqueeze(0), ids, position)[0]
                if np.abs(alone - expected).max() > SAME_FUNCTION_RTOL * scale:
                    random = self._random_forward(ids, position, expected, scale)
                    raise ValueError(
                        f"The engine's F at the input ({_short(alone)}) is not what "
                        f"{self.adapter.name} computes on this text ({_short(expected)}): "
                        "explaining it would explain another function. The engine puts the "
                        "path's points in place of the embedding layer's output; check that "
                        "embedding= is the layer the token ids go through, that it runs once "
                        "per forward, and that every other input the model needs is passed "
                        f"(forward_kwargs=).{random}"
                    )

    def _random_forward(
        self, ids: torch.Tensor, position: int | None, expected: np.ndarray, scale: float
    ) -> str:
        """What to add to the error when the model's own forward differs between two runs.

        Then the cause is randomness or state left in eval mode (dropout called with
        ``training=True``, sampling, a counter), not ``embedding=``; ``""`` otherwise.
        """
        with self.adapter.lock, torch.no_grad():
            again = self.adapter.reference_forward(ids)
        if again is None:
            return ""
        values = again.detach().double().cpu().numpy()[0]
        values = values[position] if values.ndim == 2 and position is not None else values
        if np.abs(values - expected).max() <= SAME_FUNCTION_RTOL * scale:
            return ""
        return (
            f" More likely here: {self.adapter.name}'s own forward gives different outputs on "
            f"the same text in eval mode ({_short(expected)}, then {_short(values)}): it is "
            "random or keeps state (dropout applied with training=True, sampling, a counter), "
            "so no explanation of it holds. Make the forward deterministic in eval mode "
            "(nn.Dropout modules, or F.dropout(x, training=self.training))."
        )


def _short(values: np.ndarray) -> str:
    """A few values of ``F`` for an error message."""
    shown = ", ".join(f"{v:.6g}" for v in values[:4])
    return f"[{shown}{', …' if len(values) > 4 else ''}]"
