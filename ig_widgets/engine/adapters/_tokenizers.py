"""Tokenizers of plain torch models: ``text -> ids`` callables and Hugging Face-style dicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ig_widgets.engine.spans import Span, align_spans

#: keys of a tokenizer's dict output that are not inputs of the model
NOT_INPUTS = frozenset(
    {"input_ids", "offset_mapping", "special_tokens_mask", "length", "overflow_to_sample_mapping"}
)


@dataclass(frozen=True)
class Encoded:
    """One text as a tokenizer gave it.

    Attributes
    ----------
    ids : list[int]
        ``(n_tokens,)``.
    spans : list[Span]
        ``(n_tokens,)``: character spans, None for tokens without characters of their own.
    special : list[bool] or None
        ``(n_tokens,)`` from the tokenizer's special-tokens mask; None when it gave none.
    extras : dict[str, list[int]]
        Other per-token inputs the tokenizer returned (``attention_mask``,
        ``token_type_ids``), each ``(n_tokens,)``: the model receives them as keyword
        arguments.
    aligned : bool
        True when the spans were found by aligning token strings with the text (no offsets):
        a token without a span may then be an unknown word rather than a special token.
    """

    ids: list[int]
    spans: list[Span]
    special: list[bool] | None = None
    extras: dict[str, list[int]] = field(default_factory=dict)
    aligned: bool = False


def flat_ints(value: Any, what: str) -> list[int]:
    """A list, tuple, tensor ``(n,)``/``(1, n)`` or array of ids as a list of ints."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], (list, tuple)):
        value = value[0]  # one text in a batch of one
    if not isinstance(value, (list, tuple)) or any(isinstance(v, (list, tuple)) for v in value):
        raise TypeError(f"The tokenizer's {what} must be one sequence of ints for one text.")
    ids = what in ("ids", "input_ids")  # a mask may be bools; an id may not
    return [int(v) if isinstance(v, bool) and not ids else _whole(v, what) for v in value]


def _whole(value: Any, what: str) -> int:
    """One id (or mask entry) as an int; ``TypeError`` for strings, bools and fractions.

    A whole float (``3.0``, from a float tensor) is taken; ``3.5`` would be truncated.
    """
    if isinstance(value, str):
        raise TypeError(
            f"The tokenizer's {what} are strings ({value!r} …): it must give token ids, the "
            "indices into vocab=. Map the strings with vocab.index, or wrap the tokenizer: "
            "lambda text: [index[t] for t in tokenize(text)]."
        )
    whole = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (isinstance(value, int) or whole):
        raise TypeError(
            f"The tokenizer's {what} hold {value!r} ({type(value).__name__}): they must be "
            "integers (indices into the vocabulary). Return ints or a LongTensor."
        )
    return int(value)


class CallableTokenizer:
    """A tokenizer callable as a ``TextTokenizer`` (``vocab`` and ``encode``).

    The callable returns either the ids (a list, tensor or array) or, like a Hugging Face
    tokenizer, a dict or ``BatchEncoding`` with ``input_ids`` and optionally
    ``attention_mask``, ``token_type_ids``, ``offset_mapping`` and ``special_tokens_mask``.
    A fast Hugging Face tokenizer (``is_fast``) is asked for offsets and the special-tokens
    mask. Spans come from the offsets; without them, the token strings are aligned with the
    text (best effort, see :func:`ig_widgets.engine.spans.align_spans`).

    Parameters
    ----------
    fn : callable
        ``text -> ids`` or ``text -> {"input_ids": ..., ...}``.
    vocab : Sequence[str]
        Token strings, index = id.
    """

    def __init__(self, fn: Callable[..., Any], vocab: Sequence[str]) -> None:
        self.fn = fn
        self.vocab = list(vocab)
        unk = getattr(fn, "unk_token_id", getattr(fn, "unk_id", None))
        self.unk_id = unk if isinstance(unk, int) and not isinstance(unk, bool) else None

    def encode(self, text: str) -> tuple[list[int], list[Span]]:
        """Ids and spans of ``text``."""
        enc = self.encode_full(text)
        return enc.ids, enc.spans

    def encode_full(self, text: str) -> Encoded:
        """Ids, spans, special flags and the extra per-token inputs of ``text``."""
        if getattr(self.fn, "is_fast", False):
            out = self.fn(text, return_offsets_mapping=True, return_special_tokens_mask=True)
        else:
            out = self.fn(text)
        if not isinstance(out, Mapping):
            ids = flat_ints(out, "ids")
            check_ids(ids, len(self.vocab))
            return Encoded(ids, align_spans(text, [self.vocab[i] for i in ids]), aligned=True)
        if "input_ids" not in out:
            raise TypeError(f"The tokenizer returned a dict without 'input_ids' (keys {list(out)})")
        ids = flat_ints(out["input_ids"], "input_ids")
        check_ids(ids, len(self.vocab))
        n = len(ids)
        special = None
        if out.get("special_tokens_mask") is not None:
            special = [bool(s) for s in flat_ints(out["special_tokens_mask"], "special mask")]
        spans = _offset_spans(out.get("offset_mapping"), special, n, len(text))
        aligned = spans is None
        if spans is None:
            spans = align_spans(text, [self.vocab[i] for i in ids])
        extras = {}
        for key, value in out.items():
            if key in NOT_INPUTS or value is None:
                continue
            try:
                values = flat_ints(value, key)
            except (TypeError, ValueError):
                continue  # not a per-token input (a string, a nested structure)
            if len(values) == n:
                extras[key] = values
        return Encoded(ids, spans, special, extras, aligned)


def _offset_spans(
    offsets: Any, special: list[bool] | None, n: int, length: int
) -> list[Span] | None:
    """Spans from an ``offset_mapping`` (None without one); special and empty ones are None."""
    if offsets is None:
        return None
    if hasattr(offsets, "tolist"):
        offsets = offsets.tolist()
    if len(offsets) == 1 and n != 1:
        offsets = offsets[0]  # one text in a batch of one
    if len(offsets) != n:
        raise ValueError(f"The tokenizer gave {len(offsets)} offsets for {n} ids.")
    spans: list[Span] = []
    for k, (start, end) in enumerate(offsets):
        empty = int(start) == int(end)
        spans.append(None if empty or (special is not None and special[k]) else (start, end))
    for span in spans:
        if span is not None and not 0 <= span[0] <= span[1] <= length:
            raise ValueError(f"The tokenizer gave offsets {span} outside the text.")
    return [None if s is None else (int(s[0]), int(s[1])) for s in spans]


def check_ids(ids: Sequence[int], size: int) -> None:
    """``ValueError`` for no ids or ids outside a vocabulary of ``size`` tokens."""
    if len(ids) == 0:
        raise ValueError("The tokenizer produced no tokens for this text.")
    bad = [i for i in ids if not 0 <= i < size]
    if bad:
        raise ValueError(
            f"The tokenizer produced ids outside the vocabulary (size {size}): {bad[:5]}"
        )


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


def check_span(span: Any, length: int) -> Span:
    if span is None:
        return None
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= length:
        raise ValueError(f"The tokenizer gave span {span} outside the text (length {length}).")
    return (start, end)
