"""The terminal entry point ``python -m ig_widgets explain …``, on a toy and the demo model."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.fastai_models import toy_learner
from support.paths import REPO

import ig_widgets
from ig_widgets.__main__ import color_mode, main, paint
from ig_widgets.engine.baselines import NEUTRAL, baseline_from_choice
from ig_widgets.models import demo

ROW = re.compile(r"^\s+(\d+)\s+(.*?)\s+([+-]\d+\.\d+(?:e[+-]\d+)?)\s+█*$")


def cli_default(model: Any, text: str, n_steps: int | str) -> ig_widgets.Explanation:
    """What ``explain TEXT --steps N`` computes: the [neutral] baseline at the text's length."""
    explainer = ig_widgets.Explainer(model)
    length = sum(not s for s in explainer.tokenize(text).special)
    baseline = baseline_from_choice(NEUTRAL, explainer.adapter, length=length)
    assert baseline is not None  # a token: the toy model has one near uniform
    return explainer.explain(text, n_steps=n_steps, baseline=baseline)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(out: str) -> list[tuple[int, str, float]]:
    found = [ROW.match(line) for line in out.splitlines()]
    return [(int(m[1]), m[2], float(m[3])) for m in found if m]


def assert_printed(found: list[tuple[int, str, float]], expected: np.ndarray) -> None:
    """Printed scores equal the engine's to the printed precision (4 decimals or 4 digits)."""
    atol = 5.1e-5 if np.abs(expected).max() >= 0.01 else 0.0
    np.testing.assert_allclose([s for *_, s in found], expected, rtol=6e-4, atol=atol)


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI's demo model replaced by the tests' small untrained fastai Learner."""
    learner = toy_learner()
    monkeypatch.setattr(demo, "load_demo_model", lambda name=None: learner)
    return learner


# ------------------------------------------------------------------- usage, no model needed
def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "explain" in out and "models" in out
    code, out, _ = run(["explain", "--help"], capsys)
    assert code == 0
    for option in ("--model", "--steps", "--method", "--baseline", "--target", "--html"):
        assert option in out
    assert "riemann_trapezoid" in out


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(*run([], capsys)[::2], "choose a command")
    assert_one_line_error(*run(["explain", "x", "--steps", "many"], capsys)[::2], "--steps")
    assert_one_line_error(*run(["explain", "x", "--method", "simpson"], capsys)[::2], "simpson")
    assert_one_line_error(*run(["explain", "x", "--top-k", "0"], capsys)[::2], "positive")
    assert_one_line_error(*run(["frobnicate"], capsys)[::2])


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["explain", text], capsys)
    assert_one_line_error(code, err, "empty")
    assert out == ""


def test_models_lists_the_bundled_models(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0 and out.split() == ig_widgets.demo_models()


def test_models_kind_lists_the_language_models_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models", "--kind", "lm"], capsys)
    assert code == 0 and out.split() == ig_widgets.demo_models("lm") == ["gpt_lm", "awd_lstm_lm"]
    code, out, _ = run(["models", "--kind", "classifier"], capsys)
    assert code == 0 and out.split() == ig_widgets.demo_models()[:2] == ["awd_lstm", "cnn"]


def test_explain_refuses_a_language_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["explain", "a fine film", "--model", "gpt_lm"], capsys)
    assert_one_line_error(code, err, "gpt_lm is a language model", "awd_lstm, cnn")
    assert out == ""


# ------------------------------------------------------------------------- on a toy model
def test_printed_attributions_are_the_engine_s(
    toy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "a gorgeous, moving film with a great cast"
    code, out, err = run(["explain", text, "--steps", "16", "--no-color"], capsys)
    assert code == 0, err
    exp = cli_default(toy, text, 16)
    assert f"prediction: {exp.predicted_class}" in out
    assert f"baseline {exp.baseline} →" in out
    for name, p in zip(exp.classes, exp.probs, strict=True):
        assert f"{name} {p:.3f}" in out
    assert f"why {exp.predicted_class}?" in out
    found = rows(out)
    assert [i for i, _, _ in found] == list(range(len(exp.words)))
    assert [w for _, w, _ in found] == [w.text for w in exp.words]
    assert_printed(found, exp.word_scores()[exp.predicted])
    assert "completeness: " in out and "Σ attributions" in out and "delta" in out
    assert "baseline" in out and "→" in out
    assert "\x1b" not in out


def test_levels_targets_contrast_and_top_k(toy: Any, capsys: pytest.CaptureFixture[str]) -> None:
    text = "The acting is wonderful and the story is moving."
    exp = cli_default(toy, text, 8)
    code, out, _ = run(["explain", text, "--steps", "8", "--level", "token"], capsys)
    assert code == 0 and [t for _, t, _ in rows(out)] == list(exp.tokens)
    code, out, _ = run(["explain", text, "--steps", "8", "--target", "negative"], capsys)
    assert code == 0 and "why negative?" in out
    assert_printed(rows(out), exp.word_scores()[0])
    code, out, _ = run(
        ["explain", text, "--steps", "8", "--target", "1", "--versus", "negative"], capsys
    )
    assert code == 0 and "why positive and not negative?" in out
    contrast = exp.contrast("positive", "negative").word_scores
    assert_printed(rows(out), contrast)
    code, out, _ = run(["explain", text, "--steps", "8", "--top-k", "3"], capsys)
    top = np.argsort(-np.abs(exp.word_scores()[exp.predicted]))[:3]
    assert code == 0 and [i for i, _, _ in rows(out)] == top.tolist()


def test_bad_input_reaches_the_user_as_one_line(
    toy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "a dull, boring film"
    assert_one_line_error(*run(["explain", text, "--baseline", "zzqx"], capsys)[::2], "zzqx")
    assert_one_line_error(*run(["explain", text, "--target", "neutral"], capsys)[::2], "neutral")
    assert_one_line_error(*run(["explain", text, "--steps", "0"], capsys)[::2], "n_steps")
    assert_one_line_error(
        *run(["explain", text, "--target", "positive", "--versus", "positive"], capsys)[::2]
    )


def test_html_report(toy: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.html"
    text = "I loved it!!!! <img src=x onerror=alert(1)>"
    code, out, _ = run(["explain", text, "--steps", "8", "--html", str(target)], capsys)
    assert code == 0 and f"HTML report: {target}" in out
    page = target.read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>")
    exp = ig_widgets.Explainer(toy).explain(text, n_steps=8)
    assert len(re.findall(r'class="igw-chip[" ]', page)) == len(exp.words)
    assert "<img" not in page and "<script" not in page.lower()
    code, _, err = run(["explain", text, "--html", str(tmp_path / "no" / "x.html")], capsys)
    assert code == 1 and err.startswith("error: cannot write") and err.count("\n") == 1


def test_text_from_stdin_and_controls_defused(
    toy: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("great \x1b[2J fun\n"))
    code, out, _ = run(["explain", "-", "--steps", "8"], capsys)
    assert code == 0 and "prediction:" in out
    assert "\x1b" not in out


# ---------------------------------------------------------------------------------- colour
class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "COLORTERM", "TERM"):
        monkeypatch.delenv(name, raising=False)
    assert color_mode(io.StringIO()) is None
    assert color_mode(_Tty()) == "256"
    assert color_mode(_Tty(), disabled=True) is None
    monkeypatch.setenv("COLORTERM", "truecolor")
    assert color_mode(_Tty()) == "truecolor"
    monkeypatch.setenv("NO_COLOR", "1")
    assert color_mode(_Tty()) is None


def test_paint() -> None:
    assert paint("film", 0.7, None) == "film"
    assert paint("film", 1.0, "truecolor") == "\x1b[48;2;26;150;65m\x1b[38;2;0;0;0mfilm\x1b[0m"
    assert paint("film", -1.0, "truecolor", "colorblind").startswith("\x1b[48;2;230;97;1m")
    # 256 colours: the 6x6x6 cube index of rgb(26, 150, 65) is 16 + 36*1 + 6*3 + 1
    assert paint("film", 1.0, "256").startswith("\x1b[48;5;71m")
    assert paint("film", 0.0, "256").startswith("\x1b[48;5;231m")  # white background


def test_coloured_report(
    toy: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ig_widgets.__main__ as cli

    monkeypatch.setattr(cli, "color_mode", lambda stream, disabled=False: "truecolor")
    code, out, _ = run(["explain", "a warm, funny and clever movie", "--steps", "8"], capsys)
    assert code == 0
    assert "\x1b[48;2;" in out and out.count("\x1b[0m") >= 2 * 6
    monkeypatch.setattr(sys, "stdin", io.StringIO("great \x1b[2J fun\n"))
    code, out, _ = run(["explain", "-", "--steps", "8"], capsys)
    assert code == 0 and "\x1b[2J" not in out and "\x1b[48;2;" in out


# ------------------------------------------------------------------ the bundled demo model
def test_demo_model_predicts_positive(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    code, out, err = run(
        ["explain", "a gorgeous, moving film", "--html", str(target), "--no-color"], capsys
    )
    assert code == 0, err
    assert "prediction: positive" in out
    assert "igw-chip" in target.read_text(encoding="utf-8")


@pytest.mark.slow
def test_module_entry_point_in_a_subprocess() -> None:
    command = [sys.executable, "-m", "ig_widgets", "explain", "a dull, tedious mess of a movie"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "prediction: negative" in done.stdout
    assert "\x1b" not in done.stdout  # not a TTY
    done = subprocess.run(
        [sys.executable, "-m", "ig_widgets", "explain", " "],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.startswith("error:") and done.stdout == ""


def test_default_run_needs_no_advice(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's default run: auto steps, a neutral baseline, no warning and no "try"."""
    text = "The cast is wonderful, but the script wastes them on a plot that goes nowhere."
    code, out, err = run(["explain", text, "--no-color"], capsys)
    assert code == 0, err
    assert "adaptive" in out and "✓ adds up" in out
    assert "⚠" not in out and "try --baseline" not in out and "Fix:" not in out


def test_warnings_say_what_they_mean_and_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """Too few points and the unknown-word baseline: each warning in words, with its option."""
    text = "The cast is wonderful, but the script wastes them on a plot that goes nowhere."
    code, out, err = run(
        ["explain", text, "--steps", "4", "--baseline", "[default]", "--no-color"], capsys
    )
    assert code == 0, err
    warnings = [line for line in out.splitlines() if line.startswith("⚠ The")]
    assert len(warnings) == 2
    assert "too few points" in warnings[0] and warnings[0].endswith("Fix: --steps auto")
    assert "confident prediction" in warnings[1]
    assert warnings[1].endswith("Fix: --baseline [neutral]")
    code, fixed, _ = run(["explain", text, "--steps", "auto", "--no-color"], capsys)
    assert code == 0 and "⚠" not in fixed  # both fixes together: nothing left to warn about


# ------------------------------------------------------------------ report (corpus runs)
@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    from support.toy_models import toy_bundle

    texts = ["a great film", "awful <b>plot</b>", "great fun", "not good at all"]
    paths = []
    for name, bundle in (("a", toy_bundle("gru")), ("b", toy_bundle("mean", seed=2))):
        path = tmp_path / f"run_{name}.parquet"
        explainer = ig_widgets.Explainer(bundle)
        explainer.explain_many(texts, n_steps=8, out=path, progress=False)
        paths.append(path)
    return paths[0], paths[1]


def _report_data(path: Path) -> dict[str, Any]:
    import json

    page = path.read_text(encoding="utf-8")
    found = re.search(r'id="igw-report-data">(.*?)</script>', page)
    assert found is not None
    return json.loads(found.group(1))


def test_report_of_one_run_and_of_two(
    two_runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two_runs
    out_one = tmp_path / "one.html"
    code, out, err = run(["report", str(a), "--out", str(out_one), "--min-count", "1"], capsys)
    assert code == 0, err
    assert out.startswith(f"report of 4 texts: {out_one} (") and out.endswith(" MB)\n")
    data = _report_data(out_one)
    assert data["kind"] == "run" and len(data["rows"]) == 4
    assert data["rows"][1]["text"] == "awful <b>plot</b>"
    out_two = tmp_path / "two.html"
    argv = ["report", str(a), str(b), "--out", str(out_two), "--names", "old", "new"]
    code, out, err = run([*argv, "--target", "negative", "--title", "old vs new"], capsys)
    assert code == 0, err
    data = _report_data(out_two)
    assert data["kind"] == "comparison" and data["names"] == ["old", "new"]
    assert data["chart"]["target"] == "negative" and data["title"] == "old vs new"
    comparison = ig_widgets.compare_corpora(
        ig_widgets.CorpusExplanation.load(a),
        ig_widgets.CorpusExplanation.load(b),
        target="negative",
        names=("old", "new"),
    )
    expected = comparison.texts()["score_change"].to_numpy()
    np.testing.assert_allclose([r["score_change"] for r in data["rows"]], expected, rtol=1e-3)


def test_report_errors_are_one_line(
    two_runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = two_runs
    page = tmp_path / "r.html"
    code, _, err = run(["report", str(tmp_path / "missing.parquet"), "--out", str(page)], capsys)
    assert_one_line_error(code, err, "no such file", "missing.parquet")
    text = tmp_path / "notes.parquet"
    text.write_text("not parquet")
    code, _, err = run(["report", str(text), "--out", str(page)], capsys)
    assert_one_line_error(code, err, "notes.parquet")
    code, _, err = run(["report", str(a), "--out", str(page), "--names", "x", "y"], capsys)
    assert_one_line_error(code, err, "--names", "second run")
    code, _, err = run(["report", str(a), "--out", str(page), "--target", "neutral"], capsys)
    assert_one_line_error(code, err, "neutral")
    code, _, err = run(["report", str(a)], capsys)
    assert_one_line_error(code, err, "--out")
    code, _, err = run(["report", str(a), "--out", str(tmp_path / "no" / "dir.html")], capsys)
    assert code == 1 and err.startswith("error: cannot write") and err.count("\n") == 1
    assert not page.exists()
