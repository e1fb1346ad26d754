"""What a view needs to know of a text before explaining it: tokens and per-token facts, once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ig_widgets.engine.adapters import Tokenized

__all__ = ["Prepared", "check_length", "labels_of"]


@dataclass(frozen=True)
class Prepared:
    """A text tokenised once, with what a widget asks of it before a computation.

    Built by :meth:`ig_widgets.Explainer.prepare` from one tokenisation and the model's
    own (cached) forward on the text; nothing here runs the model again.

    Attributes
    ----------
    tokenized : Tokenized
        The model's tokens of the text, ``(n_tokens,)`` in every field.
    labels : tuple[str, ...]
        For a token-classification model, each token's predicted label, ``(n_tokens,)``;
        ``()`` for a model that classifies the whole text.
    model_name : str
        The model whose tokenizer made ``tokenized`` (``Explainer.refine(prepared)`` refuses a
        text prepared for another model).
    """

    tokenized: Tokenized
    labels: tuple[str, ...] = ()
    model_name: str = ""

    @property
    def text(self) -> str:
        """The text."""
        return self.tokenized.text

    @property
    def n_tokens(self) -> int:
        """How many tokens the model reads, special tokens counted."""
        return len(self.tokenized)

    @property
    def per_token(self) -> bool:
        """Whether the model labels every token (token classification)."""
        return bool(self.labels)

    @property
    def oov(self) -> tuple[bool, ...]:
        """Which tokens the model does not know (read as its unknown token), ``(n_tokens,)``."""
        return self.tokenized.oov

    @property
    def first_ordinary(self) -> int:
        """The index of the first token that is not a special token (0 when all are)."""
        return next((i for i, special in enumerate(self.tokenized.special) if not special), 0)

    def position(self, requested: int = -1) -> int | None:
        """The token to explain: ``requested`` when it is a token, else the first ordinary one.

        Parameters
        ----------
        requested : int
            An index into the tokens, or -1 (any index out of ``[0, n_tokens)``) for none.

        Returns
        -------
        int or None
            None for a model that classifies the whole text (no token is explained alone).
        """
        if not self.per_token:
            return None
        return requested if 0 <= requested < self.n_tokens else self.first_ordinary


def labels_of(seen: np.ndarray | None, classes: Sequence[str]) -> tuple[str, ...]:
    """Each token's most probable label from the model's per-token output; ``()`` otherwise.

    Parameters
    ----------
    seen : numpy.ndarray or None
        The model's own output on the text: ``(n_tokens, n_classes)`` for token
        classification, ``(n_classes,)`` (or None) for a sequence classifier.
    classes : sequence of str
        The class names, ``(n_classes,)``.
    """
    if seen is None or seen.ndim != 2:
        return ()
    return tuple(classes[int(c)] for c in seen.argmax(-1))


def check_length(n_tokens: int, max_tokens: int | None, who: str, setting: str) -> None:
    """``ValueError`` in plain words when a text has more than ``max_tokens`` tokens.

    Parameters
    ----------
    n_tokens : int
        The text's tokens.
    max_tokens : int or None
        The most a caller explains; None for no limit.
    who, setting : str
        Who refuses (e.g. ``"the Explorer"``) and the setting that raises the limit (e.g.
        ``"Explorer(..., max_tokens=...)"``), for the message.
    """
    if max_tokens is not None and n_tokens > max_tokens:
        raise ValueError(
            f"The text has {n_tokens} tokens; {who} explains at most {max_tokens} "
            f"({setting}). Shorten the text."
        )
