"""The engine on CUDA: every family gives the CPU's numbers there, with results back on the CPU.

Runs whenever ``torch.cuda.is_available()``; skipped with that reason otherwise. RNN models
need cuDNN off around the gradients (its RNN backward refuses eval mode): the fastai AWD-LSTM
and the toy GRU/LSTM check that it is.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from support.any_models import MaskedFeatures, tiny_bert_tagger
from support.toy_models import WordTokenizer, tiny_bert, toy_bundle

import ig_widgets as igw
from ig_widgets.models.bundle import TorchTextClassifier

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch.cuda.is_available() is False: no GPU here"
)

TEXT = "The movie was not very good, but the acting was great!"
#: GPU against CPU, float32 kernels that sum in other orders
ATOL = 1e-4


def _same_on_both(make, text: str = TEXT, **explain) -> igw.Explanation:
    """Explain on the CPU and on CUDA with models made alike; assert equal numbers."""
    cpu = make("cpu").explain(text, n_steps=32, **explain)
    gpu_explainer = make("cuda")
    gpu = gpu_explainer.explain(text, n_steps=32, **explain)
    for name in ("scores", "f_input", "f_baseline", "delta", "probs"):
        value = getattr(gpu, name)
        assert isinstance(value, np.ndarray)  # back on the CPU
        np.testing.assert_allclose(value, getattr(cpu, name), atol=ATOL, err_msg=name)
    assert gpu_explainer.adapter.device.type == "cuda"  # the model stays where it was
    return gpu


def _bundle_on(kind: str, device: str) -> igw.Explainer:
    bundle = toy_bundle(kind, n_classes=3, seed=3)
    bundle.module.to(device)
    return igw.Explainer(bundle)


@pytest.mark.parametrize("kind", ["mean", "gru", "lstm"])
def test_torch_models_on_cuda(kind: str) -> None:
    _same_on_both(lambda device: _bundle_on(kind, device), baseline="<unk>")
    _same_on_both(lambda device: _bundle_on(kind, device), baseline=igw.ZeroBaseline())


def test_forward_kwargs_given_on_the_cpu_follow_the_model() -> None:
    n = len(WordTokenizer().encode(TEXT)[0])
    kwargs = {"mask": torch.ones(1, n), "features": torch.tensor([[0.5, -1.0, 2.0, 0.1]])}

    def make(device: str) -> igw.Explainer:
        model = MaskedFeatures().eval().to(device)
        return igw.Explainer(
            model, tokenizer=WordTokenizer(), embedding="emb", classes=("a", "b", "c"),
            forward_kwargs=kwargs,
        )  # fmt: skip

    _same_on_both(make)


def test_hugging_face_sequence_and_token_models_on_cuda() -> None:
    bert, tokenizer = tiny_bert()

    def make(device: str) -> igw.Explainer:
        return igw.Explainer(copy.deepcopy(bert).to(device), tokenizer=tokenizer)

    _same_on_both(make)
    tagger, tagger_tokenizer = tiny_bert_tagger()

    def make_tagger(device: str) -> igw.Explainer:
        return igw.Explainer(copy.deepcopy(tagger).to(device), tokenizer=tagger_tokenizer)

    exp = _same_on_both(make_tagger, "The film is fun.", target=(2, None))
    assert exp.position == 2


def test_uncertain_baseline_optimises_through_a_gru_on_cuda() -> None:
    """Its optimisation takes gradients through the cuDNN GRU too."""
    explainer = _bundle_on("gru", "cuda")
    exp = explainer.explain(TEXT, n_steps=16, baseline=igw.UncertainBaseline(max_iter=50))
    assert np.isfinite(exp.scores).all()


def test_fastai_awd_lstm_on_cuda() -> None:
    """cuDNN's LSTM backward refuses eval mode: the engine switches cuDNN off around it."""
    from support.fastai_models import build_toy_learner

    def make(device: str) -> igw.Explainer:
        learn = build_toy_learner(seed=1)
        learn.model.to(device)
        return igw.Explainer(learn)

    _same_on_both(make, "a gorgeous, moving film with a boring plot")
    assert torch.backends.cudnn.enabled  # restored after the computation


def test_training_flags_and_devices_left_alone() -> None:
    bundle: TorchTextClassifier = toy_bundle("lstm", seed=3)
    bundle.module.to("cuda").train()
    before = {n: m.training for n, m in bundle.module.named_modules()}
    igw.Explainer(bundle).explain(TEXT, n_steps=8)
    assert {n: m.training for n, m in bundle.module.named_modules()} == before
    assert all(p.device.type == "cuda" for p in bundle.module.parameters())
