"""The generic PyTorch adapter: any ``nn.Module`` text classifier that has an embedding layer."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ig_widgets.engine.adapters.base import (
    ModelAdapter,
    Output,
    Tokenized,
    span_surfaces,
    unknown_flags,
)
from ig_widgets.engine.spans import Span, align_spans, looks_special
from ig_widgets.models.bundle import TextTokenizer, TorchTextClassifier

#: vocabulary entries tried, in order, as the default baseline token
BASELINE_CANDIDATES = ("<unk>", "[UNK]", "<UNK>", "xxunk", "<pad>", "[PAD]", "<PAD>", "xxpad")


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode; restore every submodule's own training flag afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


def pick_logits(out: Any, output_key: int | str | None = None) -> torch.Tensor:
    """The logits tensor inside whatever a model's forward returned.

    A tensor is taken as is; a tuple or list gives element ``output_key`` (default 0); a
    mapping (dict, Hugging Face ``ModelOutput``) or an object with attributes gives key
    ``output_key`` (default ``"logits"``).
    """
    if isinstance(out, torch.Tensor):
        picked: Any = out
    elif isinstance(out, (tuple, list)):
        if isinstance(output_key, str):
            raise TypeError(
                f"The model returned a {type(out).__name__}; output_key must be an int index "
                f"(got {output_key!r})."
            )
        index = 0 if output_key is None else output_key
        if not -len(out) <= index < len(out):
            raise ValueError(f"output_key={index} is out of range: the model returned {len(out)}")
        picked = out[index]
    elif isinstance(out, Mapping) or hasattr(out, "logits"):
        if isinstance(output_key, int):
            raise TypeError(f"The model returned a {type(out).__name__}; output_key must be a key.")
        key = output_key or "logits"
        found = out.get(key) if isinstance(out, Mapping) else getattr(out, key, None)
        if found is None:
            keys = list(out) if isinstance(out, Mapping) else []
            raise ValueError(
                f"The model's output has no {key!r}; pass output_key= naming the logits. "
                f"Keys: {keys}"
            )
        picked = found
    else:
        raise TypeError(
            f"Cannot find logits in a {type(out).__name__}: the forward must return a tensor, "
            "a tuple/list (see output_key=) or a dict with 'logits'."
        )
    if not isinstance(picked, torch.Tensor):
        raise TypeError(f"The picked model output is a {type(picked).__name__}, not a tensor.")
    return picked


def logits_to_f(logits: torch.Tensor, n_classes: int, output: Output) -> torch.Tensor:
    """Check a ``(batch, n_classes)`` logits tensor and turn it into ``F`` (probs or logits)."""
    if logits.dim() != 2 or logits.shape[1] != n_classes:
        raise ValueError(
            f"The model's output has shape {tuple(logits.shape)}; expected (batch, {n_classes}) "
            f"for {n_classes} classes. Check classes= (one name per output) and output_key=."
        )
    if not torch.isfinite(logits).all():
        raise ValueError(
            "The model's output contains NaN or infinity; Integrated Gradients needs finite "
            "outputs. Check the model's weights and inputs."
        )
    return torch.softmax(logits, dim=-1) if output == "probs" else logits


def edge_run(special: Sequence[bool]) -> tuple[bool, ...]:
    """True for the leading and the trailing run of special tokens (what a baseline keeps)."""
    n = len(special)
    keep = [False] * n
    i = 0
    while i < n and special[i]:
        keep[i] = True
        i += 1
    j = n - 1
    while j >= i and special[j]:
        keep[j] = True
        j -= 1
    return tuple(keep)


def vocab_list(vocab: Sequence[str] | Mapping[str, int]) -> list[str]:
    """A vocabulary as a list indexed by id (a ``{token: id}`` mapping is inverted)."""
    if isinstance(vocab, Mapping):
        size = max(vocab.values(), default=-1) + 1
        items = [""] * size
        for token, i in vocab.items():
            items[i] = token
        return items
    if isinstance(vocab, str) or not isinstance(vocab, Sequence):
        raise TypeError("vocab= must be a list of token strings (index = id) or a {token: id} dict")
    return [str(t) for t in vocab]


class _AlignedTokenizer:
    """A plain ``text -> ids`` callable made into a :class:`TextTokenizer` by aligning spans."""

    def __init__(self, fn: Callable[[str], Sequence[int]], vocab: list[str]) -> None:
        self.fn = fn
        self.vocab = vocab

    def encode(self, text: str) -> tuple[list[int], list[Span]]:
        ids = [int(i) for i in self.fn(text)]
        _check_ids(ids, len(self.vocab))
        return ids, align_spans(text, [self.vocab[i] for i in ids])


def _check_ids(ids: Sequence[int], size: int) -> None:
    if len(ids) == 0:
        raise ValueError("The tokenizer produced no tokens for this text.")
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ValueError(
            f"The tokenizer produced ids outside the vocabulary (size {size}): {bad[:5]}"
        )


def _embedding_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Embedding)]


def _require(model: nn.Module, tokenizer: Any, embedding: Any, classes: Any) -> None:
    """``TypeError`` naming every keyword argument a plain module is missing."""
    what = {
        "tokenizer": (tokenizer, "an object with .vocab and .encode(text) -> (ids, spans), or "
                      "a callable text -> list of ids together with vocab="),
        "embedding": (embedding, "the embedding module or its dotted attribute name; embedding "
                      f"layers in this model: {_embedding_names(model) or 'none found'}"),
        "classes": (classes, "the class names, in the order of the model's outputs"),
    }  # fmt: skip
    missing = [f"{k}= ({hint})" for k, (value, hint) in what.items() if value is None]
    if missing:
        raise TypeError(
            "A plain torch.nn.Module needs tokenizer=, embedding= and classes=. Missing: "
            + "; ".join(missing)
        )


def _resolve_embedding(model: nn.Module, embedding: Any) -> nn.Module:
    hint = f" Embedding layers in this model: {_embedding_names(model) or 'none found'}."
    if isinstance(embedding, str):
        try:
            return model.get_submodule(embedding)
        except AttributeError:
            raise ValueError(f"The model has no submodule {embedding!r}.{hint}") from None
    if not isinstance(embedding, nn.Module):
        raise TypeError(
            f"embedding= must be an nn.Module or a name, not {type(embedding).__name__}"
        )
    if not any(m is embedding for m in model.modules()):
        raise ValueError(f"embedding= is not a submodule of the model.{hint}")
    return embedding


def _resolve_tokenizer(tokenizer: Any, vocab: Any) -> TextTokenizer:
    if isinstance(tokenizer, TextTokenizer) and not isinstance(tokenizer, _AlignedTokenizer):
        if vocab is not None:
            raise TypeError("vocab= is only for a callable tokenizer; this one has .vocab")
        return tokenizer
    if callable(tokenizer):
        if vocab is None:
            raise TypeError("A callable tokenizer needs vocab= (token strings, index = id).")
        return _AlignedTokenizer(tokenizer, vocab_list(vocab))
    raise TypeError(f"tokenizer= must be a TextTokenizer or a callable, not {type(tokenizer)}")


def _check_classes(classes: Any, output: Output) -> tuple[str, ...]:
    if isinstance(classes, str):
        raise TypeError("classes= must be a sequence of class names, not one string.")
    names = tuple(str(c) for c in classes)
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"classes= must be distinct names, got {names}")
    if len(names) == 1 and output == "probs":
        raise ValueError("A softmax over one class is constant: use output='logits' for one class.")
    return names


def is_hf_model(model: Any) -> bool:
    """Whether ``model`` is a ``transformers.PreTrainedModel``, without importing transformers.

    A model object can only exist once transformers has been imported, so when it is not in
    ``sys.modules`` (or not installed) the answer is no.
    """
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return False
    try:
        return isinstance(model, transformers.PreTrainedModel)
    except (AttributeError, ImportError, RuntimeError):
        return False


class TorchAdapter(ModelAdapter):
    """Any PyTorch text classifier with an embedding layer.

    Give either a :class:`~ig_widgets.models.bundle.TorchTextClassifier`, or an
    ``nn.Module`` with keyword arguments:

    - ``tokenizer=``: a :class:`~ig_widgets.models.bundle.TextTokenizer` (``vocab`` and
      ``encode(text) -> (ids, spans)``), or a plain callable ``text -> list[int]`` together
      with ``vocab=`` (a list, index = id, or a ``{token: id}`` dict); spans are then found by
      aligning the token strings with the text, ``None`` where a token is not found;
    - ``embedding=``: the embedding module inside the model, or its dotted name (``"emb"``,
      ``"encoder.embed"``); its output is what IG integrates over;
    - ``classes=``: the class names, in output order.

    A tokenizer with an ``unk_id`` attribute gets its unknown words marked out of
    vocabulary (``Tokenized.oov``); without one nothing is marked.

    Optional: ``output="probs"`` (softmax, default) or ``"logits"``; ``baseline_token=``;
    ``name=``; ``output_key=``, which says how the logits are picked from the forward's
    return value: a tensor is taken as is; from a tuple or list element ``output_key``
    (default 0); from a dict, a Hugging Face ``ModelOutput`` or an object with attributes
    the key ``output_key`` (default ``"logits"``). The logits must have shape
    ``(batch, n_classes)``.

    The model is run unchanged on the token ids, with a forward hook that replaces the
    embedding module's output by the IG path points, so every architecture whose ids enter
    the network only through that module works. The module must be called exactly once per
    forward. Tokens with no span at the start and the end (``<bos>``, ``<eos>``) are special
    and kept by token baselines.
    """

    family = "torch"

    def __init__(
        self,
        model: nn.Module | TorchTextClassifier,
        *,
        tokenizer: Any = None,
        embedding: nn.Module | str | None = None,
        classes: Sequence[str] | None = None,
        vocab: Sequence[str] | Mapping[str, int] | None = None,
        output: Output | None = None,
        output_key: int | str | None = None,
        baseline_token: str | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(model, TorchTextClassifier):
            parts = {
                "tokenizer": tokenizer,
                "embedding": embedding,
                "classes": classes,
                "vocab": vocab,
            }
            given = [k for k, v in parts.items() if v is not None]
            if given:
                raise TypeError(f"A TorchTextClassifier already carries {', '.join(given)}=.")
            bundle = model
            model, tokenizer, embedding = bundle.module, bundle.tokenizer, bundle.embedding
            classes = bundle.classes
            output = output or bundle.output
            baseline_token = baseline_token or bundle.baseline_token
            name = name or bundle.name
        if not isinstance(model, nn.Module):
            raise TypeError(f"TorchAdapter needs a torch.nn.Module, not {type(model).__name__}")
        _require(model, tokenizer, embedding, classes)
        output = output or "probs"
        if output not in ("probs", "logits"):
            raise ValueError(f"output must be 'probs' or 'logits', not {output!r}")
        if output_key is not None and not isinstance(output_key, (int, str)):
            raise TypeError("output_key= must be an int (tuple index) or a str (dict key)")
        self.module = model
        self.embedding = _resolve_embedding(model, embedding)
        self.tokenizer = _resolve_tokenizer(tokenizer, vocab)
        self.output: Output = output
        self.classes = _check_classes(classes, output)
        self.output_key = output_key
        self._name = name or type(model).__name__
        self._vocab = vocab_list(self.tokenizer.vocab)
        self._aligned = isinstance(self.tokenizer, _AlignedTokenizer)
        unk = getattr(self.tokenizer, "unk_id", None)  # optional in the TextTokenizer protocol
        valid = isinstance(unk, int) and not isinstance(unk, bool) and 0 <= unk < len(self._vocab)
        self.unk_id = unk if valid else None
        if baseline_token is not None:
            self.token_id(baseline_token)  # ValueError when it is not in the vocabulary
            self.default_baseline_token = baseline_token
        else:
            known = self._vocab_index()
            self.default_baseline_token = next((t for t in BASELINE_CANDIDATES if t in known), None)

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """Accept a ``TorchTextClassifier`` or an ``nn.Module``.

        A Hugging Face model goes to the Hugging Face adapter unless ``embedding=`` is given.
        """
        if isinstance(model, TorchTextClassifier):
            return True
        if not isinstance(model, nn.Module):
            return False
        return kwargs.get("embedding") is not None or not is_hf_model(model)

    @property
    def name(self) -> str:
        """The model's name (the bundle's, ``name=``, or the module's class name)."""
        return self._name

    @property
    def vocab(self) -> Sequence[str]:
        """The tokenizer's vocabulary, index = id."""
        return self._vocab

    @property
    def network(self) -> nn.Module:
        """The wrapped module."""
        return self.module

    def tokenize(self, text: str) -> Tokenized:
        """Token ids, strings and spans of ``text``; spanless edge tokens are special, kept."""
        result = self.tokenizer.encode(text)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("tokenizer.encode(text) must return (ids, spans)")
        raw_ids, raw_spans = result
        ids = [int(i) for i in raw_ids]
        _check_ids(ids, len(self._vocab))
        if len(raw_spans) != len(ids):
            raise ValueError(f"The tokenizer gave {len(raw_spans)} spans for {len(ids)} ids.")
        spans = tuple(_check_span(s, len(text)) for s in raw_spans)
        tokens = tuple(self._vocab[i] for i in ids)
        if self._aligned:  # an unknown word has no span here but is not special
            special = tuple(
                s is None and looks_special(t) and "unk" not in t.lower()
                for s, t in zip(spans, tokens, strict=True)
            )
        else:
            special = tuple(s is None for s in spans)
        unk_token = None if self.unk_id is None else self._vocab[self.unk_id]
        oov = unknown_flags(ids, span_surfaces(text, spans), special, self.unk_id, unk_token)
        return Tokenized(text, tuple(ids), tokens, spans, special, edge_run(special), oov)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The embedding module's output for ``ids`` ``(batch, n)``: ``(batch, n, dim)``."""
        with self.lock, torch.no_grad(), eval_mode(self.module):
            out = self.embedding(ids)
        if not isinstance(out, torch.Tensor) or out.dim() != 3:
            raise TypeError("The embedding module must return a (batch, n_tokens, dim) tensor.")
        return out

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` for path points ``embeds`` ``(batch, n, dim)`` → ``(batch, n_classes)``.

        The model runs on ``ids`` ``(n,)`` repeated ``batch`` times; a hook swaps the
        embedding module's output for ``embeds``.
        """
        batch, n = embeds.shape[0], embeds.shape[1]
        if ids.dim() != 1 or ids.shape[0] != n:
            raise ValueError(f"ids must have shape ({n},), got {tuple(ids.shape)}")
        batch_ids = ids.to(embeds.device).unsqueeze(0).expand(batch, n).contiguous()
        calls = []

        def swap(module: nn.Module, inputs: Any, out: Any) -> torch.Tensor:
            calls.append(1)
            if not isinstance(out, torch.Tensor) or out.shape != embeds.shape:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(
                    f"The embedding module's output {shape} does not match the path points "
                    f"{tuple(embeds.shape)}."
                )
            return embeds.clone()  # the model may change its embeddings in place

        with self.lock:  # the hook sits on the shared module: no other forward may see it
            handle = self.embedding.register_forward_hook(swap)
            try:
                with eval_mode(self.module):
                    out = self.module(batch_ids)
            finally:
                handle.remove()
        if len(calls) != 1:
            raise ValueError(
                f"The embedding module ran {len(calls)} times in one forward; it must run exactly "
                "once (is embedding= the layer the model uses for its input ids?)."
            )
        return logits_to_f(pick_logits(out, self.output_key), len(self.classes), self.output)

    def _prepare(self) -> contextlib.AbstractContextManager[None]:
        """Eval mode while in use; every submodule's training flag restored afterwards."""
        return eval_mode(self.module)


def _check_span(span: Any, length: int) -> Span:
    if span is None:
        return None
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= length:
        raise ValueError(f"The tokenizer gave span {span} outside the text (length {length}).")
    return (start, end)
