"""The stage loop of a request: points asked for, cached per path, assembled per stage."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec

import numpy as np
import torch

from ig_widgets.engine.adapters import Tokenized
from ig_widgets.engine.baselines import Baseline, PathStart, parse_baseline
from ig_widgets.engine.core import (
    CancelHook,
    PathEvaluator,
    PointGrads,
    PointsNeeded,
    ProgressHook,
    forward,
)
from ig_widgets.engine.explanation import Explanation, PathTrace
from ig_widgets.engine.heads import probabilities
from ig_widgets.engine.model_check import ModelCheck
from ig_widgets.engine.quadrature import Method, alpha_key
from ig_widgets.engine.stages import Stage, StagePlan
from ig_widgets.engine.targets import Target, check_position, check_target, split_target
from ig_widgets.engine.words import fold_words

#: a stage loop: yields points to compute (answered with their gradients) and stage results
StageSteps = Generator[Explanation | PointsNeeded, list[PointGrads] | None, None]
P = ParamSpec("P")


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


@dataclass
class PathCache:
    """Everything computed on one path: F at both ends and per-point gradients."""

    f_start: np.ndarray | None = None  # F at α = 0 and α = 1, filled with the first points
    f_end: np.ndarray | None = None
    points: dict[float, PointGrads] = field(default_factory=dict)
    checked: bool = False  # F at α = 1 compared with the model's own forward


class StageLoop(ModelCheck):
    """The stages of one request on one text: a part of :class:`~ig_widgets.Explainer`.

    The explainer holds the state declared here (the path caches and the memory table).
    """

    memory_budget: int
    _paths: OrderedDict[Hashable, PathCache]
    _point_bytes: dict[int, int]

    def _stages(
        self,
        tok: Tokenized,
        plan: StagePlan,
        baseline: Baseline | str | None,
        target: Target | None,
        progress: ProgressHook | None,
        cancel: CancelHook | None,
    ) -> StageSteps:
        """:meth:`~ig_widgets.Explainer.refine_steps` once the text is tokenised and planned."""
        classes = tuple(self.adapter.classes)
        position, label = split_target(target)
        if label is not None:
            check_target(label, classes)
        ids = torch.tensor(tok.ids, dtype=torch.long)
        words = fold_words(tok)
        with self.adapter.prepared():
            with torch.no_grad():
                inputs = self.adapter.embed(ids.unsqueeze(0))[0]
            seen = self._model_output(tok, ids, inputs, position)
            position = check_position(position, seen, len(tok))
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
                        assert cache.f_end is not None  # filled by _fill
                        self._check_same_function(cache.f_end, seen, inputs, ids, position)
                        cache.checked = True
                    caches.append(cache)
                exp = self._assemble(
                    tok, words, caches, alphas, weights, plan.method, described, stage,
                    plan.n_stages(stage), (len(used) * len(starts), computed),
                )  # fmt: skip
                if seen is not None and seen.ndim == 2:  # per token: each token's label
                    labels = tuple(classes[int(c)] for c in seen.argmax(-1))
                    exp = replace(exp, position=position, token_labels=labels)
            step = plan.after(exp)
            yield exp if step is not None else _as_final(exp)

    def _path(self, tok: Tokenized, start: PathStart, position: int | None) -> PathCache:
        key = (self.adapter.weights_version, tok.ids, start.key, position, self.adapter.head_key)
        cache = self._paths.get(key)
        if cache is None:
            cache = PathCache()
            self._paths[key] = cache
            while len(self._paths) > self.cache_size:
                self._paths.popitem(last=False)
        self._paths.move_to_end(key)
        return cache

    def _fill(
        self,
        cache: PathCache,
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
        caches: list[PathCache],
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
            classes=tuple(self.adapter.classes),
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


def _as_final(exp: Explanation) -> Explanation:
    return replace(exp, n_stages=exp.stage)
