"""Run All of six live widgets on one Learner in JupyterLab 4: every number equals a lone run."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from playwright.sync_api import Page

from .jupyter_ui import open_notebook, run_all_cells
from .pages import RecordedPage, wait_stable
from .servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = Path(__file__).parent / "notebooks" / "shared_model_lab.ipynb"
#: what a number the widget sends at full precision may differ from the lone run by (float32
#: sums in another order); a number rounded for display gets half its last digit on top
SLACK = 1e-5
#: seconds for eight explainers on one model, a vocabulary scan and an optimised baseline
#: to finish on a busy two-core machine
WIDGETS_TIMEOUT = 480.0

NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
#: PathView's summary line, as js/path_view.vue writes it
PATH_SUMMARY = re.compile(
    rf"F\(baseline\) (?P<fBaseline>{NUMBER}) → F\(input\) (?P<fInput>{NUMBER}).*?"
    rf"Σ attributions (?P<total>{NUMBER}) \(delta (?P<delta>{NUMBER})\)"
)
TITLE_TOTAL = re.compile(rf"Σ attributions ({NUMBER})")

#: everything the six widgets show, read in one pass: data attributes and text, as strings
SNAPSHOT = """() => {
    // the open notebook only: JupyterLab keeps other notebooks' tabs (and widgets) in the page
    const shell = window.jupyterapp && window.jupyterapp.shell;
    const scope = shell && shell.currentWidget ? shell.currentWidget.node : document;
    const all = (root, sel) => [...root.querySelectorAll(sel)];
    const text = (el) => (el ? el.textContent.replace(/\\s+/g, ' ').trim() : null);
    const read = (el) => (el ? { ...el.dataset, text: text(el), title: el.title } : null);
    const widgets = (sel, more) => all(scope, sel).map((root) => ({
        ...root.dataset, error: text(root.querySelector('.igw-error')), ...more(root),
    }));
    const probs = (root) => all(root, '.igw-prob').map(read);
    const badge = (root) => read(root.querySelector('.igw-delta'));
    const refining = all(scope, '.igw-status, .igw-teaching-note')
        .filter((el) => el.textContent.includes('refining'));
    return {
        busy: all(scope, '[class*="--computing"]').length + refining.length,
        explorers: widgets('.igw-explorer', (root) => ({ probs: probs(root), badge: badge(root) })),
        compares: widgets('.igw-compare', (root) => ({
            status: text(root.querySelector('.igw-status')),
            rows: all(root, '.igw-compare-row').map((row) => ({
                ...read(row), probs: probs(row), badge: badge(row),
            })),
        })),
        paths: widgets('.igw-path-view', (root) => ({
            summary: read(root.querySelector('.igw-path-summary')), badge: badge(root),
        })),
        convergences: widgets('.igw-convergence', (root) => ({
            cells: all(root, '.igw-convergence-table td[data-method]').map(read),
        })),
        labs: widgets('.igw-baseline-lab', (root) => ({
            candidates: all(root, '.igw-candidate').map((row) => ({
                ...read(row), probs: all(row, '.igw-lab-prob').map(read),
            })),
            classes: all(root, '.igw-lab-table thead th').map(text),
        })),
    };
}"""
#: how many widgets of each kind the notebook makes
COUNTS = {"explorers": 1, "compares": 2, "paths": 1, "convergences": 1, "labs": 1}


def notebook_settings() -> dict[str, Any]:
    """The constants of the notebook's ``settings`` cell (the one source of every setting)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (cell,) = [c for c in nb.cells if c.get("id") == "settings"]
    names: dict[str, Any] = {}
    exec(cell.source, names)
    return names


def resolution(shown: str) -> float:
    """Half a unit of the last digit of ``shown`` (what rounding it for display can hide)."""
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals) if decimals else 0.0


@dataclass
class Audit:
    """Every mismatch between the page and the lone runs, and the DOM hooks still missing."""

    failures: list[str] = field(default_factory=list)
    #: how many numbers were compared
    checked: int = 0
    #: numbers read from their text because the element has no data attribute for them
    missing_hooks: set[str] = field(default_factory=set)

    def number(
        self, what: str, attr: str | None, expected: float, text: str | None = None, hook: str = ""
    ) -> None:
        """Compare a shown number (its data attribute, else its text) with the lone run's."""
        read_text = attr in (None, "")
        shown = text if read_text else attr
        if shown is None:
            self.failures.append(f"{what}: not shown")
            return
        if read_text:
            self.missing_hooks.add(hook)
        self.checked += 1
        tolerance = resolution(shown) + SLACK
        if not abs(float(shown) - expected) <= tolerance:
            self.failures.append(
                f"{what}: page {shown}, lone run {expected:+.6f} (tolerance {tolerance:.1e})"
            )

    def equal(self, what: str, shown: object, expected: object) -> None:
        """Record a mismatch of two non-numeric values."""
        if shown != expected:
            self.failures.append(f"{what}: page {shown!r}, expected {expected!r}")

    def badge(self, what: str, badge: dict[str, str] | None, attr: Any) -> None:
        """A completeness badge against a lone run's :class:`ClassAttribution`."""
        if badge is None:
            self.failures.append(f"{what}: no completeness badge")
            return
        self.number(f"{what} Σ", badge.get("total", badge.get("sum")), attr.total)
        self.number(
            f"{what} F(input) − F(baseline)", badge.get("diff"), attr.f_input - attr.f_baseline
        )
        self.number(f"{what} delta", badge.get("delta"), attr.delta)
        if "label" in badge:
            self.equal(f"{what} class", badge["label"], attr.label)

    def probs(self, what: str, shown: list[dict[str, str]], exp: Any, hook: str) -> None:
        """Class probabilities (``data-class``/``data-prob``, else the text ``"name 0.835"``)."""
        if len(shown) != len(exp.classes):
            self.failures.append(f"{what}: {len(shown)} probabilities shown")
            return
        for el in shown:
            name, _, number = el["text"].rpartition(" ")
            name = el.get("class", name)
            expected = float(exp.probs[exp.class_index(name)])
            self.number(f"{what} P({name})", el.get("prob"), expected, number, hook)


class Lone:
    """A lone explainer in the test process: each setting's explanation, computed once."""

    def __init__(self, explainer: Any, text: str, baselines: dict[str, Any]) -> None:
        self.explainer, self.text, self.baselines = explainer, text, baselines
        self.done: dict[tuple[int, str, str], Any] = {}

    def explain(
        self, n_steps: int, method: str = "gausslegendre", baseline: str = "default"
    ) -> Any:
        """The explanation of the text with these settings (the notebook's names)."""
        key = (n_steps, method, baseline)
        if key not in self.done:
            self.done[key] = self.explainer.explain(
                self.text, n_steps=n_steps, method=method, baseline=self.baselines[baseline]
            )
        return self.done[key]

    def target(self, **settings: Any) -> Any:
        """The predicted class's attribution (what every widget here shows by default)."""
        exp = self.explain(**settings)
        return exp.for_class(exp.predicted)


def snapshot(page: Page) -> dict[str, Any]:
    """What every widget on the page shows right now."""
    return page.evaluate(SNAPSHOT)  # type: ignore[no-any-return]


def finished(snap: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Every widget has drawn its final result or shows an error, and nothing computes."""
    steps = set(settings["CONVERGENCE_STEPS"])
    done = {
        "explorers": lambda w: w.get("final") == "true" and w["badge"] is not None,
        "compares": lambda w: len(w["rows"]) == 2 and all(r["badge"] for r in w["rows"]),
        "paths": lambda w: w["summary"] is not None,
        "convergences": lambda w: (
            {int(c["steps"]) for c in w["cells"]} == steps and len(w["cells"]) >= 5 * len(steps)
        ),
        "labs": lambda w: len(w["candidates"]) == 3 + settings["LAB_TOP_K"],
    }
    return not snap["busy"] and all(
        len(snap[kind]) == count and all(w["error"] or done[kind](w) for w in snap[kind])
        for kind, count in COUNTS.items()
    )


def test_six_widgets_on_one_learner_show_a_lone_runs_numbers(
    lab_server: Server, lab_root: Path, recorded: RecordedPage, demo_explainer: Any
) -> None:
    import ig_widgets as igw

    settings = notebook_settings()
    # a copy: JupyterLab's autosave must not write outputs into the repository's notebook
    shutil.copy(NOTEBOOK, lab_root / NOTEBOOK.name)
    page = recorded.page
    open_notebook(page, lab_server, "lab", NOTEBOOK.name)
    run_all_cells(page, timeout=300)
    snap = wait_stable(
        lambda: s if finished(s := snapshot(page), settings) else None,
        settle=3.0,
        timeout=WIDGETS_TIMEOUT,
        what="the six widgets' final results",
    )
    baselines = {"default": None, "[default]": None, "zero": igw.ZeroBaseline()}
    lone = Lone(demo_explainer, settings["TEXT"], baselines)
    audit = Audit()
    shown = [
        ("Explorer", snap["explorers"][0], check_explorer, settings["EXPLORER"]),
        ("Compare A", snap["compares"][0], check_compare, settings["COMPARE_A"]),
        ("Compare B", snap["compares"][1], check_compare, settings["COMPARE_B"]),
        ("PathView", snap["paths"][0], check_path, settings["PATH"]),
        ("ConvergenceView", snap["convergences"][0], check_convergence, {}),
        ("BaselineLab", snap["labs"][0], check_lab, {}),
    ]
    for name, widget, check, widget_settings in shown:
        if widget["error"]:
            audit.failures.append(f"{name} shows an error: {widget['error']}")
        else:
            check(audit, name, widget, lone, widget_settings)
    if audit.missing_hooks:
        print("numbers read from their text:", "; ".join(sorted(audit.missing_hooks)))
    print(f"{audit.checked} numbers compared with lone runs")
    if audit.failures:
        pytest.fail("the page differs from lone runs:\n" + "\n".join(audit.failures), False)


def check_explorer(
    audit: Audit, name: str, shown: dict[str, Any], lone: Lone, settings: dict
) -> None:
    """The Explorer's step count, rule, probabilities and badge."""
    audit.equal(f"{name} steps", int(shown["nSteps"]), settings["n_steps"])
    if "method" in shown:
        audit.equal(f"{name} method", shown["method"], settings["method"])
    exp = lone.explain(**settings)
    audit.probs(name, shown["probs"], exp, "data-class/data-prob on the Explorer's .igw-prob")
    audit.badge(f"{name} badge", shown["badge"], lone.target(**settings))


def check_compare(
    audit: Audit, name: str, shown: dict[str, Any], lone: Lone, settings: dict
) -> None:
    """Both rows of a Compare on the one Learner: probabilities and badge of the same run."""
    ran = f"{settings['n_steps']} steps · {settings['method']}"
    audit.equal(f"{name} status has {ran!r}", ran in (shown["status"] or ""), True)
    exp = lone.explain(**settings)
    for row in shown["rows"]:
        what = f"{name} row {row.get('model')}"
        audit.probs(what, row["probs"], exp, "data-class/data-prob on Compare's .igw-prob")
        audit.badge(f"{what} badge", row["badge"], lone.target(**settings))


def check_path(audit: Audit, name: str, shown: dict[str, Any], lone: Lone, settings: dict) -> None:
    """PathView's summary: F(baseline), F(input), Σ attributions and delta."""
    summary = shown["summary"]
    match = PATH_SUMMARY.search(summary["text"])
    parsed = match.groupdict() if match else {}
    attr = lone.target(**settings)
    expected = {
        "fBaseline": attr.f_baseline,
        "fInput": attr.f_input,
        "total": attr.total,
        "delta": attr.delta,
    }
    hook = "data-f-baseline/-f-input/-total/-delta on .igw-path-summary"
    for key, value in expected.items():
        audit.number(f"{name} {key}", summary.get(key), value, parsed.get(key), hook)
    if shown["badge"] is not None:
        audit.badge(f"{name} badge", shown["badge"], attr)


def check_convergence(
    audit: Audit, name: str, shown: dict[str, Any], lone: Lone, _settings: dict
) -> None:
    """Every cell of ConvergenceView's table: one rule at one step count."""
    for cell in shown["cells"]:
        method, n = cell["method"], int(cell["steps"])
        attr = lone.target(n_steps=n, method=method)
        what = f"{name} {method} × {n}"
        audit.number(f"{what} delta", cell["delta"], attr.delta)
        title = TITLE_TOTAL.search(cell.get("title") or "")
        hook = "data-total on .igw-convergence-table td"
        audit.number(f"{what} Σ", cell.get("total"), attr.total, title and title.group(1), hook)


def check_lab(audit: Audit, name: str, shown: dict[str, Any], lone: Lone, _settings: dict) -> None:
    """BaselineLab's rows of the default and zero baselines (shaped like the text)."""
    for row in shown["candidates"]:
        if row["kind"] not in ("default", "zero"):
            continue  # the optimised baseline and the discovered tokens are not a lone explain
        exp = lone.explain(1, baseline=row["kind"])
        probs = np.asarray(exp.f_baseline, dtype=np.float64)
        audit.equal(f"{name} classes", shown["classes"][1 : 1 + len(probs)], list(exp.classes))
        what = f"{name} {row['kind']}"
        distance = float(np.abs(probs - 1 / len(probs)).max())
        audit.number(f"{what} distance", row["distance"], distance)
        for cls, cell, p in zip(exp.classes, row["probs"], probs, strict=True):
            hook = "data-prob on .igw-lab-prob"
            audit.number(f"{what} P({cls})", cell.get("prob"), float(p), cell["text"], hook)
