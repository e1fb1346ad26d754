"""The generic PyTorch adapter: any ``nn.Module`` text model that has an embedding layer."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ig_widgets.engine.adapters._inputs import (
    ForwardKwargs,
    broadcast,
    check_forward_kwargs,
    keyword_names,
    second_is_offsets,
    stacked,
)
from ig_widgets.engine.adapters._outputs import logits_to_f as logits_to_f
from ig_widgets.engine.adapters._outputs import pick_logits as pick_logits
from ig_widgets.engine.adapters._sites import BagSite, site_for
from ig_widgets.engine.adapters._tokenizers import (
    CallableTokenizer,
    Encoded,
    check_ids,
    check_span,
    flat_ints,
)
from ig_widgets.engine.adapters._tokenizers import edge_run as edge_run
from ig_widgets.engine.adapters._tokenizers import vocab_list as vocab_list
from ig_widgets.engine.adapters._torch_args import (
    check_classes,
    require,
    resolve_embedding,
    resolve_tokenizer,
)
from ig_widgets.engine.adapters.base import (
    KeptNames,
    ModelAdapter,
    Output,
    Tokenized,
    eval_mode,
    span_surfaces,
    unknown_flags,
)
from ig_widgets.engine.heads import chosen_output, refuse_second_softmax
from ig_widgets.engine.spans import looks_special
from ig_widgets.models.bundle import TorchTextClassifier

#: vocabulary entries tried, in order, as the default baseline token
BASELINE_CANDIDATES = ("<unk>", "[UNK]", "<UNK>", "xxunk", "<pad>", "[PAD]", "<PAD>", "xxpad")
#: how many tokenised texts keep their extra per-token inputs (attention masks ...)
_EXTRAS_KEPT = 256


class _Captured(Exception):
    """Stops a forward once the embedding module's output has been read."""


class TorchAdapter(KeptNames, ModelAdapter):
    """Any PyTorch text model with an embedding layer.

    Give either a :class:`~ig_widgets.models.bundle.TorchTextClassifier`, or an
    ``nn.Module`` with keyword arguments:

    - ``tokenizer=``: a :class:`~ig_widgets.models.bundle.TextTokenizer` (``vocab`` and
      ``encode(text) -> (ids, spans)``); or a callable ``text -> ids`` together with
      ``vocab=`` (a list, index = id, or a ``{token: id}`` dict); or a Hugging Face-style
      tokenizer returning a dict or ``BatchEncoding`` (``input_ids``, and optionally
      ``attention_mask``, ``token_type_ids``, ``offset_mapping``): its vocabulary comes from
      ``get_vocab()``, spans from the offsets (else the token strings are aligned with the
      text), and its other per-token outputs are passed to the model as keyword arguments
      (those the model's forward takes);
    - ``embedding=``: the embedding module inside the model, or its dotted name (``"emb"``,
      ``"encoder.embed"``); its output is what IG integrates over. An ``nn.EmbeddingBag``
      works too: the path runs through its rows, one per token;
    - ``classes=``: the class names, in output order.

    Optional:

    - ``output=``: ``"probs"`` (softmax, default), ``"logits"``, ``"sigmoid"`` (multi-label)
      or ``"identity"`` (regression);
    - ``output_key=``: how the logits are picked from the forward's return value (see
      :func:`pick_logits`); ``output_select=``: a callable applied to them after that, e.g.
      ``lambda out: out[:, -1]`` for the last position of a per-position output;
    - ``forward_kwargs=``: other inputs of the model's forward (masks, token types, a second
      feature tensor). Inputs that depend on the text (a mask, lengths) are a function of
      the ids, ``forward_kwargs=lambda ids: {"mask": (ids != pad)[None]}`` with ``ids``
      ``(n_tokens,)`` on the model's device: it is called for every text (and baseline) the
      model runs on. A dict holds inputs fixed for every text; its tensors have a batch
      dimension of 1 and are broadcast to the batch of path points, and one whose second
      axis had the length of one text and not of another raises ``ValueError`` (it would
      silently cut or pad one text by another's length);
    - ``forward_fn=``: ``forward_fn(model, ids, **kwargs)`` runs the model on ids
      ``(batch, n_tokens)`` when calling ``model(ids, **kwargs)`` does not fit;
    - ``baseline_token=``, ``name=``.

    The outputs must be ``(batch, n_classes)``, or ``(batch, n_tokens, n_classes)`` for a
    token-classification model (one output per token; explain one with
    ``target=(i, label)``).

    The model runs unchanged on the token ids. The embedding module's output is read by a
    forward hook during an ordinary forward (:meth:`embed`, also for a baseline's ids), so
    it is what the model really sees even when the module takes more than the ids; in a
    forward over path points a hook replaces that output by the points. The module must run
    exactly once per forward. Tokens with no span at the start and the end (``<bos>``,
    ``<eos>``) are special and kept by token baselines.
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
        output_select: Callable[[torch.Tensor], torch.Tensor] | None = None,
        forward_kwargs: ForwardKwargs | None = None,
        forward_fn: Callable[..., Any] | None = None,
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
        if isinstance(embedding, (list, tuple)):
            raise ValueError(
                "Several token inputs through several embedding layers are not explained "
                "together. Pass one embedding= (the layer to explain) and give the other "
                "inputs' ids in forward_kwargs= (fixed, broadcast to every path point); "
                "explain each layer with its own Explainer."
            )
        require(model, tokenizer, embedding, classes)
        #: whether ``output=`` was the user's (the default softmax may be refused)
        self.output_given = output is not None
        output = chosen_output(output, "probs")
        if output_key is not None and not isinstance(output_key, (int, str)):
            raise TypeError("output_key= must be an int (tuple index) or a str (dict key)")
        for what, fn in (("output_select", output_select), ("forward_fn", forward_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{what}= must be a callable, not {type(fn).__name__}")
        self.module = model
        self.embedding = resolve_embedding(model, embedding)
        self.site = site_for(self.embedding)
        self.tokenizer = resolve_tokenizer(tokenizer, vocab)
        self.output: Output = output
        self.classes = check_classes(classes, output)
        self.output_key = output_key
        self.output_select = output_select
        self.forward_kwargs: ForwardKwargs
        if callable(forward_kwargs) and not isinstance(forward_kwargs, Mapping):
            self.forward_kwargs = forward_kwargs
        else:
            self.forward_kwargs = check_forward_kwargs(forward_kwargs)
        #: the text lengths the model has run on (a fixed per-token tensor fits one only)
        self._lengths: set[int] = set()
        self.forward_fn = forward_fn
        call = forward_fn if forward_fn is not None else model.forward
        self._takes = keyword_names(call)
        self._bag_offsets = (
            isinstance(self.site, BagSite) and forward_fn is None and second_is_offsets(call)
        )
        self._extras: OrderedDict[tuple[int, ...], dict[str, list[int]]] = OrderedDict()
        self._fills: dict[str, int | None] = {}
        self._name = name or type(model).__name__
        self._vocab = vocab_list(self.tokenizer.vocab)
        self._aligned = isinstance(self.tokenizer, CallableTokenizer)
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
        """Accept a ``TorchTextClassifier`` or any ``nn.Module``.

        This is the general family, of the default priority: a more specific family (Hugging
        Face) declares a higher one and is asked first. A module without the keyword
        arguments it needs is accepted here and refused by the constructor, which names them.
        """
        return isinstance(model, (TorchTextClassifier, nn.Module))

    @property
    def network(self) -> nn.Module:
        """The wrapped module."""
        return self.module

    # --- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> Tokenized:
        """Token ids, strings and spans of ``text``; spanless edge tokens are special, kept."""
        enc = self._encode(text)
        ids = enc.ids
        check_ids(ids, len(self._vocab))
        if len(enc.spans) != len(ids):
            raise ValueError(f"The tokenizer gave {len(enc.spans)} spans for {len(ids)} ids.")
        spans = tuple(check_span(s, len(text)) for s in enc.spans)
        tokens = tuple(self._vocab[i] for i in ids)
        if enc.special is not None:
            special = tuple(enc.special)
        elif self._aligned and enc.aligned:  # an unknown word has no span here but is not special
            special = tuple(
                s is None and looks_special(t) and "unk" not in t.lower()
                for s, t in zip(spans, tokens, strict=True)
            )
        else:
            special = tuple(s is None for s in spans)
        self._remember(ids, enc.extras)
        unk_token = None if self.unk_id is None else self._vocab[self.unk_id]
        oov = unknown_flags(ids, span_surfaces(text, spans), special, self.unk_id, unk_token)
        return Tokenized(text, tuple(ids), tokens, spans, special, edge_run(special), oov)

    def _encode(self, text: str) -> Encoded:
        if isinstance(self.tokenizer, CallableTokenizer):
            return self.tokenizer.encode_full(text)
        result = self.tokenizer.encode(text)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("tokenizer.encode(text) must return (ids, spans)")
        raw_ids, raw_spans = result
        return Encoded(flat_ints(raw_ids, "ids"), list(raw_spans))

    def _remember(self, ids: list[int], extras: dict[str, list[int]]) -> None:
        """Keep a text's extra per-token inputs; note which are constant along any text."""
        if not extras:
            return
        self._extras[tuple(ids)] = extras
        self._extras.move_to_end(tuple(ids))
        while len(self._extras) > _EXTRAS_KEPT:
            self._extras.popitem(last=False)
        for key, values in extras.items():
            constant = values[0] if len(set(values)) == 1 else None
            if self._fills.get(key, constant) != constant:
                constant = None
            self._fills[key] = constant

    def _extras_for(self, row: tuple[int, ...]) -> dict[str, list[int]]:
        """The extra inputs of a row of ids: as tokenised, or rebuilt from constant values."""
        known = self._extras.get(row)
        if known is not None:
            return known
        varying = [k for k, v in self._fills.items() if v is None]
        if varying:
            raise ValueError(
                f"The tokenizer's {', '.join(varying)} vary along the text, so the engine "
                "cannot rebuild them for ids it did not tokenise (a baseline's or a perturbed "
                "text's); pass them with forward_kwargs= or forward_fn= instead."
            )
        return {k: [int(v or 0)] * len(row) for k, v in self._fills.items()}

    # --- model ----------------------------------------------------------------------------

    def _inputs(self, ids: torch.Tensor, same_rows: bool) -> dict[str, Any]:
        """Keyword arguments of a forward on ``ids`` ``(batch, n)``: extras, then forward_kwargs."""
        batch = ids.shape[0]
        kwargs: dict[str, Any] = {}
        if self._fills:
            rows = [tuple(ids[0].tolist())] if same_rows else [tuple(r) for r in ids.tolist()]
            per_row = [self._extras_for(r) for r in rows]
            for key in self._fills:
                if self._takes is not None and key not in self._takes:
                    continue  # a tokenizer output this forward has no parameter for
                value = torch.tensor([e[key] for e in per_row], device=ids.device)
                kwargs[key] = value.expand(batch, -1) if same_rows else value
        kwargs.update(self._given_inputs(ids, same_rows))
        return kwargs

    def _given_inputs(self, ids: torch.Tensor, same_rows: bool) -> dict[str, Any]:
        """``forward_kwargs`` for ids ``(batch, n)``: per text (a function), or fixed, checked."""
        batch, n = ids.shape
        given = self.forward_kwargs
        if not isinstance(given, Mapping):
            rows = [ids[0]] if same_rows else list(ids)
            per_row = [check_forward_kwargs(given(row), "forward_kwargs(ids)") for row in rows]
            if same_rows:
                return broadcast(per_row[0], batch, ids.device)
            return stacked(per_row, ids.device)
        self._lengths.add(n)
        for key, value in given.items():
            if not isinstance(value, torch.Tensor) or value.dim() < 2:
                continue
            length = value.shape[1]
            if length != n and length in self._lengths:
                raise ValueError(
                    f"forward_kwargs[{key!r}] has {length} entries along its second axis, the "
                    f"length of an earlier text, but this text has {n} tokens: a fixed tensor "
                    "would cut or pad one text by another's length. Give per-text inputs as a "
                    f"function of the ids: forward_kwargs=lambda ids: {{{key!r}: ...}} (ids "
                    "(n_tokens,), tensors with a batch dimension of 1)."
                )
        return broadcast(given, batch, ids.device)

    def _call_model(self, ids: torch.Tensor, same_rows: bool) -> Any:
        """Run the model on ids ``(batch, n)`` (already on its device)."""
        kwargs = self._inputs(ids, same_rows)
        try:
            if self.forward_fn is not None:
                return self.forward_fn(self.module, ids, **kwargs)
            if self._bag_offsets:
                batch, n = ids.shape
                offsets = torch.arange(batch, device=ids.device) * n
                return self.module(ids.reshape(-1), offsets, **kwargs)
            return self.module(ids, **kwargs)
        except TypeError as err:
            if "missing" not in str(err) or "argument" not in str(err):
                raise
            if isinstance(self.site, BagSite) and not self._bag_offsets:
                raise TypeError(
                    f"The model's forward needs more than the token ids ({err}), and its "
                    "embedding is an nn.EmbeddingBag. If that input is the bags' offsets, name "
                    "the forward's second parameter offsets (or offs), or pass forward_fn="
                    "lambda model, ids: model(ids.reshape(-1), torch.arange(len(ids)) * "
                    "ids.shape[1]) (one bag per row of ids); other inputs go in forward_kwargs="
                ) from err
            raise TypeError(
                f"The model's forward needs more than the token ids ({err}). Pass the other "
                "inputs as forward_kwargs={name: tensor} (a batch dimension of 1: they are "
                "broadcast to every path point), or forward_fn=lambda model, ids, **kw: "
                "model(...). Several token inputs through several embedding layers are not "
                "explained together: explain one embedding= and give the others' ids in "
                "forward_kwargs."
            ) from err

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The embedding module's output, read during a forward of ``ids`` ``(batch, n)``.

        Returns
        -------
        torch.Tensor
            ``(batch, n, dim)`` on the model's device; for an ``nn.EmbeddingBag`` its rows.
        """
        ids = ids.to(self.device)
        seen: list[torch.Tensor] = []

        def grab(module: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            seen.append(self.site.capture(args, kwargs, out))
            raise _Captured  # the rest of the forward is not needed

        with self.lock, torch.no_grad(), eval_mode(self.module):
            handle = self.embedding.register_forward_hook(grab, with_kwargs=True)
            try:
                self._call_model(ids, same_rows=False)
            except _Captured:
                pass
            finally:
                handle.remove()
        if not seen:
            raise ValueError(
                "The embedding module did not run in the model's forward: is embedding= the "
                "layer the model uses for its input ids?"
            )
        if seen[0].shape[:2] != ids.shape:
            raise ValueError(
                f"The embedding module's output {tuple(seen[0].shape)} has not one row per "
                f"token of the ids {tuple(ids.shape)}."
            )
        return seen[0]

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` for path points ``embeds`` ``(batch, n, dim)`` → ``(batch, n_classes)``.

        The model runs on ``ids`` ``(n,)`` repeated ``batch`` times (with the text's extra
        inputs and ``forward_kwargs`` broadcast); a hook swaps the embedding module's output
        for ``embeds``. A per-token model gives ``(batch, n, n_classes)``.
        """
        batch, n = embeds.shape[0], embeds.shape[1]
        if ids.dim() != 1 or ids.shape[0] != n:
            raise ValueError(f"ids must have shape ({n},), got {tuple(ids.shape)}")
        batch_ids = ids.to(self.device).unsqueeze(0).expand(batch, n).contiguous()
        points = embeds.to(self.device)
        calls = []

        def swap(module: nn.Module, args: Any, kwargs: Any, out: Any) -> torch.Tensor:
            calls.append(1)
            return self.site.replace(args, kwargs, out, points)

        with self.lock:  # the hook sits on the shared module: no other forward may see it
            handle = self.embedding.register_forward_hook(swap, with_kwargs=True)
            try:
                with eval_mode(self.module):
                    out = self._call_model(batch_ids, same_rows=True)
            finally:
                handle.remove()
        if len(calls) != 1:
            raise ValueError(
                f"The embedding module ran {len(calls)} times in one forward; it must run exactly "
                "once (is embedding= the layer the model uses for its input ids?)."
            )
        return self._to_f(out, n)

    def reference_forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``F`` of the model's own forward on ``ids`` ``(n,)``, no hook: ``(1, n_classes)``."""
        with self.lock, torch.no_grad(), eval_mode(self.module):
            out = self._call_model(ids.to(self.device).unsqueeze(0), same_rows=True)
        return self._to_f(out, ids.shape[0], check_head=True)

    def _to_f(self, out: Any, n_tokens: int, check_head: bool = False) -> torch.Tensor:
        logits = pick_logits(out, self.output_key)
        if self.output_select is not None:
            logits = self.output_select(logits)
            if not isinstance(logits, torch.Tensor):
                raise TypeError(f"output_select returned a {type(logits).__name__}, not a tensor.")
        if check_head:  # on the check's forward: the default softmax on probabilities refused
            refuse_second_softmax(logits, self.output, self.output_given)
        return logits_to_f(logits, len(self.classes), self.output, n_tokens)

    def _prepare(self) -> contextlib.AbstractContextManager[None]:
        """Eval mode while in use; every submodule's training flag restored afterwards."""
        return eval_mode(self.module)
