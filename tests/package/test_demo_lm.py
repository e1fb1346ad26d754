"""The bundled demo language models: offline rebuild, weights-only data, determinism, perplexity."""

from __future__ import annotations

import importlib.util
import json
import math
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from support.paths import REPO, SHARED_DATA

import ig_widgets as igw
from ig_widgets.models import awd_lstm, awd_lstm_lm, gpt_lm
from ig_widgets.models.perplexity import PerplexityResult, perplexity, plain_text, sequence_nll

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "rt-polarity.pos").is_file(),
    reason=f"shared data not found at {SHARED_DATA} (set IGW_SHARED_DATA or put ../shared/data "
    "beside the repository)",
)
#: stated bounds on the held-out rt-polarity slice (the first 200 test sentences); the
#: measured values are in each model's metrics.json and MODEL_CARD.md
GPT_MAX_PER_TOKEN = 300.0
AWD_MAX_PER_TOKEN = 260.0
SLICE = "rt_polarity_test_first_200"
TEXT = "a gorgeous, moving film about friendship"


@pytest.fixture(scope="module")
def gpt() -> gpt_lm.CausalLM:
    return igw.load_demo_model("gpt_lm")


@pytest.fixture(scope="module")
def lm():
    return igw.load_demo_model("awd_lstm_lm")


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a demo language model tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _held_out_slice() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "train_demo_model", REPO / "scripts" / "train_demo_model.py"
    )
    assert spec is not None and spec.loader is not None
    script: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    settings = awd_lstm.read_metrics()["settings"]  # the classifiers' split: seed and fractions
    splits = script.load_splits(
        SHARED_DATA, settings["seed"], settings["test_pct"], settings["valid_pct"]
    )
    return splits["rt_test"]["text"].tolist()[:200]


# ---------------------------------------------------------------------------- listing
def test_demo_models_lists_every_model_by_default_classifiers_first():
    assert igw.demo_models() == ["awd_lstm", "cnn", "gpt_lm", "awd_lstm_lm"]
    assert igw.demo_models("classifier") == ["awd_lstm", "cnn"]
    assert igw.demo_models("lm") == ["gpt_lm", "awd_lstm_lm"]
    assert igw.demo_models("all") == ["awd_lstm", "cnn", "gpt_lm", "awd_lstm_lm"]
    with pytest.raises(ValueError, match="kind"):
        igw.demo_models("lms")
    with pytest.raises(ValueError, match="awd_lstm_lm"):
        igw.load_demo_model("gpt3")


def test_load_demo_model_returns_the_documented_types(gpt, lm):
    from fastai.text.learner import LMLearner
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    model, tokenizer = gpt  # a NamedTuple: unpacks like a tuple
    assert isinstance(gpt, gpt_lm.CausalLM) and gpt.model is model
    assert isinstance(model, GPT2LMHeadModel) and not model.training
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert isinstance(lm, LMLearner) and not lm.model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())


# --------------------------------------------------------------------- offline, files
def test_both_load_offline_without_writing(monkeypatch, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.chdir(tmp_path)
    model, tokenizer = gpt_lm.load()
    learn = awd_lstm_lm.load()
    assert model(**tokenizer(TEXT, return_tensors="pt")).logits.shape[-1] == len(tokenizer)
    assert awd_lstm_lm.logits(learn, torch.tensor([[2, 10]])).shape == (1, 2, len(learn.dls.vocab))
    assert not any(tmp_path.iterdir()), "loading must not write files"


@pytest.mark.parametrize("name", ["gpt_lm", "awd_lstm_lm"])
def test_weights_are_a_weights_only_float16_tensor_dict(name, gpt, lm):
    module = gpt.model if name == "gpt_lm" else lm.model
    folder = gpt_lm.DATA_DIR if name == "gpt_lm" else awd_lstm_lm.DATA_DIR
    state = torch.load(folder / "weights.pt", weights_only=True)
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    model_state = module.state_dict()
    assert set(state) == set(model_state)
    for key, value in state.items():
        torch.testing.assert_close(model_state[key], value.to(model_state[key].dtype))


@pytest.mark.parametrize(
    ("folder", "files"),
    [
        (gpt_lm.DATA_DIR, {"config.json", "tokenizer.json", "weights.pt", "metrics.json"}),
        (awd_lstm_lm.DATA_DIR, {"config.json", "vocab.json", "weights.pt", "metrics.json"}),
    ],
)
def test_package_data_is_small(folder: Path, files: set[str]):
    shipped = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    assert set(shipped) == files
    assert 1_000_000 < sum(shipped.values()) < 10 * 2**20


def test_gpt_without_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(ImportError, match=r'pip install "ig-widgets\[transformers\]"'):
        gpt_lm.load()


def test_importing_the_loaders_imports_neither_transformers_nor_fastai():
    code = (
        "import sys, ig_widgets.models.demo, ig_widgets.models.gpt_lm, "
        "ig_widgets.models.awd_lstm_lm\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'transformers', 'fastai'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ GPT-2-style model
def test_gpt_config_and_tokenizer_agree(gpt):
    model, tokenizer = gpt
    config = model.config
    assert config.n_layer == 4 and config.n_positions == 128
    assert 2_000_000 < sum(p.numel() for p in model.parameters()) < 5_000_000
    assert len(tokenizer) == config.vocab_size == model.get_input_embeddings().num_embeddings
    assert tokenizer.bos_token_id == tokenizer.eos_token_id == config.bos_token_id
    assert tokenizer.pad_token_id == config.pad_token_id != config.eos_token_id
    assert tokenizer.bos_token == "<|endoftext|>" and tokenizer.pad_token == "<pad>"
    assert tokenizer.model_max_length == config.n_positions


def test_gpt_tokenizer_starts_with_bos_and_keeps_spans(gpt):
    _, tokenizer = gpt
    text = "A Gorgeous, moving film"
    enc = tokenizer(text, return_offsets_mapping=True)
    assert enc["input_ids"][0] == tokenizer.bos_token_id
    assert enc["offset_mapping"][0] == (0, 0)
    pieces = [text[s:e] for s, e in enc["offset_mapping"][1:]]
    assert "".join(pieces) == text.replace(" ", "")  # every character once, no spaces
    assert tokenizer.decode(enc["input_ids"], skip_special_tokens=True).strip() == text.lower()


def test_gpt_forward_is_deterministic_and_padding_free(gpt):
    model, tokenizer = gpt
    one = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        first = model(**one).logits
        again = model(**one).logits
        batch = tokenizer([TEXT, "a dull film"], return_tensors="pt", padding=True)
        batched = model(**batch).logits
    assert first.shape == (1, one["input_ids"].shape[1], model.config.vocab_size)
    assert torch.equal(first, again)
    torch.testing.assert_close(batched[0], first[0], atol=1e-5, rtol=1e-5)


def test_gpt_next_tokens_match_the_training_run(gpt):
    model, tokenizer = gpt
    ((prompt, expected),) = gpt_lm.read_metrics()["sample_next_tokens"].items()
    with torch.no_grad():
        last = model(**tokenizer(prompt, return_tensors="pt")).logits[0, -1]
    assert [tokenizer.decode([i]) for i in last.topk(5).indices.tolist()] == expected


# ------------------------------------------------------------------- AWD-LSTM LM
def test_awd_lm_shares_the_classifier_vocabulary_and_encoder_sizes(lm):
    clas = awd_lstm.read_config()
    config = awd_lstm_lm.read_config()
    shipped = json.loads((awd_lstm.DATA_DIR / clas["vocab"]).read_text(encoding="utf-8"))
    assert list(lm.dls.vocab) == shipped
    for key in ("emb_sz", "n_hid", "n_layers"):
        assert config["awd_lstm_config"][key] == clas["awd_lstm_config"][key]
    # the classifier could be fine-tuned from it: its encoder loads into the classifier's
    classifier = awd_lstm.load()
    classifier.model[0].module.load_state_dict(lm.model[0].state_dict())
    decoder = lm.model[1].decoder
    assert decoder.weight is lm.model[0].encoder.weight  # tied, as in fastai


def test_awd_lm_logits_start_from_a_fresh_state(lm):
    ids = torch.tensor([awd_lstm_lm.encode(lm, TEXT)])
    other = torch.tensor([awd_lstm_lm.encode(lm, "a dull film")])
    with torch.no_grad():
        first = awd_lstm_lm.logits(lm, ids)
        awd_lstm_lm.logits(lm, other)
        again = awd_lstm_lm.logits(lm, ids)
        lm.model(other)  # no reset: the hidden state of "a dull film" carries over
        stale = lm.model(ids)[0]
    assert first.shape == (1, ids.shape[1], len(lm.dls.vocab))
    assert torch.equal(first, again)
    assert not torch.allclose(stale, first), "fastai's AWD-LSTM keeps its state between calls"
    lm.model.reset()


def test_awd_lm_encode_and_continue(lm):
    ids = awd_lstm_lm.encode(lm, TEXT)
    vocab = lm.dls.vocab
    assert vocab[ids[0]] == vocab[ids[-1]] == "xxbos"
    assert [vocab[i] for i in ids[1:-1]][:2] == ["a", "gorgeous"]
    generated = lm.predict("the movie is", n_words=3, no_bar=True)
    assert generated.startswith("the movie is") and len(generated.split()) >= 4


# ------------------------------------------------------------------------ perplexity
def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    vocab = 50

    def uniform(ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*ids.shape, vocab)

    result = perplexity(uniform, lambda t: [0, *range(1, len(t.split()) + 1), 0], ["a b c"], 3)
    expected = PerplexityResult(nll=4 * math.log(vocab), tokens=4, words=4, texts=1)
    assert (result.tokens, result.words, result.texts) == (4, 4, 1)
    assert result.nll == pytest.approx(expected.nll)
    assert result.per_token == pytest.approx(vocab) == result.per_word
    # windows overlap by one id: every id after the first is predicted exactly once
    assert sequence_nll(uniform, list(range(10)), window=4) == pytest.approx(9 * result.nll / 4)
    assert plain_text("good<br /><br />fun   film ") == "good fun film"


def test_metrics_and_model_card_report_the_measured_perplexity():
    card = (REPO / "MODEL_CARD.md").read_text(encoding="utf-8")
    for metrics in (gpt_lm.read_metrics(), awd_lstm_lm.read_metrics()):
        test = metrics["perplexity"]["rt_polarity_test"]
        assert test["texts"] == metrics["dataset_sizes"]["rt_test"] == 1066
        assert metrics["perplexity"]["imdb_sample_valid"]["texts"] == 200
        for split in ("rt_polarity_test", "imdb_sample_valid"):
            for unit in ("per_token", "per_word"):
                assert f"**{metrics['perplexity'][split][unit]:.1f}**" in card, (split, unit)
        assert f"{metrics['n_parameters']:,}" in card
        assert f"{metrics['weights_bytes'] / 1e6:.2f} MB" in card


@needs_shared
@pytest.mark.shared_data
def test_held_out_perplexity_recomputed(gpt, lm):
    texts = _held_out_slice()
    model, tokenizer = gpt
    mine = perplexity(
        gpt_lm.logits_fn(model), lambda t: gpt_lm.encode(tokenizer, t), texts, window=128
    )
    theirs = awd_lstm_lm.perplexity_of(lm, texts)
    assert mine.texts == theirs.texts == 200 and mine.words == theirs.words
    assert mine.per_token < GPT_MAX_PER_TOKEN
    assert theirs.per_token < AWD_MAX_PER_TOKEN
    for result, metrics in ((mine, gpt_lm.read_metrics()), (theirs, awd_lstm_lm.read_metrics())):
        recorded = metrics["perplexity"][SLICE]
        assert result.tokens == recorded["tokens"]
        assert result.per_token == pytest.approx(recorded["per_token"], rel=1e-3)
