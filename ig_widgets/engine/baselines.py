"""The five kinds of baseline of the seed article, and the one encoding of a baseline choice."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ig_widgets.engine.adapters.base import ModelAdapter, Tokenized
from ig_widgets.engine.heads import class_probabilities, uninformed
from ig_widgets.engine.neutral import neutral_token_at


@dataclass(frozen=True)
class PathStart:
    """One concrete baseline for one input.

    Attributes
    ----------
    key : Hashable
        Identifies the embeddings for the cache (same key, same tensor).
    embeds : torch.Tensor
        The baseline's embeddings, ``(n_tokens, dim)``.
    description : str
        What it is, in words.
    """

    key: Hashable
    embeds: torch.Tensor
    description: str


class Baseline(ABC):
    """A rule that turns an input into one or more path starts (several are averaged)."""

    @abstractmethod
    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """The path starts for ``tok`` whose embeddings are ``inputs`` ``(n_tokens, dim)``."""

    @property
    @abstractmethod
    def description(self) -> str:
        """What the baseline is, in words."""


def _kept(tok: Tokenized) -> torch.Tensor:
    return torch.tensor(tok.keep, dtype=torch.bool)


def _embed_ids(adapter: ModelAdapter, ids: Sequence[int]) -> torch.Tensor:
    with torch.no_grad():
        return adapter.embed(torch.tensor([list(ids)], dtype=torch.long))[0]


@dataclass(frozen=True)
class TokenBaseline(Baseline):
    """The token repeated at every position, the model's leading/trailing special tokens kept.

    ``TokenBaseline("xxunk")`` on ``xxbos xxmaj great film`` gives ``xxbos xxunk xxunk xxunk``,
    as in the seed article.
    """

    token: str

    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """One start: the token's embedding everywhere but at kept positions."""
        tid = adapter.token_id(self.token)
        ids = [i if keep else tid for i, keep in zip(tok.ids, tok.keep, strict=True)]
        return [PathStart(("token", tid), _embed_ids(adapter, ids), self.description)]

    @property
    def description(self) -> str:
        """``token 'xxunk'``."""
        return f"token {self.token!r}"


#: why a model's default baseline is zero embeddings, in the words the widgets show
NO_DEFAULT_TOKEN = "the model has no unknown or mask token"


@dataclass(frozen=True)
class ZeroBaseline(Baseline):
    """Zero embeddings; the kept special tokens keep theirs unless ``keep_special`` is False.

    ``reason`` says why zeros were chosen when the engine chose them (a model without a
    default token, see :func:`default_baseline`); it is part of the description, so the
    widgets show it, and plays no part in equality.
    """

    keep_special: bool = True
    reason: str = field(default="", compare=False)

    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """One start: zeros, with the kept positions copied from the input."""
        embeds = torch.zeros_like(inputs)
        if self.keep_special:
            kept = _kept(tok).to(inputs.device)
            embeds[kept] = inputs[kept]
        return [PathStart(("zero", self.keep_special), embeds, self.description)]

    @property
    def description(self) -> str:
        """``zero embeddings``, with the reason and ``special tokens too`` in brackets."""
        notes = [n for n in ("" if self.keep_special else "special tokens too", self.reason) if n]
        return "zero embeddings" + (f" ({'; '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class TextBaseline(Baseline):
    """A reference text: its tokens repeated to the input's length, kept tokens kept.

    ``TextBaseline("an ordinary film")`` on ``[CLS] a truly great movie ! [SEP]`` starts the
    path at ``[CLS] an ordinary film an ordinary [SEP]``: the reference's ordinary tokens
    (its own special tokens dropped) tiled over the positions a token baseline would replace.
    Works for every model family, since the text goes through the model's own tokenizer.
    """

    text: str

    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """One start: the reference's ordinary tokens tiled over the input's free positions."""
        ref = adapter.tokenize(self.text)
        fill = [i for i, s in zip(ref.ids, ref.special, strict=True) if not s] or list(ref.ids)
        free = [p for p, keep in enumerate(tok.keep) if not keep]
        ids = list(tok.ids)
        for k, p in enumerate(free):
            ids[p] = fill[k % len(fill)]
        return [PathStart(("text", tuple(ids)), _embed_ids(adapter, ids), self.description)]

    @property
    def description(self) -> str:
        """``text '…'``."""
        short = self.text if len(self.text) <= 30 else self.text[:29] + "…"
        return f"text {short!r}"


@dataclass(frozen=True)
class AverageBaseline(Baseline):
    """Several baselines; the attributions (and F at the path start) are averaged.

    Items are :class:`Baseline` objects or strings; a string is a reference text
    (:class:`TextBaseline`). Use ``TokenBaseline(t)`` for a token.
    """

    items: tuple[Baseline | str, ...]

    def __init__(self, items: Sequence[Baseline | str]) -> None:
        if isinstance(items, (str, Baseline)) or not items:
            raise ValueError("AverageBaseline needs a non-empty list of baselines or texts")
        object.__setattr__(self, "items", tuple(items))

    def parts(self) -> list[Baseline]:
        """The items as baseline objects."""
        return [TextBaseline(b) if isinstance(b, str) else b for b in self.items]

    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """Every item's starts, in order."""
        return [s for b in self.parts() for s in b.starts(adapter, tok, inputs)]

    @property
    def description(self) -> str:
        """``average of …``."""
        return "average of " + ", ".join(b.description for b in self.parts())


@dataclass(eq=False)
class UncertainBaseline(Baseline):
    """Embeddings optimised by gradient descent until the class probabilities are uniform.

    Starts from the model's default baseline token (or zeros), keeps the special tokens, and
    runs Adam on the cross-entropy to the uniform distribution until every probability is
    within ``tol`` of ``1/n_classes`` (of ½ for each label of a sigmoid head) or ``max_iter``
    is reached. A regression head (``output="identity"``) has no uncertain point: asking
    for this baseline there raises ``ValueError``. The result for each input
    structure is cached on the object; ``last`` holds the probabilities it reached and the
    optimisation curve (max |p − 1/C| per iteration).
    """

    max_iter: int = 300
    lr: float = 0.05
    tol: float = 1e-3
    last: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[Hashable, tuple[torch.Tensor, dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def starts(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> list[PathStart]:
        """One start: the optimised embeddings for this input's length and kept tokens."""
        kept_ids = tuple(i if k else -1 for i, k in zip(tok.ids, tok.keep, strict=True))
        model = (adapter.model_key, adapter.weights_version)
        key = ("uncertain", model, kept_ids, self.max_iter, self.lr, self.tol)
        # the model's lock first, always: refine holds it when it asks for the starts
        with adapter.prepared(), adapter.grad_context(), self._lock:
            if key not in self._cache:
                self._cache[key] = self._optimise(adapter, tok, inputs)
            embeds, self.last = self._cache[key]  # ``last`` follows the latest input
            return [PathStart(key, embeds, self.description)]

    def _optimise(
        self, adapter: ModelAdapter, tok: Tokenized, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        init = default_baseline(adapter).starts(adapter, tok, inputs)
        kept = _kept(tok).to(inputs.device)
        fixed = inputs.detach().clone()
        free = init[0].embeds.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([free], lr=self.lr)
        ids = torch.tensor(tok.ids)
        target = uninformed(adapter.output, len(adapter.classes))
        history: list[float] = []
        probs = torch.full((len(adapter.classes),), target)
        for _ in range(self.max_iter + 1):
            embeds = torch.where(kept.unsqueeze(-1), fixed, free)
            out = adapter.forward_embeds(embeds.unsqueeze(0), ids)[0]
            if out.dim() == 2:  # one output per token: uncertain on average over the tokens
                out = out.mean(0)
            p = class_probabilities(out, adapter.output).clamp(1e-12, 1 - 1e-12)
            probs = p.detach()
            gap = float((probs - target).abs().max())
            history.append(gap)
            if gap <= self.tol or len(history) > self.max_iter:
                break
            # cross-entropy to the uninformed point: uniform classes, or ½ per sigmoid label
            loss = -p.log().mean()
            if adapter.output == "sigmoid":
                loss = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        converged = history[-1] <= self.tol
        last = {
            "probs": probs.cpu().numpy(),
            "history": history,
            "iterations": len(history),
            "converged": converged,
        }
        return torch.where(kept.unsqueeze(-1), fixed, free.detach()), last

    @property
    def description(self) -> str:
        """``uncertain (probabilities …)``."""
        if "probs" in self.last:
            reached = "/".join(f"{p:.3f}" for p in self.last["probs"])
            stopped = "" if self.last.get("converged", True) else ", not converged"
            return f"uncertain (probabilities {reached}{stopped})"
        return "uncertain"


def default_baseline(adapter: ModelAdapter) -> Baseline:
    """The model's default baseline: its default token, or announced zero embeddings.

    The token is the adapter's ``default_baseline_token`` (``xxunk`` for fastai; the mask
    token for a Hugging Face model pretrained with masked LM, else its pad or unknown token).
    A model with none gets :class:`ZeroBaseline` whose description says so: ``zero
    embeddings (the model has no unknown or mask token)``.
    """
    token = adapter.default_baseline_token
    return TokenBaseline(token) if token else ZeroBaseline(reason=NO_DEFAULT_TOKEN)


def default_average(adapter: ModelAdapter) -> Baseline:
    """The default token baseline averaged with zero embeddings (``[average]``).

    A model without a default token gets the announced zero embeddings of
    :func:`default_baseline` alone.
    """
    default = default_baseline(adapter)
    return (
        default if isinstance(default, ZeroBaseline) else AverageBaseline([default, ZeroBaseline()])
    )


def parse_baseline(baseline: Baseline | str | None, adapter: ModelAdapter) -> Baseline:
    """A baseline object from None (the model's default), a vocabulary token or a Baseline."""
    if baseline is None:
        return default_baseline(adapter)
    if isinstance(baseline, Baseline):
        return baseline
    if isinstance(baseline, str):
        adapter.token_id(baseline)  # ValueError with close matches when unknown
        return TokenBaseline(baseline)
    raise TypeError(
        "baseline must be a vocabulary token (str), a Baseline object (TokenBaseline, "
        f"ZeroBaseline, AverageBaseline, UncertainBaseline, TextBaseline) or None, got "
        f"{type(baseline).__name__}"
    )


# ---------------------------------------------------------------------------- choices
#: the one string encoding of a baseline choice (widgets, CLI); any other string is a token.
#: ``[neutral]`` is resolved per text into the token it stands for (:func:`neutral_for`): a
#: result stores that token's own ``token`` spec, a corpus run ``{"kind": "neutral"}`` (each
#: of its rows the token it used).
DEFAULT, ZERO, AVERAGE, UNCERTAIN = "[default]", "[zero]", "[average]", "[uncertain]"
NEUTRAL = "[neutral]"
BASELINE_KINDS: tuple[str, ...] = (NEUTRAL, DEFAULT, ZERO, AVERAGE, UNCERTAIN)


def neutral_for(adapter: ModelAdapter, length: int | None) -> tuple[str | None, str]:
    """What ``[neutral]`` stands for at ``length`` ordinary tokens, and why, in words.

    The most neutral frequent token at that length (:func:`~ig_widgets.engine.neutral.
    neutral_token_at`), or None (the model's default baseline) with the fallback's reason.
    ``length`` None ranks at 8 tokens.
    """
    choice = neutral_token_at(adapter, 8 if length is None else length)
    if choice.token is not None:
        return choice.token, f"neutral token {choice.token!r}: {choice.reason}"
    return None, f"neutral: the model's default instead, as {choice.reason}"


def baseline_from_choice(
    choice: str,
    adapter: ModelAdapter,
    *,
    average: Baseline | None = None,
    uncertain: UncertainBaseline | None = None,
    length: int | None = None,
) -> Baseline | str | None:
    """What :meth:`Explainer.explain` receives for a baseline choice.

    Parameters
    ----------
    choice : str
        One of :data:`BASELINE_KINDS`, or a vocabulary token (looked up exactly).
    adapter : ModelAdapter
        The model's adapter (for the vocabulary and its default token).
    average, uncertain : Baseline, optional
        The objects ``[average]`` and ``[uncertain]`` stand for (kept by the caller, so an
        optimised uncertain baseline is reused); defaults: the default token averaged with
        zero embeddings, and a fresh :class:`UncertainBaseline`.
    length : int, optional
        The text's number of ordinary tokens, for ``[neutral]`` (:func:`neutral_for`).

    Raises
    ------
    ValueError
        For an unknown bracketed code or a token outside the vocabulary.
    """
    if choice in ("", DEFAULT):
        return None
    if choice == NEUTRAL:
        return neutral_for(adapter, length)[0]
    if choice == ZERO:
        return ZeroBaseline()
    if choice == UNCERTAIN:
        return uncertain if uncertain is not None else UncertainBaseline()
    if choice == AVERAGE:
        if average is not None:
            return average
        return default_average(adapter)
    if adapter.has_token(choice):  # exact: a token is never found by a part of it
        return choice
    kind = "baseline" if choice.startswith("[") and choice.endswith("]") else "baseline token"
    raise ValueError(
        f"Unknown {kind} {choice!r}: choose one of {', '.join(BASELINE_KINDS)} or a token of "
        f"the model's vocabulary ({len(adapter.vocab)} tokens).{adapter.close_tokens_hint(choice)}"
    )


#: the menu code of each spec kind (a token's choice is the token itself)
_CODES = {
    "neutral": NEUTRAL,
    "default": DEFAULT,
    "zero": ZERO,
    "average": AVERAGE,
    "uncertain": UNCERTAIN,
}


def is_choice_code(baseline: object, adapter: ModelAdapter) -> bool:
    """Whether ``baseline`` is a bracketed choice code (known or not), not a vocabulary token.

    ``[UNK]`` of a model whose vocabulary holds it is a token; ``[zeros]`` of any model is an
    unknown code (:func:`baseline_from_choice` says so).
    """
    if not isinstance(baseline, str) or not (baseline.startswith("[") and baseline.endswith("]")):
        return False
    return baseline in BASELINE_KINDS or not adapter.has_token(baseline)


def choice_of(baseline: Baseline | str | None) -> str:
    """The choice string of a baseline (the inverse of :func:`baseline_from_choice`).

    The menu's name of the baseline's :func:`to_spec` kind (``[neutral]`` is itself): a
    baseline object maps to the code of its kind (``ZeroBaseline(keep_special=False)`` is
    ``[zero]`` too: keep the object beside the choice when its settings matter); a token, or
    a :class:`TokenBaseline`, to the token itself. ``TypeError`` for a kind no menu offers
    (:class:`TextBaseline`).
    """
    spec = to_spec(baseline)
    if spec is not None and spec["kind"] == "token":
        return str(spec["token"])
    if spec is None or spec["kind"] not in _CODES:
        raise TypeError(
            f"{type(baseline).__name__} has no menu choice; pass it to Explainer.explain directly"
        )
    return _CODES[spec["kind"]]


# ---------------------------------------------------------------------------- specs
#: a baseline as JSON-able data: ``{"kind": ..., ...}`` (see :func:`to_spec`)
BaselineSpec = dict[str, Any]
_SPEC_CLASSES = (TokenBaseline, ZeroBaseline, TextBaseline, UncertainBaseline, AverageBaseline)


def to_spec(baseline: Baseline | str | None) -> BaselineSpec | None:
    """A baseline as JSON-able data that :func:`from_spec` turns back into an equal baseline.

    ``{"kind": "default"}`` (None: the model's default), ``{"kind": "neutral"}`` (the choice
    ``[neutral]``, resolved per text), ``{"kind": "token", "token": t}`` (any other string,
    or a :class:`TokenBaseline`), ``{"kind": "zero", "keep_special": b}``,
    ``{"kind": "text", "text": s}``, ``{"kind": "average", "items": [spec, ...]}`` (string
    items are reference texts) and ``{"kind": "uncertain", "max_iter": n, "lr": x, "tol": x}``.
    None for a baseline class of another kind (it cannot be rebuilt from data). A
    :class:`ZeroBaseline`'s ``reason`` is not kept (it plays no part in the numbers).
    """
    if baseline is None:
        return {"kind": "default"}
    if baseline == NEUTRAL:
        return {"kind": "neutral"}
    if isinstance(baseline, str):
        return {"kind": "token", "token": baseline}
    if type(baseline) not in _SPEC_CLASSES:  # a subclass may compute something else
        return None
    if isinstance(baseline, TokenBaseline):
        return {"kind": "token", "token": baseline.token}
    if isinstance(baseline, ZeroBaseline):
        return {"kind": "zero", "keep_special": baseline.keep_special}
    if isinstance(baseline, TextBaseline):
        return {"kind": "text", "text": baseline.text}
    if isinstance(baseline, UncertainBaseline):
        return {
            "kind": "uncertain",
            "max_iter": baseline.max_iter,
            "lr": baseline.lr,
            "tol": baseline.tol,
        }
    assert isinstance(baseline, AverageBaseline)
    items = [to_spec(b) for b in baseline.parts()]
    return None if any(i is None for i in items) else {"kind": "average", "items": items}


def from_spec(spec: BaselineSpec) -> Baseline | str | None:
    """The baseline a :func:`to_spec` spec describes (None for ``default``: the model's own).

    ``neutral`` gives the choice :data:`NEUTRAL` back: it stands for a token per text length
    (:func:`neutral_for`, or :func:`baseline_from_choice` with ``length``).

    Raises
    ------
    ValueError
        For a spec that is not one :func:`to_spec` writes.
    """
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a baseline spec is a dict with a 'kind', got {spec!r}")
    kind = spec["kind"]
    try:
        if kind == "default":
            return None
        if kind == "neutral":
            return NEUTRAL
        if kind == "token":
            return TokenBaseline(str(spec["token"]))
        if kind == "zero":
            return ZeroBaseline(keep_special=bool(spec["keep_special"]))
        if kind == "text":
            return TextBaseline(str(spec["text"]))
        if kind == "uncertain":
            return UncertainBaseline(
                max_iter=int(spec["max_iter"]), lr=float(spec["lr"]), tol=float(spec["tol"])
            )
        if kind == "average":
            parts = [from_spec(item) for item in spec["items"]]
    except KeyError as exc:
        raise ValueError(f"the baseline spec {spec!r} lacks {exc}") from None
    if kind == "average":
        if any(p is None or p == NEUTRAL for p in parts):
            raise ValueError("an average of baselines cannot hold the model's default or [neutral]")
        return AverageBaseline([p for p in parts if isinstance(p, Baseline)])
    raise ValueError(f"unknown baseline kind {kind!r} in the spec {spec!r}")
