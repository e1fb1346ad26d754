"""The user-facing engine: ``Explainer.explain`` and progressive ``Explainer.refine``."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ig_widgets.engine.adapters import ModelAdapter, Tokenized, adapter_for
from ig_widgets.engine.baselines import Baseline
from ig_widgets.engine.core import DEFAULT_MEMORY_BUDGET, CancelHook, ProgressHook
from ig_widgets.engine.explanation import Explanation
from ig_widgets.engine.model_check import SAME_FUNCTION_RTOL
from ig_widgets.engine.options import OPTION_NAMES, IGOptions, Steps
from ig_widgets.engine.prepared import Prepared, check_length, labels_of
from ig_widgets.engine.stage_loop import (
    PathCache,
    StageLoop,
    StageSteps,
    answered_here,
    answering,
)
from ig_widgets.engine.stages import plan_stages
from ig_widgets.engine.targets import Target

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ig_widgets.engine.corpus import CorpusExplanation

__all__ = [
    "SAME_FUNCTION_RTOL",
    "Explainer",
    "StageSteps",
    "Target",
    "answered_here",
    "answering",
]


class Explainer(StageLoop):
    """Integrated Gradients on the embedding layer of a text classifier.

    Parameters
    ----------
    model : Any
        A fastai ``Learner`` (AWD-LSTM classifier), an
        :class:`ig_widgets.models.bundle.TorchTextClassifier`, a ``torch.nn.Module`` with
        ``tokenizer=``, ``embedding=`` and ``classes=`` (see
        :class:`~ig_widgets.engine.adapters.torch.TorchAdapter` for ``forward_kwargs=``,
        ``output_select=`` and the other options), a Hugging Face sequence or token
        classifier with ``tokenizer=``, a Hugging Face ``pipeline`` of text or token
        classification; or a ready :class:`ModelAdapter`.
    memory_budget : int
        Bound, in bytes, on the extra memory of one chunk of interpolation points
        (default 512 MB); long inputs are split into more chunks, never cut.
    cache_size : int
        How many paths (text × baseline) keep their per-point gradients.
    **adapter_kwargs
        Passed to the model family's adapter (``tokenizer``, ``embedding``, ``classes``,
        ``output`` …). ``output`` is ``"probs"`` (softmax, the default), ``"logits"``,
        ``"sigmoid"`` (multi-label: each label's probability is its own ``F``) or
        ``"identity"`` (regression: ``F`` in the output's own units).

    Notes
    -----
    All classes are computed from one forward over each chunk of points (one backward per
    class; a two-class softmax costs one). ``F`` at the input is checked against the model's
    own forward on the text (where the family has one): a mismatch raises ``ValueError``
    rather than explaining another function. Per-point results are cached, so a target switch
    is a lookup and a refinement evaluates only new points. Calls are serialised by a lock,
    so an explainer can be shared between a widget's worker thread and the notebook.
    """

    def __init__(
        self,
        model: Any,
        *,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        cache_size: int = 32,
        **adapter_kwargs: Any,
    ) -> None:
        self.adapter: ModelAdapter = adapter_for(model, **adapter_kwargs)
        self.memory_budget = int(memory_budget)
        self.cache_size = int(cache_size)
        self._paths: OrderedDict[Hashable, PathCache] = OrderedDict()
        self._seen: OrderedDict[Hashable, np.ndarray | None] = OrderedDict()
        self._point_bytes: dict[int, int] = {}
        #: the newest tokenisations, by text (a corpus run sizes texts before explaining them)
        self._tokens: OrderedDict[str, Tokenized] = OrderedDict()
        self._tokens_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Explainer({self.adapter.name}, classes={list(self.classes)})"

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, in the model's output order."""
        return tuple(self.adapter.classes)

    @property
    def name(self) -> str:
        """The model's short name."""
        return self.adapter.name

    def tokenize(self, text: str) -> Tokenized:
        """The model's tokens of ``text``; ``ValueError`` for empty or too long text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("The text is empty: type or paste some text to explain.")
        with self._tokens_lock:
            tok = self._tokens.get(text)
            if tok is not None:
                self._tokens.move_to_end(text)
        if tok is None:
            tok = self.adapter.tokenize(text)
            with self._tokens_lock:
                self._tokens[text] = tok
                while len(self._tokens) > self.cache_size:
                    self._tokens.popitem(last=False)
        limit = self.adapter.max_tokens
        if limit is not None and len(tok) > limit:
            raise ValueError(
                f"The text has {len(tok)} tokens; {self.adapter.name} accepts at most {limit}."
            )
        return tok

    def _tokens_of(self, text: str | Prepared) -> Tokenized:
        """The tokens of a request: a :class:`Prepared`'s own, or :meth:`tokenize`'s."""
        if not isinstance(text, Prepared):
            return self.tokenize(text)
        if text.model_name != self.adapter.name:
            raise ValueError(
                f"This text was prepared by the explainer of {text.model_name!r}; this one "
                f"runs {self.adapter.name!r}: prepare it with the explainer that explains it"
            )
        return text.tokenized

    def token_labels(self, text: str) -> tuple[str, ...]:
        """Each token's predicted label for a token-classification model; ``()`` otherwise.

        One forward of the model on the text (cached with the check of ``F`` at the input).
        """
        return self.prepare(text).labels

    def clear_cache(self) -> None:
        """Forget every cached path and tokenisation (e.g. after changing the tokenizer)."""
        with self.adapter.lock:
            self._paths.clear()
            self._seen.clear()
        with self._tokens_lock:
            self._tokens.clear()

    # ---------------------------------------------------------------- public API
    def explain(
        self,
        text: str | Prepared,
        *,
        n_steps: Steps | None = None,
        method: str | None = None,
        baseline: Baseline | str | None = None,
        target: Target | None = None,
        tol: float | None = None,
        max_steps: int | None = None,
        progress: ProgressHook | None = None,
        cancel: CancelHook | None = None,
        options: IGOptions | None = None,
    ) -> Explanation:
        """Integrated Gradients for every class of ``text``.

        Parameters
        ----------
        text : str or Prepared
            The text to explain, or what :meth:`prepare` returned for it (then the text is
            not tokenised again).
        n_steps : int or "auto"
            Quadrature points (default 50); ``"auto"`` refines until the completeness check
            passes (see :meth:`refine`).
        method : str or None
            Captum's rules ``gausslegendre``, ``riemann_left``, ``riemann_right``,
            ``riemann_middle``, ``riemann_trapezoid``, or ``adaptive`` (trapezoid panels split
            where the completeness error is, see :mod:`ig_widgets.engine.adaptive`). None is
            ``gausslegendre`` for a step count and ``adaptive`` for ``"auto"``.
        baseline : Baseline, str or None
            A vocabulary token (repeated, special tokens kept), a baseline object, or None for
            the model's default (``xxunk`` for fastai).
        target : int, str, tuple or None
            A class, checked to exist; every class is computed anyway
            (``exp.for_class(target)``). For a token-classification model
            ``(i, label)``: explain why token ``i`` (an index into ``exp.tokens``, special
            tokens counted, negative from the end) got each label; ``label`` (or None) is
            checked and every label computed; ``exp.position`` records ``i``.
        tol, max_steps : float, int
            For ``n_steps="auto"`` (defaults 0.01 and 512).
        progress : callable, optional
            ``progress(points_done, points_total)`` after each chunk.
        cancel : callable or threading.Event, optional
            Checked between chunks; when set, :class:`ig_widgets.Cancelled` is raised.
        options : IGOptions, optional
            ``n_steps``, ``method``, ``tol`` and ``max_steps`` at once, already validated;
            any of them given beside it replaces its entry. Either way they are validated
            once, here, by :meth:`IGOptions.coerce`, with the messages every entry point
            gives.

        Returns
        -------
        Explanation
            Raw attributions ``(n_classes, n_tokens)`` with the completeness check and the
            points it rests on (``n_evaluated``, ``n_computed``).
        """
        given = IGOptions.coerce(
            options, n_steps=n_steps, method=method, tol=tol, max_steps=max_steps
        )
        final: Explanation | None = None
        steps = self.explain_steps(
            text, options=given, baseline=baseline, target=target, progress=progress,
            cancel=cancel,
        )  # fmt: skip
        for final in answered_here(steps):  # noqa: B007 - only the last stage is wanted
            pass
        assert final is not None
        return final

    def explain_steps(
        self, text: str | Prepared, *, options: IGOptions | None = None, **kwargs: Any
    ) -> StageSteps:
        """:meth:`explain`'s stages as :meth:`refine_steps` hands them out (same options)."""
        given = IGOptions.coerce(options, **{k: kwargs.pop(k, None) for k in OPTION_NAMES})
        stages = None if isinstance(given.n_steps, str) else [given.n_steps]
        return self.refine_steps(text, options=given, stages=stages, **kwargs)

    def refine_steps(
        self,
        text: str | Prepared,
        *,
        n_steps: Steps | None = None,
        method: str | None = None,
        baseline: Baseline | str | None = None,
        target: Target | None = None,
        stages: list[int] | None = None,
        first: int = 8,
        tol: float | None = None,
        max_steps: int | None = None,
        progress: ProgressHook | None = None,
        cancel: CancelHook | None = None,
        options: IGOptions | None = None,
    ) -> StageSteps:
        """:meth:`refine`'s stages, handing out each stage's points to compute.

        Yields a :class:`~ig_widgets.engine.core.PointsNeeded` whenever a stage needs
        gradients (send back their :class:`~ig_widgets.engine.core.PointGrads`) and an
        :class:`Explanation` after each stage (send None). The model's lock is held while a
        request is out, so it is answered on the same thread (:func:`answered_here`, or
        :func:`ig_widgets.engine.lockstep.explain_together` for several texts at once).

        The IG options (``n_steps``, default 50, ``method``, ``tol``, ``max_steps``, or
        ``options=`` holding them) are :meth:`explain`'s, validated once by
        :meth:`IGOptions.coerce` before any work. The stages end at ``n_steps``. For
        nested rules (``riemann_left``/``right`` halved, ``riemann_trapezoid`` at
        ``2^k + 1``-style counts) each stage evaluates only the points the previous stages
        lacked; for Gauss-Legendre one coarse stage of about
        ``n_steps / 16`` points comes first. ``stages`` overrides the plan. The ``adaptive``
        rule's stages are its rounds: it starts from 5 evenly spaced points and each round
        adds the midpoints of the panels holding most of the completeness error, reusing
        every point, until ``n_steps`` points.

        With ``n_steps="auto"`` the points grow (the adaptive rounds, or for Captum's rules
        the counts of :func:`ig_widgets.engine.stages.auto_counts`) until, for every class,
        ``|delta| ≤ tol · max(|F(input) − F(baseline)|, AUTO_FLOOR)`` (for the adaptive rule:
        in two rounds in a row) or ``max_steps`` is reached; the last result says which in
        its ``n_steps``. The plan is :func:`ig_widgets.engine.stages.plan_stages`'s. Each
        result records the points it rests on (``n_evaluated``, all stages so far) and how
        many of them this call computed (``n_computed``). ``text`` is a string or this
        explainer's :class:`Prepared` for it (a widget's request then tokenises once).
        """
        given = IGOptions.coerce(
            options, n_steps=n_steps, method=method, tol=tol, max_steps=max_steps
        )
        tok = self._tokens_of(text)  # once per request, none for a Prepared
        bound = self.adapter.bind(tok, target)
        view = self
        if bound is not self.adapter:  # the request has classes of its own (a language model)
            view = copy.copy(self)  # the same caches, seen through the bound adapter
            view.adapter = bound
            target = None  # the bound adapter's classes are what the target named
        plan = plan_stages(given, stages=stages, first=first)
        yield from view._stages(tok, plan, baseline, target, progress, cancel)

    refine = answering(
        refine_steps,
        "refine",
        """Progressive refinement: a complete :class:`Explanation` after each stage.

        :meth:`refine_steps` with its points computed here: the same options (see there for
        what each means), an iterator of the stages' results.
        """,
    )

    def explain_many(
        self,
        texts: Iterable[Any],
        labels: Iterable[Any] | None = None,
        ids: Iterable[Any] | None = None,
        **options: Any,
    ) -> CorpusExplanation:
        """Integrated Gradients for every text of a corpus, streamed to disk as it goes.

        Each text gets what :meth:`explain` returns with the same settings (to float
        rounding, 1e-8 on the demo model). Small rounds of points (``n_steps="auto"``) of
        texts of nearly equal length share a batch where the model allows padding at the
        end (the AWD-LSTM); larger ones gain nothing from it and run alone.

        Parameters
        ----------
        texts : iterable of str
            The texts (a list, a pandas Series, a generator …). A text that is empty, missing
            (None/NaN), not a string or too long is recorded with its error; the run goes on.
        labels : iterable, optional
            True labels, class names or indices (None/NaN: unknown), for accuracy and errors.
        ids : iterable of int or str, optional
            Unique ids (default: the positions); results are keyed by id.
        **options
            ``n_steps`` (default 50, or ``"auto"``), ``method``, ``baseline``, ``tol``,
            ``max_steps`` as in :meth:`explain`; ``baseline`` also takes the widgets' menu
            codes: ``"[neutral]"`` (each text's most neutral frequent token at its number of
            ordinary tokens, the Explorer's choice; its row's ``baseline`` names the token,
            or the fallback's reason), ``"[default]"``, ``"[zero]"``, ``"[average]"``,
            ``"[uncertain]"``; ``max_tokens`` (longer texts are recorded as errors);
            ``out`` (a Parquet file written row group by row group, so memory stays flat;
            None keeps the results in memory); ``resume`` (default True: skip
            the ids ``out`` holds; other settings are refused) and ``overwrite``;
            ``progress`` (True: a tqdm bar, the notebook flavour in Jupyter; a callable
            ``progress(done, total)``; False); ``cancel`` (a ``threading.Event`` or callable);
            ``backend="ray"`` with ``model_factory``, ``address``, ``num_actors``,
            ``actor_cpus``, ``threads_per_actor``, ``batch_size`` (see
            :func:`ig_widgets.engine.corpus_ray.run_ray`).

        Returns
        -------
        CorpusExplanation
            One :class:`Explanation` per text (``corpus[i]``), with ``to_dataframe()``,
            ``word_importance()``, ``errors()`` and ``save()``. After a cancel or Ctrl-C the
            texts finished so far are returned (``complete`` is False, with a warning) and
            ``out`` is a valid file that a second call resumes.
        """
        from ig_widgets.engine.corpus import explain_many

        return explain_many(self, texts, labels, ids, **options)

    def prepare(
        self,
        text: str,
        *,
        max_tokens: int | None = None,
        who: str = "this view",
        setting: str = "max_tokens=...",
    ) -> Prepared:
        """What a view needs before explaining ``text``: one tokenisation, one cached forward.

        Parameters
        ----------
        text : str
            The text to explain.
        max_tokens : int, optional
            A caller's own limit: a longer text raises ``ValueError`` naming ``who`` and the
            ``setting`` that raises it (the model's own limit is checked anyway).
        who, setting : str
            For that message, e.g. ``"the Explorer"`` and ``"Explorer(..., max_tokens=...)"``.

        Returns
        -------
        Prepared
            The :class:`Tokenized` (``(n_tokens,)``), each token's label for a
            token-classification model (``()`` otherwise), the first ordinary token and the
            unknown-word flags. The model's forward on the text is cached with the check of
            ``F`` at the input, so the explanation that follows does not run it again.
        """
        tok = self.tokenize(text)
        check_length(len(tok), max_tokens, who, setting)
        ids = torch.tensor(tok.ids, dtype=torch.long)
        with self.adapter.prepared():
            seen = self._model_output(tok, ids, None, None)
        return Prepared(tok, labels_of(seen, self.classes), self.adapter.name)
