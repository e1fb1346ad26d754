"""Character spans of fastai tokens in the original text (fastai rewrites HTML, adds markers)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

#: markers followed by a count token (``xxrep 4 !``, ``xxwrep 3 very``)
REPEATS = frozenset({"xxrep", "xxwrep"})
#: what fastai's ``fix_html`` rewrites: (text in the original, what the tokenizer sees)
_REWRITES: tuple[tuple[str, str], ...] = (
    ("<br />", "\n"),
    ("\\n", "\n"),
    ("nbsp;", " "),
    ("#39;", "'"),
    ("#146;", "'"),
    ("quot;", "'"),
    ("amp;", "&"),
    ("#36;", "$"),
    ('\\"', '"'),
    ("<unk>", "xxunk"),
    ("...", "…"),
)
_BLANKS = tuple(src for src, dst in _REWRITES if dst.isspace())
_ENTITY = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")
#: how far past the cursor a token whose text was rewritten is looked for
_LOOKAHEAD = 200


def align_spans(
    text: str, words: Sequence[str], special: Sequence[bool]
) -> list[tuple[int, int] | None]:
    """Character spans of fastai tokens in the original ``text``.

    fastai lower-cases, rewrites HTML (``<br />`` becomes a newline token, ``...`` becomes
    ``…``) and collapses repeats before spaCy splits the text; spaCy keeps every token's
    characters. So the tokens are matched left to right, case-insensitively, undoing
    ``fix_html``'s rewrites and HTML entities on the way. A token found nowhere near the
    cursor gets ``None``.

    Parameters
    ----------
    text : str
        The original text.
    words : Sequence[str]
        The tokenizer's strings (not the vocabulary's: unknown words keep their surface).
    special : Sequence[bool]
        Markers and repeat counts: they get ``None``.
    """
    spans: list[tuple[int, int] | None] = [None] * len(words)
    pos = 0
    repeat: tuple[str, int] | None = None  # pending ("xxrep" | "xxwrep", count)
    for i, word in enumerate(words):
        if special[i]:
            if word.isdigit() and i > 0 and words[i - 1] in REPEATS:
                repeat = (words[i - 1], int(word))
            continue
        if word.isspace():
            found = _blank_run(text, pos)
        else:
            found = _find(text, _skip_blanks(text, pos), word)
        if found is None:
            repeat = None
            continue
        start, end = found
        if repeat is not None:
            kind, count = repeat
            end = _extend_run(text, start, end, word, count, between=kind == "xxwrep")
            repeat = None
        spans[i] = (start, end)
        pos = end
    return spans


def _rewrite_at(text: str, j: int) -> tuple[int, str] | None:
    """A rewritten piece of the original at ``j``: (its length, what the tokenizer saw)."""
    for src, dst in _REWRITES:
        if text.startswith(src, j):
            return len(src), dst
    if text[j] == "&":
        m = _ENTITY.match(text, j)
        if m is not None:
            seen = html.unescape(m.group())
            if seen != m.group():
                return m.end() - j, seen
    return None


def _match(text: str, j: int, word: str) -> int | None:
    """End of ``word`` matched at exactly ``j`` in ``text`` (case-insensitive), or None."""
    target = word.lower()
    k = 0
    while k < len(target):
        if j >= len(text):
            return None
        low = text[j].lower()
        if target.startswith(low, k):
            j, k = j + 1, k + len(low)
            continue
        rewrite = _rewrite_at(text, j)
        if rewrite is None or not target.startswith(rewrite[1].lower(), k) or not rewrite[1]:
            return None
        j, k = j + rewrite[0], k + len(rewrite[1])
    return j


def _find(text: str, pos: int, word: str) -> tuple[int, int] | None:
    """The first match of ``word`` at or shortly after ``pos``."""
    for j in range(pos, min(len(text), pos + _LOOKAHEAD)):
        end = _match(text, j, word)
        if end is not None:
            return j, end
    return None


def _blank_at(text: str, j: int) -> int:
    """Length of the whitespace (or whitespace-producing markup) at ``j``; 0 when none."""
    if j < len(text) and text[j].isspace():
        return 1
    return next((len(src) for src in _BLANKS if text.startswith(src, j)), 0)


def _skip_blanks(text: str, pos: int) -> int:
    while (step := _blank_at(text, pos)) > 0:
        pos += step
    return pos


def _blank_run(text: str, pos: int) -> tuple[int, int] | None:
    """Span of a whitespace token (a newline, ``<br />``...), without surrounding spaces."""
    start = pos
    while start < len(text) and text[start] == " ":
        start += 1
    end = _skip_blanks(text, start)
    while end > start and text[end - 1] == " ":
        end -= 1
    return (start, end) if end > start else None


def _extend_run(text: str, start: int, end: int, word: str, count: int, between: bool) -> int:
    """End of a run of ``count`` copies of ``word`` starting at ``start``.

    Characters (``xxrep``) repeat back to back; words (``xxwrep``) are separated by blanks.
    """
    for _ in range(count - 1):
        j = _skip_blanks(text, end) if between else end
        nxt = _match(text, j, word)
        if nxt is None:
            break
        end = nxt
    return end
