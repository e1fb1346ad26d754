"""The weights' cache key: a digest of parameters and buffers, taken once per block of work."""

from __future__ import annotations

import functools
import itertools
import threading
from typing import Any

import numpy as np
import torch

#: outermost ``prepared()`` blocks a request's digest serves: its set-up and its first stage
REQUEST_BLOCKS = 2


class WeightsKey:
    """When one model's weights digest is taken again, and when it is reused.

    Outside a ``prepared()`` block: on every call. Inside the outermost one: once. After
    :meth:`start_request` (an adapter's ``bind``, at the start of a request) the request's
    next :data:`REQUEST_BLOCKS` blocks on the same thread share one digest while the cheap
    description of the weights (identities, addresses, shapes, dtypes, version counters) is
    unchanged: the engine's set-up and its first stage run back to back with no yield, so
    no user code can edit the weights between them. After a yield (a later stage) and after
    a block that failed, the digest is taken again.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        #: the digest of the outermost block now running (None: not taken yet)
        self._current: int | None = None
        self._shared = False

    def _state(self) -> Any:
        state = self._local
        if not hasattr(state, "blocks_left"):
            state.blocks_left, state.memo = 0, None
        return state

    def start_request(self, outside_blocks: bool) -> None:
        """A request starts on this thread (only counted outside any ``prepared()`` block)."""
        state = self._state()
        state.blocks_left, state.memo = (REQUEST_BLOCKS if outside_blocks else 0), None

    def enter(self) -> None:
        """An outermost ``prepared()`` block starts (under the model's lock)."""
        state = self._state()
        self._current = None
        self._shared = state.blocks_left > 0
        if self._shared:
            state.blocks_left -= 1
        else:
            state.memo = None

    def leave(self, failed: bool) -> None:
        """The outermost block ended; after a failure nothing is shared any more."""
        self._current, self._shared = None, False
        if failed:
            state = self._state()
            state.blocks_left, state.memo = 0, None

    def value(self, module: torch.nn.Module, in_block: bool) -> int:
        """The digest of ``module``'s weights (see the class for when it is computed)."""
        if not in_block:
            return weights_digest(module)
        if self._current is None:
            self._current = self._shared_digest(module)
        return self._current

    def _shared_digest(self, module: torch.nn.Module) -> int:
        if not self._shared:
            return weights_digest(module)
        state = self._state()
        described = describe(module)
        if state.memo is not None and state.memo[0] == described:
            return int(state.memo[1])
        digest = weights_digest(module)
        state.memo = (described, digest)
        return digest


def describe(module: torch.nn.Module) -> tuple[tuple[Any, ...], ...]:
    """Per parameter and buffer: identity, storage address, shape, dtype, version counter."""
    return tuple(
        (id(t), _address(t), tuple(t.shape), t.dtype, t._version)
        for t in itertools.chain(module.parameters(), module.buffers())
    )


def weights_digest(module: torch.nn.Module) -> int:
    """A digest of everything a module's function is made of: parameters and buffers.

    Per tensor: its identity, storage address, shape, dtype and version counter, and
    checksums of its values. The values in memory order are read as rows of
    :data:`WIDTHS` entries (the last, shorter row apart), twice, once per width; each time
    the column sums are weighted ``1, 2, 3 …``. A changed value moves a column sum; two
    entries swapped move two of them unless they are a multiple of both widths apart
    (over a million entries apart). So a weight edited through ``.data`` (which leaves the
    version counter alone), a swapped submodule or ``nn.Parameter``, buffers such as
    BatchNorm's running statistics, rows moved within a tensor and two entries swapped within
    a row all change it. Meta tensors have no data: only their description counts. A CPU
    tensor is summed by NumPy on the calling thread, two fast passes over wide rows (no copy,
    no parallel region to wait for on a busy machine: ``benchmarks/cache_key.py``); a tensor
    on an accelerator, there, with one transfer of the results per device.

    Returns
    -------
    int
        A hash of the description and the checksums.
    """
    sums: list[float] = []
    elsewhere: list[torch.Tensor] = []
    with torch.no_grad():
        for t in itertools.chain(module.parameters(), module.buffers()):
            if t.device.type == "meta" or t.numel() == 0:
                continue
            flat = _flat_values(t)
            if flat.device.type == "cpu" and flat.dtype in _NUMPY_SUMMED:
                sums.extend(_numpy_checksums(flat.numpy()))
            else:
                elsewhere.append(_torch_checksums(flat))
    if elsewhere:  # one transfer per device, not one per tensor
        by_device: dict[torch.device, list[torch.Tensor]] = {}
        for part in elsewhere:
            by_device.setdefault(part.device, []).append(part)
        for parts in by_device.values():
            sums.extend(torch.cat(parts).tolist())
    return hash((describe(module), tuple(sums)))


#: the row widths the values are read in, twice (their least common multiple is over 10⁶)
WIDTHS = (1024, 1021)


def _flat_values(t: torch.Tensor) -> torch.Tensor:
    """The tensor's values in memory order, as numbers NumPy or torch can sum (1-D)."""
    values = t.detach()
    if values.is_quantized:
        values = values.int_repr()
    if values.is_complex():
        values = torch.view_as_real(values)
    if values.dtype == torch.bool:
        values = values.to(torch.uint8)
    return values.reshape(-1)


def _numpy_checksums(flat: np.ndarray) -> list[float]:
    """Per width: the weighted column sums of the full rows, and the weighted last row."""
    wide = np.float32 if flat.dtype == np.float16 else None  # no float16 overflow
    out = []
    for width in WIDTHS:
        full = flat.size // width * width
        if full:
            cols = np.add.reduce(flat[:full].reshape(-1, width), 0, wide)
            out.append(float(cols @ _ramp(width)))
        tail = flat[full:]
        out.append(float(tail @ _ramp(tail.size)) if tail.size else 0.0)
    return out


def _torch_checksums(flat: torch.Tensor) -> torch.Tensor:
    """:func:`_numpy_checksums` on the tensor's own device: ``(2 · len(WIDTHS),)`` float64."""
    out = []
    for width in WIDTHS:
        full = flat.numel() // width * width
        cols = flat[:full].reshape(-1, width).sum(0).double() if full else flat.new_zeros(width)
        tail = flat[full:].double()
        ramp = torch.arange(1, width + 1, dtype=torch.float64, device=flat.device)
        out.append(cols.double() @ ramp)
        out.append(tail @ ramp[: tail.numel()])
    return torch.stack(out)


#: dtypes NumPy sums (bfloat16 and the float8 kinds it lacks go through torch)
_NUMPY_SUMMED = frozenset({torch.float16, torch.float32, torch.float64, torch.int8, torch.uint8,
                           torch.int16, torch.int32, torch.int64})  # fmt: skip


@functools.lru_cache(maxsize=64)
def _ramp(n: int) -> np.ndarray:
    """``1, 2, … n`` as float64 (cached: the same lengths come back every call)."""
    return np.arange(1, n + 1, dtype=np.float64)


def _address(t: torch.Tensor) -> int:
    """Where a tensor's data lies (0 for tensors without storage, e.g. quantized or meta)."""
    try:
        return int(t.data_ptr())
    except RuntimeError:
        return 0
