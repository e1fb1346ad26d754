"""The small interface every model family implements: tokenise, embed, logits from embeddings."""

from __future__ import annotations

import contextlib
import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ig_widgets.engine.adapters._digest import WeightsKey
from ig_widgets.engine.adapters._digest import weights_digest as weights_digest
from ig_widgets.engine.heads import Output
from ig_widgets.engine.locks import model_lock

__all__ = [
    "KeptNames",
    "ModelAdapter",
    "Output",
    "Tokenized",
    "eval_mode",
    "kept_ends",
    "span_surfaces",
    "unknown_flags",
]


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode; restore every submodule's own training flag afterwards.

    Flags are written only where they change: a model already in eval mode (the usual
    case, and every chunk of a run enters this) costs one walk over its modules.
    """
    flags = [(m, m.training) for m in module.modules()]
    if any(training for _, training in flags):
        module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            if m.training != training:
                m.training = training


@dataclass(frozen=True)
class Tokenized:
    """A text as the model sees it.

    Attributes
    ----------
    text : str
        The original text.
    ids : tuple[int, ...]
        Token ids, shape ``(n_tokens,)``, including the model's special tokens.
    tokens : tuple[str, ...]
        The token strings, ``(n_tokens,)``.
    spans : tuple[tuple[int, int] | None, ...]
        Character span ``[start, end)`` of each token in ``text``; ``None`` for tokens with no
        characters of their own (``xxbos``, ``[CLS]``).
    special : tuple[bool, ...]
        True for special tokens (markers and begin/end tokens).
    keep : tuple[bool, ...]
        True where a token baseline keeps the input's token (leading ``xxbos``, ``[CLS]``,
        trailing ``[SEP]``) instead of the baseline token.
    oov : tuple[bool, ...]
        True for tokens the model does not know: mapped to its unknown token although the
        text was not literally the unknown token (see :func:`unknown_flags`); ``()`` is all
        False.
    """

    text: str
    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    spans: tuple[tuple[int, int] | None, ...]
    special: tuple[bool, ...]
    keep: tuple[bool, ...]
    oov: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.oov:
            object.__setattr__(self, "oov", (False,) * n)
        fields = (self.tokens, self.spans, self.special, self.keep, self.oov)
        lengths = {len(f) for f in fields}
        if lengths != {n}:
            raise ValueError(f"Tokenized fields must all have {n} entries, got {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.ids)


class ModelAdapter(ABC):
    """One model family behind the interface the IG engine needs.

    Subclasses register themselves by defining ``family``; :func:`ig_widgets.engine.adapters.
    adapter_for` asks them in order of their declared :attr:`priority` (highest first, ties in
    registration order) and takes the first whose :meth:`accepts` says yes, so adding a family
    touches one module: a family that is a special case of another (a Hugging Face model is
    also an ``nn.Module``) declares a higher priority instead of the general one naming it.

    ``forward_embeds`` returns ``F`` (see :mod:`ig_widgets.engine.heads`): class
    probabilities (``output="probs"``, the softmax of the logits, as in the seed article), raw
    logits (``"logits"``), one sigmoid per label (``"sigmoid"``) or the outputs themselves
    (``"identity"``, regression). A token-classification model gives ``F`` per token,
    ``(batch, n_tokens, n_classes)``; the engine explains one position of it.

    Ids and embeddings reach an adapter on any device: it runs the model on the model's own
    device (:attr:`device`), and the engine brings results back to the CPU.
    """

    family: ClassVar[str] = ""
    #: the order :func:`~ig_widgets.engine.adapters.adapter_for` asks families in, highest
    #: first: a specific family (Hugging Face) above the general one that would also accept
    #: its models (any ``nn.Module``)
    priority: ClassVar[int] = 0
    registry: ClassVar[list[type[ModelAdapter]]] = []

    #: class names, in the order of the model's outputs
    classes: tuple[str, ...]
    #: what the engine attributes (:data:`ig_widgets.engine.heads.Output`)
    output: Output
    #: the default baseline token of this family (e.g. ``xxunk``), or None for zeros
    default_baseline_token: str | None
    #: the id of the model's unknown-word token, or None when its tokenizer names none
    unk_id: int | None = None
    #: whether ``F`` (``output="probs"``) is a softmax over exactly these classes, so that with
    #: two classes one is one minus the other (False for a language model's candidate tokens)
    classes_exhaustive: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.family:
            ModelAdapter.registry.append(cls)

    @classmethod
    @abstractmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """Whether this adapter can wrap ``model`` given the user's keyword arguments."""

    @property
    @abstractmethod
    def name(self) -> str:
        """A short human-readable name of the model (used in widgets and cache keys)."""

    @abstractmethod
    def tokenize(self, text: str) -> Tokenized:
        """Turn ``text`` into the model's tokens, with character spans."""

    @abstractmethod
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Look up embeddings.

        Parameters
        ----------
        ids : torch.Tensor
            Token ids, shape ``(batch, n_tokens)``, dtype long.

        Returns
        -------
        torch.Tensor
            Embeddings, shape ``(batch, n_tokens, dim)``, without dropout.
        """

    @abstractmethod
    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Run the model from the embedding layer's output.

        Parameters
        ----------
        embeds : torch.Tensor
            Points on the IG path, shape ``(batch, n_tokens, dim)``.
        ids : torch.Tensor
            The input's token ids, shape ``(n_tokens,)``; used for masks (padding) only, so
            every point of the path sees the same mask.

        Returns
        -------
        torch.Tensor
            ``F`` for every class, shape ``(batch, n_classes)``; for a token-classification
            model ``(batch, n_tokens, n_classes)``.
        """

    def bind(self, tok: Tokenized, target: Any) -> ModelAdapter:
        """The adapter that explains ``target`` on the text ``tok`` (default: this one).

        A family whose classes depend on the request (a language model's next-token
        candidates, a continuation's tokens) returns an adapter with those classes; it has
        then taken ``target`` in (the engine checks no class against it). Called once per
        request, before anything is computed: the request's set-up and its first stage then
        share one weights digest (:class:`~ig_widgets.engine.adapters._digest.WeightsKey`).
        A family that overrides it calls this one on the adapter it returns.
        """
        self._weights_key().start_request(getattr(self, "_prepared_depth", 0) == 0)
        return self

    @property
    def head_key(self) -> Hashable:
        """What ``F`` depends on beyond the model and the text (cache keys); None by default."""
        return None

    def result_fields(self) -> dict[str, Any]:
        """Fields of the :class:`~ig_widgets.engine.explanation.Explanation` set by the family."""
        return {}

    def padding_room(self) -> int:
        """How many pad tokens may follow a text without changing what it computes (0: none).

        Texts whose lengths differ by at most this many tokens can share a batch of path
        points, the shorter ones padded at the end (:meth:`forward_embeds_padded`). Only a
        causal model whose head ignores the pads allows it; the default is 0.
        """
        return 0

    def pad_id(self) -> int:
        """The id that pads a text at the end (for :meth:`forward_embeds_padded`)."""
        raise NotImplementedError(f"{type(self).__name__} does not pad texts")

    def forward_embeds_padded(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` for path points of several texts, each padded at the end to one length.

        Parameters
        ----------
        embeds : torch.Tensor
            ``(batch, n_tokens, dim)``; a row's positions past its text are anything.
        ids : torch.Tensor
            ``(batch, n_tokens)``: each row's text, then :meth:`pad_id` up to ``n_tokens``
            (at most :meth:`padding_room` of them).

        Returns
        -------
        torch.Tensor
            ``(batch, n_classes)``: each row what :meth:`forward_embeds` gives it alone.
        """
        raise NotImplementedError(f"{type(self).__name__} does not pad texts")

    def reference_forward(self, ids: torch.Tensor) -> torch.Tensor | None:
        """``F`` from the model's own forward on the ids, with no path point put in.

        What the engine checks its ``F`` at the input against (they must agree, or the
        engine would explain another function than the model's).

        Parameters
        ----------
        ids : torch.Tensor
            The input's token ids, shape ``(n_tokens,)``.

        Returns
        -------
        torch.Tensor or None
            ``(1, n_classes)``, or ``(1, n_tokens, n_classes)`` per token; None when the
            family has no forward of its own to compare with (the default).
        """
        return None

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (the CPU for a model without parameters)."""
        first = next(iter(self.network.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    def grad_context(self) -> contextlib.AbstractContextManager[Any]:
        """The context of every forward whose gradients are taken (call it under the lock).

        On CUDA, cuDNN's recurrent layers have no backward in eval mode ("cudnn RNN backward
        can only be called in training mode"), and IG needs eval mode (no dropout): for a
        model with an ``nn.RNNBase`` on a CUDA device cuDNN is switched off here, and only
        here. Elsewhere nothing changes.
        """
        if self.device.type == "cuda" and any(
            isinstance(m, torch.nn.RNNBase) for m in self.network.modules()
        ):
            return torch.backends.cudnn.flags(enabled=False)
        return contextlib.nullcontext()

    @property
    @abstractmethod
    def vocab(self) -> Sequence[str]:
        """The vocabulary, index = token id."""

    def token_id(self, token: str) -> int:
        """Id of a vocabulary token; ``ValueError`` naming close matches when it is unknown."""
        index = self._vocab_index()
        if token in index:
            return index[token]
        raise ValueError(
            f"Unknown baseline token {token!r}: it is not in the model's vocabulary "
            f"({len(index)} tokens).{self.close_tokens_hint(token)}"
        )

    def has_token(self, token: str) -> bool:
        """Whether ``token`` is exactly an entry of the vocabulary."""
        return token in self._vocab_index()

    def close_tokens_hint(self, token: str, limit: int = 8) -> str:
        """`` Close matches: …`` (vocabulary tokens sharing its first 3 letters), or ``""``."""
        prefix = token.lower()[:3]
        close = [t for t in self._vocab_index() if t.lower().startswith(prefix)][:limit]
        return f" Close matches: {', '.join(close)}." if close else ""

    def _vocab_index(self) -> dict[str, int]:
        cached = getattr(self, "_vocab_index_cache", None)
        if cached is None:
            cached = {}
            for i, t in enumerate(self.vocab):
                cached.setdefault(t, i)
            self._vocab_index_cache = cached
        return cached

    @property
    @abstractmethod
    def network(self) -> torch.nn.Module:
        """The underlying ``torch.nn.Module`` (what :attr:`lock` and the cache keys follow)."""

    @property
    def lock(self) -> threading.RLock:
        """The model's re-entrant lock, shared with every adapter of the same :attr:`network`.

        Hold it around anything that runs the model (:meth:`prepared` takes it): models keep
        mutable state between calls, so two computations on one model must never overlap.
        """
        return model_lock(self.network)

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        """Hold the model's lock and put the model in the state IG needs; restore it on exit.

        Inside it (the outermost one), :attr:`weights_version` is computed once: nothing
        the engine runs there edits the weights (and a request's set-up and first stage, with
        no yield between them, share it: :meth:`bind`).
        """
        with self.lock:
            outermost = getattr(self, "_prepared_depth", 0) == 0
            key = self._weights_key()
            if outermost:
                key.enter()
            self._prepared_depth = getattr(self, "_prepared_depth", 0) + 1
            failed = True
            try:
                with self._prepare():
                    yield
                failed = False
            finally:
                self._prepared_depth -= 1
                if outermost:
                    key.leave(failed)

    def _weights_key(self) -> WeightsKey:
        """The adapter's :class:`WeightsKey` (made on first use)."""
        key: WeightsKey | None = self.__dict__.get("_weights_key_state")
        if key is None:
            key = self.__dict__.setdefault("_weights_key_state", WeightsKey())
        return key

    def _prepare(self) -> contextlib.AbstractContextManager[None]:
        """The family's own set-up for :meth:`prepared` (eval mode, ...); called under the lock."""
        return contextlib.nullcontext()

    def edge_ids(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Ids of the special tokens the model puts before and after every text.

        They are what a token baseline keeps (``xxbos``; ``[CLS]`` and ``[SEP]``). Found once,
        from the tokenisation of an ordinary entry of the model's own vocabulary (never a word
        the vocabulary may lack), and cached.

        Returns
        -------
        head, tail : tuple[int, ...]
            The leading and the trailing kept ids; empty when the model adds none.
        """
        cached: tuple[tuple[int, ...], tuple[int, ...]] | None = getattr(self, "_edges", None)
        if cached is None:
            cached = ((), ())
            words = (t for t in self.vocab if t.isalpha() and t.islower())
            for word in itertools.islice(words, 20):
                tok = self.tokenize(word)
                if not all(tok.keep):  # ends are only known around a token that is not kept
                    cached = kept_ends(tok)
                    break
            self._edges = cached
        return cached

    @property
    def max_tokens(self) -> int | None:
        """The longest input the model accepts, or None when there is no limit."""
        return None

    @property
    def model_key(self) -> int:
        """Identity of the wrapped model for cache keys (adapters of one model share it)."""
        return id(self.network)

    @property
    def weights_version(self) -> int:
        """Changes whenever the function's weights change (for cache keys): a content digest.

        See :func:`~ig_widgets.engine.adapters._digest.weights_digest`; within
        :meth:`prepared` it is computed once (and shared by a request's set-up and first
        stage), outside it on every call.
        """
        return self._weights_key().value(self.network, getattr(self, "_prepared_depth", 0) > 0)


class KeptNames:
    """``name`` and ``vocab`` of a family that keeps them as ``_name`` and ``_vocab``."""

    _name: str
    _vocab: Sequence[str]

    @property
    def name(self) -> str:
        """The model's name: ``name=``, else what the family found (a path, a class name)."""
        return self._name

    @property
    def vocab(self) -> Sequence[str]:
        """The tokenizer's vocabulary, index = id."""
        return self._vocab


def kept_ends(tok: Tokenized) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Ids of the kept tokens at the start and at the end of a tokenised text.

    Returns
    -------
    head, tail : tuple[int, ...]
        The leading run and the trailing run of ``tok.keep``, as ids.
    """
    n, head = len(tok.ids), 0
    while head < n and tok.keep[head]:
        head += 1
    tail = n
    while tail > head and tok.keep[tail - 1]:
        tail -= 1
    return tok.ids[:head], tok.ids[tail:]


def unknown_flags(
    ids: Sequence[int],
    surfaces: Sequence[str | None],
    special: Sequence[bool],
    unk_id: int | None,
    unk_token: str | None,
) -> tuple[bool, ...]:
    """Which tokens the model does not know.

    A token is out of vocabulary when its id is ``unk_id``, it is not special, and the text
    it came from (``surfaces``; None when unknown) was not literally ``unk_token``: a word the
    vocabulary lacks, not a typed ``<unk>``.

    Returns
    -------
    tuple[bool, ...]
        ``(n_tokens,)``; all False when ``unk_id`` is None.
    """
    if unk_id is None:
        return (False,) * len(ids)
    return tuple(
        i == unk_id and not s and surface != unk_token
        for i, surface, s in zip(ids, surfaces, special, strict=True)
    )


def span_surfaces(text: str, spans: Sequence[tuple[int, int] | None]) -> list[str | None]:
    """The piece of ``text`` under each span (None where a token has no span)."""
    return [None if span is None else text[span[0] : span[1]] for span in spans]
