"""Locate the Vue templates (wheel or source tree) and expand the shared parts they include."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from ig_widgets.views.normalize import PALETTES
from ig_widgets.views.selection import DELTA_TOLERANCE

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


def constants_part() -> str:
    """The generated part ``constants.js``: the Python constants the templates draw with.

    The palettes' hues (the legend's swatches) and the completeness tolerance (the badge's
    tooltip) come from :mod:`ig_widgets.views`, so that Python and the browser never disagree.
    """
    return (
        "// Generated from ig_widgets.views (normalize.PALETTES, selection.DELTA_TOLERANCE).\n"
        f"const PALETTES = {json.dumps({k: [list(h) for h in v] for k, v in PALETTES.items()})};\n"
        f"const DELTA_TOLERANCE = {DELTA_TOLERANCE!r};\n"
    )


#: parts written by Python rather than read from ``js/parts``
_GENERATED = {"constants.js": constants_part}


def expand_parts(source: str) -> str:
    """Replace each include line of ``source`` by the file ``js/parts/NAME``.

    The parts (the progress bar and error banner, the class menus, number formatting, the
    badges, the legend) are written once and shared by the widgets' templates; the browser
    receives the expanded text. A part keeps the indentation of its include line.
    ``constants.js`` is generated (see :func:`constants_part`).

    Raises
    ------
    FileNotFoundError
        When a part does not exist.
    """

    def expand(match: re.Match[str]) -> str:
        name = match["name"]
        if name in _GENERATED:
            part = _GENERATED[name]()
        else:
            part = Path(template_path(f"parts/{name}")).read_text(encoding="utf-8")
        return textwrap.indent(part.rstrip("\n"), match["indent"])

    return _INCLUDE.sub(expand, source)
