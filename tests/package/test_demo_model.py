"""The bundled AWD-LSTM demo model: offline rebuild, weights-only data, size, accuracy."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import ModuleType

import pytest
import torch
from support.paths import REPO, SHARED_DATA

from ig_widgets.models import awd_lstm

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "imdb_sample.csv").is_file()
    or not (SHARED_DATA / "rt-polarity.pos").is_file(),
    reason=f"shared data not found at {SHARED_DATA} (set IGW_SHARED_DATA or put ../shared/data "
    "beside the repository)",
)
CLASSES = ["negative", "positive"]


@pytest.fixture(scope="module")
def learn():
    return awd_lstm.load()


@pytest.fixture(scope="module")
def config() -> dict:
    return awd_lstm.read_config()


@pytest.fixture(scope="module")
def metrics() -> dict:
    return awd_lstm.read_metrics()


def _training_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "train_demo_model", REPO / "scripts" / "train_demo_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _accuracy(learn, texts: list[str], labels: list[str], bs: int) -> float:
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(texts, bs=bs))
    predicted = [CLASSES[i] for i in probs.argmax(1).tolist()]
    return sum(p == t for p, t in zip(predicted, labels, strict=True)) / len(labels)


def test_learner_classes_vocab_and_mode(learn, config):
    from fastai.learner import Learner

    assert isinstance(learn, Learner)
    assert list(learn.dls.vocab[1]) == CLASSES == config["classes"]
    shipped = json.loads((awd_lstm.DATA_DIR / config["vocab"]).read_text(encoding="utf-8"))
    assert list(learn.dls.vocab[0]) == shipped
    assert learn.model[0].module.encoder.weight.shape[0] == len(shipped)
    assert not learn.model.training


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a gorgeous, moving film", "positive"),
        ("a wonderful, beautifully acted and deeply moving film", "positive"),
        ("a dull, tedious mess with no laughs", "negative"),
        ("boring, stupid and badly acted", "negative"),
    ],
)
def test_predicts_clear_examples(learn, text, expected):
    label, index, probs = learn.predict(text)
    assert label == expected
    assert CLASSES[int(index)] == expected
    assert probs.shape == (2,)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(probs[int(index)]) > 0.5


def test_predict_prints_nothing(learn, capsys):
    learn.predict("an ordinary film")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_weights_are_a_weights_only_tensor_dict(learn, config):
    state = torch.load(awd_lstm.DATA_DIR / config["weights"], weights_only=True)
    assert isinstance(state, dict)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert {v.dtype for v in state.values() if v.is_floating_point()} <= {
        torch.float16,
        torch.float32,
    }
    model_state = learn.model.state_dict()
    assert set(state) == set(model_state)
    for name, value in state.items():
        assert model_state[name].dtype == torch.float32 or not value.is_floating_point()
        torch.testing.assert_close(model_state[name], value.to(model_state[name].dtype))


def test_package_data_is_small():
    files = [p for p in awd_lstm.DATA_DIR.rglob("*") if p.is_file()]
    assert {"config.json", "vocab.json", "metrics.json"} <= {p.name for p in files}
    total = sum(p.stat().st_size for p in files)
    assert 100_000 < total < 15 * 2**20


def test_metrics_record_both_accuracies(metrics, config):
    acc = metrics["accuracy"]
    assert acc["rt_polarity_test"] >= 0.78
    assert acc["imdb_sample_valid"] >= 0.78
    assert metrics["dataset_sizes"]["imdb_valid"] == 200
    assert metrics["seed"] == metrics["settings"]["seed"]
    assert metrics["n_parameters"] > 1_000_000
    assert config["awd_lstm_config"]["emb_sz"] == metrics["settings"]["emb_sz"]


def test_model_card_reports_the_measured_figures(metrics):
    card = (REPO / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert f"**{metrics['accuracy']['rt_polarity_test']:.3f}**" in card
    assert f"**{metrics['accuracy']['imdb_sample_valid']:.3f}**" in card
    assert f"{metrics['n_parameters']:,}" in card
    assert f"{metrics['vocab_size']:,}" in card
    assert f"{metrics['weights_bytes'] / 1e6:.2f} MB" in card


def test_loads_from_another_folder_and_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    other = awd_lstm.load(awd_lstm.DATA_DIR)
    assert list(other.dls.vocab[1]) == CLASSES
    assert not any(tmp_path.iterdir()), "loading must not write files"


def test_import_does_not_import_fastai():
    code = (
        "import sys, ig_widgets, ig_widgets.models.demo, ig_widgets.models.awd_lstm\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'fastai'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


def test_demo_loader_maps_to_this_learner():
    import ig_widgets

    assert ig_widgets.demo_models()[0] == "awd_lstm"


@needs_shared
@pytest.mark.shared_data
@pytest.mark.slow
def test_accuracy_on_imdb_valid_reviews(learn, metrics):
    import pandas as pd

    imdb = pd.read_csv(SHARED_DATA / "imdb_sample.csv")
    valid = imdb[imdb["is_valid"].astype(str).str.lower() == "true"]
    assert len(valid) == 200
    acc = _accuracy(learn, valid["text"].tolist(), valid["label"].tolist(), bs=16)
    assert acc >= 0.78
    assert acc == pytest.approx(metrics["accuracy"]["imdb_sample_valid"], abs=0.011)


@needs_shared
@pytest.mark.shared_data
def test_accuracy_on_held_out_rt_polarity_split(learn, metrics):
    settings = metrics["settings"]
    splits = _training_script().load_splits(
        SHARED_DATA, settings["seed"], settings["test_pct"], settings["valid_pct"]
    )
    test = splits["rt_test"]
    assert len(test) == metrics["dataset_sizes"]["rt_test"]
    again = _training_script().load_splits(
        SHARED_DATA, settings["seed"], settings["test_pct"], settings["valid_pct"]
    )
    assert again["rt_test"].equals(test), "the held-out split must be deterministic"
    acc = _accuracy(learn, test["text"].tolist(), test["label"].tolist(), bs=128)
    assert acc >= 0.78
    assert acc == pytest.approx(metrics["accuracy"]["rt_polarity_test"], abs=0.006)
