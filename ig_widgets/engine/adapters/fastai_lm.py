"""fastai AWD-LSTM language model ``Learner`` (``language_model_learner``): next token and more."""

from __future__ import annotations

from typing import Any

import torch

from ig_widgets.engine.adapters._fastai_spans import align_spans
from ig_widgets.engine.adapters._readouts import slot_span
from ig_widgets.engine.adapters.base import Output, Tokenized, unknown_flags
from ig_widgets.engine.adapters.fastai import UNK, FastaiText
from ig_widgets.engine.adapters.lm import LMAdapter, is_fastai_lm


class FastaiLMAdapter(FastaiText, LMAdapter):
    """A fastai AWD-LSTM language model ``Learner`` behind the language-model interface.

    Tokens are the Learner's own (``xxbos`` first, kept by baselines; markers such as
    ``xxmaj`` are special, as for the classifier). The AWD-LSTM runs from the embeddings
    (``encoder_dp``'s output) over the whole prompt at once with a zero hidden state, then
    the ``LinearDecoder`` on the positions read only. ``output="probs"`` (default) or
    ``"logprob"``; ``top_k=5``; the default baseline is ``xxunk``.
    """

    family = "fastai_lm"
    #: with the other language-model families, above the classifiers
    priority = 20
    default_baseline_token = UNK

    def __init__(
        self, learn: Any, *, output: Output | None = None, top_k: int = 5, **kwargs: Any
    ) -> None:
        if kwargs:
            raise TypeError(
                f"A fastai Learner takes no {', '.join(sorted(kwargs))} argument: its tokenizer "
                "and embedding come from the Learner. Allowed: output=, top_k=."
            )
        if not is_fastai_lm(learn):
            raise TypeError("FastaiLMAdapter needs a fastai language_model_learner (AWD-LSTM)")
        self.learn = learn
        self._vocab = [str(t) for t in learn.dls.vocab]
        self._steps = None
        self.unk_id = self._vocab.index(UNK) if UNK in self._vocab else None
        self._init_lm(output, top_k)

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """A fastai ``Learner`` of an AWD-LSTM language model, with no prompt template."""
        return kwargs.get("prompt") is None and kwargs.get("labels") is None and is_fastai_lm(model)

    @property
    def name(self) -> str:
        """``"AWD-LSTM LM"``."""
        return "AWD-LSTM LM"

    @property
    def awd_lstm(self) -> Any:
        """The ``AWD_LSTM``: the first module of the Learner's model."""
        return self.learn.model[0]

    def tokenize_in(self, text: str, prefix: str = "", suffix: str = "") -> Tokenized:
        """The Learner's tokens of ``prefix + text + suffix``, spans relative to ``text``.

        A marker (``xxmaj``) belongs to the word after it: to the template when that word is
        the template's. Template tokens and the leading ``xxbos`` are special and kept.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        full = prefix + text + suffix
        words, ids = self.raw_tokens(full)
        markers = self.markers(words)
        slot = (len(prefix), len(prefix) + len(text))
        placed = [slot_span(span, slot, full) for span in align_spans(full, words, markers)]
        inside = [p[0] for p in placed]
        for i in range(len(words) - 2, -1, -1):  # a marker goes with the next token
            if markers[i]:
                inside[i] = inside[i + 1]
        if words and words[0] == "xxbos":
            inside[0] = False
        template = [not k for k in inside]
        special = tuple(m or t for m, t in zip(markers, template, strict=True))
        spans = tuple(p[1] for p in placed)
        oov = unknown_flags(ids, words, special, self.unk_id, UNK)
        return Tokenized(
            text, tuple(ids), tuple(self._vocab[i] for i in ids), spans, special,
            tuple(template), oov,
        )  # fmt: skip

    def encode_piece(self, text: str) -> tuple[int, ...]:
        """The Learner's ids of ``text`` without the ``xxbos`` it puts first."""
        _, ids = self.raw_tokens(text)
        bos = self._vocab.index("xxbos") if "xxbos" in self._vocab else None
        return tuple(ids[1:] if ids and ids[0] == bos else ids)

    def piece_name(self, token_id: int) -> str:
        """The vocabulary entry."""
        return self._vocab[token_id]

    def _decode(self, hidden: torch.Tensor, keep: int) -> torch.Tensor:
        """The ``LinearDecoder`` on the last ``keep`` outputs ``(batch, n, emb)``."""
        return self.learn.model[1](hidden[:, -keep:])[0]

    def logits_from_embeds(self, embeds: torch.Tensor, keep: int) -> torch.Tensor:
        """Logits ``(batch, keep, vocab)`` from embeddings ``(batch, n, emb)``, one chunk."""
        with self.lock, self._fresh_hidden(embeds.shape[0]):
            hidden = self.awd_lstm(embeds, from_embeds=True)
            return self._decode(hidden, keep)

    def logits_from_ids(self, ids: torch.Tensor, keep: int) -> torch.Tensor:
        """The Learner's model on ``ids`` ``(batch, n)`` from a zero state: ``(batch, keep, V)``."""
        with self.lock, self._fresh_hidden(ids.shape[0]):
            logits = self.learn.model(ids.to(self.device))[0]
        return logits[:, -keep:]
