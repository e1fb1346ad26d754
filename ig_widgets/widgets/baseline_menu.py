"""The baseline menu of the live widgets: kinds, the model's neutral tokens, vocabulary search."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ig_widgets.engine.baselines import (
    AVERAGE,
    BASELINE_KINDS,
    DEFAULT,
    NEUTRAL,
    UNCERTAIN,
    ZERO,
    AverageBaseline,
    Baseline,
    TokenBaseline,
    UncertainBaseline,
    ZeroBaseline,
    baseline_from_choice,
    choice_of,
    default_average,
    default_baseline,
    neutral_for,
)
from ig_widgets.engine.explainer import Explainer
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.heads import has_uncertainty
from ig_widgets.engine.neutral import NeutralToken, discover_neutral_tokens
from ig_widgets.views.selection import FIXES, baseline_meaning, baseline_summary

#: how many vocabulary matches a baseline search returns
SEARCH_LIMIT = 30
#: vocabulary tokens scored per block by the background neutral-token scan
DISCOVERY_BLOCK = 2048
#: the scan's most neutral tokens (at 8 repeats) that are re-ranked at the text's length
SHORTLIST = 30
#: shortlisted tokens re-ranked per block (a newer request is let through between blocks)
RERANK_BLOCK = 6
#: how many neutral tokens the menu offers
OFFERED = 10


class BaselineMenu:
    """What a live widget's baseline menu offers, and what its choices mean to the engine.

    Choices use the engine's one encoding (:data:`ig_widgets.engine.baselines.BASELINE_KINDS`:
    ``[neutral]``, ``[default]``, ``[zero]``, ``[average]``, ``[uncertain]``; any other string
    is a vocabulary token). ``[neutral]`` (the widgets' default) resolves per text into the
    most neutral frequent token at the text's length; :attr:`neutral_note` says which, or
    why it fell back to the model's default. The menu keeps the widget's own average and
    uncertain baseline objects, and the model's most neutral tokens once :meth:`discover`
    found them: a scan of the vocabulary at 8 repeats, whose best :data:`SHORTLIST` are
    re-ranked at the text's length (an LSTM's state keeps moving as a token repeats).

    Parameters
    ----------
    explainer : Explainer
        The widget's explainer.
    """

    def __init__(self, explainer: Explainer) -> None:
        self.explainer = explainer
        self.uncertain = UncertainBaseline()
        self.average: Baseline | None = None
        self.zero: ZeroBaseline | None = None
        self.neutral: list[NeutralToken] = []  # offered: the shortlist ranked at a length
        self._shortlist: list[NeutralToken] | None = None
        self._found: list[NeutralToken] = []
        self._scanned = 0
        self._ranked_at: int | None = None
        self._vocab: frozenset[str] | None = None
        self._lock = threading.Lock()
        self.neutral_note = ""  # what [neutral] last resolved to, in words

    # ---------------------------------------------------------------- choices
    def adopt(self, baseline: str | Baseline | None) -> str:
        """The choice for a constructor's ``baseline`` argument (objects are kept)."""
        if isinstance(baseline, UncertainBaseline):
            self.uncertain = baseline
        elif isinstance(baseline, AverageBaseline):
            self.average = baseline
        elif isinstance(baseline, ZeroBaseline):
            self.zero = baseline
        elif baseline is not None and not isinstance(baseline, (str, TokenBaseline)):
            raise TypeError(
                "baseline must be a vocabulary token, None, ZeroBaseline(), "
                f"AverageBaseline([...]) or UncertainBaseline(), got {type(baseline).__name__}"
            )
        return baseline if baseline in BASELINE_KINDS else choice_of(baseline)

    def resolve(self, choice: str, length: int | None = None) -> Baseline | str | None:
        """What the engine receives for ``choice``; a clear ``ValueError`` for unknown ones.

        ``length`` (the text's ordinary tokens) is what ``[neutral]`` is ranked at.
        """
        if choice == NEUTRAL:
            token, self.neutral_note = neutral_for(self.explainer.adapter, length)
            return token
        if choice == ZERO and self.zero is not None:
            return self.zero
        return baseline_from_choice(
            choice,
            self.explainer.adapter,
            average=self.average or self.default_average(),
            uncertain=self.uncertain,
        )

    def default_average(self) -> Baseline:
        """The average of the model's default token baseline and zero embeddings."""
        return default_average(self.explainer.adapter)

    def suggestion(self) -> NeutralToken | None:
        """The most neutral token at the length it was last ranked at (None before)."""
        return self.neutral[0] if self.neutral else None

    def info(self, exp: Explanation, current: str) -> dict[str, Any]:
        """The baseline badge of ``exp``: its prediction, and when far from neutral, the fix.

        ``{text, far, meaning, suggest, suggest_text, note}``: ``meaning`` says in words what
        a baseline far from neutral does to the attributions; ``suggest`` is the one-click
        fix's choice: the most neutral token found at this length, else ``[neutral]``;
        ``note`` says what ``[neutral]`` resolved to (or why it fell back).
        """
        text, far = baseline_summary(exp)
        found = self.suggestion()
        suggest, suggest_text = "", ""
        if far and found is not None and found.token != current:
            probs = "/".join(f"{p:.2f}" for p in found.probs)
            suggest, suggest_text = found.token, f"use {found.token!r} ({probs} at this length)"
        elif far and current != NEUTRAL:
            suggest, suggest_text = NEUTRAL, FIXES["baseline"]["button"]
        return {
            "text": text,
            "far": far,
            "meaning": baseline_meaning(exp),
            "suggest": suggest,
            "suggest_text": suggest_text,
            "note": self.neutral_note if current == NEUTRAL else "",
        }

    # ---------------------------------------------------------------- menu items
    def search(self, query: object) -> list[str]:
        """Vocabulary tokens matching ``query``: prefix matches first, then inner matches."""
        if not isinstance(query, str) or not query.strip() or query.startswith("["):
            return []
        q = query.strip().lower()
        vocab = self.explainer.adapter.vocab
        prefix = [tok for tok in vocab if tok.lower().startswith(q)]
        inner = [tok for tok in vocab if q in tok.lower() and not tok.lower().startswith(q)]
        return (prefix + inner)[:SEARCH_LIMIT]

    def items(self, matches: Sequence[str], current: str) -> list[dict[str, str]]:
        """The menu: the kinds, the neutral tokens, search matches and the current choice."""
        default = self.explainer.adapter.default_baseline_token
        fallback = default_baseline(self.explainer.adapter).description  # says why zeros
        titles = {
            NEUTRAL: "neutral for the model (its most neutral frequent token at this length)",
            DEFAULT: f"model default ({default})" if default else f"model default: {fallback}",
            ZERO: "zero embeddings",
            AVERAGE: (self.average or self.default_average()).description,
            UNCERTAIN: "uncertain (optimised to uniform probabilities)",
        }
        output = self.explainer.adapter.output
        if output == "sigmoid":
            titles[UNCERTAIN] = "uncertain (optimised to ½ for every label)"
        kinds = [
            k for k in BASELINE_KINDS if k not in (UNCERTAIN, NEUTRAL) or has_uncertainty(output)
        ]
        items = [{"title": titles[kind], "value": kind} for kind in kinds]
        for n in self.neutral:
            probs = "/".join(f"{p:.2f}" for p in n.probs)
            items.append(
                {"title": f"{n.token}  (neutral: {probs} at this length)", "value": n.token}
            )
        known = {item["value"] for item in items}
        for token in [*matches, current]:
            if token and token not in known:
                items.append({"title": token, "value": token})
                known.add(token)
        return items

    # ---------------------------------------------------------------- discovery
    def discover(self, length: int, cancel: threading.Event) -> bool:
        """Find the neutral tokens for a text of ``length`` non-special tokens.

        Runs on a widget's worker thread after its result is shown; returns True when the
        offered tokens changed, False when nothing changed. A set ``cancel`` raises
        :class:`ig_widgets.Cancelled` between blocks; the scan resumes where it stopped.
        """
        if not has_uncertainty(self.explainer.adapter.output):
            return False  # a regression head has no neutral point to rank tokens by
        with self._lock:
            if self._shortlist is None:
                vocab = list(self.explainer.adapter.vocab)
                while self._scanned < len(vocab):
                    block = vocab[self._scanned : self._scanned + DISCOVERY_BLOCK]
                    self._found += discover_neutral_tokens(
                        self.explainer, top_k=SHORTLIST, candidates=block, cancel=cancel
                    )
                    self._scanned += len(block)
                self._shortlist = sorted(self._found, key=lambda n: n.distance)[:SHORTLIST]
            if self._ranked_at == length:
                return False
            names = [n.token for n in self._shortlist]
            ranked = discover_neutral_tokens(  # 1.7 s in all at 2,000 tokens
                self.explainer,
                top_k=len(names),
                length=length,
                candidates=names,
                batch_size=RERANK_BLOCK,  # the model's lock is let go between blocks
                cancel=cancel,
            )
            self.neutral = ranked[:OFFERED]
            self._ranked_at = length
            return True
