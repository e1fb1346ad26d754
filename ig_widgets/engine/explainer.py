"""The user-facing engine: ``Explainer.explain`` and progressive ``Explainer.refine``."""

from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np
import torch

from ig_widgets.engine.adapters import ModelAdapter, Tokenized, adapter_for
from ig_widgets.engine.baselines import Baseline, PathStart, parse_baseline
from ig_widgets.engine.core import (
    DEFAULT_MEMORY_BUDGET,
    CancelHook,
    PathEvaluator,
    PointGrads,
    PointsNeeded,
    ProgressHook,
    check_finite,
    forward,
)
from ig_widgets.engine.explanation import Explanation, PathTrace
from ig_widgets.engine.heads import probabilities
from ig_widgets.engine.options import OPTION_NAMES, IGOptions, Steps
from ig_widgets.engine.prepared import Prepared, check_length, labels_of
from ig_widgets.engine.quadrature import Method, alpha_key
from ig_widgets.engine.stages import Stage, plan_stages
from ig_widgets.engine.words import fold_words

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ig_widgets.engine.corpus import CorpusExplanation


@dataclass
class _PathCache:
    """Everything computed on one path: F at both ends and per-point gradients."""

    f_start: np.ndarray | None = None  # F at α = 0 and α = 1, filled with the first points
    f_end: np.ndarray | None = None
    points: dict[float, PointGrads] = field(default_factory=dict)
    checked: bool = False  # F at α = 1 compared with the model's own forward


#: how far F at the input may be from the model's own forward, relative to its largest value
SAME_FUNCTION_RTOL = 1e-5
#: a stage loop: yields points to compute (answered with their gradients) and stage results
StageSteps = Generator[Explanation | PointsNeeded, list[PointGrads] | None, None]
P = ParamSpec("P")

#: what ``target=`` may be: a class (name or index), or ``(token index, label)`` per token
Target = int | str | tuple[int, int | str | None]


def answering(
    steps: Callable[P, StageSteps], name: str, doc: str
) -> Callable[P, Iterator[Explanation]]:
    """A stage loop (``steps``) as a function of the same options that returns its results.

    Its points are computed here (:func:`answered_here`); one signature serves both.
    """

    @functools.wraps(steps)
    def run(*args: P.args, **kwargs: P.kwargs) -> Iterator[Explanation]:
        return answered_here(steps(*args, **kwargs))

    run.__name__, run.__doc__ = name, doc
    run.__qualname__ = steps.__qualname__.rsplit(".", 1)[0] + "." + name
    return run


def answered_here(steps: StageSteps) -> Iterator[Explanation]:
    """The stage results of :meth:`Explainer.refine_steps`, its points computed here."""
    try:
        item = next(steps)
        while True:
            if isinstance(item, PointsNeeded):
                item = steps.send(item.evaluate())
            else:
                yield item
                item = next(steps)
    except StopIteration:
        return
    finally:
        steps.close()


class Explainer:
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
        self._paths: OrderedDict[Hashable, _PathCache] = OrderedDict()
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
        text: str,
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
        text : str
            The text to explain.
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
        self, text: str, *, options: IGOptions | None = None, **kwargs: Any
    ) -> StageSteps:
        """:meth:`explain`'s stages as :meth:`refine_steps` hands them out (same options)."""
        given = IGOptions.coerce(options, **{k: kwargs.pop(k, None) for k in OPTION_NAMES})
        stages = None if isinstance(given.n_steps, str) else [given.n_steps]
        return self.refine_steps(text, options=given, stages=stages, **kwargs)

    def refine_steps(
        self,
        text: str,
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
        many of them this call computed (``n_computed``).
        """
        given = IGOptions.coerce(
            options, n_steps=n_steps, method=method, tol=tol, max_steps=max_steps
        )
        tok = self.tokenize(text)  # once per request (a widget's prepare() cached it)
        bound = self.adapter.bind(tok, target)
        if bound is not self.adapter:  # the request has classes of its own (a language model)
            view = copy.copy(self)  # the same caches, seen through the bound adapter
            view.adapter = bound
            yield from view.refine_steps(
                text, options=given, baseline=baseline, stages=stages, first=first,
                progress=progress, cancel=cancel,
            )  # fmt: skip
            return
        plan = plan_stages(given, stages=stages, first=first)
        position, label = _split_target(target)
        if label is not None:
            _check_target(label, self.classes)
        ids = torch.tensor(tok.ids, dtype=torch.long)
        words = fold_words(tok)
        with self.adapter.prepared():
            with torch.no_grad():
                inputs = self.adapter.embed(ids.unsqueeze(0))[0]
            seen = self._model_output(tok, ids, inputs, position)
            position = _check_position(position, seen, len(tok))
            base = parse_baseline(baseline, self.adapter)
            starts = base.starts(self.adapter, tok, inputs)
            described = base.description  # as the starts were made (an uncertain one says more)
        done, stage, computed = 0, 0, 0
        used: set[float] = set()  # the α of every stage so far (n_evaluated)
        step: Stage | None = plan.first()
        while step is not None:
            alphas, weights = step
            stage += 1
            used.update(alpha_key(a) for a in alphas)
            total = done + plan.remaining(len(alphas)) * len(starts)
            with self.adapter.prepared():  # released between stages, never across a yield
                caches = []
                for start in starts:
                    cache = self._path(tok, start, position)
                    computed += yield from self._fill(
                        cache, ids, inputs, start, position, alphas, done, total, progress,
                        cancel,
                    )  # fmt: skip
                    done += len(alphas)
                    if not cache.checked:
                        self._check_same_function(cache, seen, inputs, ids, position)
                    caches.append(cache)
                exp = self._assemble(
                    tok, words, caches, alphas, weights, plan.method, described, stage,
                    plan.n_stages(stage), (len(used) * len(starts), computed),
                )  # fmt: skip
                if seen is not None and seen.ndim == 2:  # per token: each token's label
                    labels = tuple(self.classes[int(c)] for c in seen.argmax(-1))
                    exp = replace(exp, position=position, token_labels=labels)
            step = plan.after(exp)
            yield exp if step is not None else _as_final(exp)

    refine = answering(
        refine_steps,
        "refine",
        """Progressive refinement: a complete :class:`Explanation` after each stage.

        :meth:`refine_steps` with its points computed here: the same options (see there for
        what each means), an iterator of the stages' results.
        """,
    )

    # ---------------------------------------------------------------- internals
    def _model_output(
        self,
        tok: Tokenized,
        ids: torch.Tensor,
        inputs: torch.Tensor | None,
        position: int | None,
    ) -> np.ndarray | None:
        """The model's own ``F`` on the text, ``(n_classes,)`` or per token ``(n, n_classes)``.

        From :meth:`ModelAdapter.reference_forward` (cached per text); where the family has
        none, a token-classification request falls back on the engine's ``F`` at the input
        (for the token labels), and a sequence classifier needs nothing.
        """
        key = (self.adapter.weights_version, tok.ids, self.adapter.head_key)
        if key not in self._seen:
            with self.adapter.lock, torch.no_grad():
                out = self.adapter.reference_forward(ids)
            seen: np.ndarray | None = None
            if out is not None:
                check_finite(out, "on the text")
                seen = out.detach().double().cpu().numpy()[0]
            elif position is not None and inputs is not None:
                seen = forward(self.adapter, inputs.unsqueeze(0), ids)[0]
            else:
                return None  # nothing to compare with, and not asked per token
            self._seen[key] = seen
            while len(self._seen) > self.cache_size:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        return self._seen[key]

    def _check_same_function(
        self,
        cache: _PathCache,
        seen: np.ndarray | None,
        inputs: torch.Tensor,
        ids: torch.Tensor,
        position: int | None,
    ) -> None:
        """``ValueError`` when ``F`` at the input is not the model's own output on the text.

        The engine runs the model with the path's points in place of the embedding layer's
        output; at α = 1 that must be the model's own forward (to
        :data:`SAME_FUNCTION_RTOL` of its largest value). A first comparison uses ``F`` as
        computed with the path's points; only when it fails is ``F`` recomputed alone (a
        batch of one, as the reference) to tell rounding from a real difference.
        """
        assert cache.f_end is not None  # filled by _fill
        if seen is not None:
            expected = seen[position] if seen.ndim == 2 and position is not None else seen
            scale = max(float(np.abs(expected).max()), 1e-12)
            if np.abs(cache.f_end - expected).max() > SAME_FUNCTION_RTOL * scale:
                alone = forward(self.adapter, inputs.unsqueeze(0), ids, position)[0]
                if np.abs(alone - expected).max() > SAME_FUNCTION_RTOL * scale:
                    random = self._random_forward(ids, position, expected, scale)
                    raise ValueError(
                        f"The engine's F at the input ({_short(alone)}) is not what "
                        f"{self.adapter.name} computes on this text ({_short(expected)}): "
                        "explaining it would explain another function. The engine puts the "
                        "path's points in place of the embedding layer's output; check that "
                        "embedding= is the layer the token ids go through, that it runs once "
                        "per forward, and that every other input the model needs is passed "
                        f"(forward_kwargs=).{random}"
                    )
        cache.checked = True

    def _random_forward(
        self, ids: torch.Tensor, position: int | None, expected: np.ndarray, scale: float
    ) -> str:
        """What to add to the error when the model's own forward differs between two runs.

        Then the cause is randomness or state left in eval mode (dropout called with
        ``training=True``, sampling, a counter), not ``embedding=``; ``""`` otherwise.
        """
        with self.adapter.lock, torch.no_grad():
            again = self.adapter.reference_forward(ids)
        if again is None:
            return ""
        values = again.detach().double().cpu().numpy()[0]
        values = values[position] if values.ndim == 2 and position is not None else values
        if np.abs(values - expected).max() <= SAME_FUNCTION_RTOL * scale:
            return ""
        return (
            f" More likely here: {self.adapter.name}'s own forward gives different outputs on "
            f"the same text in eval mode ({_short(expected)}, then {_short(values)}): it is "
            "random or keeps state (dropout applied with training=True, sampling, a counter), "
            "so no explanation of it holds. Make the forward deterministic in eval mode "
            "(nn.Dropout modules, or F.dropout(x, training=self.training))."
        )

    def _path(self, tok: Tokenized, start: PathStart, position: int | None) -> _PathCache:
        key = (self.adapter.weights_version, tok.ids, start.key, position, self.adapter.head_key)
        cache = self._paths.get(key)
        if cache is None:
            cache = _PathCache()
            self._paths[key] = cache
            while len(self._paths) > self.cache_size:
                self._paths.popitem(last=False)
        self._paths.move_to_end(key)
        return cache

    def _fill(
        self,
        cache: _PathCache,
        ids: torch.Tensor,
        inputs: torch.Tensor,
        start: PathStart,
        position: int | None,
        alphas: np.ndarray,
        done: int,
        total: int,
        progress: ProgressHook | None,
        cancel: CancelHook | None,
    ) -> Generator[PointsNeeded, list[PointGrads], int]:
        """Ask for the points of ``alphas`` the cache lacks; returns how many it lacked."""
        missing = [a for a in alphas if alpha_key(a) not in cache.points]
        ends_in_points = {0.0, 1.0} <= {alpha_key(a) for a in alphas}
        if cache.f_start is None and not ends_in_points:
            # F at the two ends, without gradients: one small batch (about 3 % of 50 points
            # at 250 tokens; two extra rows in a gradient chunk cost more, measured in pairs)
            ends = torch.stack([start.embeds.to(inputs.device), inputs])
            f = forward(self.adapter, ends, ids, position)
            cache.f_start, cache.f_end = f[0], f[1]
        if missing:
            evaluator = PathEvaluator(
                self.adapter,
                inputs,
                start.embeds,
                ids,
                memory_budget=self.memory_budget,
                table=self._point_bytes,
                position=position,
            )
            hook = None
            if progress is not None:
                skipped = len(alphas) - len(missing)

                def hook(k: int, _total: int) -> None:
                    progress(done + skipped + k, total)

            results = yield PointsNeeded(evaluator, missing, hook, cancel)
            for a, r in zip(missing, results, strict=True):
                cache.points[alpha_key(a)] = r
        elif progress is not None:
            progress(done + len(alphas), total)
        if cache.f_start is None:  # the rule has both ends (α = 1 is the input exactly)
            cache.f_start, cache.f_end = cache.points[0.0].f, cache.points[1.0].f
        return len(missing)

    def _assemble(
        self,
        tok: Tokenized,
        words: tuple[Any, ...],
        caches: list[_PathCache],
        alphas: np.ndarray,
        weights: np.ndarray,
        method: Method,
        baseline: str,
        stage: int,
        n_stages: int,
        counts: tuple[int, int],
    ) -> Explanation:
        """The Explanation of one stage; ``counts`` is ``(n_evaluated, n_computed)``."""
        order = np.argsort(alphas)
        per_start = []
        for cache in caches:
            assert cache.f_start is not None and cache.f_end is not None  # filled by _fill
            pts = [cache.points[alpha_key(a)] for a in alphas]
            contrib = np.stack([p.contrib for p in pts])  # (m, C, n)
            per_start.append(
                (
                    np.tensordot(weights, contrib, axes=1),  # (C, n)
                    cache.f_start,
                    cache.f_end,
                    np.stack([p.f for p in pts], axis=1),  # (C, m)
                    contrib.sum(-1).T,  # (C, m)
                    np.stack([p.grad_norm for p in pts], axis=1),
                )
            )
        scores, f_start, f_end, f_path, dfda, gnorm = (
            np.mean([s[i] for s in per_start], axis=0) for i in range(6)
        )
        if self.adapter.output == "probs" and self.adapter.classes_exhaustive and len(scores) == 2:
            # exact by construction (BLAS may round the two rows of the weighted sum apart)
            scores = np.stack([-scores[1], scores[1]])
        path = PathTrace(
            alphas=alphas[order],
            weights=weights[order],
            f=f_path[:, order],
            dfdalpha=dfda[:, order],
            grad_norm=gnorm[:, order],
        )
        return Explanation(
            text=tok.text,
            tokens=tok.tokens,
            token_ids=tok.ids,
            token_spans=tok.spans,
            special=tok.special,
            words=words,
            classes=self.classes,
            probs=probabilities(f_end, self.adapter.output),
            predicted=int(np.argmax(f_end)),
            scores=scores,
            f_input=f_end,
            f_baseline=f_start,
            delta=scores.sum(-1) - (f_end - f_start),
            n_steps=len(alphas),
            method=method.value,
            baseline=baseline,
            output=self.adapter.output,
            model_name=self.adapter.name,
            stage=stage,
            n_stages=n_stages,
            oov=tok.oov,
            path=path,
            n_evaluated=counts[0],
            n_computed=counts[1],
            **self.adapter.result_fields(),
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
            ``max_steps`` as in :meth:`explain`; ``max_tokens`` (longer texts are recorded
            as errors); ``out`` (a Parquet file written row group by row group, so memory
            stays flat; None keeps the results in memory); ``resume`` (default True: skip
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
        return Prepared(tok, labels_of(seen, self.classes))


def _split_target(target: Target | None) -> tuple[int | None, int | str | None]:
    """``(position, class)`` of a target: a class alone, or ``(token index, label)``."""
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError(f"A per-token target is (token_index, label), got {target!r}")
        position, label = target
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
            raise TypeError(f"The token index must be an int, got {type(position).__name__}")
        return int(position), label
    return None, target


def _check_position(position: int | None, seen: np.ndarray | None, n_tokens: int) -> int | None:
    """The explained token's index in ``[0, n_tokens)``, or None for a sequence classifier."""
    per_token = seen is not None and seen.ndim == 2
    if per_token and position is None:
        raise ValueError(
            "This model labels every token (token classification): say which token to "
            "explain, target=(token_index, label), the index counting special tokens."
        )
    if position is None:
        return None
    if not per_token:
        raise ValueError(
            "The model classifies the whole text (one output per text, not per token): "
            "target is a class name or index, not (token_index, label)."
        )
    if not -n_tokens <= position < n_tokens:
        raise ValueError(f"Token index {position} is out of range for {n_tokens} tokens.")
    return position % n_tokens


def _short(values: np.ndarray) -> str:
    """A few values of ``F`` for an error message."""
    shown = ", ".join(f"{v:.6g}" for v in values[:4])
    return f"[{shown}{', …' if len(values) > 4 else ''}]"


def _check_target(target: int | str, classes: tuple[str, ...]) -> None:
    """``ValueError``/``TypeError`` when ``target`` names no class."""
    if isinstance(target, str):
        if target not in classes:
            raise ValueError(f"Unknown target class {target!r}; the classes are {list(classes)}")
    elif isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a class name or index, got {type(target).__name__}")
    elif not -len(classes) <= int(target) < len(classes):
        raise ValueError(f"Target index {target} is out of range for classes {list(classes)}")


def _as_final(exp: Explanation) -> Explanation:
    return replace(exp, n_stages=exp.stage)
