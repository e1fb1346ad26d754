"""Terminal entry point: ``python -m ig_widgets explain "some text"`` (also ``ig-widgets``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

import numpy as np

from ig_widgets.cli import dataset, report
from ig_widgets.cli.dataset import positive as _positive
from ig_widgets.engine.options import (
    COMPLETENESS_TOLERANCE,
    DEFAULT_MAX_STEPS,
    IGOptions,
)
from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.views.normalize import NORMALIZE_MODES, rgb_for, score_format, text_rgb_for
from ig_widgets.views.normalize import normalize as normalize_scores
from ig_widgets.views.selection import baseline_summary, cli_warnings, completeness

if TYPE_CHECKING:
    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.engine.explanation import ClassAttribution, Explanation

#: exit codes: bad input or usage, a failure to write the report, an interrupted run
EXIT_USAGE, EXIT_IO, EXIT_INTERRUPTED = 2, 1, 130

# C0/C1 control characters (except tab and newline) are shown as U+FFFD so that text pasted
# from elsewhere cannot drive the terminal with escape sequences
_CONTROLS = {c: "\ufffd" for c in [*range(0, 9), *range(11, 32), *range(127, 160)]}


class _UsageError(Exception):
    """A command-line mistake: reported as one ``error:`` line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see --help)")


def _steps(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {value!r}") from None


#: the option of each IGOptions entry, to say in an error which one was bad
_FLAGS = {"n_steps": "--steps", "tol": "--tol", "max_steps": "--max-steps"}


def _add_ig_options(command: argparse.ArgumentParser, default_steps: int | str) -> None:
    """The IG options of a sub-command: ``--steps``, ``--method``, ``--tol``, ``--max-steps``."""
    command.add_argument(
        "--steps",
        type=_steps,
        default=default_steps,
        help=f"quadrature points, or 'auto' (default {default_steps})",
    )
    command.add_argument(
        "--method",
        default=None,
        choices=ALL_METHODS,
        metavar="METHOD",
        help=f"quadrature rule: {', '.join(ALL_METHODS)} "
        "(default gausslegendre; adaptive with --steps auto)",
    )
    command.add_argument(
        "--tol",
        type=float,
        default=COMPLETENESS_TOLERANCE,
        help="completeness tolerance of --steps auto: |delta| / |F(input) - F(baseline)| "
        f"(default {COMPLETENESS_TOLERANCE})",
    )
    command.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help=f"the most points --steps auto evaluates (default {DEFAULT_MAX_STEPS})",
    )


def ig_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> IGOptions:
    """The :class:`IGOptions` of parsed arguments, built once; a usage error when bad.

    The message is :meth:`IGOptions.build`'s (the one ``explain`` and ``explain_many``
    give), after the command-line option it is about.
    """
    try:
        return IGOptions.build(args.steps, args.method, args.tol, args.max_steps)
    except (ValueError, TypeError) as error:
        message = str(error)
        flag = next((f for name, f in _FLAGS.items() if message.startswith(name + " ")), None)
        parser.error(f"argument {flag or '--method'}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (``explain``, ``explain-dataset``, ``report``, ``models``)."""
    parser = _Parser(
        prog="python -m ig_widgets",
        description="Integrated Gradients explanations of a text classifier, in the terminal.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    explain = commands.add_parser(
        "explain",
        help="explain the prediction of a demo model on a text",
        description="Predict a text's class with a bundled demo model and print each word's "
        "(or token's) Integrated Gradients attribution and the completeness check.",
    )
    explain.add_argument("text", help="the text to explain ('-' reads it from standard input)")
    explain.add_argument("--model", default=None, help="bundled demo model (see 'models')")
    _add_ig_options(explain, "auto")
    explain.add_argument(
        "--baseline",
        default="[neutral]",
        help="a vocabulary token, or [neutral] (default: the model's most neutral frequent "
        "token at the text's length), [default] (the model's, e.g. xxunk), [zero], [average]",
    )
    explain.add_argument("--target", default=None, help="class to explain (default: predicted)")
    explain.add_argument("--versus", default=None, help="contrast: explain 'TARGET and not VERSUS'")
    explain.add_argument("--level", default="word", choices=("word", "token"))
    explain.add_argument(
        "--top-k", type=_positive, default=None, help="list only the K largest |attributions|"
    )
    explain.add_argument("--normalize", default="maxabs", choices=NORMALIZE_MODES)
    explain.add_argument("--palette", default="default", choices=("default", "colorblind"))
    explain.add_argument("--html", type=Path, default=None, help="also write an HTML report")
    explain.add_argument("--no-color", action="store_true", help="plain text, no ANSI colours")
    models = commands.add_parser("models", help="list the bundled demo models")
    models.add_argument(
        "--kind",
        default="all",
        choices=("classifier", "lm", "all"),
        help="all (default), classifiers (the models explain takes) or language models",
    )
    dataset.add_parser(commands, _add_ig_options)
    report.add_parser(commands)
    return parser


# ------------------------------------------------------------------------------- colours
def color_mode(stream: TextIO, disabled: bool = False) -> str | None:
    """``"truecolor"``, ``"256"`` or None (no colour) for an output stream.

    Colour needs a TTY, no ``--no-color`` and no ``NO_COLOR`` variable; 24-bit colour is
    used when ``COLORTERM`` says the terminal has it.
    """
    if disabled or os.environ.get("NO_COLOR") or not stream.isatty():
        return None
    if os.environ.get("TERM") == "dumb":
        return None
    return "truecolor" if os.environ.get("COLORTERM") in ("truecolor", "24bit") else "256"


def _ansi(rgb: tuple[int, int, int], mode: str, layer: int) -> str:
    """The SGR sequence for a foreground (layer 38) or background (layer 48) colour."""
    if mode == "truecolor":
        return f"\x1b[{layer};2;{rgb[0]};{rgb[1]};{rgb[2]}m"
    r, g, b = (round(c / 255 * 5) for c in rgb)
    return f"\x1b[{layer};5;{16 + 36 * r + 6 * g + b}m"


def paint(text: str, value: float, mode: str | None, palette: str = "default") -> str:
    """``text`` on the chip colour of a normalised ``value`` (unchanged when ``mode`` is None)."""
    if mode is None:
        return text
    background = rgb_for(value, palette, "light")
    return f"{_ansi(background, mode, 48)}{_ansi(text_rgb_for(background), mode, 38)}{text}\x1b[0m"


# ------------------------------------------------------------------------------ rendering
def _units(exp: Explanation, level: str) -> list[tuple[str, tuple[int, int] | None]]:
    """Label and character span of each word or token (span None when it has no characters)."""
    if level == "word":
        return [(w.text, (w.start, w.end) if w.end > w.start else None) for w in exp.words]
    return [
        (t, s if s and s[1] > s[0] else None)
        for t, s in zip(exp.tokens, exp.token_spans, strict=True)
    ]


def _coloured_text(
    exp: Explanation, units: list, shown: np.ndarray, mode: str, palette: str
) -> str:
    """The original text with each unit painted in place (units without characters skipped)."""
    text = exp.text.translate(_CONTROLS)  # same length: spans still hold
    pieces, cursor = [], 0
    for (_, span), value in zip(units, shown, strict=True):
        if span is None or span[0] < cursor:
            continue
        pieces.append(text[cursor : span[0]])
        pieces.append(paint(text[span[0] : span[1]], float(value), mode, palette))
        cursor = span[1]
    pieces.append(text[cursor:])
    return "".join(pieces)


def render(
    exp: Explanation,
    attribution: ClassAttribution,
    heading: str,
    level: str = "word",
    top_k: int | None = None,
    normalize: str = "maxabs",
    palette: str = "default",
    color: str | None = None,
) -> str:
    """The terminal report of one explanation: prediction, attributions and the check.

    Parameters
    ----------
    exp : Explanation
        The engine's result.
    attribution : ClassAttribution
        What to show: ``exp.for_class(...)`` or ``exp.contrast(...)``.
    heading : str
        What the attributions explain, e.g. ``"why positive?"``.
    level : {"word", "token"}
        One row per word or per model token.
    top_k : int, optional
        List only the ``top_k`` rows of largest ``|attribution|``, largest first.
    normalize, palette : str
        Colour strength and hues (see :mod:`ig_widgets.views.normalize`).
    color : {"truecolor", "256"} or None
        ANSI colours, or plain text.

    Returns
    -------
    str
        The report, lines separated by newlines, ending with a newline.
    """
    units = _units(exp, level)
    raw = attribution.word_scores if level == "word" else attribution.scores
    shown = normalize_scores(raw, normalize)
    probs = "  ".join(f"{c} {p:.3f}" for c, p in zip(exp.classes, exp.probs, strict=True))
    lines = [
        f"model: {exp.model_name or '?'} · {exp.n_steps} steps {exp.method} · "
        f"baseline {exp.baseline}",
        f"prediction: {exp.predicted_class}   ({probs})",
        "",
        f"{heading}  ({level} attributions, raw)",
    ]
    if color is not None:
        lines += [_coloured_text(exp, units, shown, color, palette), ""]
    order = list(range(len(units)))
    if top_k is not None:
        order = sorted(order, key=lambda i: -abs(float(raw[i])))[:top_k]
    width = min(max((len(units[i][0]) for i in order), default=4), 24)
    number = score_format(raw)
    for i in order:
        label = units[i][0].translate(_CONTROLS)
        label = label if len(label) <= width else label[: width - 1] + "…"
        bar = "█" * round(10 * abs(float(shown[i])))
        cell = paint(f"{label:<{width}}", float(shown[i]), color, palette)
        lines.append(f"  {i:>4}  {cell}  {number.format(float(raw[i]))}  {bar}")
    check = completeness(attribution)
    baseline, far = baseline_summary(exp)
    lines += ["", f"completeness: {check.text} ({check.detail})"]
    lines += [f"{'⚠ ' if far else ''}{baseline}", *cli_warnings(attribution, exp)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ commands
def _class(value: str, classes: tuple[str, ...]) -> int | str:
    """A class name, or an index typed as digits when no class has that name."""
    return int(value) if value not in classes and value.lstrip("-").isdigit() else value


def _demo_explainer(name: str | None, err: TextIO) -> Explainer:
    """An Explainer on a bundled demo model (saying so on a terminal: loading takes seconds)."""
    from ig_widgets.engine.explainer import Explainer
    from ig_widgets.models import demo

    if name in demo.demo_models("lm"):
        raise _UsageError(
            f"{name} is a language model; --model takes a classifier: "
            + ", ".join(demo.demo_models("classifier"))
        )
    if err.isatty():
        print(f"loading {name or demo.demo_models()[0]} …", file=err, flush=True)
    return Explainer(demo.load_demo_model(name))


def _explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise ValueError("the text is empty: give some text to explain")
    explainer = _demo_explainer(args.model, err)
    from ig_widgets.engine.baselines import baseline_from_choice

    wanted = None if args.target is None else _class(args.target, explainer.classes)
    ordinary = sum(not s for s in explainer.tokenize(text).special)
    baseline = baseline_from_choice(args.baseline, explainer.adapter, length=ordinary)
    exp = explainer.explain(  # checks the target before any work
        text, options=args.options, baseline=baseline, target=wanted
    )
    target = exp.predicted if wanted is None else exp.class_index(wanted)
    if args.versus is not None:
        other = exp.class_index(_class(args.versus, exp.classes))
        attribution = exp.contrast(target, other)
        heading = f"why {exp.classes[target]} and not {exp.classes[other]}?"
        view_target: int | tuple[int, int] = (target, other)
    else:
        attribution, heading, view_target = (
            exp.for_class(target),
            f"why {exp.classes[target]}?",
            target,
        )
    color = color_mode(out, disabled=args.no_color)
    out.write(
        render(
            exp, attribution, heading, args.level, args.top_k, args.normalize, args.palette, color
        )
    )
    if args.html is not None:
        from ig_widgets.views.html import explanation_html

        page = explanation_html(
            exp,
            target=view_target,
            level=args.level,
            normalize=args.normalize,
            palette=args.palette,
            full_page=True,
        )
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as error:
            print(f"error: cannot write {args.html}: {error.strerror or error}", file=err)
            return EXIT_IO
        out.write(f"HTML report: {args.html}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 unwritable report).

    Errors are reported as one ``error: …`` line on standard error, without a traceback.
    """
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "models":
            from ig_widgets.models.demo import demo_models

            out.write("\n".join(demo_models(args.kind)) + "\n")
            return 0
        if args.command is None:
            raise _UsageError(
                "choose a command: explain, explain-dataset, report or models (see --help)"
            )
        if args.command == "report":
            return report.run(args, out, err)
        args.options = ig_options(args, parser)
        if args.command == "explain-dataset":
            return dataset.run(args, out, err, _demo_explainer)
        return _explain(args, out, err)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except (_UsageError, ValueError, TypeError, FileExistsError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"error: {message}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
