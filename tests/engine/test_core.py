"""The IG core on toy models: axioms, refinement, cache, chunking, baselines and bad input."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import torch
from support.toy_models import NaNOutput, WordTokenizer, make_module, toy_bundle
from torch import nn

import ig_widgets as igw
from ig_widgets.engine.adapters.base import Tokenized
from ig_widgets.engine.core import estimate_point_bytes
from ig_widgets.engine.quadrature import METHODS, nested_stages, rule
from ig_widgets.engine.words import fold_words
from ig_widgets.models.bundle import TorchTextClassifier

TEXT = "The movie was not very good , but the acting was great !"


@pytest.fixture(scope="module")
def gru() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru", n_classes=2, seed=1))


@pytest.fixture(scope="module")
def gru3() -> igw.Explainer:
    return igw.Explainer(toy_bundle("gru", n_classes=3, seed=2, output="logits"))


def count_calls(explainer: igw.Explainer) -> list[int]:
    """Wrap the adapter's forward so the test can count model calls."""
    calls = [0]
    original = explainer.adapter.forward_embeds

    def counting(embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return original(embeds, ids)

    explainer.adapter.forward_embeds = counting  # type: ignore[method-assign]
    return calls


# --------------------------------------------------------------------------- axioms
class SmoothGRU(nn.Module):
    """Embedding → GRU → mean over time → linear: smooth, so quadrature converges fast.

    (The toy GRU's max-over-time pooling has kinks along the path that slow every rule down.)
    """

    def __init__(self, vocab_size: int, n_classes: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab_size, 6)
        self.rnn = nn.GRU(6, 8, batch_first=True)
        self.head = nn.Linear(8, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(ids))[0].mean(1))


@pytest.mark.parametrize(("n_classes", "output"), [(2, "probs"), (3, "probs"), (3, "logits")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_completeness_at_64_gauss_legendre(n_classes: int, output: str, seed: int) -> None:
    tok = WordTokenizer()
    module = SmoothGRU(len(tok.vocab), n_classes, seed).eval()
    classes = tuple(f"c{i}" for i in range(n_classes))
    explainer = igw.Explainer(
        module, tokenizer=tok, embedding=module.emb, classes=classes, output=output
    )
    exp = explainer.explain(TEXT, n_steps=64)
    diff = exp.f_input - exp.f_baseline
    assert np.abs(diff).max() > 5e-3
    # relative to |F(input) − F(baseline)|, floored at 0.01 for classes the path barely moves
    assert np.all(np.abs(exp.delta) <= 0.01 * np.maximum(np.abs(diff), 0.01))
    np.testing.assert_allclose(exp.delta, exp.scores.sum(-1) - diff, atol=1e-12)


def test_binary_softmax_classes_are_exact_negations(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=16)
    np.testing.assert_array_equal(exp.scores[0], -exp.scores[1])
    np.testing.assert_allclose(exp.probs.sum(), 1.0, atol=1e-6)


def test_sensitivity_tokens_equal_to_the_baseline_get_zero() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=3))
    exp = explainer.explain("good movie good film", n_steps=8, baseline="good")
    good = [i for i, t in enumerate(exp.tokens) if t == "good"]
    other = [i for i, t in enumerate(exp.tokens) if t in ("movie", "film")]
    assert np.all(exp.scores[:, good] == 0)
    assert np.all(np.abs(exp.scores[:, other]) > 0)


class Factored(nn.Module):
    """The same function as a MeanLinear, with its linear layer split in two."""

    def __init__(self, reference: nn.Module) -> None:
        super().__init__()
        self.emb = reference.emb
        w, b = reference.head.weight.detach(), reference.head.bias.detach()
        dim = w.shape[1]
        a = torch.randn(dim, dim) + 3 * torch.eye(dim)
        self.first = nn.Linear(dim, dim, bias=False)
        self.second = nn.Linear(dim, w.shape[0])
        with torch.no_grad():
            self.first.weight.copy_(a)
            self.second.weight.copy_(w @ torch.linalg.inv(a))
            self.second.bias.copy_(b)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(self.emb(ids).mean(1)))


def test_implementation_invariance() -> None:
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab), seed=4)
    twin = Factored(module).eval()
    ids = torch.tensor([tok.ids(TEXT)])
    torch.testing.assert_close(module(ids), twin(ids), atol=1e-5, rtol=1e-5)
    kw = dict(tokenizer=tok, classes=("negative", "positive"))
    a = igw.Explainer(module, embedding=module.emb, **kw).explain(TEXT, n_steps=32)
    b = igw.Explainer(twin, embedding=twin.emb, **kw).explain(TEXT, n_steps=32)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_linear_model_attributions_are_exact() -> None:
    """For softmax-free MeanLinear logits, IG is (x − x')·W/n whatever the step count."""
    tok = WordTokenizer()
    module = make_module("mean", len(tok.vocab), seed=5)
    explainer = igw.Explainer(
        module, tokenizer=tok, embedding=module.emb, classes=("a", "b"), output="logits"
    )
    exp = explainer.explain(TEXT, n_steps=3, method="riemann_middle", baseline="<unk>")
    ids = torch.tensor(exp.token_ids)
    base = torch.tensor([i if k == 0 else 1 for k, i in enumerate(exp.token_ids)])
    diff = module.emb(ids) - module.emb(base)
    expected = (diff @ module.head.weight.T / len(ids)).T.detach().numpy()
    np.testing.assert_allclose(exp.scores, expected, atol=1e-6)


def test_determinism(gru: igw.Explainer) -> None:
    gru.clear_cache()
    a = gru.explain(TEXT, n_steps=20, method="riemann_trapezoid")
    gru.clear_cache()
    b = gru.explain(TEXT, n_steps=20, method="riemann_trapezoid")
    np.testing.assert_array_equal(a.scores, b.scores)


# --------------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("method", METHODS)
def test_rules_match_captum(method: str) -> None:
    from captum.attr._utils.approximation_methods import approximation_parameters

    steps, alphas = approximation_parameters(method)
    ours_a, ours_w = rule(method, 12)
    np.testing.assert_allclose(ours_a, alphas(12), atol=1e-7)
    np.testing.assert_allclose(ours_w, steps(12), atol=1e-12)


def test_nested_stages_are_nested() -> None:
    for method in ("riemann_left", "riemann_right", "riemann_trapezoid"):
        stages = nested_stages(method, 65 if method == "riemann_trapezoid" else 64)
        assert len(stages) > 1
        for small, big in itertools.pairwise(stages):
            assert set(rule(method, small)[0]) <= set(rule(method, big)[0])
    assert nested_stages("gausslegendre", 64) == [4, 64]


# --------------------------------------------------------------------------- refinement and cache
@pytest.mark.parametrize(
    ("method", "n"), [("riemann_right", 64), ("riemann_trapezoid", 33), ("gausslegendre", 40)]
)
def test_refinement_equals_a_fresh_computation(method: str, n: int) -> None:
    explainer = igw.Explainer(toy_bundle("lstm", seed=6))
    stages = list(explainer.refine(TEXT, n_steps=n, method=method))
    assert len(stages) >= 2 and stages[-1].n_steps == n and stages[-1].is_final
    assert [s.stage for s in stages] == list(range(1, len(stages) + 1))
    fresh = igw.Explainer(toy_bundle("lstm", seed=6)).explain(TEXT, n_steps=n, method=method)
    # same points; only float32 batch composition differs
    np.testing.assert_allclose(stages[-1].scores, fresh.scores, rtol=1e-5, atol=1e-9)
    assert stages[-1].n_computed is not None and stages[-1].n_computed > 0


def test_nested_refinement_evaluates_only_new_points() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=7))
    explainer.explain(TEXT, n_steps=16, method="riemann_right")
    refined = explainer.explain(TEXT, n_steps=32, method="riemann_right")
    assert refined.n_computed == 16


def test_target_switch_makes_no_model_call(gru3: igw.Explainer) -> None:
    first = gru3.explain(TEXT, n_steps=24, target="c0")
    calls = count_calls(gru3)
    again = gru3.explain(TEXT, n_steps=24, target="c2")
    assert calls[0] == 0
    np.testing.assert_array_equal(first.scores, again.scores)
    assert again.for_class("c2").label == "c2"


def test_cache_notices_changed_weights() -> None:
    bundle = toy_bundle("mean", seed=8)
    explainer = igw.Explainer(bundle)
    a = explainer.explain(TEXT, n_steps=8)
    with torch.no_grad():
        bundle.module.head.weight.mul_(2.0)
    b = explainer.explain(TEXT, n_steps=8)
    assert not np.allclose(a.scores, b.scores)


# ------------------------------------------------------------------- memory, progress, cancel
def test_chunking_gives_the_same_result() -> None:
    whole = igw.Explainer(toy_bundle("gru", seed=9)).explain(TEXT, n_steps=30)
    seen: list[tuple[int, int]] = []
    chunked = igw.Explainer(toy_bundle("gru", seed=9), memory_budget=1).explain(
        TEXT, n_steps=30, progress=lambda done, total: seen.append((done, total))
    )
    np.testing.assert_allclose(whole.scores, chunked.scores, atol=1e-9)
    assert len(seen) == 30 and seen[-1] == (30, 30)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_long_input_of_2000_tokens() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=10), memory_budget=2**20)
    text = " ".join(["good movie but boring plot ."] * 334)
    chunks: list[int] = []
    exp = explainer.explain(text, n_steps=4, progress=lambda done, total: chunks.append(done))
    assert len(chunks) > 1  # the budget split the points
    assert len(exp.tokens) > 2000
    assert np.all(np.isfinite(exp.scores))
    assert explainer._point_bytes[len(exp.tokens)] > 0


def test_estimate_point_bytes_prefers_a_near_longer_length() -> None:
    measured = {100: 1000, 120: 1300, 200: 9000}
    assert estimate_point_bytes(measured, 120) == 1300  # measured: itself
    assert estimate_point_bytes(measured, 110) == 1300  # the nearest longer length
    assert estimate_point_bytes(measured, 130) == -(-1300 * 130 * 130 // (120 * 120))
    assert estimate_point_bytes(measured, 60) is None  # nothing within reach: measure
    assert estimate_point_bytes(measured, 250) == -(-9000 * 250 * 250 // (200 * 200))
    assert estimate_point_bytes({}, 50) is None


def _real_point_bytes(explainer: igw.Explainer, text: str) -> tuple[int, int]:
    """(length, bytes) that the engine measures for one point of ``text``."""
    from ig_widgets.engine.core import PathEvaluator

    adapter = explainer.adapter
    ids = torch.tensor(explainer.tokenize(text).ids)
    with adapter.prepared():
        inputs = adapter.embed(ids[None])[0].detach()
        evaluator = PathEvaluator(adapter, inputs, torch.zeros_like(inputs), ids)
        evaluator.evaluate([0.5])
    assert evaluator.measured and evaluator.bytes_per_point is not None
    return len(ids), evaluator.bytes_per_point


@pytest.mark.parametrize("family", ["gru", "bert"])
def test_estimates_bound_what_a_point_really_saves(family: str) -> None:
    """Every estimate from a length within reach is at least the real measurement."""
    if family == "gru":
        explainer = igw.Explainer(toy_bundle("gru", seed=12))
        words = TEXT.split()
    else:  # attention: the bytes grow with the square of the length
        from support.toy_models import tiny_bert

        model, tokenizer = tiny_bert(max_length=512)
        explainer = igw.Explainer(model, tokenizer=tokenizer)
        words = ["good", "movie", "bad", "plot"]
    real = dict(
        _real_point_bytes(explainer, " ".join(itertools.islice(itertools.cycle(words), k)))
        for k in range(40, 400, 9)
    )
    checked = 0
    for m, n in itertools.permutations(real, 2):
        estimate = estimate_point_bytes({m: real[m]}, n)
        if estimate is not None:
            assert estimate >= real[n], (family, m, n, estimate, real[n])
            checked += 1
    assert checked > 20


def test_a_near_length_is_not_measured_again() -> None:
    """A new length near a measured one runs its points in one chunk, not a 1-point probe."""
    explainer = igw.Explainer(toy_bundle("gru", seed=13))
    explainer.explain(TEXT, n_steps=8)
    shorter = TEXT.replace(" very", "")
    chunks: list[int] = []
    exp = explainer.explain(shorter, n_steps=8, progress=lambda done, total: chunks.append(done))
    assert chunks == [8]
    assert len(exp.tokens) not in explainer._point_bytes  # estimated, not measured
    fresh = igw.Explainer(toy_bundle("gru", seed=13)).explain(shorter, n_steps=8)
    np.testing.assert_allclose(exp.scores, fresh.scores, rtol=1e-5, atol=1e-8)


def test_tokenisations_are_cached_until_the_cache_is_cleared() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=14))
    calls: list[str] = []
    original = explainer.adapter.tokenize

    def counted(text: str) -> Tokenized:
        calls.append(text)
        return original(text)

    explainer.adapter.tokenize = counted  # type: ignore[method-assign]
    first = explainer.tokenize(TEXT)
    assert explainer.tokenize(TEXT) is first and calls == [TEXT]
    explainer.clear_cache()
    assert explainer.tokenize(TEXT) == first and calls == [TEXT, TEXT]


def test_cancel_raises_and_leaves_a_usable_cache() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=11), memory_budget=1)
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 5:
            stop.set()

    with pytest.raises(igw.Cancelled):
        explainer.explain(TEXT, n_steps=40, progress=progress, cancel=stop)
    fresh = igw.Explainer(toy_bundle("gru", seed=11)).explain(TEXT, n_steps=40)
    np.testing.assert_allclose(
        explainer.explain(TEXT, n_steps=40).scores, fresh.scores, rtol=1e-5, atol=1e-9
    )
    with pytest.raises(igw.Cancelled):
        explainer.explain(TEXT, n_steps=41, cancel=lambda: True)


# --------------------------------------------------------------------------- auto steps
def smooth_explainer() -> igw.Explainer:
    tok = WordTokenizer()
    module = SmoothGRU(len(tok.vocab), 2, seed=3).eval()
    return igw.Explainer(module, tokenizer=tok, embedding=module.emb, classes=("a", "b"))


def meets(exp: igw.Explanation, tol: float) -> bool:
    diff = np.maximum(np.abs(exp.f_input - exp.f_baseline), 0.01)
    return bool(np.all(np.abs(exp.delta) <= tol * diff))


def test_auto_steps_reach_the_tolerance_with_the_adaptive_rule() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=3), memory_budget=1)
    calls = count_calls(explainer)
    stages = list(explainer.refine(TEXT, n_steps="auto", tol=0.001, max_steps=256))
    exp = stages[-1]
    # it stops when two rounds in a row pass the check (one pass can be luck)
    passed = [meets(s, 0.001) for s in stages]
    assert passed[-2:] == [True, True] and (True, True) not in itertools.pairwise(passed[:-1])
    assert exp.is_final and exp.method == "adaptive" and exp.n_steps < 256
    counts = [s.n_steps for s in stages]
    assert counts[0] == 5 and counts == sorted(set(counts))
    for before, after in itertools.pairwise(stages):  # every stage keeps the earlier points
        assert set(before.path.alphas) < set(after.path.alphas)
    # one model call per point (a budget of one point a chunk): none is evaluated twice, and
    # the path's ends are points of the rule, so no extra call for F(input) and F(baseline)
    assert calls[0] == exp.n_steps


def test_auto_steps_with_gauss_legendre_grow_by_half() -> None:
    stages = list(
        smooth_explainer().refine(
            TEXT, n_steps="auto", method="gausslegendre", tol=0.001, max_steps=256
        )
    )
    assert meets(stages[-1], 0.001) and stages[-1].n_steps < 256
    assert [s.n_steps for s in stages] == [6, 9, 14, 21, 32, 48, 72][: len(stages)]


def test_adaptive_rule_at_a_step_count_equals_auto_ending_there() -> None:
    auto = igw.Explainer(toy_bundle("gru", seed=3)).explain(TEXT, n_steps="auto", tol=0.001)
    fresh = igw.Explainer(toy_bundle("gru", seed=3)).explain(
        TEXT, n_steps=auto.n_steps, method="adaptive"
    )
    np.testing.assert_array_equal(fresh.path.alphas, auto.path.alphas)
    np.testing.assert_allclose(fresh.scores, auto.scores, rtol=1e-6, atol=1e-9)


def test_adaptive_rule_puts_points_where_the_error_is(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=40, method="adaptive")
    alphas, weights = exp.path.alphas, exp.path.weights
    assert len(alphas) == 40 and alphas[0] == 0 and alphas[-1] == 1
    assert weights.sum() == pytest.approx(1.0) and np.all(weights > 0)
    assert len(np.unique(np.round(np.diff(alphas), 12))) > 1  # not evenly spaced
    even = gru.explain(TEXT, n_steps=40, method="riemann_trapezoid")
    assert np.abs(exp.delta).max() < np.abs(even.delta).max()


def test_auto_steps_on_a_nested_rule_reuse_every_point() -> None:
    explainer = igw.Explainer(toy_bundle("gru", seed=3), memory_budget=1)
    calls = count_calls(explainer)
    stages = list(explainer.refine(TEXT, n_steps="auto", method="riemann_right", max_steps=64))
    assert [s.n_steps for s in stages] == [8, 16, 32, 64][: len(stages)]
    # one call per point (budget of one point a chunk), and one for F at the path's two ends
    assert calls[0] == stages[-1].n_steps + 1


def test_auto_steps_stop_at_the_cap(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps="auto", tol=1e-6, max_steps=32)
    assert exp.n_steps == 32 and exp.is_final


# --------------------------------------------------------------------------- baselines
def test_token_baseline_keeps_the_leading_special_token(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=8, baseline=igw.TokenBaseline("<unk>"))
    assert exp.tokens[0] == "<bos>" and np.all(exp.scores[:, 0] == 0)
    assert exp.baseline == "token '<unk>'"


def test_zero_baseline(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=64, baseline=igw.ZeroBaseline())
    assert np.all(exp.scores[:, 0] == 0)
    assert np.all(np.abs(exp.delta) <= 0.01 * np.abs(exp.f_input - exp.f_baseline))


def test_average_baseline_is_the_mean_of_its_parts(gru: igw.Explainer) -> None:
    parts = [igw.TokenBaseline("<unk>"), igw.ZeroBaseline(), "the plot"]
    avg = gru.explain(TEXT, n_steps=16, baseline=igw.AverageBaseline(parts))
    singles = [gru.explain(TEXT, n_steps=16, baseline=p) for p in parts[:2]]
    singles.append(gru.explain(TEXT, n_steps=16, baseline=igw.AverageBaseline(["the plot"])))
    np.testing.assert_allclose(avg.scores, np.mean([s.scores for s in singles], axis=0))
    np.testing.assert_allclose(avg.f_baseline, np.mean([s.f_baseline for s in singles], axis=0))
    assert avg.baseline.startswith("average of token '<unk>', zero embeddings, text")


def test_uncertain_baseline_is_uniform(gru3: igw.Explainer) -> None:
    base = igw.UncertainBaseline()
    exp = gru3.explain(TEXT, n_steps=32, baseline=base)
    probs = torch.tensor(exp.f_baseline).softmax(-1).numpy()
    np.testing.assert_allclose(probs, 1 / 3, atol=2e-3)
    np.testing.assert_allclose(base.last["probs"], probs, atol=1e-5)
    assert base.last["history"][-1] <= base.last["history"][0]
    assert exp.baseline.startswith("uncertain (probabilities 0.33")


def test_discover_neutral_tokens(gru: igw.Explainer) -> None:
    found = igw.discover_neutral_tokens(gru, top_k=5, length=4)
    assert len(found) == 5
    assert [f.distance for f in found] == sorted(f.distance for f in found)
    adapter = gru.adapter
    ids = torch.tensor([[2] + [adapter.token_id(found[0].token)] * 4])
    with torch.no_grad():
        probs = adapter.forward_embeds(adapter.embed(ids), ids[0])[0].double().numpy()
    np.testing.assert_allclose(found[0].probs, probs, atol=1e-6)
    assert "<pad>" not in [f.token for f in found]


# --------------------------------------------------------------------------- words
def test_words_fold_markers_subwords_and_specials() -> None:
    text = "Don't  stop"
    tok = Tokenized(
        text=text,
        ids=(0, 1, 2, 3, 4, 5),
        tokens=("xxbos", "xxmaj", "do", "n't", "stop", "[SEP]"),
        spans=(None, None, (0, 2), (2, 5), (7, 11), None),
        special=(True, True, False, False, False, True),
        keep=(True, False, False, False, False, True),
    )
    words = fold_words(tok)
    assert [w.text for w in words] == ["xxbos", "Don't", "stop", "[SEP]"]
    assert [w.tokens for w in words] == [(0,), (1, 2, 3), (4,), (5,)]
    assert [w.special for w in words] == [True, False, False, True]
    assert (words[1].start, words[1].end) == (0, 5)


def test_word_scores_sum_token_scores(gru: igw.Explainer) -> None:
    exp = gru.explain(TEXT, n_steps=8)
    np.testing.assert_allclose(exp.word_scores().sum(-1), exp.scores.sum(-1))
    assert [w.text for w in exp.words if not w.special] == TEXT.split()
    frame = exp.to_dataframe(level="word")
    assert list(frame.columns[-2:]) == ["negative", "positive"]


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"text": ""}, ValueError, "empty"),
        ({"text": "   \n\t"}, ValueError, "empty"),
        ({"text": 42}, TypeError, "str"),
        ({"target": "neutral"}, ValueError, "Unknown target class 'neutral'"),
        ({"target": 5}, ValueError, "out of range"),
        ({"target": 1.5}, TypeError, "class name or index"),
        ({"n_steps": 0}, ValueError, "between 1 and 4096"),
        ({"n_steps": 10**7}, ValueError, "between 1 and 4096"),
        ({"n_steps": "many"}, ValueError, "integer or 'auto'"),
        ({"n_steps": 2.5}, TypeError, "integer"),
        ({"n_steps": 1, "method": "riemann_left"}, ValueError, "between 2 and 4096"),
        ({"method": "simpson"}, ValueError, "gausslegendre, riemann_left"),
        ({"baseline": "zzzz"}, ValueError, "Unknown baseline token 'zzzz'"),
        ({"baseline": 3}, TypeError, "baseline must be"),
    ],
)
def test_bad_input(gru: igw.Explainer, kwargs: dict, error: type, message: str) -> None:
    args = {"text": TEXT, **kwargs}
    with pytest.raises(error, match=message):
        gru.explain(args.pop("text"), **args)


def test_nan_output_is_a_clear_error() -> None:
    tok = WordTokenizer()
    inner = make_module("mean", len(tok.vocab))
    bundle = TorchTextClassifier(NaNOutput(inner), tok, inner.emb, ("a", "b"))
    with pytest.raises(ValueError, match="NaN"):
        igw.Explainer(bundle).explain(TEXT, n_steps=4)


def test_unsupported_model_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="No adapter accepts"):
        igw.Explainer(object())
