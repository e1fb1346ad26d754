"""fastai AWD-LSTM text classifier ``Learner``: exact tokens, spans and a single-chunk forward."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import torch

from ig_widgets.engine.adapters._fastai_spans import REPEATS, align_spans
from ig_widgets.engine.adapters.base import (
    ModelAdapter,
    Output,
    Tokenized,
    eval_mode,
    unknown_flags,
)
from ig_widgets.engine.heads import apply_head, chosen_output, output_from_loss
from ig_widgets.models.quiet import known_warnings_hidden

#: fastai's marker tokens: they carry no characters of the text
MARKERS = frozenset({"xxbos", "xxeos", "xxfld", "xxmaj", "xxup", "xxrep", "xxwrep", "xxpad"})
#: fastai's unknown-word token
UNK = "xxunk"
#: how close (relative to its largest value) this adapter's F must be to the Learner's for
#: a length class to count as checked (the engine's own check, README: 1e-5)
VERIFIED_RTOL = 1e-5


def _is_fastai_classifier(model: Any) -> bool:
    """Whether ``model`` is a fastai AWD-LSTM classifier network (checked by class names)."""
    names = [type(m).__name__ for m in (model, *getattr(model, "_modules", {}).values())]
    if names[:3] != ["SequentialRNN", "SentenceEncoder", "PoolingLinearClassifier"]:
        return False
    return type(getattr(model[0], "module", None)).__name__ == "AWD_LSTM"


class FastaiText:
    """What fastai's text models share: the Learner's tokens, embeddings and model state.

    Mixed into an adapter that sets ``learn``, ``_vocab`` and ``_steps`` (None) and defines
    :attr:`awd_lstm`.
    """

    learn: Any
    _vocab: list[str]
    _steps: list[Any] | None

    @property
    def awd_lstm(self) -> Any:
        """The ``AWD_LSTM`` of the Learner's model."""
        raise NotImplementedError

    @property
    def vocab(self) -> Sequence[str]:
        """The Learner's text vocabulary, index = token id."""
        return self._vocab

    @property
    def network(self) -> torch.nn.Module:
        """The Learner's ``SequentialRNN`` (``learn.model``)."""
        return self.learn.model

    # --- tokens ---------------------------------------------------------------------------

    def _pipeline(self) -> list[Any]:
        """The transforms ``learn.dls.test_dl([text])`` applies to a string (cached)."""
        if self._steps is None:
            dataset = self.learn.dls.valid_ds
            items = dataset.tls[0] if hasattr(dataset, "tls") else dataset
            self._steps = list(items.tfms.fs[items.infer_idx("text") :])
        return self._steps

    def raw_tokens(self, text: str) -> tuple[list[str], list[int]]:
        """The tokenizer's strings (before numericalisation) and the token ids of ``text``.

        Returns
        -------
        tokens, ids : list[str], list[int]
            Both of length ``n_tokens``; ``tokens`` keep the surface of words the vocabulary
            maps to ``xxunk``.
        """
        with known_warnings_hidden():  # fastai's import-time deprecations, exactly those
            from fastai.text.core import Tokenizer

        x: Any = text
        words: list[str] | None = None
        for step in self._pipeline():
            x = step(x, split_idx=1)
            if isinstance(step, Tokenizer):
                words = [str(w) for w in x]
        ids = [int(i) for i in torch.as_tensor(x).reshape(-1).tolist()]
        if words is None or len(words) != len(ids):
            words = [self._vocab[i] for i in ids]
        return words, ids

    def markers(self, words: Sequence[str]) -> list[bool]:
        """Which of the tokenizer's strings are markers (and ``xxrep``/``xxwrep`` counts)."""
        return [
            w in MARKERS or (i > 0 and words[i - 1] in REPEATS and w.isdigit())
            for i, w in enumerate(words)
        ]

    # --- model ----------------------------------------------------------------------------

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Embedding rows of ``ids``, shape ``(batch, n_tokens)`` → ``(batch, n_tokens, dim)``.

        The encoder's weight is looked up directly (no embedding dropout, whatever the mode).
        """
        encoder = self.awd_lstm.encoder
        return torch.nn.functional.embedding(ids.to(encoder.weight.device), encoder.weight)

    @contextlib.contextmanager
    def _fresh_hidden(self, batch: int) -> Iterator[None]:
        """A zero recurrent state for ``batch`` rows; the previous state is put back after."""
        awd = self.awd_lstm
        saved = awd.hidden, awd.bs
        awd.bs = batch
        awd.hidden = [awd._one_hidden(layer) for layer in range(awd.n_layers)]
        try:
            yield
        finally:
            awd.hidden, awd.bs = saved

    @contextlib.contextmanager
    def _prepare(self) -> Iterator[None]:
        """Eval mode for the whole model, restored on exit (run under the model's lock).

        On exit every module's training flag, the AWD-LSTM hidden state and the LSTM weights
        that weight dropout derives are put back exactly as found (nothing else is touched).
        """
        model = self.learn.model
        awd = self.awd_lstm
        state = awd.hidden, awd.bs
        dropped = [
            (m.module, name, getattr(m.module, name))
            for m in model.modules()
            if type(m).__name__ == "WeightDropout"
            for name in m.layer_names
        ]
        try:
            with eval_mode(model):
                yield
        finally:
            awd.hidden, awd.bs = state
            for module, name, weight in dropped:
                setattr(module, name, weight)


class FastaiAdapter(FastaiText, ModelAdapter):
    """A fastai AWD-LSTM text classifier ``Learner`` behind the engine's interface.

    Tokens are exactly the ids ``learn.predict(text)`` uses (the Learner's own tokenizer and
    numericaliser are run, without building a DataLoader). The forward pass runs from the
    embeddings (the output of ``encoder_dp``) through the AWD-LSTM as **one chunk**, whatever
    the Learner's ``bptt`` and ``max_len`` are, with a zero hidden state on every call, so
    gradients are exact for long inputs. The pooling head sees only the outputs the Learner's
    ``SentenceEncoder`` keeps (for a text longer than ``max_len``, its last chunks: see
    :func:`first_kept_output`), so ``F`` is what ``learn.predict`` computes, while every token
    still reaches it through the recurrence. The Learner is never modified: ``bptt``,
    ``max_len``, weights and ``requires_grad`` flags stay as they are, and :meth:`prepared`
    restores the training flags and the recurrent state it finds.

    Parameters
    ----------
    learn : fastai.learner.Learner
        A text classifier built with ``text_classifier_learner(dls, AWD_LSTM, ...)``.
    output : {"probs", "logits", "sigmoid", "identity"} or None
        What the engine attributes; None (default) reads the head ``learn.predict`` applies
        from the Learner's loss (:func:`~ig_widgets.engine.heads.output_from_loss`):
        ``BCEWithLogitsLossFlat`` → ``sigmoid`` (multi-label), ``MSELossFlat`` →
        ``identity`` (regression, one class per output: ``score``), else the softmax.

    Notes
    -----
    A bidirectional AWD-LSTM reads each ``bptt`` chunk backwards from the chunk's end, with
    the state the previous chunk left: for a text longer than ``bptt`` that is not one
    chunk. The engine then runs the chunks as the Learner's ``SentenceEncoder`` does, the
    state carried between them without fastai's detach, so ``F`` is the Learner's and the
    gradients are exact. ``F`` at the input is checked against ``learn.model`` on the ids
    (the forward of ``learn.predict``) for every text.
    """

    family = "fastai"
    default_baseline_token = "xxunk"

    def __init__(self, learn: Any, output: Output | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(
                f"A fastai Learner takes no {', '.join(sorted(kwargs))} argument: its tokenizer, "
                "embedding and classes come from the Learner. Allowed: output='probs', "
                "'logits', 'sigmoid' or 'identity'."
            )
        if not self.accepts(learn):
            raise TypeError("FastaiAdapter needs a fastai Learner of an AWD-LSTM text classifier")
        self.learn = learn
        self.output = chosen_output(output, output_from_loss(getattr(learn, "loss_func", None)))
        self._vocab, labels = learner_vocabs(learn)
        self.classes = labels if labels is not None else _output_names(learn)
        if len(self.classes) == 1 and self.output == "probs":
            raise ValueError(
                "The Learner has one output and no classes (regression): a softmax over it is "
                "constant. Pass output='identity' (or leave output= out: MSELossFlat is read "
                "as regression)."
            )
        self.unk_id = self._vocab.index(UNK) if UNK in self._vocab else None
        self._steps: list[Any] | None = None
        #: (weights digest, head, length class) whose one-chunk forward matched the Learner's
        self._verified: set[Hashable] = set()

    @classmethod
    def accepts(cls, model: Any, **kwargs: Any) -> bool:
        """True for a fastai ``Learner`` whose model is an AWD-LSTM text classifier."""
        is_learner = any(
            c.__name__ == "Learner" and c.__module__.startswith("fastai")
            for c in type(model).__mro__
        )
        return is_learner and _is_fastai_classifier(getattr(model, "model", None))

    @property
    def name(self) -> str:
        """``"AWD-LSTM"``."""
        return "AWD-LSTM"

    @property
    def awd_lstm(self) -> Any:
        """The ``AWD_LSTM`` inside the ``SentenceEncoder``."""
        return self.learn.model[0].module

    # --- tokens ---------------------------------------------------------------------------

    def tokenize(self, text: str) -> Tokenized:
        """Tokenise ``text`` exactly as the Learner does, with character spans.

        Markers (``xxbos``, ``xxmaj``, ``xxup``, ``xxrep``/``xxwrep`` and their counts) have
        no span and are ``special``; the repeated character after ``xxrep n`` (and the word
        after ``xxwrep n``) spans the whole run. A word the vocabulary does not know is the
        token ``xxunk`` with the span of the word. The leading ``xxbos`` is ``keep``.

        Raises
        ------
        ValueError
            When the text is empty, only whitespace or only markup (``<br />``).
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("The text is empty: give at least one word to explain.")
        words, ids = self.raw_tokens(text)
        if all(w in MARKERS for w in words):
            raise ValueError(
                f"The text is empty once tokenised ({text[:40]!r} holds only markup such as "
                "'<br />'): give at least one word to explain."
            )
        special = self.markers(words)
        return Tokenized(
            text=text,
            ids=tuple(ids),
            tokens=tuple(self._vocab[i] for i in ids),
            spans=tuple(align_spans(text, words, special)),
            special=tuple(special),
            keep=tuple(i == 0 and w == "xxbos" for i, w in enumerate(words)),
            oov=unknown_flags(ids, words, special, self.unk_id, UNK),
        )

    # --- model ----------------------------------------------------------------------------

    def forward_embeds(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` from the embeddings, the whole input as one chunk.

        Parameters
        ----------
        embeds : torch.Tensor
            Shape ``(batch, n_tokens, dim)``: what ``encoder_dp`` would output.
        ids : torch.Tensor
            The input's ids, shape ``(n_tokens,)``: the pad mask of the pooling layer.

        Returns
        -------
        torch.Tensor
            Shape ``(batch, n_classes)``: softmax probabilities or logits (``output``).
            Call it inside :meth:`prepared` (eval mode) for deterministic results.
            Beyond the Learner's ``max_len`` only the outputs ``learn.predict`` keeps are
            pooled (:func:`first_kept_output`); the recurrence runs over all the tokens.
        """
        if embeds.dim() != 3 or embeds.shape[1] != ids.shape[-1]:
            raise ValueError(
                f"embeds must be (batch, n_tokens, dim) with n_tokens = {ids.shape[-1]}, "
                f"got {tuple(embeds.shape)}"
            )
        batch, n = embeds.shape[:2]
        encoder = self.learn.model[0]
        mask = (ids.reshape(-1, n) == encoder.pad_idx).expand(batch, n)
        return self._run(embeds, mask, first_kept_output(n, encoder.bptt, encoder.max_len))

    def padding_room(self) -> int:
        """The Learner's ``bptt``; 0 for a bidirectional encoder.

        The LSTM is causal, and fastai's pooling masks up to ``bptt`` pads at the end
        (``masked_concat_pool`` finds the last real output by counting the pads among the
        last ``bptt`` positions).
        """
        return 0 if self.awd_lstm.n_dir != 1 else int(self.learn.model[0].bptt)

    def pad_id(self) -> int:
        """The id of ``xxpad``."""
        return int(self.learn.model[0].pad_idx)

    def forward_embeds_padded(self, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``F`` ``(batch, n_classes)`` of texts padded at the end, ``embeds`` ``(batch, n, dim)``.

        ``ids`` ``(batch, n)`` mark the pads. Every row must be within the Learner's
        ``max_len`` (a longer text keeps only its last outputs: see :meth:`forward_embeds`).
        """
        n = embeds.shape[1]
        encoder = self.learn.model[0]
        if encoder.max_len is not None and n > encoder.max_len:
            raise ValueError(f"padded texts must be within max_len ({encoder.max_len})")
        return self._run(embeds, ids == encoder.pad_idx, kept=0)

    def _run(self, embeds: torch.Tensor, mask: torch.Tensor, kept: int) -> torch.Tensor:
        """``F`` ``(batch, n_classes)``: the LSTM over ``embeds`` ``(batch, n, dim)``, the head.

        The head pools the outputs from ``kept`` on; ``mask`` ``(batch, n)`` marks the pads.
        """
        bptt = int(self.learn.model[0].bptt)
        with self.lock, self._fresh_hidden(embeds.shape[0]):
            if self.awd_lstm.n_dir != 1 and embeds.shape[1] > bptt:
                hidden = self._chunked(embeds, bptt)
            else:
                hidden = self.awd_lstm(embeds, from_embeds=True)
            pooled = hidden[:, kept:], mask.to(embeds.device)[:, kept:]
            logits = self.learn.model[1](pooled)[0]
        return apply_head(logits, self.output)

    def _chunked(self, embeds: torch.Tensor, bptt: int) -> torch.Tensor:
        """The AWD-LSTM's outputs ``(batch, n, emb)`` over chunks of ``bptt``, as the Learner.

        fastai's ``SentenceEncoder`` feeds the chunks one after the other, each layer starting
        from the state the previous chunk left; that is what a bidirectional model computes
        (its backward direction restarts at each chunk's end). The state is carried here
        without fastai's detach, so gradients reach every earlier token. Eval mode: the
        dropouts between layers are the identity and are skipped.
        """
        awd = self.awd_lstm
        state = list(awd.hidden)
        outs = []
        for i in range(0, embeds.shape[1], bptt):
            x = embeds[:, i : i + bptt]
            for layer, rnn in enumerate(awd.rnns):
                x, state[layer] = rnn(x, state[layer])
            outs.append(x)
        return torch.cat(outs, dim=1)

    def reference_forward(self, ids: torch.Tensor) -> torch.Tensor | None:
        """``F`` ``(1, n_classes)`` of ``learn.model`` on ``ids`` ``(n,)``: ``learn.predict``'s.

        The Learner's own ``SentenceEncoder`` runs (its ``bptt`` chunks, its ``max_len``),
        from a reset state; the recurrent state found is put back afterwards. The engine
        checks its ``F`` against it. That check can only fail by the way the text is cut
        into chunks and pooled, which its length class decides (:meth:`_length_class`), and
        by the weights: so once this adapter's own forward has matched the Learner's on a
        text of a class (checked here too), later texts of that class with the same weights
        and head get None (nothing to check, no extra forward). A bidirectional text past
        ``bptt`` is checked once per number of chunks.
        """
        key = (self.weights_version, self.output, self._length_class(ids.shape[-1]))
        if key in self._verified:
            return None
        batch = ids.to(self.awd_lstm.encoder.weight.device).reshape(1, -1)
        with self.lock, torch.no_grad(), eval_mode(self.learn.model), self._fresh_hidden(1):
            logits = self.learn.model(batch)[0]
        own = apply_head(logits, self.output)
        with self.lock, torch.no_grad(), eval_mode(self.learn.model):
            mine = self.forward_embeds(self.embed(batch), batch[0])
        scale = max(float(own.abs().max()), 1e-12)
        if float((mine - own).abs().max()) <= VERIFIED_RTOL * scale:
            self._verified.add(key)
        return own

    def _length_class(self, n: int) -> Hashable:
        """What of a text's length decides how the Learner cuts and pools it.

        Within ``bptt`` or past it, pooled whole or from a later chunk on
        (:func:`first_kept_output`), and, for a bidirectional encoder past ``bptt``, the
        number of chunks (each restarts its backward direction).
        """
        encoder = self.learn.model[0]
        bptt = int(encoder.bptt)
        chunks = -(-n // bptt) if self.awd_lstm.n_dir != 1 and n > bptt else None
        return (n > bptt, first_kept_output(n, bptt, encoder.max_len) > 0, chunks)


def learner_vocabs(learn: Any) -> tuple[list[str], tuple[str, ...] | None]:
    """The text vocabulary of a Learner and its class names (None: no classes, regression).

    ``learn.dls.vocab`` is ``[text vocabulary, classes]`` for a classifier, and only the
    text vocabulary (a flat list of token strings) for a regression target.
    """
    vocab = learn.dls.vocab
    if len(vocab) and all(isinstance(t, str) for t in vocab[:4]):
        return [str(t) for t in vocab], None
    return [str(t) for t in vocab[0]], tuple(str(c) for c in vocab[1])


def _output_names(learn: Any) -> tuple[str, ...]:
    """Names of a regression Learner's outputs: ``score``, or ``score_0`` … for several."""
    linears = [m for m in learn.model[1].modules() if isinstance(m, torch.nn.Linear)]
    n = int(linears[-1].out_features) if linears else 1
    return ("score",) if n == 1 else tuple(f"score_{i}" for i in range(n))


def first_kept_output(n_tokens: int, bptt: int, max_len: int | None) -> int:
    """Index of the first output fastai's ``SentenceEncoder`` keeps for the pooling head.

    The encoder runs a text in chunks of ``bptt`` tokens starting at ``0, bptt, 2·bptt, …``
    and keeps a chunk's outputs only when it starts at most ``max_len`` tokens before the
    end (``n_tokens − start ≤ max_len``). So ``learn.predict`` pools the outputs from the
    first such chunk on: the last ``max_len − bptt + 1`` to ``max_len`` of them, chunk
    aligned (1,428 of a 1,500-token text with ``bptt`` 72 and ``max_len`` 1,440).

    Returns
    -------
    int
        0 when ``max_len`` is None or the text is no longer than it.

    Raises
    ------
    ValueError
        When no chunk is kept (``max_len`` shorter than the last chunk): fastai itself fails.
    """
    if max_len is None or n_tokens <= max_len:
        return 0
    start = -(-(n_tokens - max_len) // bptt) * bptt  # the first chunk start that is kept
    if start >= n_tokens:
        raise ValueError(
            f"The Learner keeps no output of a {n_tokens}-token text (bptt {bptt}, max_len "
            f"{max_len}): raise learn.model[0].max_len to at least bptt."
        )
    return start
