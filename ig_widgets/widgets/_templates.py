"""Locate the Vue templates (wheel or source tree) and expand the shared parts they include."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]

#: a line ``<!-- include NAME -->``, ``// include NAME`` or ``/* include NAME */``
_INCLUDE = re.compile(
    r"^(?P<indent>[ \t]*)(?:<!--|//|/\*)[ \t]*include[ \t]+(?P<name>[\w.-]+)"
    r"[ \t]*(?:-->|\*/)?[ \t]*$",
    re.MULTILINE,
)


def template_path(name: str) -> str:
    """Absolute path of the Vue template ``name`` (e.g. ``"chips.vue"`` or ``"parts/x.js"``).

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


def vue_template(name: str) -> str:
    """The source of template ``name`` with its shared parts expanded (see :func:`expand_parts`)."""
    return expand_parts(Path(template_path(name)).read_text(encoding="utf-8"))


def expand_parts(source: str) -> str:
    """Replace each include line of ``source`` by the file ``js/parts/NAME``.

    The parts (the progress bar and error banner, the class menus, number formatting, the
    badge's styles) are written once and shared by the widgets' templates; the browser
    receives the expanded text. A part keeps the indentation of its include line.

    Raises
    ------
    FileNotFoundError
        When a part does not exist.
    """

    def expand(match: re.Match[str]) -> str:
        part = Path(template_path(f"parts/{match['name']}")).read_text(encoding="utf-8")
        return textwrap.indent(part.rstrip("\n"), match["indent"])

    return _INCLUDE.sub(expand, source)
