"""A corpus run's inputs: its settings, checked once, and its rows of text, id and label."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence, Sized
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ig_widgets.engine.baselines import (
    NEUTRAL,
    Baseline,
    BaselineSpec,
    baseline_from_choice,
    is_choice_code,
    parse_baseline,
    to_spec,
)
from ig_widgets.engine.options import IGOptions

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer


def weights_fingerprint(module: Any) -> str:
    """A SHA-256 of a torch module's state (names, dtypes, shapes and bytes), in hex."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


# ---------------------------------------------------------------------------- settings
#: a run's baseline in words when it is ``[neutral]`` (each row's own says which token)
NEUTRAL_RUN = "[neutral]: the most neutral frequent token at each text's length"


def corpus_baseline(baseline: Baseline | str | None, explainer: Explainer) -> Baseline | str | None:
    """What a run explains every text with: a menu choice code turned into its baseline.

    ``[default]``, ``[zero]``, ``[average]`` and ``[uncertain]`` become what
    :func:`~ig_widgets.engine.baselines.baseline_from_choice` gives the widgets;
    ``[neutral]`` stays the code (it is resolved per text, at that text's length); a token
    or a baseline object is left as it is. An unknown bracketed code raises the widgets'
    ``ValueError`` (the codes and the vocabulary named) before any work.
    """
    if not is_choice_code(baseline, explainer.adapter):
        return baseline
    assert isinstance(baseline, str)
    if baseline == NEUTRAL:
        return NEUTRAL
    return baseline_from_choice(baseline, explainer.adapter)


@dataclass(frozen=True)
class RunSettings:
    """The settings every text of a run is explained with (stored with the results).

    Attributes
    ----------
    n_steps : int or "auto"
        Quadrature points, as in :meth:`Explainer.explain`.
    method : str
        The quadrature rule (resolved: never None).
    baseline : str
        The baseline, described in words (``Explanation.baseline``; for ``[neutral]``
        :data:`NEUTRAL_RUN`, and each row's ``baseline`` names its token).
    tol, max_steps : float, int
        For ``n_steps="auto"``.
    max_tokens : int or None
        Texts with more tokens are recorded as errors, not explained.
    fingerprint : str
        :func:`weights_fingerprint` of the model (a resumed run must use the same weights).
    baseline_spec : dict or None
        The baseline as data (:func:`ig_widgets.engine.baselines.to_spec`), which
        :func:`~ig_widgets.engine.baselines.from_spec` rebuilds; None when it cannot be
        rebuilt (a baseline class of its own, or a file of results format 1).
    """

    n_steps: int | str
    method: str
    baseline: str
    tol: float
    max_steps: int
    max_tokens: int | None
    fingerprint: str
    baseline_spec: BaselineSpec | None = None

    def explain_options(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`Explainer.explain` (the baseline object aside)."""
        return {
            "n_steps": self.n_steps,
            "method": self.method,
            "tol": self.tol,
            "max_steps": self.max_steps,
        }


def run_settings(
    explainer: Explainer,
    *,
    n_steps: int | str,
    method: str | None,
    baseline: Baseline | str | None,
    tol: float,
    max_steps: int,
    max_tokens: int | None,
) -> RunSettings:
    """Validate a run's settings before any work (``ValueError``/``TypeError`` when bad).

    The IG options are checked by :meth:`IGOptions.coerce`, as :meth:`Explainer.explain`
    checks them (None: the default): a run accepts and refuses exactly what ``explain`` does.
    ``baseline`` is :func:`corpus_baseline`'s (``[neutral]`` is described as
    :data:`NEUTRAL_RUN`, its spec ``{"kind": "neutral"}``).
    """
    options = IGOptions.coerce(n_steps=n_steps, method=method, tol=tol, max_steps=max_steps)
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ValueError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    described = (
        NEUTRAL_RUN
        if baseline == NEUTRAL
        else parse_baseline(baseline, explainer.adapter).description
    )
    return RunSettings(
        **options.as_kwargs(),
        baseline=described,
        max_tokens=max_tokens,
        fingerprint=weights_fingerprint(explainer.adapter.network),
        baseline_spec=to_spec(baseline),
    )


def same_run(settings: RunSettings, classes: Sequence[str]) -> Callable[[dict], str | None]:
    """A check that an existing file's run matches these settings: None, or what differs.

    A file of results format 1 holds no baseline spec: there the baseline's description
    must match (the spec of the resumed file is then this run's).
    """

    def check(meta: dict[str, Any]) -> str | None:
        if meta.get("kind") != "corpus":
            return "it holds a single explanation"
        if list(meta["classes"]) != list(classes):
            return f"classes {meta['classes']}, not {list(classes)}"
        old = dict(meta.get("settings", {}))
        mine = asdict(settings)
        if "baseline_spec" in old and old["baseline_spec"] is None:
            old["baseline_spec"] = mine["baseline_spec"]  # unknown: judged by its description
        changed = [k for k in mine if old.get(k) != mine[k]]
        if changed:
            return ", ".join(f"{k} {old.get(k)!r} → {mine[k]!r}" for k in changed)
        return None

    return check


# ---------------------------------------------------------------------------- input rows
@dataclass(frozen=True)
class InputRow:
    """One text to explain, checked.

    Attributes
    ----------
    order : int
        Its index in the input.
    id : int or str
        Its id (the key resume and the Ray backend write by).
    text : str or None
        The text, or None when the input was not a string.
    label : int or None
        The index of its label among the classes, or None when unknown or unlabelled.
    error : str or None
        Why it cannot be explained (no text, bad label), or None.
    """

    order: int
    id: int | str
    text: str | None
    label: int | None
    error: str | None

    def failed(self, error: str) -> dict[str, Any]:
        """The row of this text when it failed with ``error``."""
        return {**self.head(), "error": error}

    def head(self) -> dict[str, Any]:
        """The columns every row has (id, order, text, label, error)."""
        return {
            "id": self.id,
            "order": self.order,
            "text": self.text,
            "label": self.label,
            "error": self.error,
        }


def _missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT``: no value."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return False


def label_index(value: Any, classes: Sequence[str]) -> int | None:
    """The class index of a label: a class name, an index (int or digits), or None/NaN.

    Raises
    ------
    ValueError
        For a name that is no class or an index out of range.
    """
    if _missing(value):
        return None
    names = list(classes)
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        if value.strip().lstrip("-").isdigit():
            value = int(value)
        else:
            raise ValueError(f"label {value!r} is not a class; the classes are {names}")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"label {value!r} is neither a class name nor a class index")
    if not 0 <= int(value) < len(names):
        raise ValueError(f"label index {int(value)} is out of range for the classes {names}")
    return int(value)


def _check_row(
    order: int, id_: int | str, text: Any, label: Any, classes: Sequence[str]
) -> InputRow:
    error = None
    if _missing(text):
        error, text = "no text (missing value)", None
    elif not isinstance(text, str):
        error, text = f"the text is a {type(text).__name__}, not a string", None
    elif not text.strip():
        error = "the text is empty"
    try:
        index = label_index(label, classes)
    except ValueError as exc:
        index, error = None, error or str(exc)
    return InputRow(order, id_, text, index, error)


def _normalise_ids(ids: Iterable[Any] | None, n: int | None) -> list[int] | list[str] | None:
    """Ids as Python ints or strs, checked unique; None keeps the input positions."""
    if ids is None:
        return None
    values = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    if n is not None and len(values) != n:
        raise ValueError(f"ids has {len(values)} entries for {n} texts")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        out: list[int] | list[str] = [int(v) for v in values]
    elif all(isinstance(v, str) for v in values):
        out = list(values)
    else:
        raise TypeError("ids must be all integers or all strings")
    if len(set(out)) != len(out):
        seen: set[Hashable] = set()
        twice = [v for v in out if v in seen or seen.add(v)][:5]  # type: ignore[func-returns-value]
        raise ValueError(f"ids must be unique; repeated: {twice}")
    return out


def _values(items: Any) -> Iterable[Any]:
    """A pandas Series' values (not its index), or the iterable itself."""
    return items.tolist() if hasattr(items, "tolist") and hasattr(items, "index") else items


def input_rows(
    texts: Iterable[Any],
    labels: Iterable[Any] | None,
    ids: Iterable[Any] | None,
    classes: Sequence[str],
) -> tuple[Iterator[InputRow], int | None, Literal["int", "str"]]:
    """The checked input rows (lazily), their number when known, and the id type."""
    n = len(texts) if isinstance(texts, Sized) else None
    id_list = _normalise_ids(ids, n)
    id_type: Literal["int", "str"] = (
        "str" if id_list is not None and id_list and isinstance(id_list[0], str) else "int"
    )
    n_labels = len(labels) if isinstance(labels, Sized) else None
    if n is not None and n_labels is not None and n_labels != n:
        raise ValueError(f"labels has {n_labels} entries for {n} texts")

    def rows() -> Iterator[InputRow]:
        label_iter = iter(_values(labels)) if labels is not None else None
        for order, text in enumerate(_values(texts)):
            label = next(label_iter, None) if label_iter is not None else None
            id_ = id_list[order] if id_list is not None else order
            yield _check_row(order, id_, text, label, classes)

    return rows(), n if id_list is None else len(id_list), id_type
