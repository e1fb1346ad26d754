"""The Explorer and its worker, driven like the front end: set_state, _handle_event, no browser."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from support.live_threads import BrowserCopy, assert_no_lost_update
from support.toy_models import WORDS, toy_bundle

import ig_widgets as igw
from ig_widgets.engine.quadrature import ALL_METHODS
from ig_widgets.views.selection import select
from ig_widgets.widgets import baseline_menu
from ig_widgets.widgets.explorer import Explorer, Params
from ig_widgets.widgets.worker import Request, Worker

TEXT = "The movie was not very good, but the acting is fun!"
WAIT = 60.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CountingAdapter:
    """Counts the model calls an explainer's adapter makes (forward and embed)."""

    def __init__(self, explainer: igw.Explainer) -> None:
        self.calls = 0
        adapter = explainer.adapter
        for name in ("forward_embeds", "embed"):
            original = getattr(adapter, name)

            def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.calls += 1
                return _original(*args, **kwargs)

            setattr(adapter, name, counted)


def make_explorer(n_classes: int = 3, **kwargs: Any) -> Explorer:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=n_classes))
    # the model's default token, not [neutral] (the Explorer's default): these tests compare
    # with Explainer.explain's own default
    options: dict[str, Any] = {
        "n_steps": 16,
        "debounce": 0.02,
        "discover_neutral": False,
        "baseline": "[default]",
    }
    options.update(kwargs)
    explorer = Explorer(explainer, text=kwargs.pop("text", TEXT), **options)
    assert explorer.wait(WAIT), "the first computation never finished"
    return explorer


def recorded_runs(explorer: Explorer) -> list[Params]:
    """From now on, the parameters of every computation the explorer runs, in order."""
    runs: list[Params] = []
    original = explorer._job

    def counted(request: Request) -> None:
        runs.append(request.params)
        original(request)

    explorer._worker.job = counted
    return runs


def shown_view(explorer: Explorer) -> Any:
    exp = explorer.explanation
    assert exp is not None
    target = explorer.target or None
    other = None
    if explorer.contrast:
        others = [
            c for c in np.argsort(-exp.probs) if c != exp.class_index(target or exp.predicted)
        ]
        other = explorer.contrast_class or exp.classes[int(others[0])]
    return select(exp, target, explorer.level, other)


# ---------------------------------------------------------------------------- worker
def test_worker_runs_a_burst_at_most_twice_ending_with_the_last_parameters() -> None:
    ran: list[Any] = []
    worker = Worker(lambda request: ran.append(request.params), lambda r, e: None, debounce=0.2)
    for i in range(20):
        worker.submit(i)
    assert worker.wait(5)
    assert ran in ([0, 19], [19])  # the leading edge may start before the burst goes on
    worker.close()


def test_worker_starts_a_lone_change_at_once_and_debounces_a_quick_second() -> None:
    started: list[float] = []
    worker = Worker(lambda request: started.append(time.monotonic()), lambda r, e: None, 0.6)
    t0 = time.monotonic()
    worker.submit("lone")
    assert worker.wait(5)
    assert started[0] - t0 < 0.3
    t1 = time.monotonic()
    worker.submit("quick second")
    assert worker.wait(5)
    assert started[1] - t1 >= 0.55
    worker.close()


def test_worker_cancels_the_running_request_and_reports_errors() -> None:
    started = threading.Event()
    cancelled: list[int] = []
    errors: list[tuple[Any, str]] = []

    def job(request: Request) -> None:
        if request.params == "slow":
            started.set()
            while not request.cancel.wait(0.01):
                pass
            cancelled.append(request.generation)
            raise igw.Cancelled()
        raise RuntimeError(f"boom {request.params}")

    worker = Worker(job, lambda r, e: errors.append((r.params, str(e))), debounce=0.0)
    first = worker.submit("slow")
    assert started.wait(5)
    second = worker.submit("fast")
    assert worker.wait(5)
    assert cancelled == [first.generation]
    assert errors == [("fast", "boom fast")]  # Cancelled is silent, other errors reported
    assert worker.is_current(second) and not worker.is_current(first)
    worker.close()
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit("late")


def test_worker_wait_times_out_while_busy() -> None:
    release = threading.Event()
    worker = Worker(lambda request: release.wait(5), lambda r, e: None, debounce=0.0)
    worker.submit(1)
    assert worker.wait(0.05) is False
    release.set()
    assert worker.wait(5)
    worker.close()


# ---------------------------------------------------------------------------- explorer
def test_explorer_shows_the_engines_attributions_for_its_parameters() -> None:
    explorer = make_explorer()
    exp = explorer.explanation
    assert exp is not None and exp.is_final and explorer.error == ""
    fresh = explorer.explainer.explain(TEXT, n_steps=16)
    np.testing.assert_allclose(exp.scores, fresh.scores, rtol=0, atol=1e-9)
    assert explorer.parameters == Params(TEXT, 16, "gausslegendre", "[default]")
    attr = exp.for_class(exp.predicted)
    assert explorer.chips.get_state()["scores"] == attr.word_scores.tolist()
    assert explorer.bars.scores == attr.word_scores.tolist()
    assert explorer.chips.tokens == [w.text for w in exp.words]
    badge = explorer.badge
    assert badge["total"] == pytest.approx(attr.total)
    assert badge["diff"] == pytest.approx(attr.f_input - attr.f_baseline)
    assert badge["delta"] == pytest.approx(attr.delta)
    assert badge["large"] is bool(abs(attr.delta) > 0.01 * abs(badge["diff"]))
    assert explorer.prediction == exp.predicted_class
    assert [p["prob"] for p in explorer.probabilities] == pytest.approx(exp.probs, abs=1e-4)
    assert explorer.computing is False and explorer.progress == 100.0
    assert explorer.computed_for["n_steps"] == 16 and explorer.computed_for["stage"] == exp.stage
    # the hooks on .igw-explorer (data-final, data-n-steps) that UI tests wait for
    assert explorer.computed_for["final"] is True and explorer.computed_for["shown_steps"] == 16
    explorer.close()


def test_the_coarse_stage_is_pushed_before_the_final_one() -> None:
    explorer = make_explorer(n_steps=64)
    stages: list[tuple[int, int]] = []
    explorer.observe(
        lambda change: stages.append((change["new"]["stage"], change["new"]["n_steps"])),
        "computed_for",
    )
    explorer.set_state({"n_steps": 48})
    assert explorer.wait(WAIT)
    assert len(stages) >= 2 and stages[0][0] == 1 and stages[-1] == (stages[-1][0], 48)
    assert explorer.explanation is not None and explorer.explanation.n_steps == 48
    explorer.close()


def test_a_storm_of_changes_ends_with_the_view_for_the_last_parameters() -> None:
    explorer = make_explorer()
    rng = random.Random(0)
    methods = ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_middle"]
    last: dict[str, Any] = {}
    for i in range(100):
        change: dict[str, Any] = {"n_steps": rng.randint(2, 40)}
        if i % 3 == 0:
            change["method"] = rng.choice(methods)
        if i % 5 == 0:
            change["text"] = " ".join(rng.choices(WORDS[:18], k=rng.randint(3, 12)))
        if i % 7 == 0:
            change["target"] = rng.choice(["", "c0", "c1", "c2"])
        if i % 11 == 0:
            change["level"] = rng.choice(["word", "token"])
        explorer.set_state(change)
        last.update(change)
        time.sleep(rng.choice([0.0, 0.0, 0.005, 0.03]))  # some bursts, some pauses
    assert explorer.wait(WAIT)
    assert explorer.error == ""
    exp = explorer.explanation
    assert exp is not None and exp.is_final
    assert exp.n_steps == last["n_steps"] and exp.method == last["method"]
    assert exp.text == last["text"]
    assert explorer.parameters == Params(last["text"], last["n_steps"], last["method"], "[default]")
    view = shown_view(explorer)
    assert explorer.chips.scores == view.scores and explorer.chips.tokens == view.tokens
    fresh = explorer.explainer.explain(last["text"], n_steps=last["n_steps"], method=last["method"])
    np.testing.assert_allclose(exp.scores, fresh.scores, rtol=0, atol=1e-9)
    explorer.close()


def test_a_stale_result_never_replaces_a_newer_one() -> None:
    explorer = make_explorer(n_steps=8)
    shown: list[int] = []
    explorer.observe(lambda change: shown.append(change["new"]["n_steps"]), "computed_for")
    # a slow computation (many points over a long text) is overtaken by a quick one
    explorer.set_state({"text": " ".join(WORDS * 30), "n_steps": 256})
    time.sleep(0.15)
    explorer.set_state({"n_steps": 4})
    assert explorer.wait(WAIT)
    assert shown and shown[-1] == 4
    assert 256 not in shown[shown.index(4) :]
    assert explorer.explanation is not None and explorer.explanation.n_steps == 4
    explorer.close()


def test_a_stage_finished_after_a_newer_request_is_not_shown() -> None:
    explorer = make_explorer(n_steps=8)
    original = explorer.explainer.refine
    first_shown = threading.Event()

    def stubborn(*args: Any, **kwargs: Any) -> Iterator[igw.Explanation]:
        kwargs.pop("cancel")  # the worst case: an engine that never checks its cancel hook
        for exp in original(*args, **kwargs):
            yield exp
            first_shown.wait(5)
            time.sleep(0.2)

    explorer.explainer.refine = stubborn  # type: ignore[method-assign]
    shown: list[tuple[int, int]] = []
    explorer.observe(
        lambda change: shown.append((change["new"]["n_steps"], change["new"]["stage"])),
        "computed_for",
    )
    explorer.set_state({"n_steps": 64})  # two stages: 8 then 64 points
    assert wait_for(lambda: shown)
    first_shown.set()
    explorer.set_state({"n_steps": 32})
    assert explorer.wait(WAIT)
    assert shown[0] == (64, 1)
    assert (64, 2) not in shown  # finished after the newer request: dropped
    assert shown[-1][0] == 32 and explorer.explanation is not None
    assert explorer.explanation.n_steps == 32
    explorer.close()


def wait_for(predicate: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.01)
    return None


def test_target_contrast_and_level_switches_make_no_model_call() -> None:
    explorer = make_explorer()
    spy = CountingAdapter(explorer.explainer)
    exp = explorer.explanation
    assert exp is not None
    for change in (
        {"target": "c0"},
        {"target": "c2", "level": "token"},
        {"contrast": True},
        {"contrast_class": "c1"},
        {"level": "word", "contrast": False},
    ):
        explorer.set_state(change)
        assert explorer.wait(WAIT)
        view = shown_view(explorer)
        assert explorer.chips.scores == view.scores
    assert spy.calls == 0
    assert explorer.explanation is exp
    explorer.set_state({"contrast": True, "target": "c2", "contrast_class": "c1", "level": "token"})
    np.testing.assert_allclose(explorer.chips.scores, exp.scores[2] - exp.scores[1], atol=1e-12)
    assert explorer.badge["label"] == "c2 − c1"
    explorer.set_state({"n_steps": 12})  # a compute parameter does call the model
    assert explorer.wait(WAIT) and spy.calls > 0
    explorer.close()


def test_several_traits_in_one_message_compute_once() -> None:
    explorer = make_explorer()
    runs = recorded_runs(explorer)
    explorer.set_state({"n_steps": 10, "method": "riemann_trapezoid", "text": "a fun film"})
    assert explorer.wait(WAIT)
    assert runs == [Params("a fun film", 10, "riemann_trapezoid", "[default]")]
    explorer.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text": "   "}, "The text is empty"),
        ({"baseline": "qwzx"}, "Unknown baseline token 'qwzx'"),
        ({"baseline": "[nonsense]"}, "Unknown baseline"),
        ({"target": "c9"}, "Unknown class 'c9'"),
    ],
)
def test_errors_appear_in_the_widget_and_settings_stay(
    change: dict[str, Any], message: str
) -> None:
    explorer = make_explorer()
    before = explorer.explanation
    explorer.set_state(change)
    assert explorer.wait(WAIT)
    assert message in explorer.error
    for name, value in change.items():
        assert getattr(explorer, name) == value  # the user's input is kept as typed
    assert explorer.computing is False
    assert explorer.explanation is before  # the last good result stays (dimmed)
    explorer.set_state({"text": TEXT, "baseline": "[default]", "method": "gausslegendre"})
    explorer.set_state({"target": ""})
    assert explorer.wait(WAIT)
    assert explorer.error == "" and explorer.stale is False
    explorer.close()


def test_a_ten_thousand_token_paste_is_refused_with_a_message() -> None:
    explorer = make_explorer()
    long_text = " ".join(["good"] * 10_000)
    explorer.set_state({"text": long_text})
    assert explorer.wait(WAIT)
    assert "10001 tokens" in explorer.error and "at most 2000" in explorer.error
    assert explorer.text == long_text and explorer.stale is True
    explorer.close()


def test_an_exception_inside_the_model_reaches_the_error_banner() -> None:
    explorer = make_explorer()
    adapter = explorer.explainer.adapter
    original = adapter.forward_embeds

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the model fell over")

    adapter.forward_embeds = broken
    explorer.set_state({"n_steps": 20})
    assert explorer.wait(WAIT)
    assert explorer.error == "RuntimeError: the model fell over"
    assert "RuntimeError" in explorer.last_traceback
    adapter.forward_embeds = original
    explorer.set_state({"n_steps": 21})
    assert explorer.wait(WAIT) and explorer.error == ""
    explorer.close()


def test_contrast_with_the_target_itself_is_explained() -> None:
    explorer = make_explorer()
    explorer.set_state({"target": "c1", "contrast": True, "contrast_class": "c1"})
    assert "two classes" in explorer.error
    explorer.set_state({"contrast_class": "c0"})
    assert explorer.error == ""
    explorer.close()


@pytest.mark.parametrize(
    ("value", "description"),
    [
        ("[zero]", "zero embeddings"),
        ("[average]", "average of token '<unk>', zero embeddings"),
        ("[uncertain]", "uncertain"),
        ("film", "token 'film'"),
    ],
)
def test_baseline_choices_reach_the_engine(value: str, description: str) -> None:
    explorer = make_explorer(n_classes=2)
    explorer.set_state({"baseline": value})
    assert explorer.wait(WAIT)
    assert explorer.error == ""
    exp = explorer.explanation
    assert exp is not None and exp.baseline.startswith(description)
    assert explorer.computed_for["baseline"] == value
    explorer.close()


def test_baseline_objects_in_the_constructor() -> None:
    uncertain = igw.UncertainBaseline(max_iter=50)
    explorer = make_explorer(n_classes=2, baseline=uncertain)
    assert explorer.baseline == "[uncertain]"
    assert explorer.explanation is not None and "uncertain" in explorer.explanation.baseline
    assert uncertain.last  # the Explorer used the caller's object
    explorer.close()


def test_vocabulary_search_through_a_front_end_event() -> None:
    explorer = make_explorer()
    explorer._handle_event(None, {"event": "search_baseline", "data": "bo"}, [])
    values = [item["value"] for item in explorer.baseline_items]
    assert values[:5] == ["[neutral]", "[default]", "[zero]", "[average]", "[uncertain]"]
    assert "boring" in values and "bad" not in values
    explorer._handle_event(None, {"event": "search_baseline", "data": None}, [])
    assert "boring" not in [item["value"] for item in explorer.baseline_items]
    explorer.close()


def test_browser_copy_stays_in_sync_while_the_worker_publishes() -> None:
    """The live base serialises the kernel's thread with the worker (see :mod:`live_threads`)."""
    explorer = make_explorer(debounce=0.0)

    def step(browser: BrowserCopy, rnd: random.Random) -> None:
        if rnd.random() < 0.5:
            browser.change(explorer, {"n_steps": rnd.randint(4, 24)})
        else:
            browser.change(explorer, {"level": rnd.choice(["word", "token"])})

    keys = ("n_steps", "level", "computed_for", "badge", "status", "computing", "done")
    assert_no_lost_update(explorer, step, keys, rounds=60, seed=3, timeout=WAIT)


def test_a_regression_head_offers_no_uncertain_baseline_and_no_neutral_tokens() -> None:
    explainer = igw.Explainer(toy_bundle("gru", n_classes=1, output="identity"))
    menu = baseline_menu.BaselineMenu(explainer)
    assert [item["value"] for item in menu.items([], "[default]")] == [
        "[default]",
        "[zero]",
        "[average]",
    ]
    assert menu.discover(5, threading.Event()) is False and menu.neutral == []
    sigmoid = igw.Explainer(toy_bundle("gru", n_classes=3, output="sigmoid"))
    titles = [item["title"] for item in baseline_menu.BaselineMenu(sigmoid).items([], "")]
    assert "uncertain (optimised to ½ for every label)" in titles


def test_neutral_tokens_are_discovered_and_ranked_at_the_text_length() -> None:
    explorer = make_explorer(n_classes=2, discover_neutral=True)
    explainer = explorer.explainer
    scan = igw.discover_neutral_tokens(explainer, top_k=baseline_menu.SHORTLIST)

    def offered() -> list[str]:
        return [item["value"] for item in explorer.baseline_items][5:15]

    def ranked_at(text: str) -> list[str]:
        repeats = sum(not keep for keep in explainer.tokenize(text).keep)
        found = igw.discover_neutral_tokens(
            explainer, top_k=10, length=repeats, candidates=[n.token for n in scan]
        )
        return [n.token for n in found]

    assert offered() == ranked_at(TEXT)
    longer = " ".join([TEXT] * 6)
    assert ranked_at(longer) != ranked_at(TEXT)  # the order really depends on the length
    explorer.text = longer
    assert explorer.wait(WAIT)
    assert offered() == ranked_at(longer)
    assert "at this length" in explorer.baseline_items[5]["title"]
    explorer.close()


def test_auto_steps_refines_until_the_check_passes() -> None:
    explorer = make_explorer()
    explorer.set_state({"auto_steps": True})
    assert explorer.wait(WAIT)
    exp = explorer.explanation
    assert exp is not None and exp.is_final
    assert explorer.parameters is not None and explorer.parameters.n_steps == "auto"
    scale = np.maximum(np.abs(exp.f_input - exp.f_baseline), 0.01)
    assert np.all(np.abs(exp.delta) <= 0.01 * scale) or exp.n_steps == 512
    explorer.close()


def test_constructor_checks_its_arguments() -> None:
    bundle = toy_bundle("mean")
    with pytest.raises(ValueError, match="level"):
        Explorer(bundle, text=TEXT, level="paragraph")
    with pytest.raises(ValueError, match="Unknown class"):
        Explorer(bundle, text=TEXT, target="neutral")
    with pytest.raises(ValueError, match="max_tokens"):
        Explorer(bundle, text=TEXT, max_tokens=0)
    explorer = Explorer(bundle, text=TEXT, target=1, n_steps="auto", discover_neutral=False)
    assert explorer.target == "positive" and explorer.auto_steps is True
    assert explorer.method == "adaptive"  # the rule "auto" is cheapest with
    assert explorer.wait(WAIT) and explorer.error == ""
    explorer.close()


# ---------------------------------------------------------------------------- controls
def test_method_menu_lists_every_rule_and_choosing_one_recomputes() -> None:
    explorer = make_explorer(n_classes=2)
    assert [item["value"] for item in explorer.rule_items] == list(ALL_METHODS)
    assert "methods" not in explorer.keys  # a synced trait named like Vue's own option
    explorer.set_state({"method": "riemann_middle"})
    assert explorer.wait(WAIT)
    assert explorer.computed_for["method"] == "riemann_middle"
    assert explorer.explanation is not None and explorer.explanation.method == "riemann_middle"
    explorer.close()


def test_baseline_box_searches_without_computing_and_commits_on_choice() -> None:
    explorer = make_explorer(n_classes=2)
    shown = explorer.explanation
    runs = recorded_runs(explorer)
    for typed in ("m", "mo", "mov", "zzq"):  # keystrokes: a search each, nothing else
        explorer._handle_event(None, {"event": "search_baseline", "data": typed}, [])
    assert explorer.wait(WAIT)
    assert runs == [] and explorer.error == "" and explorer.explanation is shown
    assert explorer.baseline == "[default]"
    # an unknown token committed with Enter: a clear error, the result and settings kept
    explorer._handle_event(None, {"event": "choose_baseline", "data": "zzq"}, [])
    assert "zzq" in explorer.error and runs == []
    assert explorer.baseline == "[default]" and explorer.explanation is shown
    assert "refining" not in explorer.status and explorer.stale
    # a chosen item commits and recomputes
    explorer._handle_event(None, {"event": "choose_baseline", "data": {"value": "film"}}, [])
    assert explorer.wait(WAIT)
    assert explorer.baseline == "film" and explorer.error == "" and not explorer.stale
    assert [p.baseline for p in runs] == ["film"]
    explorer.close()


def test_badge_legend_and_baseline_prediction_speak_plainly() -> None:
    explorer = make_explorer(n_classes=2)
    exp = explorer.explanation
    assert exp is not None
    badge = explorer.badge
    assert (
        badge["text"].startswith(("✓ adds up", "⚠ add steps")) and badge["ok"] is not badge["large"]
    )
    info = explorer.baseline_info
    top = int(np.argmax(exp.f_baseline))
    assert info["text"] == f"baseline {exp.baseline} → {exp.classes[top]} {exp.f_baseline[top]:.2f}"
    assert info["far"] is bool(exp.f_baseline[top] - 0.5 > 0.2)
    assert explorer.legend.startswith(f"green words push towards {badge['label']}")
    explorer.set_state({"contrast": True})
    assert "doubled" in explorer.note
    explorer.set_state({"contrast": False, "level": "sentence"})
    assert explorer.chips.tokens == [TEXT]  # one sentence: it ends with "!"
    assert explorer.note == ""
    explorer.close()


def test_a_far_baseline_offers_the_most_neutral_token() -> None:
    explorer = make_explorer(n_classes=2, discover_neutral=True)
    found = explorer.menu.suggestion()
    assert found is not None
    info = explorer.baseline_info
    if info["far"]:
        assert info["suggest"] == found.token and found.token in info["suggest_text"]
        explorer._handle_event(None, {"event": "use_suggested_baseline", "data": None}, [])
        assert explorer.wait(WAIT)
        assert explorer.baseline == found.token
    else:
        assert info["suggest"] == ""
    explorer.close()


def test_faithfulness_of_the_final_result_is_measured_in_the_background() -> None:
    from ig_widgets.engine.metrics import comprehensiveness, sufficiency

    explorer = make_explorer(n_classes=2, faithfulness=True)
    exp = explorer.explanation
    assert exp is not None and exp.is_final
    shown = explorer.faithfulness
    target = exp.predicted
    assert shown["label"] == exp.classes[target]
    expected_comp = comprehensiveness(exp, explorer.explainer, k=0.2, target=target).value
    expected_suff = sufficiency(exp, explorer.explainer, k=0.2, target=target).value
    assert shown["comprehensiveness"] == pytest.approx(expected_comp, abs=1e-9)
    assert shown["sufficiency"] == pytest.approx(expected_suff, abs=1e-9)
    assert "comprehensiveness" in shown["text"] and "sufficiency" in shown["text"]
    # a new text: the old numbers go with the old result, and new ones come after the final
    explorer.set_state({"text": "a dull and stale film"})
    assert explorer.wait(WAIT)
    assert explorer.faithfulness["comprehensiveness"] != pytest.approx(expected_comp)
    explorer.close()
