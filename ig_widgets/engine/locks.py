"""One re-entrant lock per underlying model, shared by every adapter and explainer that wraps it."""

from __future__ import annotations

import threading
import weakref

from torch import nn

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def model_lock(module: nn.Module) -> threading.RLock:
    """The lock of ``module``: the same object for every caller, as long as the module lives.

    Models keep mutable state that a computation changes and restores (training flags,
    fastai's AWD-LSTM ``hidden``/``bs``, forward hooks), so two computations on one module
    must never overlap, whichever adapter or :class:`~ig_widgets.Explainer` runs them. The lock
    is re-entrant: a computation may call helpers that take it again on the same thread.

    Parameters
    ----------
    module : torch.nn.Module
        The underlying model (a fastai ``learn.model``, a plain module, a Hugging Face model).

    Returns
    -------
    threading.RLock
        Created on first use; forgotten when the module is garbage-collected.
    """
    with _GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = threading.RLock()
            _LOCKS[module] = lock
        return lock
