"""Locate the Vue templates: inside an installed wheel, or in the source tree's ``js/`` folder."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def template_path(name: str) -> str:
    """Absolute path of the Vue template ``name`` (e.g. ``"chips.vue"``).

    A wheel carries the templates at ``ig_widgets/js/`` (hatchling ``force-include``); an
    editable install or a plain checkout has them at ``<repo>/js/``.

    Raises
    ------
    FileNotFoundError
        When neither location holds the template.
    """
    candidates = (_PACKAGE / "js" / name, _PACKAGE.parent / "js" / name)
    for path in candidates:
        if path.is_file():
            return str(path)
    searched = ", ".join(str(p) for p in candidates)
    raise FileNotFoundError(f"Vue template {name!r} not found (searched {searched})")
