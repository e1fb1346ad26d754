"""Gradients along the IG path: all classes from one forward, in chunks under a memory budget."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ig_widgets.engine.adapters.base import ModelAdapter

ProgressHook = Callable[[int, int], None]
CancelHook = Callable[[], bool] | threading.Event

#: default bound on the extra memory of one chunk of interpolation points
DEFAULT_MEMORY_BUDGET = 512 * 2**20


#: how far from a measured length :func:`estimate_point_bytes` still estimates (a factor)
ESTIMATE_REACH = 1.25


def estimate_point_bytes(measured: dict[int, int], n_tokens: int) -> int | None:
    """An upper bound on the bytes one point of ``n_tokens`` saves, from nearby lengths.

    Assumes what holds for the models here: a point's bytes do not shrink as the text
    grows, and grow at most with the square of its length (attention's ``n × n`` scores; an
    RNN grows linearly). So a measured length ``m ≥ n`` bounds ``n`` by its own bytes, and
    a shorter ``m`` by ``bytes(m) · (n / m)²``. Only lengths within :data:`ESTIMATE_REACH`
    are used, so the bound stays close; the nearest longer length is preferred.

    Parameters
    ----------
    measured : dict[int, int]
        Bytes per point measured at earlier lengths (length → bytes).
    n_tokens : int
        The new length.

    Returns
    -------
    int or None
        The estimate; None when no measured length is near enough (measure it then).
    """
    if n_tokens in measured:
        return measured[n_tokens]
    longer = [m for m in measured if n_tokens < m <= n_tokens * ESTIMATE_REACH]
    if longer:
        return measured[min(longer)]
    shorter = [m for m in measured if n_tokens / ESTIMATE_REACH <= m < n_tokens]
    if shorter:
        m = max(shorter)
        return scaled_up(measured[m], m, n_tokens)
    return None


def scaled_up(point_bytes: int, length: int, to_length: int) -> int:
    """``point_bytes`` at ``length`` scaled by ``(to_length / length)²``, rounded up."""
    return -(-point_bytes * to_length * to_length // (length * length))


class Cancelled(Exception):
    """Raised between chunks when the caller's ``cancel`` hook says stop."""


@dataclass(frozen=True)
class PointGrads:
    """What one point of the path contributes, for every class.

    Attributes
    ----------
    f : np.ndarray
        ``F`` at the point, ``(n_classes,)``.
    contrib : np.ndarray
        ``∂F/∂e · (x − x')`` summed over the embedding dimension, ``(n_classes, n_tokens)``;
        the attributions are the weighted sum of these over the points.
    grad_norm : np.ndarray
        L2 norm of ``∂F/∂e`` over all tokens and dimensions, ``(n_classes,)``.
    """

    f: np.ndarray
    contrib: np.ndarray
    grad_norm: np.ndarray


def is_cancelled(cancel: CancelHook | None) -> bool:
    """Ask a cancel hook (a callable returning bool, or a ``threading.Event``)."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def check_finite(values: torch.Tensor, what: str) -> None:
    """``ValueError`` when the model produced NaN or infinity, naming the row and output.

    ``values`` is ``(batch, ..., n_outputs)``; the message gives the first bad row of the
    batch and the index of the output.
    """
    finite = torch.isfinite(values)
    if not finite.all():
        first = (~finite).nonzero()[0].tolist()
        where = f"row {first[0]} of the batch, output {first[-1]}" if len(first) > 1 else ""
        raise ValueError(
            f"The model's output contains NaN or infinity ({what}{', ' if where else ''}"
            f"{where}); IG needs finite outputs. Check the model's weights and that it runs "
            "in eval mode; at a baseline (row 0 of the two ends), a norm or square root of "
            "zeros is undefined: use another baseline."
        )


def check_path_finite(
    out: torch.Tensor,
    grads: dict[int, torch.Tensor],
    alphas: Sequence[float],
    classes: Sequence[str],
) -> None:
    """``ValueError`` naming the first point α and the output where F or a gradient is not finite.

    More points cannot mend a NaN (a ``norm`` or ``sqrt`` of a zero baseline has none at
    α = 0), so it is an error, never a number shown in a badge.

    Parameters
    ----------
    out : torch.Tensor
        ``F`` at the points, ``(k, n_classes)``.
    grads : dict[int, torch.Tensor]
        Per class index, ``∂F/∂e`` at the points, ``(k, n_tokens, dim)``.
    alphas : sequence of float
        The ``k`` points.
    """
    bad_f = ~torch.isfinite(out.detach()).reshape(out.shape[0], -1).all(-1)
    bad = {c: ~torch.isfinite(g).reshape(g.shape[0], -1).all(-1) for c, g in grads.items()}
    if not bool(bad_f.any()) and not any(bool(b.any()) for b in bad.values()):
        return
    for j, alpha in enumerate(alphas):
        if bool(bad_f[j]):
            what = "F"
            row = out[j].detach()
            c = int((~torch.isfinite(row)).nonzero()[0, 0]) if row.dim() == 1 else 0
        else:
            hit = [c for c, b in sorted(bad.items()) if bool(b[j])]
            if not hit:
                continue
            what, c = "the gradient of F", hit[0]
        name = classes[c] if 0 <= c < len(classes) else str(c)
        raise ValueError(
            f"{what} is NaN or infinite at the point α = {float(alpha):.6g} of the path, for "
            f"output {name!r}. More steps cannot fix this: the model is not differentiable "
            "there (e.g. a norm or square root of a zero baseline at α = 0). Use another "
            "baseline (a token, TextBaseline, AverageBaseline) or a rule without the end "
            "points, or guard the model (norm + eps)."
        )


def at_position(out: torch.Tensor, position: int | None) -> torch.Tensor:
    """``F`` of one output: ``(batch, n_classes)`` from an adapter's output.

    Parameters
    ----------
    out : torch.Tensor
        ``(batch, n_classes)``, or per token ``(batch, n_tokens, n_classes)``.
    position : int or None
        The token explained for a per-token output; None for a sequence classifier.
    """
    if out.dim() == 3:
        if position is None:
            raise ValueError(
                "The model gives one output per token (token classification): say which "
                "token to explain, target=(token_index, label)."
            )
        return out[:, position]
    if position is not None:
        raise ValueError(
            "The model classifies the whole text (one output per text, not per token): "
            "target is a class name or index, not (token_index, label)."
        )
    return out


def forward(
    adapter: ModelAdapter, embeds: torch.Tensor, ids: torch.Tensor, position: int | None = None
) -> np.ndarray:
    """``F`` without gradients.

    Parameters
    ----------
    embeds : torch.Tensor
        ``(batch, n_tokens, dim)``.
    ids : torch.Tensor
        ``(n_tokens,)``, the input's ids (for masks).
    position : int or None
        The explained token of a per-token model; None keeps every position.

    Returns
    -------
    np.ndarray
        ``(batch, n_classes)`` (``(batch, n_tokens, n_classes)`` for a per-token model and
        ``position=None``), float64, on the CPU.
    """
    with adapter.lock, torch.no_grad():
        out = adapter.forward_embeds(embeds, ids)
    if position is not None:
        out = at_position(out, position)
    check_finite(out, "forward")
    return out.double().cpu().numpy()


class PathEvaluator:
    """Evaluates gradients at points ``x' + α (x − x')`` of one path, chunk by chunk.

    One forward per chunk serves every class; each class then costs one backward. For a
    two-class softmax the second class is the exact negation of the first and costs nothing.
    The chunk size is set from the bytes the autograd graph of one point really saves
    (measured on the first point with saved-tensor hooks), so the extra memory of a chunk
    stays under ``memory_budget``.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        inputs: torch.Tensor,
        baseline: torch.Tensor,
        ids: torch.Tensor,
        *,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        bytes_per_point: int | None = None,
        table: dict[int, int] | None = None,
        position: int | None = None,
        classes: Sequence[int] | None = None,
    ) -> None:
        """Prepare a path.

        Parameters
        ----------
        inputs, baseline : torch.Tensor
            Embeddings of the input and of the baseline, ``(n_tokens, dim)``.
        ids : torch.Tensor
            The input's ids, ``(n_tokens,)``.
        bytes_per_point : int, optional
            A measurement from an earlier path of the same length (or a bound from a
            nearby one, :func:`estimate_point_bytes`); None measures it on the first point
            evaluated (a chunk of one point), and :attr:`measured` says so.
        table : dict[int, int], optional
            A table of bytes per point by length, shared between paths (an explainer's):
            when ``bytes_per_point`` is None, a length near one of it gives the bound of
            :func:`estimate_point_bytes` at the time of evaluation, and a measurement made
            here is added to it.
        position : int or None
            For a per-token model, the token whose output is explained.
        classes : sequence of int, optional
            The classes whose gradients are taken (default: all); the others' contributions
            stay zero. For measurements of one class against all of them.
        """
        self.adapter = adapter
        self.inputs = inputs.detach()
        self.baseline = baseline.detach().to(self.inputs.device)
        self.diff = self.inputs - self.baseline
        self.ids = ids
        self.memory_budget = max(int(memory_budget), 1)
        self.bytes_per_point = bytes_per_point
        self.table = table
        #: whether this evaluator measured :attr:`bytes_per_point` itself
        self.measured = False
        self.position = position
        n_classes = len(adapter.classes)
        self.negate_second = (
            adapter.output == "probs"
            and adapter.classes_exhaustive
            and n_classes == 2
            and classes is None
        )
        if self.negate_second:
            self.backward_classes = [1]
        else:
            self.backward_classes = list(range(n_classes)) if classes is None else list(classes)

    def known_bytes(self) -> int | None:
        """:attr:`bytes_per_point`, or else the table's bound for this length (None: neither)."""
        if self.bytes_per_point is None and self.table is not None:
            self.bytes_per_point = estimate_point_bytes(self.table, len(self.ids))
        return self.bytes_per_point

    def chunk_size(self) -> int:
        """Points per chunk allowed by the memory budget (1 until measured)."""
        per_point = self.known_bytes()
        if per_point is None:
            return 1
        return max(1, self.memory_budget // max(per_point, 1))

    def evaluate(
        self,
        alphas: Sequence[float],
        *,
        progress: ProgressHook | None = None,
        cancel: CancelHook | None = None,
        done: int = 0,
        total: int | None = None,
    ) -> list[PointGrads]:
        """Gradients at each of ``alphas``, in order; cancel and progress checked per chunk."""
        total = len(alphas) + done if total is None else total
        results: list[PointGrads] = []
        start = 0
        while start < len(alphas):
            if is_cancelled(cancel):
                raise Cancelled()
            size = self.chunk_size()
            chunk = alphas[start : start + size]
            # forward and backwards of a chunk see one model state
            with self.adapter.lock, self.adapter.grad_context():
                results.extend(self._chunk(chunk))
            start += len(chunk)
            if progress is not None:
                progress(done + start, total)
        return results

    def points(self, alphas: Sequence[float]) -> torch.Tensor:
        """The path's points ``x' + α (x − x')``, ``(len(alphas), n_tokens, dim)``.

        At α = 1 the point is the input itself, not ``x' + (x − x')`` rounded.
        """
        a = torch.tensor(list(alphas), dtype=self.inputs.dtype, device=self.inputs.device)
        a = a.view(-1, 1, 1)
        points = self.baseline.unsqueeze(0) + a * self.diff.unsqueeze(0)
        points[a.view(-1) == 1] = self.inputs
        return points

    def results(self, out: torch.Tensor, grads: dict[int, torch.Tensor]) -> list[PointGrads]:
        """Per point: ``F`` and, per class, the contributions and gradient norm.

        Parameters
        ----------
        out : torch.Tensor
            ``F`` at the points, ``(k, n_classes)``.
        grads : dict[int, torch.Tensor]
            Per backward class, ``∂F/∂e`` at the points, ``(k, n_tokens, dim)``.
        """
        n_classes, k = out.shape[1], out.shape[0]
        contrib = torch.zeros(n_classes, k, self.diff.shape[0], dtype=torch.float64)
        norms = torch.zeros(n_classes, k, dtype=torch.float64)
        for c, grad in grads.items():
            contrib[c] = (grad * self.diff.unsqueeze(0)).sum(-1).double().cpu()
            norms[c] = grad.reshape(k, -1).norm(dim=1).double().cpu()
        if self.negate_second:
            contrib[0] = -contrib[1]
            norms[0] = norms[1]
        f = out.detach().double().cpu()
        return [
            PointGrads(f[j].numpy(), contrib[:, j].numpy(), norms[:, j].numpy()) for j in range(k)
        ]

    def _chunk(self, alphas: Sequence[float]) -> list[PointGrads]:
        points = self.points(alphas).requires_grad_(True)
        if self.bytes_per_point is None:
            out, saved = _measured_forward(self.adapter, points, self.ids)
            dense = points.numel() * points.element_size()
            # graph + the points, their gradient and the products with (x − x')
            self.bytes_per_point = (saved + 3 * dense) // len(points)
            self.measured = True
            if self.table is not None:
                self.table[len(self.ids)] = self.bytes_per_point
        else:
            out = self.adapter.forward_embeds(points, self.ids)
        out = at_position(out, self.position)
        grads = backward(out, points, self.backward_classes)
        check_path_finite(out, grads, alphas, self.adapter.classes)
        return self.results(out, grads)


def backward(
    out: torch.Tensor, points: torch.Tensor, classes: Sequence[int]
) -> dict[int, torch.Tensor]:
    """``∂F_c/∂points`` for each class ``c`` of ``classes``: one backward each, one graph.

    Parameters
    ----------
    out : torch.Tensor
        ``F`` ``(batch, n_classes)``, computed from ``points`` ``(batch, n_tokens, dim)``.
    """
    grads: dict[int, torch.Tensor] = {}
    for j, c in enumerate(classes):
        last = j == len(classes) - 1
        (grads[c],) = torch.autograd.grad(out[:, c].sum(), points, retain_graph=not last)
    return grads


@dataclass
class PointsNeeded:
    """A stage's request for the gradients at some points of one path.

    What :meth:`ig_widgets.Explainer.refine`'s stage loop hands out instead of computing:
    alone, :meth:`evaluate` answers it; :func:`evaluate_together` answers several paths'
    requests in one batch.
    """

    evaluator: PathEvaluator
    alphas: list[float]
    progress: ProgressHook | None = None
    cancel: CancelHook | None = None

    def evaluate(self) -> list[PointGrads]:
        """The gradients at :attr:`alphas`, computed for this path alone."""
        return self.evaluator.evaluate(self.alphas, progress=self.progress, cancel=self.cancel)

    def batchable(self) -> bool:
        """Whether this request can share a batch: its bytes per point known, one output."""
        ev = self.evaluator
        return ev.known_bytes() is not None and ev.position is None


def evaluate_together(requests: Sequence[PointsNeeded]) -> list[list[PointGrads]]:
    """Several paths' points in one forward and one backward per class, padded at the end.

    For a model whose adapter allows padding at the end (``padding_room() > 0``: a causal
    recurrent model whose head masks the pads), each path's rows see exactly what they see
    alone. The requests must come from one adapter, be :meth:`PointsNeeded.batchable`, and
    differ in length by at most ``padding_room()`` tokens; their memory is the caller's to
    bound (see :func:`batch_bytes`).

    Returns
    -------
    list[list[PointGrads]]
        Per request, one result per point, in order.
    """
    first = requests[0].evaluator
    adapter = first.adapter
    pts = [r.evaluator.points(r.alphas) for r in requests]
    length = max(p.shape[1] for p in pts)
    pad = adapter.pad_id()
    batch = torch.cat([torch.nn.functional.pad(p, (0, 0, 0, length - p.shape[1])) for p in pts])
    ids = torch.cat(
        [torch.nn.functional.pad(r.evaluator.ids, (0, length - len(r.evaluator.ids)), value=pad)
         .expand(len(r.alphas), length) for r in requests]
    )  # fmt: skip  # one row per point
    batch.requires_grad_(True)
    with adapter.lock, adapter.grad_context():
        out = adapter.forward_embeds_padded(batch, ids)
        check_finite(out, "along the path")
        grads = backward(out, batch, first.backward_classes)
        answers, row = [], 0
        for r, p in zip(requests, pts, strict=True):
            k, n = p.shape[0], p.shape[1]
            mine = {c: g[row : row + k, :n] for c, g in grads.items()}
            answers.append(r.evaluator.results(out[row : row + k], mine))
            row += k
    for r in requests:
        if r.progress is not None:
            r.progress(len(r.alphas), len(r.alphas))
    return answers


def batch_bytes(requests: Sequence[PointsNeeded]) -> int:
    """An upper bound on the memory of :func:`evaluate_together` over ``requests``.

    Each path's bytes per point, scaled to the padded length by its square (the bound of
    :func:`estimate_point_bytes`), times its points.
    """
    length = max(len(r.evaluator.ids) for r in requests)
    total = 0
    for r in requests:
        n, per_point = len(r.evaluator.ids), r.evaluator.bytes_per_point
        assert per_point is not None  # batchable requests only
        total += scaled_up(per_point, n, length) * len(r.alphas)
    return total


def _measured_forward(
    adapter: ModelAdapter, points: torch.Tensor, ids: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Run the forward while summing the bytes autograd saves for the backward.

    The model's own weights and buffers are not extra, not even through a view: a linear
    layer saves ``weight.t()``, which has a ``grad_fn``. Counted, BERT-base's weights made a
    point of 128 tokens look like 400 MB instead of 73 MB, and every chunk a single point.
    """
    seen: dict[int, int] = {}
    network = adapter.network
    weights = {t.untyped_storage().data_ptr() for t in (*network.parameters(), *network.buffers())}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.requires_grad and t.grad_fn is None:  # parameters and the points: not extra
            return t
        try:
            key = t.untyped_storage().data_ptr()
            if key in weights:
                return t
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except RuntimeError:  # tensors without storage (e.g. sparse or meta)
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = adapter.forward_embeds(points, ids)
    return out, sum(seen.values())
