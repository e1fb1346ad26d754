"""The built wheel: Vue templates and model data inside, and the demo model works once installed."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from support.paths import REPO

pytestmark = pytest.mark.slow

MODEL_FILES = ("config.json", "vocab.json", "metrics.json", "weights.pt")
#: every bundled model's folder under ig_widgets/models/data and the files it must hold
PACKAGE_DATA = {
    "awd_lstm": MODEL_FILES,
    "cnn": MODEL_FILES,
    "awd_lstm_lm": MODEL_FILES,
    "gpt_lm": ("config.json", "tokenizer.json", "metrics.json", "weights.pt"),
}


def _run(*cmd: str | Path, cwd: Path, timeout: float = 300) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(
        sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--no-build-isolation",
        "--no-index", "-w", out, cwd=out,
    )  # fmt: skip
    wheels = list(out.glob("ig_widgets-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_vue_templates_and_model_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    js = REPO / "js"
    templates = sorted(p.relative_to(js).as_posix() for p in js.rglob("*.*"))
    assert "explorer.vue" in templates and "parts/live_status.html" in templates, templates
    missing = [t for t in templates if f"ig_widgets/js/{t}" not in names]
    assert not missing, f"Vue templates missing from the wheel: {missing}"
    data = [f"ig_widgets/models/data/{m}/{f}" for m, files in PACKAGE_DATA.items() for f in files]
    assert not [d for d in data if d not in names], sorted(names)
    assert "ig_widgets/views/report.html" in names  # the corpus report's page


def test_installed_wheel_loads_demo_model_and_predicts(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(py, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = _run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
    # torch, fastai, ... come from the development venv instead of being downloaded
    (Path(site.strip()) / "_igw_dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "cwd"
    work.mkdir()
    code = (
        "import ig_widgets\n"
        "print(ig_widgets.__file__)\n"
        "model, tokenizer = ig_widgets.load_demo_model('gpt_lm')\n"
        "print(type(model).__name__, type(ig_widgets.load_demo_model('awd_lstm_lm')).__name__)\n"
        "learn = ig_widgets.load_demo_model()\n"
        "print(learn.predict('a gorgeous, moving film')[0])\n"
    )
    lines = _run(py, "-c", code, cwd=work).strip().splitlines()
    location = Path(lines[0]).resolve()
    assert location.is_relative_to(venv.resolve()), location
    assert not location.is_relative_to(REPO), location
    assert lines[-2] == "GPT2LMHeadModel LMLearner"  # the language models ship too
    assert lines[-1] == "positive"
    # issue 2: the terminal entry point works from the installed wheel too, for both models
    report = _run(py, "-m", "ig_widgets", "explain", "a gorgeous, moving film", cwd=work)
    assert "prediction: positive" in report
    report = _run(
        py, "-m", "ig_widgets", "explain", "a gorgeous, moving film", "--model", "cnn", cwd=work
    )
    assert "prediction: positive" in report
