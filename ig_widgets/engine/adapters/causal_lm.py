"""Hugging Face causal language models (``*ForCausalLM``: GPT-2, Llama, Qwen2, Mistral …)."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ig_widgets.engine.adapters._readouts import slot_span
from ig_widgets.engine.adapters.base import Output, Tokenized, eval_mode, unknown_flags
from ig_widgets.engine.adapters.hf import HFParts, is_causal_lm
from ig_widgets.engine.adapters.lm import LMAdapter

#: the keyword a model's forward takes to compute the logits of its last positions only
_KEEP_KEYWORDS = ("logits_to_keep", "num_logits_to_keep")


class CausalLMAdapter(HFParts, LMAdapter):
    """A Hugging Face causal language model and its fast tokenizer.

    ``CausalLMAdapter(model, tokenizer=tok)``; optional ``output="probs"`` (default: ``F`` is
    the probability of a next token) or ``"logprob"`` (its log-probability, as Captum's
    ``LLMAttribution``), ``top_k=5`` (candidates explained when no target is given),
    ``baseline_token=``, ``name=``.

    Attribution is on the word embeddings (``model.get_input_embeddings()``) of the
    prompt's tokens; the model runs with ``inputs_embeds=`` and adds its positions inside. A
    continuation's tokens are put after the prompt at their own embeddings (teacher
    forcing), not attributed. Only the logits of the positions read are computed
    (``logits_to_keep``), so a long prompt costs no vocabulary-sized output per position.
    The default baseline is the pad token, else the unknown token, else the end token, with
    the tokenizer's begin token (``<s>``) kept.
    """

    family = "causal_lm"
    #: above the Hugging Face classifiers' (10): a causal LM is a special Hugging Face model
    priority = 20

    def __init__(
        self,
        model: Any,
        *,
        tokenizer: Any = None,
        output: Output | None = None,
        top_k: int = 5,
        baseline_token: str | None = None,
        name: str | None = None,
    ) -> None:
        if not is_causal_lm(model):
            raise TypeError(f"CausalLMAdapter needs a transformers causal LM, not {type(model)}")
        self._init_hf(model, tokenizer, name)
        token = baseline_token or tokenizer.pad_token or tokenizer.unk_token
        token = token or tokenizer.eos_token
        if token is not None:
            self.token_id(token)  # ValueError when it is not in the vocabulary
        self.default_baseline_token = token
        params = inspect.signature(model.forward).parameters
        self._keep_keyword = next((k for k in _KEEP_KEYWORDS if k in params), None)
        self._init_lm(output, top_k)

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """A causal LM, unless ``embedding=`` (the generic adapter) or a prompt is given."""
        plain = all(kwargs.get(k) is None for k in ("embedding", "prompt", "labels"))
        return plain and is_causal_lm(model)

    def tokenize_in(self, text: str, prefix: str = "", suffix: str = "") -> Tokenized:
        """Tokens of ``prefix + text + suffix`` with the tokenizer's special tokens.

        Spans come from the offsets, relative to ``text``; the template's tokens and the
        tokenizer's own are special, kept and have no span.
        """
        full = prefix + text + suffix
        enc = self._encode(full)
        ids = tuple(int(i) for i in enc["input_ids"])
        slot = (len(prefix), len(prefix) + len(text))
        placed = [
            slot_span(None if s else (int(a), int(b)), slot, full)
            for s, (a, b) in zip(enc["special_tokens_mask"], enc["offset_mapping"], strict=True)
        ]
        special = tuple(not inside for inside, _ in placed)
        spans = tuple(span for _, span in placed)
        tokens = tuple(self.tokenizer.convert_ids_to_tokens(list(ids)))
        surfaces = [None if sp is None else text[sp[0] : sp[1]] for sp in spans]
        oov = unknown_flags(ids, surfaces, special, self.unk_id, self.tokenizer.unk_token)
        return Tokenized(text, ids, tokens, spans, special, special, oov)

    def encode_piece(self, text: str) -> tuple[int, ...]:
        """The ids of ``text`` with no special token added."""
        return tuple(int(i) for i in self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def piece_name(self, token_id: int) -> str:
        """The token decoded alone (``" great"``)."""
        return str(self.tokenizer.decode([token_id]))

    def _logits(self, keep: int, **inputs: Any) -> torch.Tensor:
        if self._keep_keyword is not None:
            inputs[self._keep_keyword] = keep
        with self.lock, eval_mode(self.model):
            logits = self.model(**inputs, use_cache=False).logits
        return logits[:, -keep:]

    def logits_from_embeds(self, embeds: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits ``(batch, keep, vocab)`` of the last positions from ``inputs_embeds``."""
        return self._logits(keep, inputs_embeds=embeds.to(self.device))

    def logits_from_ids(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits ``(batch, keep, vocab)`` of the model's own forward on ``input_ids``."""
        return self._logits(keep, input_ids=ids.to(self.device))
