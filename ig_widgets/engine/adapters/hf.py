"""The Hugging Face adapter: a transformers sequence classifier with its fast tokenizer."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ig_widgets.engine.adapters.base import (
    KeptNames,
    ModelAdapter,
    Output,
    Tokenized,
    eval_mode,
    span_surfaces,
    unknown_flags,
)
from ig_widgets.engine.adapters.torch import edge_run, logits_to_f, pick_logits, vocab_list
from ig_widgets.engine.heads import chosen_output, output_from_config, refuse_second_softmax

#: a tokenizer's ``model_max_length`` above this means "no limit set"
_NO_LIMIT = 10**6


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


def is_causal_lm(model: Any) -> bool:
    """Whether ``model`` is a Hugging Face causal language model (``*ForCausalLM``, GPT-2).

    Known by its class (or a base class) among transformers' causal-LM classes, or named
    ``…ForCausalLM`` / ``…LMHeadModel``. Such a model goes to the language-model families.
    """
    if not is_hf_model(model):
        return False
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:  # pragma: no cover - an unusual transformers layout
        names: set[str] = set()
    else:
        names = {v for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() if isinstance(v, str)}
    return any(
        cls.__name__ in names or cls.__name__.endswith(("ForCausalLM", "LMHeadModel"))
        for cls in type(model).__mro__
    )


class HFParts(KeptNames, ModelAdapter):
    """What the Hugging Face families share: the model, its fast tokenizer, names and limits.

    Not a family itself (no ``family``); a family's constructor calls :meth:`_init_hf`.
    """

    model: Any
    tokenizer: Any

    def _init_hf(self, model: Any, tokenizer: Any, name: str | None) -> None:
        """Check the tokenizer (a fast one: offsets) and the embedding layer; keep them."""
        if tokenizer is None:
            raise TypeError(
                "Pass tokenizer=: the model's fast tokenizer, e.g. "
                "AutoTokenizer.from_pretrained(name) (use_fast=True)."
            )
        if not getattr(tokenizer, "is_fast", False):
            raise TypeError(
                "The tokenizer must be a fast (Rust) tokenizer: character offsets are needed. "
                "Load it with AutoTokenizer.from_pretrained(name, use_fast=True)."
            )
        if model.get_input_embeddings() is None:
            raise ValueError("The model has no input embedding layer (get_input_embeddings()).")
        self.model = model
        self.tokenizer = tokenizer
        self._name = name or getattr(model, "name_or_path", "") or type(model).__name__
        self._vocab = vocab_list(tokenizer.get_vocab())
        unk = getattr(tokenizer, "unk_token_id", None)
        self.unk_id = int(unk) if unk is not None else None

    @property
    def network(self) -> torch.nn.Module:
        """The transformers model."""
        return self.model

    @property
    def max_tokens(self) -> int | None:
        """The model's maximum number of positions (capped by the tokenizer's limit)."""
        limits = [getattr(self.model.config, "max_position_embeddings", None)]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        usable = [int(n) for n in limits if isinstance(n, int) and 0 < n < _NO_LIMIT]
        return min(usable) if usable else None

    def _encode(self, text: str) -> Any:
        """The tokenizer's encoding of ``text``: its special tokens, offsets and their mask."""
        return self.tokenizer(
            text,
            add_special_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            truncation=False,
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Word embeddings ``(batch, n, dim)`` of ``ids`` ``(batch, n)``, no position terms."""
        with self.lock, torch.no_grad(), eval_mode(self.model):
            return self.model.get_input_embeddings()(ids.to(self.device))

    def _prepare(self) -> contextlib.AbstractContextManager[None]:
        """Eval mode while in use; every submodule's training flag restored afterwards."""
        return eval_mode(self.model)


class HFAdapter(HFParts):
    """A Hugging Face ``AutoModelForSequenceClassification``-style model and its tokenizer.

    ``HFAdapter(model, tokenizer=fast_tokenizer)``; optional ``output=`` (default: the head
    the config names, see below), ``baseline_token=``, ``classes=`` (default ``config.id2label``
    in index order), ``name=``.

    The default baseline token is the tokenizer's mask token when it has one (``[MASK]``,
    ``<mask>``: a model pretrained with masked LM has learnt it as "some word, unknown";
    published runs on DistilBERT/SST-2 put IG from ``[MASK]`` well ahead of ``[PAD]`` in
    log-odds and comprehensiveness), else its pad token, else its unknown token; the special
    tokens (``[CLS]``, ``[SEP]``) are kept either way. The others are one keyword away:
    ``explainer.explain(text, baseline="[PAD]")`` (or ``"[UNK]"``) for one call,
    ``Explainer(model, tokenizer=tok, baseline_token="[PAD]")`` for every call.

    The tokenizer must be a fast one (its offsets give each token's character span).
    Special tokens the tokenizer adds (``[CLS]``, ``[SEP]``, ``<s>``, ``</s>``) have no span,
    are marked special and are kept by token baselines.

    Attribution is on the word embeddings only (``model.get_input_embeddings()``): the model
    is run with ``inputs_embeds=`` and an all-ones attention mask, and adds its position and
    token-type embeddings inside, so those are part of the function, not attributed.
    ``output=`` is ``"probs"`` (softmax, single-label), ``"logits"``, ``"sigmoid"``
    (multi-label) or ``"identity"`` (regression); without it the head is read from the
    config (:func:`~ig_widgets.engine.heads.output_from_config`: ``problem_type`` and
    ``num_labels == 1``). An ``…ForTokenClassification`` model gives
    ``F`` per token; explain one token with ``target=(i, label)``.
    """

    family = "huggingface"
    #: above the general torch family, which accepts any ``nn.Module`` (this one included)
    priority = 10

    def __init__(
        self,
        model: Any,
        *,
        tokenizer: Any = None,
        output: Output | None = None,
        baseline_token: str | None = None,
        classes: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        if not is_hf_model(model):
            raise TypeError(f"HFAdapter needs a transformers PreTrainedModel, not {type(model)}")
        self._init_hf(model, tokenizer, name)
        _refuse_encoder_decoder(model)
        #: a last-token classifier without a pad token (GPT-2's) refuses batches: see
        #: :func:`_stand_in_pad`
        self._pad_for_batches = False
        #: whether ``output=`` was the user's (a default read from the config may be refused)
        self.output_given = output is not None
        output = chosen_output(output, output_from_config(model.config))
        self.output: Output = output
        self.classes = _classes(model.config, classes)
        mask = getattr(tokenizer, "mask_token", None)
        token = baseline_token or mask or tokenizer.pad_token or tokenizer.unk_token
        if token is not None:
            self.token_id(token)  # ValueError when it is not in the vocabulary
        self.default_baseline_token = token

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """A ``PreTrainedModel``; with ``embedding=`` given, the generic torch adapter's turn.

        Not a causal language model (:func:`is_causal_lm`): the language-model families'.
        """
        return kwargs.get("embedding") is None and is_hf_model(model) and not is_causal_lm(model)

    def tokenize(self, text: str) -> Tokenized:
        """Token ids with the tokenizer's special tokens, spans from its offsets mapping."""
        enc = self._encode(text)
        ids = tuple(int(i) for i in enc["input_ids"])
        special = tuple(bool(s) for s in enc["special_tokens_mask"])
        offsets = enc["offset_mapping"]
        spans = tuple(
            None if sp else (int(a), int(b)) for sp, (a, b) in zip(special, offsets, strict=True)
        )
        limit = self.max_tokens
        if limit is not None and len(ids) > limit:
            raise ValueError(
                f"The text has {len(ids)} tokens; this model accepts at most {limit}. "
                "Shorten the text."
            )
        tokens = tuple(self.tokenizer.convert_ids_to_tokens(list(ids)))
        surfaces = span_surfaces(text, spans)
        oov = unknown_flags(ids, surfaces, special, self.unk_id, self.tokenizer.unk_token)
        return Tokenized(text, ids, tokens, spans, special, edge_run(special), oov)

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` ``(batch, n_classes)`` from word embeddings ``(batch, n, dim)``.

        ``ids`` ``(n,)`` only fixes the length: the attention mask is all ones.
        """
        batch, n = embeds.shape[0], embeds.shape[1]
        if ids.dim() != 1 or ids.shape[0] != n:
            raise ValueError(f"ids must have shape ({n},), got {tuple(ids.shape)}")
        mask = torch.ones((batch, n), dtype=torch.long, device=embeds.device)
        with self.lock, eval_mode(self.model):
            if not self._pad_for_batches:
                try:
                    out = self.model(inputs_embeds=embeds, attention_mask=mask)
                    return logits_to_f(pick_logits(out), len(self.classes), self.output)
                except ValueError as err:
                    if batch == 1 or "no padding token" not in str(err):
                        raise
                    self._pad_for_batches = True
            with _stand_in_pad(self.model.config, self.tokenizer):
                out = self.model(inputs_embeds=embeds, attention_mask=mask)
        return logits_to_f(pick_logits(out), len(self.classes), self.output)

    def reference_forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``F`` of the model's own forward on ``input_ids`` ``(n,)``: ``(1, n_classes)``.

        A token classifier gives ``(1, n, n_classes)``.
        """
        batch = ids.to(self.device).unsqueeze(0)
        with self.lock, torch.no_grad(), eval_mode(self.model):
            out = self.model(input_ids=batch, attention_mask=torch.ones_like(batch))
        logits = pick_logits(out)
        refuse_second_softmax(logits, self.output, self.output_given)
        return logits_to_f(logits, len(self.classes), self.output)


def _classes(config: Any, classes: Sequence[str] | None) -> tuple[str, ...]:
    n = int(config.num_labels)
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if len(names) != n or len(set(names)) != n:
            raise ValueError(
                f"classes= must be {n} distinct names (config.num_labels), got {names}"
            )
        return names
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    return tuple(id2label.get(i, f"LABEL_{i}") for i in range(n))


@contextlib.contextmanager
def _stand_in_pad(config: Any, tokenizer: Any) -> Iterator[None]:
    """A pad token id in ``config`` for one forward on embeddings; ``None`` again after it.

    A classifier that pools its last non-pad position (GPT-2, Llama, Qwen2 …
    ``ForSequenceClassification``) and has no ``pad_token_id`` refuses any batch of more
    than one text ("Cannot handle batch sizes > 1 if no padding token is defined"), only
    because it could not tell padding apart. On ``inputs_embeds`` it pools the last position
    whatever the id, and the engine never pads: that is what its own forward on one text
    does, so ``F`` is the same function (the engine checks it against that forward). Called
    under the model's lock.
    """
    stand_in = next(
        (i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id) if i is not None), 0
    )
    config.pad_token_id = int(stand_in)
    try:
        yield
    finally:
        config.pad_token_id = None


def _refuse_encoder_decoder(model: Any) -> None:
    """``TypeError`` for an encoder-decoder classifier (BART, mBART, PLBart, LED, T5 …)."""
    if not getattr(model.config, "is_encoder_decoder", False):
        return
    raise TypeError(
        f"{type(model).__name__} is an encoder-decoder classifier: it pools the decoder's "
        "states at the <eos> tokens it finds in input_ids, and its shared embedding runs in "
        "both the encoder and the decoder, so it cannot be run from one set of word "
        "embeddings (transformers refuses inputs_embeds= for it) and IG on them is not "
        "defined here. Explain an encoder classifier (BERT, RoBERTa, DeBERTa, ModernBERT) "
        "or a decoder-only one (GPT-2, Llama, Qwen2 ...ForSequenceClassification) instead."
    )
