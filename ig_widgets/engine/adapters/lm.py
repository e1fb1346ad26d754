"""Causal language models: next token, a continuation, or a prompted LM as a classifier.

Every use reads ``F`` from the model's log-probabilities at the last positions of the prompt
(a :class:`Readout`): the top-k next tokens, each token of a continuation given the ones
before it (teacher forcing, one forward for all of them), or label words after a template.
:class:`LMAdapter` is what a model family implements (Hugging Face ``*ForCausalLM`` in
:mod:`~ig_widgets.engine.adapters.causal_lm`, fastai's AWD-LSTM language model in
:mod:`~ig_widgets.engine.adapters.fastai_lm`); :meth:`LMAdapter.bind` gives the adapter of
one request, and :class:`PromptedLM` makes any of them a classifier with fixed classes.
"""

from __future__ import annotations

import collections
import contextlib
from abc import abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ig_widgets.engine.adapters._readouts import (
    Readout,
    continuation_readout,
    label_readout,
    label_words,
    next_token_readout,
    unique_names,
)
from ig_widgets.engine.adapters._readouts import slot_span as slot_span  # re-exported
from ig_widgets.engine.adapters.base import ModelAdapter, Output, Tokenized
from ig_widgets.engine.adapters.hf import is_causal_lm
from ig_widgets.engine.heads import apply_head, check_output

#: what ``F`` may be for next tokens and continuations (Captum's LLMAttribution: ``logprob``)
LM_OUTPUTS: tuple[Output, ...] = ("probs", "logprob")
#: the slot of a prompt template that holds the text
SLOT = "{text}"
#: how many prompts keep their next-token candidates
_TOP_KEPT = 64


def is_fastai_lm(model: Any) -> bool:
    """Whether ``model`` is a fastai ``Learner`` of an AWD-LSTM language model."""
    is_learner = any(
        c.__name__ == "Learner" and c.__module__.startswith("fastai") for c in type(model).__mro__
    )
    net = getattr(model, "model", None)
    names = [type(m).__name__ for m in (net, *getattr(net, "_modules", {}).values())]
    return is_learner and names[:3] == ["SequentialRNN", "AWD_LSTM", "LinearDecoder"]


def is_language_model(model: Any) -> bool:
    """A Hugging Face causal LM or a fastai language model ``Learner``."""
    return is_causal_lm(model) or is_fastai_lm(model)


# --------------------------------------------------------------------------- the family
class LMAdapter(ModelAdapter):
    """A causal language model: what a family implements, and the requests it serves.

    A family gives :meth:`tokenize_in` (a text, optionally inside a template), :meth:`embed`,
    :meth:`logits_from_embeds` and :meth:`logits_from_ids` (the logits of the last positions
    only), :meth:`encode_piece` and :meth:`piece_name`. The classes of a request depend on
    the text (its top-k next tokens) or the target (a continuation's tokens): the engine
    explains through :meth:`bind`, never through this adapter's own (empty) classes.
    """

    classes: tuple[str, ...] = ()
    classes_exhaustive = False
    top_k: int = 5

    def _init_lm(self, output: Output | None, top_k: int) -> None:
        """Check and keep the options every family shares."""
        output = check_output(output or "probs")
        if output not in LM_OUTPUTS:
            raise ValueError(
                f"A language model's next-token F is 'probs' (default) or 'logprob' (Captum's "
                f"LLMAttribution), not {output!r}. For other heads make it a classifier: "
                "prompt='…{text}…', labels={name: word}."
            )
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        self.output: Output = output
        self.top_k = min(top_k, len(self.vocab))
        self._top: collections.OrderedDict[Hashable, tuple[int, ...]] = collections.OrderedDict()

    # --- what a family implements -----------------------------------------------------
    @abstractmethod
    def tokenize_in(self, text: str, prefix: str = "", suffix: str = "") -> Tokenized:
        """Tokenise ``prefix + text + suffix``; only ``text``'s tokens are attributed.

        The template's tokens (and the tokenizer's own, ``<s>``) are ``special`` and
        ``keep`` with no span; spans are relative to ``text``.
        """

    def tokenize(self, text: str) -> Tokenized:
        """The prompt's tokens (the tokenizer's begin token kept)."""
        return self.tokenize_in(text)

    @abstractmethod
    def logits_from_embeds(self, embeds: torch.Tensor, keep: int) -> torch.Tensor:
        """The logits of the last ``keep`` positions from embeddings.

        Parameters
        ----------
        embeds : torch.Tensor
            ``(batch, n_tokens, dim)``, the embedding layer's output.

        Returns
        -------
        torch.Tensor
            ``(batch, keep, vocab_size)``.
        """

    @abstractmethod
    def logits_from_ids(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        """The model's own forward on ``ids`` ``(batch, n_tokens)``: ``(batch, keep, vocab)``."""

    @abstractmethod
    def encode_piece(self, text: str) -> tuple[int, ...]:
        """The ids of ``text`` as a continuation: no begin token, nothing added."""

    @abstractmethod
    def piece_name(self, token_id: int) -> str:
        """How a token reads in text (``" great"``), used as its class name."""

    # --- F from a readout ---------------------------------------------------------------
    def read(self, embeds: torch.Tensor, readout: Readout, output: Output) -> torch.Tensor:
        """``F`` ``(batch, n_classes)`` from points ``embeds`` ``(batch, n, dim)``."""
        batch, n, dim = embeds.shape
        groups, m = len(readout.suffixes), readout.suffix_length
        rows = embeds
        if m:
            ids = torch.tensor(readout.suffixes, dtype=torch.long)
            with torch.no_grad():
                after = self.embed(ids).to(embeds.device, embeds.dtype)  # (G, M, dim)
            rows = torch.cat(
                [
                    embeds.unsqueeze(1).expand(batch, groups, n, dim),
                    after.unsqueeze(0).expand(batch, groups, m, dim),
                ],
                dim=2,
            ).reshape(batch * groups, n + m, dim)
        with self.lock:
            logits = self.logits_from_embeds(rows, m + 1)
        return self._f(logits, batch, readout, output)

    def read_ids(self, ids: torch.Tensor, readout: Readout, output: Output) -> torch.Tensor:
        """``F`` ``(1, n_classes)`` of the model's own forward on the prompt ``ids`` ``(n,)``."""
        rows = ids.reshape(1, -1).to(self.device)
        if readout.suffix_length:
            after = torch.tensor(readout.suffixes, dtype=torch.long, device=rows.device)
            rows = torch.cat([rows.expand(len(after), -1), after], dim=1)
        with self.lock:
            logits = self.logits_from_ids(rows, readout.suffix_length + 1)
        return self._f(logits, 1, readout, output)

    def _f(
        self, logits: torch.Tensor, batch: int, readout: Readout, output: Output
    ) -> torch.Tensor:
        """``F`` from logits ``(batch · n_groups, M + 1, vocab)``."""
        logp = torch.log_softmax(logits, dim=-1)
        logp = logp.reshape(batch, len(readout.suffixes), *logp.shape[1:])
        g, j, t = (torch.tensor(x, device=logp.device) for x in zip(*readout.atoms, strict=True))
        atoms = logp[:, g, j, t]  # (batch, n_atoms)
        sums = torch.tensor(readout.sums, dtype=atoms.dtype, device=atoms.device)
        scores = atoms @ sums.T  # (batch, n_classes)
        if readout.normalise:
            return apply_head(scores, output)
        return scores.exp() if output == "probs" else scores

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Not defined: a language model's classes depend on the request (see :meth:`bind`)."""
        raise TypeError(
            "A language model explains a request: Explainer.explain(prompt, target=...) "
            "binds its next-token candidates or continuation first (LMAdapter.bind)."
        )

    # --- requests -----------------------------------------------------------------------
    def bind(self, tok: Tokenized, target: Any) -> ModelAdapter:
        """The adapter of one request on the prompt ``tok``.

        ``target`` is None (the top-k next tokens), a token string (``" great"``: the top-k
        and it) or id, a list of them (exactly those candidates), or a string of several
        tokens (``" great fun"``: a continuation, each token given the ones before it, and
        the whole). ``ValueError`` for an empty target or one the vocabulary lacks.
        """
        if isinstance(target, list):
            if not target:
                raise ValueError("target=[] names no candidate next token.")
            ids = [self._one_token(t) for t in target]
            if len(set(ids)) != len(ids):
                raise ValueError(f"target= lists a candidate twice: {target!r}")
            return self._next_token(tok, ids)
        if target is None:
            return self._next_token(tok, [])
        if isinstance(target, str):
            pieces = self._pieces(target)
            if len(pieces) > 1 and not self.has_token(target):
                return self._continuation(tok, target, pieces)
            return self._next_token(tok, [self._one_token(target)], add_top=True)
        return self._next_token(tok, [self._one_token(target)], add_top=True)

    def _next_token(self, tok: Tokenized, ids: list[int], add_top: bool = False) -> BoundLM:
        if not ids or add_top:
            ids = [*self._top_ids(tok), *ids]
            ids = list(dict.fromkeys(ids))  # the target stays once, after the top-k
        names = unique_names([self.piece_name(i) for i in ids])
        return BoundLM(self, next_token_readout(ids, names))

    def _continuation(self, tok: Tokenized, target: str, pieces: tuple[int, ...]) -> BoundLM:
        limit = self.max_tokens
        if limit is not None and len(tok) + len(pieces) - 1 > limit:
            raise ValueError(
                f"The prompt ({len(tok)} tokens) and the continuation ({len(pieces)}) exceed "
                f"the {limit} positions of {self.name}."
            )
        names = unique_names([self.piece_name(i) for i in pieces])
        whole = unique_names([*names, target])[-1]
        return BoundLM(self, continuation_readout(pieces, names, whole))

    def _top_ids(self, tok: Tokenized) -> tuple[int, ...]:
        """The prompt's ``top_k`` most probable next tokens (the model's own forward, cached)."""
        key = (self.weights_version, tok.ids)
        if key not in self._top:
            ids = torch.tensor(tok.ids, dtype=torch.long).unsqueeze(0).to(self.device)
            with self.prepared(), torch.no_grad():
                logits = self.logits_from_ids(ids, 1)[0, -1]
            self._top[key] = tuple(int(i) for i in logits.topk(self.top_k).indices)
            while len(self._top) > _TOP_KEPT:
                self._top.popitem(last=False)
        self._top.move_to_end(key)
        return self._top[key]

    def _pieces(self, text: str) -> tuple[int, ...]:
        """The ids of a target or label word; ``ValueError`` when empty or unknown."""
        if not isinstance(text, str):
            raise TypeError(f"A target word must be a str, got {type(text).__name__}")
        pieces = self.encode_piece(text) if text else ()
        if not pieces:
            raise ValueError(
                f"The target {text!r} is empty: give a next token (' great') or a "
                "continuation (' great fun') of at least one token."
            )
        unk = self.unk_id
        if unk is not None and unk in pieces and text.strip() != self.vocab[unk]:
            shown = [self.vocab[i] for i in pieces]
            raise ValueError(
                f"{text!r} is not in the model's vocabulary: it tokenises to {shown}, "
                f"with the unknown token {self.vocab[unk]!r}; its probability is that of "
                f"the unknown token, not of the word.{self.close_tokens_hint(text.strip())}"
            )
        return pieces

    def _one_token(self, target: Any) -> int:
        """The id of one candidate next token: an id, a vocabulary entry or a one-token text."""
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= int(target) < len(self.vocab):
                raise ValueError(
                    f"Token id {target} is outside the vocabulary (0..{len(self.vocab) - 1})"
                )
            return int(target)
        if not isinstance(target, str):
            raise TypeError(
                "target must be a token string (' great'), a token id, a list of them, or a "
                f"continuation (' great fun'), not {type(target).__name__}"
            )
        if self.has_token(target):
            return self.token_id(target)
        pieces = self._pieces(target)
        if len(pieces) != 1:
            raise ValueError(
                f"A candidate next token is one token; {target!r} is {len(pieces)} "
                f"({[self.vocab[i] for i in pieces]}). Pass it alone as target= to explain it "
                "as a continuation."
            )
        return pieces[0]


class BoundLM(ModelAdapter):
    """A language model with the classes of one request (a :class:`Readout`)."""

    def __init__(self, lm: LMAdapter, readout: Readout, output: Output | None = None) -> None:
        self.lm = lm
        self.readout = readout
        self.classes = readout.classes
        self.output: Output = output or lm.output
        self.default_baseline_token = lm.default_baseline_token
        self.unk_id = lm.unk_id

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """Never chosen for a model: made by :meth:`LMAdapter.bind`."""
        return False

    @property
    def classes_exhaustive(self) -> bool:  # type: ignore[override]
        """Only a classifier's softmax is over exactly its classes."""
        return self.readout.normalise

    @property
    def name(self) -> str:
        """The language model's name."""
        return self.lm.name

    @property
    def vocab(self) -> Sequence[str]:
        """The language model's vocabulary."""
        return self.lm.vocab

    @property
    def network(self) -> torch.nn.Module:
        """The language model's module."""
        return self.lm.network

    @property
    def head_key(self) -> Hashable:
        """The readout and head (cache keys: two requests on one text differ by it)."""
        return (self.output, self.readout.key)

    @property
    def max_tokens(self) -> int | None:
        """The model's limit less the tokens put after the prompt."""
        limit = self.lm.max_tokens
        return None if limit is None else limit - self.readout.suffix_length

    def result_fields(self) -> dict[str, Any]:
        """``target_tokens`` of a continuation and the token ids of the classes."""
        return {
            "target_tokens": self.readout.target_tokens,
            "target_ids": self.readout.target_ids,
        }

    def tokenize(self, text: str) -> Tokenized:
        """The language model's tokens of the prompt."""
        return self.lm.tokenize(text)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The language model's embeddings of ``ids`` ``(batch, n)``: ``(batch, n, dim)``."""
        return self.lm.embed(ids)

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` ``(batch, n_classes)`` from points ``(batch, n, dim)`` of the prompt."""
        if ids.dim() != 1 or ids.shape[0] != embeds.shape[1]:
            raise ValueError(f"ids must have shape ({embeds.shape[1]},), got {tuple(ids.shape)}")
        return self.lm.read(embeds, self.readout, self.output)

    def reference_forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``F`` ``(1, n_classes)`` from the model's own forward on the ids."""
        with torch.no_grad():
            return self.lm.read_ids(ids, self.readout, self.output)

    def grad_context(self) -> contextlib.AbstractContextManager[Any]:
        """The language model's."""
        return self.lm.grad_context()

    def _prepare(self) -> contextlib.AbstractContextManager[None]:
        return self.lm._prepare()


class PromptedLM(BoundLM):
    r"""Any causal language model as a classifier: a template and a word per class.

    ``Explainer(lm, tokenizer=tok, prompt="Review: {text}\nSentiment:", labels={"positive":
    " positive", "negative": " negative"})``: the text fills ``{text}`` (other braces are
    literal); ``F`` is the softmax over the label words' scores after the filled template
    (``output="probs"``, default; ``"logits"``: the scores; ``"logprob"``: log-softmax). A
    label word's score is its log-probability there; a word of several tokens is scored by
    all of them, teacher-forced, so the first piece alone decides nothing. ``labels`` may be a
    list of words (each its own class name, stripped). Attributions are over the text's
    tokens only: the template's tokens are special and kept by every baseline, shown apart
    from the words. The other keyword arguments go to the language model's family.
    """

    family = "prompted_lm"
    #: above every other family: a prompt makes any language model a classifier
    priority = 30

    def __init__(
        self,
        model: Any,
        *,
        prompt: str | None = None,
        labels: Mapping[str, str] | Sequence[str] | None = None,
        output: Output | None = None,
        **kwargs: Any,
    ) -> None:
        if prompt is None or labels is None:
            raise TypeError(
                "A prompted classifier needs both prompt='…{text}…' and labels={name: word}."
            )
        if not isinstance(prompt, str) or prompt.count(SLOT) != 1:
            raise ValueError(
                f"prompt must hold {SLOT} exactly once, where the text goes: e.g. "
                f"'Review: {SLOT}\\nSentiment:'; got {prompt!r}"
            )
        output = check_output(output or "probs")
        if output not in ("probs", "logits", "logprob"):
            raise ValueError(
                f"A prompted classifier's output is probs, logits or logprob, not {output!r}"
            )
        lm = _language_model(model, **kwargs)
        names, words = label_words(labels)
        if len(names) < 2 and output != "logits":
            raise ValueError("A softmax over one label is constant: give two labels or more.")
        seqs = [lm._pieces(w) for w in words]
        if len(set(seqs)) != len(seqs):
            raise ValueError(
                f"Two labels have the same word tokens: {dict(zip(names, words, strict=True))}"
            )
        pad = lm.token_id(lm.default_baseline_token) if lm.default_baseline_token else seqs[0][0]
        super().__init__(lm, label_readout(seqs, names, pad), output)
        self.prefix, _, self.suffix = prompt.partition(SLOT)
        self.prompt = prompt
        self.label_words = dict(zip(names, words, strict=True))

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """A language model given ``prompt=`` or ``labels=``."""
        asked = kwargs.get("prompt") is not None or kwargs.get("labels") is not None
        return asked and is_language_model(model)

    def tokenize(self, text: str) -> Tokenized:
        """The filled template's tokens: the text's attributed, the template's kept apart."""
        return self.lm.tokenize_in(text, self.prefix, self.suffix)

    def result_fields(self) -> dict[str, Any]:
        """Nothing beyond a classifier's fields."""
        return {}


def _language_model(model: Any, **kwargs: Any) -> LMAdapter:
    """The registered language-model family that accepts ``model``, wrapping it."""
    for family in sorted(ModelAdapter.registry, key=lambda f: -f.priority):
        if issubclass(family, LMAdapter) and family.accepts(model, **kwargs):
            make: Callable[..., LMAdapter] = family  # every family takes (model, **kwargs)
            return make(model, **kwargs)
    raise TypeError(
        "prompt= and labels= need a causal language model: a Hugging Face *ForCausalLM "
        f"with tokenizer=, or a fastai language_model_learner; not a {type(model).__name__}."
    )
