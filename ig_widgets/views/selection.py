"""What to show of an Explanation: target, contrast and level → labels, scores and plain words."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ig_widgets.engine.explanation import class_index as engine_class_index
from ig_widgets.engine.options import COMPLETENESS_TOLERANCE
from ig_widgets.views.normalize import HUE_NAMES, score_format

if TYPE_CHECKING:
    from ig_widgets.engine.explanation import ClassAttribution, Explanation

#: the completeness check passes when |delta| ≤ DELTA_TOLERANCE · |F(input) − F(baseline)|
#: (the engine's :data:`~ig_widgets.engine.options.COMPLETENESS_TOLERANCE`, under the name
#: the views and widgets use)
DELTA_TOLERANCE = COMPLETENESS_TOLERANCE
#: what one chip or bar stands for
LEVELS = ("word", "token", "sentence")
#: the plural of each level, for legends and bar notes
UNITS = {"word": "words", "token": "tokens", "sentence": "sentences"}
#: a baseline whose top class probability is this far above uniform is flagged as not neutral
FAR_FROM_NEUTRAL = 0.2
#: the one-click fix of each warning: the widgets' button, the choice it sets, the CLI option
FIXES = {
    "steps": {"button": "compute the steps automatically", "cli": "--steps auto"},
    "baseline": {"button": "use a neutral baseline", "cli": "--baseline [neutral]"},
}

Target = int | str | None

# a word that ends a sentence: . ! ? or … possibly followed by closing quotes or brackets
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*$")


@dataclass(frozen=True)
class Part:
    """One word inside a sentence chip.

    Attributes
    ----------
    text : str
        The word.
    score : float
        Its raw attribution.
    special, oov : bool
        A special token; a word the model does not know.
    """

    text: str
    score: float
    special: bool
    oov: bool


@dataclass(frozen=True)
class Selection:
    """What a chip row, bar chart, HTML export or CLI table shows of one Explanation.

    Attributes
    ----------
    attribution : ClassAttribution
        The class (or contrast) shown, with its completeness check.
    level : str
        One of :data:`LEVELS`.
    tokens : list[str]
        The units' texts (tokens, words or sentences), ``(n,)``.
    scores : list[float]
        Raw attributions, ``(n,)``.
    special : list[bool]
        Units made only of special tokens, ``(n,)``.
    oov : list[bool]
        Units the model does not know (mapped to its unknown token), ``(n,)``.
    parts : list[list[Part]]
        For sentences, each sentence's words, ``(n,)`` lists; empty lists otherwise.
    """

    attribution: ClassAttribution
    level: str
    tokens: list[str]
    scores: list[float]
    special: list[bool]
    oov: list[bool]
    parts: list[list[Part]]


def rule_items() -> list[dict[str, str]]:
    """A method menu's items: every quadrature rule the engine offers, as ``{title, value}``."""
    from ig_widgets.engine.quadrature import ALL_METHODS

    return [{"title": name.replace("_", " "), "value": name} for name in ALL_METHODS]


def class_index(classes: Sequence[str], target: Target) -> int | None:
    """The index of ``target`` (a name or an index) in ``classes``; None for None or ``""``.

    Raises
    ------
    ValueError
        For an unknown name or an index out of range.
    TypeError
        For anything but a name, an int or None.
    """
    if target is None or (isinstance(target, str) and target == ""):
        return None
    return engine_class_index(classes, target)


def class_name(classes: Sequence[str], target: Target) -> str:
    """The name of ``target`` in ``classes``, or ``""`` (follow the prediction) for None."""
    index = class_index(classes, target)
    return "" if index is None else classes[index]


def contrast_class(exp: Explanation, target: Target, other: Target = None) -> int:
    """The class of "why not?": ``other`` when given, else the most probable class but target.

    Raises
    ------
    ValueError
        When ``other`` is the target class itself, or the model has a single class.
    """
    cls = _target_index(exp, target)
    chosen = class_index(exp.classes, other)
    if chosen is not None:
        if chosen == cls:
            raise ValueError(
                f"Why not? needs two classes: pick a class other than {exp.classes[cls]!r} "
                "to contrast with."
            )
        return chosen
    others = [int(i) for i in np.argsort(-exp.probs) if int(i) != cls]
    if not others:
        raise ValueError("Why not? needs a model with at least two classes.")
    return others[0]


def select(
    exp: Explanation,
    target: Target = None,
    level: str = "word",
    contrast: Target = None,
) -> Selection:
    """Select what to show of ``exp``; no model call (the Explanation holds every class).

    Parameters
    ----------
    exp : Explanation
        The engine's result.
    target : int, str or None
        The class to explain; None (or ``""``) for the predicted class.
    level : {"word", "token", "sentence"}
        Words (markers and subword pieces folded), the model's tokens, or sentences (words
        up to one ending in ``.``, ``!``, ``?`` or ``…``; each keeps its words as parts).
    contrast : int, str or None
        When given, "why ``target`` and not ``contrast``" (``exp.contrast``).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    cls = _target_index(exp, target)
    attr = exp.for_class(cls) if contrast in (None, "") else exp.contrast(cls, contrast)
    if level == "token":
        oov = [bool(flag) for flag in exp.oov]
        return Selection(
            attr,
            level,
            list(exp.tokens),
            [float(s) for s in attr.scores],
            [bool(s) for s in exp.special],
            oov,
            [[] for _ in exp.tokens],
        )
    words = [
        Part(w.text, float(s), bool(w.special), bool(w.oov))
        for w, s in zip(exp.words, attr.word_scores, strict=True)
    ]
    if level == "word":
        return Selection(
            attr,
            level,
            [p.text for p in words],
            [p.score for p in words],
            [p.special for p in words],
            [p.oov for p in words],
            [[] for _ in words],
        )
    sentences = _sentences(words)
    return Selection(
        attr,
        level,
        [" ".join(p.text for p in s if not p.special) or s[0].text for s in sentences],
        [float(sum(p.score for p in s)) for s in sentences],
        [all(p.special for p in s) for s in sentences],
        [False for _ in sentences],
        sentences,
    )


def _target_index(exp: Explanation, target: Target) -> int:
    index = class_index(exp.classes, target)
    return exp.predicted if index is None else index


def _sentences(words: Sequence[Part]) -> list[list[Part]]:
    """Words grouped into sentences; special words join the sentence that follows them."""
    out: list[list[Part]] = []
    current: list[Part] = []
    for word in words:
        current.append(word)
        if not word.special and _SENTENCE_END.search(word.text):
            out.append(current)
            current = []
    if current:
        if out and all(p.special for p in current):
            out[-1].extend(current)  # trailing special tokens ([SEP]) end the last sentence
        else:
            out.append(current)
    return out


# ------------------------------------------------------------------------------ plain words
@dataclass(frozen=True)
class Completeness:
    """The completeness check of one attribution, in numbers and in plain words.

    Attributes
    ----------
    total : float
        Σ attributions.
    diff : float
        F(input) − F(baseline).
    delta : float
        ``total − diff``.
    ok : bool
        ``|delta| ≤ DELTA_TOLERANCE · |diff|``.
    text : str
        E.g. "✓ adds up: delta 0.1 % of the change" or "⚠ add steps: 3 % missing".
    detail : str
        "Σ attributions … · F(input) − F(baseline) … · delta …".
    """

    total: float
    diff: float
    delta: float
    ok: bool
    text: str
    detail: str


def completeness(attr: ClassAttribution) -> Completeness:
    """The one completeness rule of the package (badges, HTML, CLI, plots)."""
    total, diff, delta = attr.total, attr.f_input - attr.f_baseline, attr.delta
    ok = abs(delta) <= DELTA_TOLERANCE * abs(diff)
    if diff == 0.0:
        text = (
            "✓ adds up: nothing to explain (F(input) = F(baseline))"
            if delta == 0.0
            else f"⚠ add steps: {delta:+.2e} off, and F(input) = F(baseline)"
        )
    else:
        share = 100.0 * abs(delta) / abs(diff)
        if ok:
            text = f"✓ adds up: delta {_percent(share)} of the change"
        else:
            verb = "missing" if (delta < 0) == (diff > 0) else "too much"
            text = f"⚠ add steps: {_percent(share)} {verb}"
    number = score_format([total, diff])
    detail = (
        f"Σ attributions {number.format(total)} · "
        f"F(input) − F(baseline) {number.format(diff)} · delta {delta:+.2e}"
    )
    return Completeness(total, diff, delta, ok, text, detail)


def steps_meaning(check: Completeness) -> str:
    """What a failed completeness check means, in plain words ("" when it passed)."""
    if check.ok:
        return ""
    number = score_format([check.total, check.diff])
    return (
        f"The attributions add up to {number.format(check.total)}, but the model's output "
        f"moved by {number.format(check.diff)} from the baseline to the text: the path "
        "integral was approximated with too few points, so the colours are not yet exact. "
        "More points close the gap."
    )


def baseline_meaning(exp: Explanation) -> str:
    """What a baseline far from neutral means, in plain words ("" when it is not far)."""
    text, far = baseline_summary(exp)
    if not far:
        return ""
    c = exp.predicted
    uniform = 1.0 / len(exp.classes)
    moved = float(exp.f_input[c] - exp.f_baseline[c])
    return (
        f"The model already gives the baseline a confident prediction ({text.split(' → ')[-1]}"
        f", where undecided is {uniform:.2f} per class): the attributions explain only the move "
        f"from there to the text ({exp.classes[c]} {moved:+.2f}), not the prediction itself. "
        "A baseline the model is undecided about leaves the whole prediction to explain."
    )


def cli_warnings(attr: ClassAttribution, exp: Explanation) -> list[str]:
    """The terminal's warning lines: each meaning and its fix as a command-line option."""
    lines = []
    for kind, meaning in (
        ("steps", steps_meaning(completeness(attr))),
        ("baseline", baseline_meaning(exp)),
    ):
        if meaning:
            lines.append(f"⚠ {meaning} Fix: {FIXES[kind]['cli']}")
    return lines


def badge(attr: ClassAttribution, output: str = "probs") -> dict[str, Any]:
    """A widget's completeness badge: raw numbers, the verdict and its plain sentence.

    When the check fails, ``meaning`` says what that means and ``fix`` is the one-click
    fix's button (:data:`FIXES`); both are "" when it passes.
    """
    check = completeness(attr)
    return {
        "label": attr.label,
        "total": check.total,
        "diff": check.diff,
        "delta": check.delta,
        "large": not check.ok,
        "ok": check.ok,
        "text": check.text,
        "detail": check.detail,
        "output": output,
        "meaning": steps_meaning(check),
        "fix": "" if check.ok else FIXES["steps"]["button"],
    }


def legend(label: str, level: str = "word", palette: str = "default") -> str:
    """The colour legend of a chip row explaining ``label`` (a class or ``"a − b"``).

    Its first clause is about positive scores (the palette's positive hue), the second about
    negative ones, e.g. "green words push towards positive · red words push away from it".
    """
    if palette not in HUE_NAMES:
        raise ValueError(f"Unknown palette {palette!r}; use one of {', '.join(HUE_NAMES)}")
    negative, positive = HUE_NAMES[palette]
    unit = UNITS.get(level, "words")
    if " − " in label:
        a, b = label.split(" − ", 1)
        return f"{positive} {unit} push towards {a} rather than {b} · {negative} {unit} towards {b}"
    return f"{positive} {unit} push towards {label} · {negative} {unit} push away from it"


def baseline_summary(exp: Explanation) -> tuple[str, bool]:
    """What the model predicts for the baseline, and whether that is far from neutral.

    Returns
    -------
    tuple[str, bool]
        E.g. ``"baseline 'xxunk' → negative 0.83"``, and True when the baseline's most
        probable class is more than :data:`FAR_FROM_NEUTRAL` above uniform (softmax
        probabilities or logits only). Sigmoid labels show the most probable few, each its
        own probability (``"→ toxic 0.91, insult 0.40"``); a regression (``identity``) shows
        its outputs in their own units (``"→ score 3.2"``). Neither is flagged: no value
        of theirs is neutral by definition.
    """
    values = np.asarray(exp.f_baseline, dtype=np.float64)
    if exp.output == "probs":
        probs = values
    elif exp.output == "logits":
        shifted = np.exp(values - values.max())
        probs = shifted / shifted.sum()
    else:
        order = (
            np.argsort(-values, kind="stable")[:3]
            if exp.output == "sigmoid"
            else range(len(values))
        )
        fmt = "{:.2f}" if exp.output == "sigmoid" else "{:.3g}"
        shown = ", ".join(f"{exp.classes[i]} {fmt.format(values[i])}" for i in order)
        return f"baseline {exp.baseline} → {shown}", False
    top = int(np.argmax(probs))
    far = bool(probs[top] - 1.0 / len(probs) > FAR_FROM_NEUTRAL)
    return f"baseline {exp.baseline} → {exp.classes[top]} {probs[top]:.2f}", far


def why_not_note(exp: Explanation, target: Target, other: Target) -> str:
    """What "why not?" adds, in words; explains why two softmax classes look the same."""
    if len(exp.classes) == 2 and exp.output == "probs":
        a = exp.classes[_target_index(exp, target)]
        b = exp.classes[contrast_class(exp, target, other)]
        return (
            f"With two classes P({a}) = 1 − P({b}), so 'why {a} and not {b}?' is the same "
            f"picture as 'why {a}?' with every score doubled: it adds nothing here. With three "
            "or more classes, or with logits, it shows what separates the two."
        )
    return ""


def faithfulness_view(
    comprehensiveness: float, sufficiency: float, label: str, fraction: float = 0.2
) -> dict[str, Any]:
    """How faithful an explanation is, for a badge: the numbers, a sentence and a tooltip.

    Parameters
    ----------
    comprehensiveness, sufficiency : float
        ERASER's metrics at ``fraction`` (``nan`` when the text is too short for one token).
    label : str
        The class they were measured for.
    fraction : float
        The share of ordinary tokens removed (kept, for sufficiency).
    """
    share = f"{100 * fraction:.0f} %"
    if not (np.isfinite(comprehensiveness) and np.isfinite(sufficiency)):
        return {
            "comprehensiveness": None,
            "sufficiency": None,
            "label": label,
            "text": f"faithfulness: — (the text is too short: {share} is no token)",
            "tip": "",
        }
    return {
        "comprehensiveness": float(comprehensiveness),
        "sufficiency": float(sufficiency),
        "label": label,
        "text": (
            f"faithfulness for {label}: comprehensiveness {comprehensiveness:.2f} ↑ · "
            f"sufficiency {sufficiency:.2f} ↓"
        ),
        "tip": (
            f"comprehensiveness: how much P({label}) drops when the top {share} of the words "
            f"are removed (higher: the explanation found what the model needs); sufficiency: "
            f"how much it drops when only they are kept (lower is better)"
        ),
    }


def _percent(share: float) -> str:
    """A share in percent (two decimals around the tolerance: "1.0 %" could be either side)."""
    if share < 0.1:
        return "< 0.1 %"
    if share >= 10:
        return f"{share:.0f} %"
    text = f"{share:.1f}"
    return f"{share:.2f} %" if text == f"{100 * DELTA_TOLERANCE:.1f}" else f"{text} %"


def chip_token(exp: Explanation, level: str, chip: int) -> int | None:
    """The token a chip stands for: itself, its word's first ordinary token, or None.

    Parameters
    ----------
    level : str
        ``"token"`` (a chip is a token), ``"word"`` (a chip is a word of ``exp.words``) or
        ``"sentence"`` (no single token: None).
    """
    if level == "token":
        return chip if 0 <= chip < len(exp.tokens) else None
    if level == "word" and 0 <= chip < len(exp.words):
        tokens = exp.words[chip].tokens
        return next((i for i in tokens if not exp.special[i]), tokens[0] if tokens else None)
    return None
