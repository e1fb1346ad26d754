"""Discovery of neutral baseline tokens: vocabulary tokens the model is most undecided about."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ig_widgets.engine.adapters import ModelAdapter, adapter_for
from ig_widgets.engine.core import CancelHook, Cancelled, ProgressHook, is_cancelled
from ig_widgets.engine.heads import class_probabilities, has_uncertainty, uninformed
from ig_widgets.engine.spans import looks_special

#: unknown-word tokens: the classic baselines, so discovery keeps them among the candidates
_UNKNOWN = frozenset({"xxunk", "<unk>", "[UNK]", "<UNK>"})
#: fastai's markers (``xxfake`` fills its vocabulary up to a multiple of 8)
_FASTAI_MARKER = re.compile(r"^xx(pad|bos|eos|fld|maj|up|rep|wrep|fake)\d*$")
#: vocabulary tokens (from the start: the frequent ones in a frequency-ordered vocabulary)
#: scored once per model for the default baseline's shortlist
QUICK_CANDIDATES = 1000
#: the shortlist's size: its tokens are re-ranked at each text's length
SHORTLIST = 30
#: the default baseline falls back when even the best token's class probability is this far
#: from uniform at the text's length
NEAR_UNIFORM = 0.1
# text lengths whose neutral choice is kept per model (a few bytes each)
LENGTHS_KEPT = 512


def is_marker(token: str) -> bool:
    """Whether ``token`` is a structural token (padding, begin/end, case or repeat marker)."""
    if token in _UNKNOWN:
        return False
    return bool(_FASTAI_MARKER.match(token)) or looks_special(token)


@dataclass(frozen=True)
class NeutralToken:
    """A vocabulary token and how neutral the model finds it.

    Attributes
    ----------
    token : str
        The token.
    probs : np.ndarray
        Class probabilities for the special tokens + the token repeated, ``(n_classes,)``.
    distance : float
        ``max |p − 1/n_classes|``: 0 is perfectly neutral.
    """

    token: str
    probs: np.ndarray
    distance: float


def adapter_of(model: Any) -> ModelAdapter:
    """The adapter of an :class:`~ig_widgets.Explainer`, an adapter, or a model it accepts."""
    if isinstance(model, ModelAdapter):
        return model
    inner = getattr(model, "adapter", None)
    return inner if isinstance(inner, ModelAdapter) else adapter_for(model)


def discover_neutral_tokens(
    model: Any,
    top_k: int = 10,
    *,
    length: int = 8,
    batch_size: int = 512,
    candidates: Sequence[str] | None = None,
    progress: ProgressHook | None = None,
    cancel: CancelHook | None = None,
) -> list[NeutralToken]:
    """Rank vocabulary tokens by how close to uniform the prediction on them is.

    Uniform is ``1/C`` per class, or ½ per label of a sigmoid (multi-label) head; a
    regression head (``identity``) has no such point and gets a ``ValueError``.

    Each candidate ``t`` is scored on the model's leading special tokens, ``t`` repeated
    ``length`` times, then its trailing special tokens (``xxbos t t t …`` for fastai, as in
    the seed article's discovery process; ``[CLS] t t … [SEP]`` for BERT), built from token
    ids directly. Structural tokens (padding, begin/end, fastai's case and repeat markers,
    ``[CLS]``-like tokens) are skipped; the unknown-word token is kept.

    Parameters
    ----------
    model : Explainer, ModelAdapter or model
        Whose predictions are scored (a model is wrapped by its family's adapter).
    top_k : int
        How many tokens to return.
    length : int
        Repeats of the candidate: the number of ordinary tokens of the text it will stand in
        for (neutrality changes with length).
    batch_size : int
        Candidates per forward; the model's lock is released between batches.
    candidates : sequence of str, optional
        Vocabulary tokens to score; default the whole vocabulary. ``ValueError`` for a token
        that is not in it.
    progress : callable, optional
        ``progress(scored, total)`` after each batch, in candidates.
    cancel : callable or threading.Event, optional
        Checked before each batch; when set, :class:`ig_widgets.Cancelled` is raised.

    Returns
    -------
    list[NeutralToken]
        The ``top_k`` most neutral tokens, most neutral first (ties in vocabulary order).
    """
    if top_k < 1 or length < 1 or batch_size < 1:
        raise ValueError("top_k, length and batch_size must be at least 1")
    adapter = adapter_of(model)
    uninformed(adapter.output, len(adapter.classes))  # a clear error for regression, early
    vocab = adapter.vocab
    names = vocab if candidates is None else candidates
    ids = [adapter.token_id(t) for t in names if not is_marker(t)]
    head, tail = (torch.tensor(part, dtype=torch.long) for part in adapter.edge_ids())
    scores: list[np.ndarray] = []
    for start in range(0, len(ids), batch_size):
        if is_cancelled(cancel):
            raise Cancelled()
        block = torch.tensor(ids[start : start + batch_size], dtype=torch.long).unsqueeze(1)
        rows = torch.cat(
            [head.expand(len(block), -1), block.expand(-1, length), tail.expand(len(block), -1)],
            dim=1,
        )
        with adapter.prepared(), torch.no_grad():
            out = adapter.forward_embeds(adapter.embed(rows), rows[0])
            if out.dim() == 3:  # one output per token: neutral on average over the tokens
                out = out.mean(1)
        scores.append(class_probabilities(out, adapter.output).double().cpu().numpy())
        if progress is not None:
            progress(start + len(block), len(ids))
    probs_all = np.concatenate(scores) if scores else np.zeros((0, len(adapter.classes)))
    distance = np.abs(probs_all - uninformed(adapter.output, len(adapter.classes))).max(axis=1)
    order = np.argsort(distance, kind="stable")[:top_k]
    return [NeutralToken(vocab[ids[i]], probs_all[i], float(distance[i])) for i in order]


@dataclass(frozen=True)
class NeutralChoice:
    """The default baseline token for one text length, or why there is none.

    Attributes
    ----------
    token : str or None
        The most neutral shortlisted token at ``length``; None when falling back.
    length : int
        The number of ordinary tokens it was ranked at.
    probs : np.ndarray or None
        The prediction on ``special tokens + token × length``, ``(n_classes,)``.
    reason : str
        Why this token, or why none (the fallback's stated reason).
    """

    token: str | None
    length: int
    probs: np.ndarray | None
    reason: str


_shortlists: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, list[NeutralToken]]] = (
    weakref.WeakKeyDictionary()
)
_shortlist_lock = threading.Lock()
# the choice per text length, per model and weights: a change of steps or target in a widget
# asks again at the same length and must not pay the 30 forwards a second time
_choices: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, dict[int, NeutralChoice]]] = (
    weakref.WeakKeyDictionary()
)


def neutral_shortlist(model: Any, cancel: CancelHook | None = None) -> list[NeutralToken]:
    """The :data:`SHORTLIST` most neutral of the first :data:`QUICK_CANDIDATES` tokens.

    Scored at 8 repeats, once per model and weights (cached on the network, so every
    Explainer and widget of one model shares it): about 0.1 s for the demo AWD-LSTM, against
    1.5 s for its whole vocabulary.
    """
    adapter = adapter_of(model)
    version = adapter.weights_version
    with _shortlist_lock:
        cached = _shortlists.get(adapter.network)
        if cached is not None and cached[0] == version:
            return cached[1]
        names = [t for t in adapter.vocab if not is_marker(t)][:QUICK_CANDIDATES]
        found = discover_neutral_tokens(adapter, top_k=SHORTLIST, candidates=names, cancel=cancel)
        _shortlists[adapter.network] = (version, found)
        return found


def neutral_token_at(model: Any, length: int, cancel: CancelHook | None = None) -> NeutralChoice:
    """The most neutral shortlisted token for a text of ``length`` ordinary tokens.

    The shortlist (:func:`neutral_shortlist`) is re-ranked at ``length`` (an LSTM's state
    keeps moving as a token repeats; 30 forwards). The choice falls back (``token`` None,
    with the reason) for a regression head and for a bare language model's next token (neither
    has a neutral point), and when even the best token's prediction is more than
    :data:`NEAR_UNIFORM` from uniform.
    """
    adapter = adapter_of(model)
    length = max(1, int(length))
    if not has_uncertainty(adapter.output):
        return NeutralChoice(None, length, None, "a regression head has no neutral point")
    if not adapter.classes:
        reason = "a language model's candidates change with the text: no neutral point"
        return NeutralChoice(None, length, None, reason)
    version = adapter.weights_version
    with _shortlist_lock:
        known = _choices.get(adapter.network)
        if known is not None and known[0] == version and length in known[1]:
            return known[1][length]
    choice = _rank_at(adapter, length, cancel)
    with _shortlist_lock:
        known = _choices.get(adapter.network)
        if known is None or known[0] != version:
            known = (version, {})
            _choices[adapter.network] = known
        if len(known[1]) >= LENGTHS_KEPT:
            known[1].pop(next(iter(known[1])))  # the oldest length goes first
        known[1][length] = choice
    return choice


def _rank_at(adapter: ModelAdapter, length: int, cancel: CancelHook | None) -> NeutralChoice:
    """Re-rank the shortlist at ``length`` (the uncached part of :func:`neutral_token_at`)."""
    shortlist = neutral_shortlist(adapter, cancel)
    if not shortlist:
        return NeutralChoice(None, length, None, "the vocabulary has no ordinary token")
    best = discover_neutral_tokens(
        adapter,
        top_k=1,
        length=length,
        candidates=[n.token for n in shortlist],
        batch_size=len(shortlist),
        cancel=cancel,
    )[0]
    probs = "/".join(f"{p:.2f}" for p in best.probs)
    if best.distance > NEAR_UNIFORM:
        return NeutralChoice(
            None,
            length,
            best.probs,
            f"no frequent token is neutral at {length} tokens (best {best.token!r}: {probs})",
        )
    return NeutralChoice(
        best.token, length, best.probs, f"the most neutral frequent token at this length ({probs})"
    )
