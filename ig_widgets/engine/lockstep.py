"""Several texts explained in lockstep: their small rounds of points share one padded batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ig_widgets.engine.core import (
    CancelHook,
    Cancelled,
    PointGrads,
    PointsNeeded,
    batch_bytes,
    evaluate_together,
    is_cancelled,
)

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer, StageSteps
    from ig_widgets.engine.explanation import Explanation

#: a request of fewer points than this joins a shared batch; a larger one is computed alone
#: (a chunk of one point costs 65 µs per point-token on the demo AWD-LSTM, of five 33, and
#: past about 8 a bigger batch gains nothing: 27.2 ms per text alone, 27.9 in batches of 8)
SMALL_REQUEST = 8


def explain_together(
    explainer: Explainer,
    texts: Sequence[str],
    *,
    cancel: CancelHook | None = None,
    **options: Any,
) -> list[Explanation | Exception]:
    """What :meth:`Explainer.explain` returns for each text, the texts computed together.

    Each text runs its own stage loop (:meth:`Explainer.explain_steps`). Round by round, the
    small requests for points (fewer than :data:`SMALL_REQUEST`, as the adaptive rule's
    rounds mostly are) of texts whose lengths differ by at most the adapter's
    :meth:`~ig_widgets.engine.adapters.base.ModelAdapter.padding_room` go into one batch,
    padded at the end, under the explainer's memory budget; the rest are computed alone.
    Padding changes nothing a text computes (the adapter promises it), so the results equal
    the lone runs' up to float rounding.

    Parameters
    ----------
    texts : sequence of str
        The texts; any number, best of nearly equal token lengths.
    cancel : callable or threading.Event, optional
        Checked before every round; :class:`ig_widgets.Cancelled` is raised when set.
    **options
        :meth:`Explainer.explain`'s options (``n_steps``, ``method``, ``baseline``, ...).

    Returns
    -------
    list
        Per text, its final :class:`Explanation`, or the exception its run raised (a bad
        text fails alone).
    """
    room = explainer.adapter.padding_room()
    runs: dict[int, StageSteps] = {
        i: explainer.explain_steps(text, cancel=cancel, **options) for i, text in enumerate(texts)
    }
    results: list[Explanation | Exception | None] = [None] * len(texts)
    replies: dict[int, list[PointGrads] | Exception | None] = dict.fromkeys(runs)
    try:
        with explainer.adapter.prepared():
            while runs:
                if is_cancelled(cancel):
                    raise Cancelled()
                asks = _advance(runs, replies, results)
                replies = _answer(asks, room, explainer.memory_budget)
    finally:
        for steps in runs.values():
            steps.close()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _advance(
    runs: dict[int, StageSteps],
    replies: dict[int, list[PointGrads] | Exception | None],
    results: list[Explanation | Exception | None],
) -> dict[int, PointsNeeded]:
    """Run each text's loop to its next request (or its end); its result when it ends."""
    asks: dict[int, PointsNeeded] = {}
    for i in list(runs):
        steps, reply = runs[i], replies.get(i)
        try:
            item = steps.throw(reply) if isinstance(reply, Exception) else steps.send(reply)
            while not isinstance(item, PointsNeeded):
                results[i] = item  # a stage's result; the last one is the answer
                item = steps.send(None)
            asks[i] = item
        except StopIteration:
            del runs[i]
        except Cancelled:
            raise
        except Exception as exc:  # this text fails alone
            results[i] = exc
            del runs[i]
    return asks


def _answer(
    asks: dict[int, PointsNeeded], room: int, budget: int
) -> dict[int, list[PointGrads] | Exception | None]:
    """Each request's points: small ones in shared batches, the others alone."""
    answers: dict[int, list[PointGrads] | Exception | None] = {}
    shared = [i for i, r in asks.items() if room > 0 and _shareable(r)]
    for i in asks.keys() - set(shared):
        answers[i] = _alone(asks[i])
    shared.sort(key=lambda i: len(asks[i].evaluator.ids))
    for group in _batches([asks[i] for i in shared], shared, room, budget):
        requests = [asks[i] for i in group]
        if len(group) == 1:
            answers[group[0]] = _alone(requests[0])
            continue
        try:
            for i, points in zip(group, evaluate_together(requests), strict=True):
                answers[i] = points
        except ValueError:  # NaN or infinity from one text: find whose, alone
            for i, request in zip(group, requests, strict=True):
                answers[i] = _alone(request)
    return answers


def _shareable(request: PointsNeeded) -> bool:
    """A small request without the path's ends, batchable.

    A request with an end (the first round) is computed alone, as :meth:`Explainer.explain`
    computes it. A baseline repeats one token, so an LSTM's outputs there converge to equal
    values, and a max-pooling head's gradient at such a tie goes to whichever position float
    rounding makes largest, which depends on the batch: on the demo model one review's
    attributions moved by 2e-5 between a chunk of one point and one of five at α = 0.
    """
    ends = any(a in (0.0, 1.0) for a in request.alphas)
    return len(request.alphas) < SMALL_REQUEST and not ends and request.batchable()


def _alone(request: PointsNeeded) -> list[PointGrads] | Exception:
    """One request computed by itself; its error is handed back to its text."""
    try:
        return request.evaluate()
    except Cancelled:
        raise
    except Exception as exc:
        return exc


def _batches(
    requests: list[PointsNeeded], keys: list[int], room: int, budget: int
) -> list[list[int]]:
    """Consecutive runs of ``requests`` (sorted by length) within ``room`` tokens and ``budget``."""
    groups: list[list[int]] = []
    members: list[PointsNeeded] = []
    for key, request in zip(keys, requests, strict=True):
        if members:
            shortest = len(members[0].evaluator.ids)
            fits = len(request.evaluator.ids) - shortest <= room
            if fits and batch_bytes([*members, request]) <= budget:
                groups[-1].append(key)
                members.append(request)
                continue
        groups.append([key])
        members = [request]
    return groups
