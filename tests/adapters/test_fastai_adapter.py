"""The fastai AWD-LSTM adapter: exact tokens and spans, single-chunk forward, state restored."""

from __future__ import annotations

import contextlib
import csv
import subprocess
import sys

import pytest
import torch
from support.fastai_models import LONG_REVIEW, toy_learner
from support.paths import REPO, SHARED_DATA

from ig_widgets.engine.adapters import adapter_for
from ig_widgets.engine.adapters.fastai import FastaiAdapter

torch.set_num_threads(1)


VARIED = [
    "a gorgeous, moving film",
    "I LOVED it!!!! Best film of the YEAR.",
    "Don't miss it... I can't believe it's not better known",
    "great.<br /><br />The cast is superb<br />and the music too",
    "Caf\u00e9 na\u00efve \u00c9COLE \u0130stanbul \U0001f600 \u2014 \u201cquoted\u201d",
    "Sooooo good good good good. Great Great Great",
    "  leading and trailing spaces, tabs\tand\nnewlines  ",
    "&amp; &quot;entities&quot; and caf&eacute; a/b #tag 8/10",
    "WOW!!! what a MESS...... truly AWFUL",
    'non\u00a0breaking \u00a0 spaces, \\n\\nescaped \\"quotes\\" and <unk> words',
    LONG_REVIEW,
]


@pytest.fixture
def adapter(learn) -> FastaiAdapter:
    return FastaiAdapter(learn)


def _test_dl_ids(learn, text: str) -> list[int]:
    return learn.dls.test_dl([text]).one_batch()[0][0].tolist()


@contextlib.contextmanager
def one_chunk(model: torch.nn.Module, n: int | None):
    """The Learner's model in eval mode with ``bptt`` and ``max_len`` ≥ ``n`` (None: as is)."""
    encoder = model[0]
    saved = encoder.bptt, encoder.max_len, model.training
    if n is not None:
        encoder.bptt = encoder.max_len = n
    model.eval()
    try:
        yield model
    finally:
        encoder.bptt, encoder.max_len = saved[:2]
        model.train(saved[2])


def _reference_probs(learn, ids: torch.Tensor) -> torch.Tensor:
    """Softmax of the Learner's own forward, one chunk (bptt, max_len ≥ n)."""
    with one_chunk(learn.model, ids.numel()) as model, torch.no_grad():
        return model(ids[None])[0].softmax(-1)[0]


# --- detection, metadata ----------------------------------------------------------------


def test_accepts_learner_only():
    learn = toy_learner()
    assert FastaiAdapter.accepts(learn)
    assert not FastaiAdapter.accepts(learn.model)
    assert not FastaiAdapter.accepts(torch.nn.Linear(3, 2))
    assert not FastaiAdapter.accepts("a gorgeous film")
    assert isinstance(adapter_for(learn), FastaiAdapter)


def test_metadata(learn):
    a = FastaiAdapter(learn)
    assert a.classes == tuple(str(c) for c in learn.dls.vocab[1])
    assert list(a.vocab) == list(learn.dls.vocab[0])
    assert a.default_baseline_token == "xxunk"
    assert a.token_id("xxunk") == list(learn.dls.vocab[0]).index("xxunk")
    assert a.name == "AWD-LSTM"
    assert a.max_tokens is None


def test_bad_arguments():
    learn = toy_learner()
    with pytest.raises(ValueError, match="output"):
        FastaiAdapter(learn, output="softmax")
    with pytest.raises(TypeError, match="tokenizer"):
        FastaiAdapter(learn, tokenizer=str)
    with pytest.raises(TypeError, match="AWD-LSTM"):
        FastaiAdapter(torch.nn.Linear(3, 2))


def test_importing_the_adapter_does_not_import_fastai():
    code = (
        "import sys, torch\n"
        "import ig_widgets.engine.adapters.fastai as f\n"
        "from ig_widgets.engine.adapters import adapter_for\n"
        "try:\n    adapter_for(torch.nn.Linear(2, 2))\nexcept TypeError:\n    pass\n"
        "assert not f.FastaiAdapter.accepts(torch.nn.Linear(2, 2))\n"
        "assert 'fastai' not in sys.modules, 'fastai was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", VARIED, ids=range(len(VARIED)))
def test_ids_equal_test_dl(adapter, learn, text):
    tok = adapter.tokenize(text)
    assert list(tok.ids) == _test_dl_ids(learn, text)
    assert tok.tokens == tuple(adapter.vocab[i] for i in tok.ids)
    assert tok.tokens[0] == "xxbos" and tok.keep == (True,) + (False,) * (len(tok) - 1)


@pytest.mark.parametrize("text", VARIED, ids=range(len(VARIED)))
def test_spans_slice_the_surface(adapter, text):
    tok = adapter.tokenize(text)
    words, _ = adapter.raw_tokens(text)
    end = 0
    for word, span, special in zip(words, tok.spans, tok.special, strict=True):
        assert special == (span is None), (word, span)
        if span is None:
            continue
        start, stop = span
        assert end <= start < stop <= len(text), (word, span)
        end = stop
        surface = text[start:stop]
        if word.isspace():
            blank = surface.replace("<br />", "\n").replace("\\n", "\n")
            assert blank.isspace(), (word, surface)
        elif surface.lower() != word:
            # only the documented rewrites may differ: repeats, '...', HTML entities/markup
            runs = surface.lower().split()
            repeated = set(runs) == {word} or set(surface.lower()) == {word}
            rewritten = word in ("\u2026", "xxunk") or any(c in surface for c in "&;\\")
            assert repeated or rewritten, (word, surface)


def test_markers_and_rewrites_get_the_right_spans(adapter):
    text = "I LOVED it!!!! <br /><br />Sooooo good good good. Great Great Great..."
    tok = adapter.tokenize(text)
    words, _ = adapter.raw_tokens(text)
    by_word = {}
    for w, span in zip(words, tok.spans, strict=True):
        by_word.setdefault(w, []).append(None if span is None else text[span[0] : span[1]])
    assert by_word["xxup"] == [None] and by_word["loved"] == ["LOVED"]
    assert by_word["xxrep"] == [None, None]
    assert by_word["!"] == ["!!!!"]
    assert by_word["\n\n"] == ["<br /><br />"]
    assert by_word["o"] == ["ooooo"]
    assert by_word["good"] == ["good good good"]
    assert by_word["great"] == ["Great Great Great"]
    assert by_word["\u2026"] == ["..."]
    special = dict(zip(words, tok.special, strict=True))
    assert special["xxbos"] and special["xxmaj"] and special["xxwrep"] and not special["good"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "<br /><br /> "])
def test_empty_text_is_refused(adapter, text):
    with pytest.raises(ValueError, match="empty"):
        adapter.tokenize(text)


@pytest.mark.shared_data
def test_imdb_reviews_tokenise_exactly(adapter, learn):
    path = SHARED_DATA / "imdb_sample.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data beside the project)")
    with path.open(newline="", encoding="utf-8") as f:
        reviews = [row["text"] for row in csv.DictReader(f)][:12]
    for text in reviews:
        tok = adapter.tokenize(text)
        assert list(tok.ids) == _test_dl_ids(learn, text)
        words, _ = adapter.raw_tokens(text)
        missing = [
            w
            for w, s, sp in zip(words, tok.spans, tok.special, strict=True)
            if s is None and not sp
        ]
        assert not missing, missing


# --- forward ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [VARIED[1], VARIED[5], LONG_REVIEW], ids=["short", "rep", "long"])
def test_forward_embeds_equals_the_learner(adapter, learn, text):
    ids = torch.tensor(adapter.tokenize(text).ids)
    with adapter.prepared(), torch.no_grad():
        probs = adapter.forward_embeds(adapter.embed(ids[None]), ids)[0]
    torch.testing.assert_close(probs, _reference_probs(learn, ids), atol=1e-6, rtol=0)
    if len(ids) <= 72:  # short inputs: also what learn.predict itself returns
        torch.testing.assert_close(probs, learn.predict(text)[2], atol=1e-6, rtol=0)


def test_logits_output_and_batch_rows_are_independent(learn):
    probs_adapter = FastaiAdapter(learn)
    logits_adapter = FastaiAdapter(learn, output="logits")
    ids = torch.tensor(probs_adapter.tokenize(LONG_REVIEW).ids)
    emb = probs_adapter.embed(ids[None])
    batch = torch.cat([emb, emb * 0.5, torch.zeros_like(emb)])
    with probs_adapter.prepared(), torch.no_grad():
        logits = logits_adapter.forward_embeds(batch, ids)
        probs = probs_adapter.forward_embeds(batch, ids)
        singles = torch.cat([probs_adapter.forward_embeds(row[None], ids) for row in batch])
    torch.testing.assert_close(probs, logits.softmax(-1), atol=1e-7, rtol=0)
    torch.testing.assert_close(probs, singles, atol=1e-6, rtol=0)
    assert probs.shape == (3, len(probs_adapter.classes))


def _embedding_grads(model: torch.nn.Module, ids: torch.Tensor, target: int) -> torch.Tensor:
    """d softmax(model(ids))[target] / d encoder_dp output, through the model's own forward.

    ``encoder_dp`` runs once per ``bptt`` chunk: the chunks' gradients are concatenated.
    """
    chunks: list[torch.Tensor] = []

    def hook(module, inputs, output):
        chunks.append(output.detach().requires_grad_(True))
        return chunks[-1]

    handle = model[0].module.encoder_dp.register_forward_hook(hook)
    try:
        prob = model(ids[None])[0].softmax(-1)[0, target]
        grads = torch.autograd.grad(prob, chunks)
    finally:
        handle.remove()
    return torch.cat(grads, dim=1)[0]


def test_long_input_gradients_are_exact_and_bptt_chunking_is_not(adapter, learn):
    ids = torch.tensor(adapter.tokenize(LONG_REVIEW).ids)
    assert len(ids) >= 300
    target = 1
    with adapter.prepared():
        emb = adapter.embed(ids[None]).detach().requires_grad_(True)
        prob = adapter.forward_embeds(emb, ids)[0, target]
        (ours,) = torch.autograd.grad(prob, emb)
    with one_chunk(learn.model, len(ids)) as model:
        reference = _embedding_grads(model, ids, target)
    torch.testing.assert_close(ours[0], reference, atol=1e-7, rtol=1e-5)

    with one_chunk(learn.model, None) as model:  # the Learner's default bptt=72: the trap
        bptt = model[0].bptt
        assert bptt < len(ids)
        trap = _embedding_grads(model, ids, target)
    first = slice(0, bptt)
    rel = (trap[first] - reference[first]).norm() / reference[first].norm()
    assert rel > 0.01, f"chunked gradients should differ, relative error {rel:.2e}"


# --- state ------------------------------------------------------------------------------


def _snapshot(learn) -> dict:
    model = learn.model
    awd = model[0].module
    return {
        "modes": [m.training for m in model.modules()],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "grad_flags": [p.requires_grad for p in model.parameters()],
        "bptt": (model[0].bptt, model[0].max_len, model[1].bptt),
        "hidden": [tuple(h) for h in awd.hidden],
        "bs": awd.bs,
        "dropped": [r.module.weight_hh_l0 for r in awd.rnns],
    }


def _assert_same(before: dict, after: dict) -> None:
    assert after["modes"] == before["modes"]
    assert after["grad_flags"] == before["grad_flags"]
    assert after["bptt"] == before["bptt"]
    assert after["bs"] == before["bs"]
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    for old, new in zip(before["hidden"], after["hidden"], strict=True):
        assert all(a is b for a, b in zip(old, new, strict=True))
    assert all(a is b for a, b in zip(before["dropped"], after["dropped"], strict=True))


@pytest.mark.parametrize("fail", [False, True], ids=["normal", "exception"])
def test_prepared_restores_the_learner(fail):
    learn = toy_learner()
    adapter = FastaiAdapter(learn)
    model = learn.model
    model.train()
    model[1].eval()  # a mixed state, with a non-trivial hidden state from a training forward
    ids = torch.tensor(adapter.tokenize(VARIED[1]).ids)
    model[0].module.bs = 1
    model[0].module.reset()
    model[0].module(ids[None])
    before = _snapshot(learn)
    try:
        with adapter.prepared():
            assert not any(m.training for m in model.modules())
            emb = adapter.embed(ids[None].expand(4, -1)).detach().requires_grad_(True)
            adapter.forward_embeds(emb, ids).sum().backward()
            if fail:
                raise RuntimeError("boom")
    except RuntimeError:
        assert fail
    _assert_same(before, _snapshot(learn))
    model.eval()


def test_forward_embeds_leaves_the_hidden_state(adapter, learn):
    awd = learn.model[0].module
    hidden, bs = [tuple(h) for h in awd.hidden], awd.bs
    ids = torch.tensor(adapter.tokenize(VARIED[0]).ids)
    with adapter.prepared(), torch.no_grad():
        adapter.forward_embeds(adapter.embed(ids[None].expand(5, -1)), ids)
        assert awd.bs == bs
        assert all(
            a is b
            for old, new in zip(hidden, awd.hidden, strict=True)
            for a, b in zip(old, new, strict=True)
        )


def test_forward_embeds_checks_shapes(adapter):
    ids = torch.tensor(adapter.tokenize(VARIED[0]).ids)
    with pytest.raises(ValueError, match="n_tokens"):
        adapter.forward_embeds(adapter.embed(ids[None])[:, :-1], ids)
