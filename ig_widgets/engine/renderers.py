"""Where an Explanation finds its HTML and plot renderers: registered from above, never imported.

The engine is below the views: :meth:`Explanation.to_html`, :meth:`Explanation.plot` and
``_repr_html_`` call whatever renderer a higher layer registered here, so the engine imports
no view, not even inside a function. The package face (``ig_widgets/__init__.py``) registers
the views' renderers when ``ig_widgets`` is imported, which any import of a submodule does
first; a user may register their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

#: what can be rendered: ``"html"`` (a self-contained HTML fragment), ``"plot"`` (a figure)
Kind = Literal["html", "plot"]
#: ``renderer(explanation, target=..., **options)`` -> the rendered object
Renderer = Callable[..., Any]

KINDS: tuple[Kind, ...] = ("html", "plot")

_RENDERERS: dict[str, Renderer] = {}


def register_renderer(kind: Kind, renderer: Renderer) -> Renderer | None:
    """Make ``renderer`` the one that draws an explanation as ``kind``.

    Parameters
    ----------
    kind : {"html", "plot"}
        Which :class:`~ig_widgets.engine.explanation.Explanation` method calls it
        (``to_html``/``_repr_html_`` or ``plot``).
    renderer : callable
        Called as ``renderer(explanation, target=target, **options)``.

    Returns
    -------
    callable or None
        The renderer it replaces, if any (to put it back).

    Raises
    ------
    ValueError
        For a kind that is not one of :data:`KINDS`.
    TypeError
        When ``renderer`` is not callable.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not callable(renderer):
        raise TypeError(f"A renderer must be callable, not {type(renderer).__name__}")
    previous = _RENDERERS.get(kind)
    _RENDERERS[kind] = renderer
    return previous


def renderer_for(kind: Kind) -> Renderer:
    """The renderer registered for ``kind``.

    Raises
    ------
    LookupError
        When none is registered (the package face registers both; see the module's text).
    """
    try:
        return _RENDERERS[kind]
    except KeyError:
        raise LookupError(
            f"No {kind!r} renderer is registered: `import ig_widgets` registers the views' "
            f"renderers, or call ig_widgets.engine.renderers.register_renderer({kind!r}, fn)."
        ) from None
