"""The warnings' wording, written once: what a failed check or a far baseline means, and its fix."""

from __future__ import annotations

from test_selection import attribution, make

from ig_widgets.views.selection import (
    FIXES,
    badge,
    baseline_meaning,
    cli_warnings,
    completeness,
    steps_meaning,
)


def test_a_check_that_passes_says_nothing_and_offers_no_fix() -> None:
    passing = attribution(0.3, 0.3)
    assert steps_meaning(completeness(passing)) == ""
    shown = badge(passing)
    assert shown["meaning"] == "" and shown["fix"] == ""


def test_a_failed_check_says_what_is_missing_and_offers_auto_steps() -> None:
    failing = attribution(0.25, 0.3)
    meaning = steps_meaning(completeness(failing))
    assert "add up to +0.25" in meaning and "moved by +0.30" in meaning
    assert "too few points" in meaning
    shown = badge(failing)
    assert shown["meaning"] == meaning and shown["fix"] == FIXES["steps"]["button"]


def test_a_far_baseline_says_how_much_is_left_to_explain() -> None:
    near = make(probs=(0.3, 0.7), f_baseline=(0.5, 0.5))
    assert baseline_meaning(near) == ""
    far = make(probs=(0.3, 0.7), f_baseline=(0.85, 0.15))
    meaning = baseline_meaning(far)
    assert "negative 0.85" in meaning and "undecided is 0.50 per class" in meaning
    assert f"positive {far.f_input[1] - far.f_baseline[1]:+.2f}" in meaning


def test_the_terminal_lines_name_the_option_that_fixes_each() -> None:
    far = make(probs=(0.3, 0.7), f_baseline=(0.85, 0.15))
    lines = cli_warnings(attribution(0.25, 0.3), far)
    assert len(lines) == 2 and all(line.startswith("⚠ ") for line in lines)
    assert lines[0].endswith("Fix: --steps auto")
    assert lines[1].endswith("Fix: --baseline [neutral]")
    assert cli_warnings(attribution(0.3, 0.3), make()) == []
