"""SaliencyChips and AttributionBars driven as the front end would: state, set_state, events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from support.paths import REPO
from support.toy_models import toy_bundle

import ig_widgets as igw
from ig_widgets.views.normalize import BACKGROUNDS, PALETTES, contrast_ratio, normalize
from ig_widgets.views.selection import DELTA_TOLERANCE
from ig_widgets.widgets import _templates
from ig_widgets.widgets.chips import MAX_ALPHA

JS = REPO / "js"


@pytest.fixture(scope="module")
def explanation() -> igw.Explanation:
    torch.manual_seed(0)
    explainer = igw.Explainer(toy_bundle("gru", n_classes=3))
    return explainer.explain("The movie was not very good, but fun!", n_steps=16)


def test_chips_sync_tokens_raw_scores_and_display_values() -> None:
    chips = igw.SaliencyChips(tokens=["a", "great", "film"], scores=[0.1, 0.8, -0.4])
    state = chips.get_state()
    assert state["tokens"] == ["a", "great", "film"]
    assert state["scores"] == [0.1, 0.8, -0.4]
    assert state["values"] == pytest.approx([0.125, 1.0, -0.5])
    assert state["hues"] == [list(h) for h in PALETTES["default"]]
    assert state["selected"] == -1


@pytest.mark.parametrize("mode", ["maxabs", "l2", "none"])
def test_chips_normalize_modes_follow_the_views_module(mode: str) -> None:
    scores = [0.3, -2.0, 0.05, 1.2]
    chips = igw.SaliencyChips(tokens=list("abcd"), scores=scores)
    chips.set_state({"normalize": mode})
    assert chips.values == pytest.approx(np.round(normalize(scores, mode), 4).tolist())
    assert chips.scores == scores  # raw scores never change with the display


def test_chips_palette_switch_changes_hues_and_bad_choices_are_refused() -> None:
    chips = igw.SaliencyChips(tokens=["x"], scores=[1.0])
    chips.set_state({"palette": "colorblind"})
    assert chips.hues == [list(h) for h in PALETTES["colorblind"]]
    with pytest.raises(Exception, match="palette must be one of"):
        chips.palette = "rainbow"
    with pytest.raises(Exception, match="normalize must be one of"):
        chips.normalize = "softmax"


def test_chips_click_selects_and_python_receives_the_index() -> None:
    chips = igw.SaliencyChips(tokens=["a", "b", "c"], scores=[0.1, 0.2, 0.3])
    seen: list[int] = []
    chips.observe(lambda change: seen.append(change["new"]), "selected")
    chips.set_state({"selected": 2})  # what the template's click writes back
    assert chips.selected == 2 and seen == [2]
    chips.set_state({"selected": 7})  # out of range: cleared, never an invalid index
    assert chips.selected == -1


def test_chips_new_data_of_other_length_clears_selection() -> None:
    chips = igw.SaliencyChips(tokens=["a", "b"], scores=[1.0, 2.0])
    chips.selected = 1
    chips.set_data(["only"], [0.5])
    assert chips.selected == -1 and chips.tokens == ["only"]


def test_set_data_rejects_mismatched_and_non_finite_scores() -> None:
    chips = igw.SaliencyChips()
    with pytest.raises(ValueError, match="same length"):
        chips.set_data(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="finite"):
        chips.set_data(["a"], [float("nan")])


def test_from_explanation_syncs_the_engines_raw_scores(explanation: igw.Explanation) -> None:
    for level in ("word", "token"):
        for target in explanation.classes:
            chips = igw.SaliencyChips.from_explanation(explanation, target=target, level=level)
            attr = explanation.for_class(target)
            expected = attr.word_scores if level == "word" else attr.scores
            assert chips.get_state()["scores"] == expected.tolist()
            assert chips.label == target
    words = igw.SaliencyChips.from_explanation(explanation, level="word")
    assert words.tokens == [w.text for w in explanation.words]
    assert words.special == [w.special for w in explanation.words]
    assert words.label == explanation.predicted_class


def test_show_contrast_is_the_difference(explanation: igw.Explanation) -> None:
    a, b = explanation.classes[0], explanation.classes[2]
    chips = igw.SaliencyChips()
    view = chips.show(explanation, a, "token", contrast=b)
    expected = explanation.scores[0] - explanation.scores[2]
    np.testing.assert_allclose(chips.scores, expected, rtol=0, atol=1e-12)
    assert view.attribution.label == chips.label
    with pytest.raises(ValueError, match="level"):
        chips.show(explanation, a, "paragraph")


def test_oov_flags_sync_and_stay_compact() -> None:
    chips = igw.SaliencyChips(tokens=["a", "zzqx", "film"], scores=[0.1, 0.0, 0.3])
    assert chips.oov == []  # no flag: nothing to send
    chips.set_data(["a", "zzqx", "film"], [0.1, 0.0, 0.3], oov=[False, True, False])
    assert chips.get_state()["oov"] == [False, True, False]
    chips.set_data(["a"], [0.1], oov=[False])
    assert chips.oov == []
    with pytest.raises(ValueError, match="oov"):
        chips.set_data(["a", "b"], [0.1, 0.2], oov=[True])


def test_sentence_chips_carry_their_words_on_the_chips_scale() -> None:
    words = [
        [{"text": "Great", "score": 0.6}, {"text": "film.", "score": 0.2, "oov": True}],
        [{"text": "Dull", "score": -0.4, "special": False}, {"text": "end.", "score": 0.1}],
    ]
    chips = igw.SaliencyChips(tokens=["Great film.", "Dull end."], scores=[0.8, -0.3], parts=words)
    assert chips.parts[0][1] == {"text": "film.", "score": 0.2, "special": False, "oov": True}
    # one scale: the largest |score| of the chips (0.8), also for the words inside them
    assert chips.values == pytest.approx([1.0, -0.375])
    assert chips.part_values == [pytest.approx([0.75, 0.25]), pytest.approx([-0.5, 0.125])]
    chips.set_data(["a", "b"], [1.0, 2.0], parts=[[], []])
    assert chips.parts == [] and chips.part_values == []
    with pytest.raises(ValueError, match="parts"):
        chips.set_data(["a", "b"], [1.0, 2.0], parts=[[{"text": "a", "score": 1.0}]])
    with pytest.raises(ValueError, match="finite"):
        chips.set_data(["a"], [1.0], parts=[[{"text": "a", "score": float("inf")}]])


def test_show_sentences_expands_into_the_words(explanation: igw.Explanation) -> None:
    chips = igw.SaliencyChips.from_explanation(explanation, level="sentence")
    assert len(chips.tokens) == len(chips.parts) >= 1
    words = [part["text"] for parts in chips.parts for part in parts]
    assert words == [w.text for w in explanation.words]
    flat = [part["score"] for parts in chips.parts for part in parts]
    np.testing.assert_allclose(flat, explanation.for_class(explanation.predicted).word_scores)
    np.testing.assert_allclose(chips.scores, [sum(p["score"] for p in ps) for ps in chips.parts])


def test_vmax_shares_one_scale_between_rows() -> None:
    weak = igw.SaliencyChips(tokens=["a", "b"], scores=[0.007, -0.002])
    assert weak.values == pytest.approx([1.0, -0.2857], abs=1e-4)  # its own max: full colour
    weak.vmax = 0.43  # the largest |score| of every row
    assert weak.values == pytest.approx([0.0163, -0.0047], abs=1e-4)
    weak.vmax = 0.0
    assert weak.values[0] == 1.0
    with pytest.raises(Exception, match="vmax"):
        weak.vmax = -1.0


def test_two_thousand_tokens_are_one_widget_with_compact_state() -> None:
    rng = np.random.default_rng(0)
    tokens = [f"tok{i}" for i in range(2000)]
    scores = rng.normal(size=2000)
    chips = igw.SaliencyChips(tokens=tokens, scores=scores)
    state = chips.get_state()
    assert len(state["tokens"]) == 2000 and len(state["values"]) == 2000
    assert not any(isinstance(value, igw.SaliencyChips) for value in state.values())
    size = len(repr(state["tokens"])) + len(repr(state["scores"])) + len(repr(state["values"]))
    assert size < 120_000  # one message of ~100 kB, not 2,000 widgets


def test_bars_order_and_top_k() -> None:
    bars = igw.AttributionBars(tokens=list("abcde"), scores=[0.1, -0.9, 0.5, 0.0, -0.3])
    assert bars.rows == [0, 1, 2, 3, 4]
    bars.set_state({"order": "sorted"})
    assert bars.rows == [1, 2, 4, 0, 3]
    bars.set_state({"top_k": 2})
    assert bars.rows == [1, 2]
    bars.set_state({"order": "text", "top_k": 3})
    assert bars.rows == [1, 2, 4]
    with pytest.raises(Exception, match="order must be one of"):
        bars.order = "random"
    with pytest.raises(Exception, match="top_k"):
        bars.top_k = -1


def test_bars_from_explanation(explanation: igw.Explanation) -> None:
    bars = igw.AttributionBars.from_explanation(explanation, target=1, level="token", top_k=3)
    assert bars.scores == explanation.scores[1].tolist()
    assert len(bars.rows) == 3
    assert set(bars.rows) == set(np.argsort(-np.abs(explanation.scores[1]))[:3].tolist())


def test_bars_show_all_keeps_top_k_to_come_back_to() -> None:
    bars = igw.AttributionBars(tokens=list("abcde"), scores=[0.1, -0.9, 0.5, 0.0, -0.3], top_k=2)
    assert bars.rows == [1, 2] and bars.unit == "words"
    bars.set_state({"show_all": True})  # the "show all" button
    assert bars.rows == [0, 1, 2, 3, 4] and bars.top_k == 2
    bars.set_state({"show_all": False})  # "show top 2"
    assert bars.rows == [1, 2]


@pytest.mark.parametrize("palette", list(PALETTES))
@pytest.mark.parametrize("theme", list(BACKGROUNDS))
def test_strongest_chip_keeps_theme_text_legible(palette: str, theme: str) -> None:
    # the template paints rgba(hue, |v| * MAX_ALPHA) over the theme and keeps its text colour
    background = np.array(BACKGROUNDS[theme], dtype=float)
    text = (0, 0, 0) if theme == "light" else (255, 255, 255)
    for hue in PALETTES[palette]:
        for strength in (0.0, 0.5, 1.0):
            alpha = strength * MAX_ALPHA
            chip = tuple(round(float(c)) for c in background + alpha * (np.array(hue) - background))
            assert contrast_ratio(chip, text) >= 4.5, (palette, theme, hue, strength)


def test_templates_exist_define_the_dom_contract_and_never_use_v_html() -> None:
    for name in ("chips.vue", "bars.vue", "explorer.vue"):
        path = Path(_templates.template_path(name))
        assert path.is_file()
        source = path.read_text()
        assert "v-html" not in source and "innerHTML" not in source
    chips = (JS / "chips.vue").read_text()
    assert 'class="igw-chips"' in chips and 'class="igw-chip"' in chips
    assert ':data-index="i"' in chips and ':data-score="scores[i]"' in chips
    assert "{{ token }}" in chips and "{{ word.text }}" in chips
    assert ":data-oov=" in chips and "not in the model's vocabulary" in chips
    bars = (JS / "bars.vue").read_text()
    assert 'class="igw-bars"' in bars and 'class="igw-bar"' in bars and ':data-index="i"' in bars
    assert 'aria-label="show-all-bars"' in bars
    explorer = (JS / "explorer.vue").read_text()
    assert 'class="igw-explorer"' in explorer and 'class="igw-delta"' in explorer
    assert ':data-method="method"' in explorer and ':items="rule_items"' in explorer
    for name in ("igw-baseline", "igw-baseline-switch", "igw-note"):
        assert f'class="{name}"' in explorer, name
    assert "include legend.html" in explorer and 'value="sentence"' in explorer
    expanded = _templates.vue_template("explorer.vue")  # the steps control is a shared part
    for label in ("text", "steps", "method", "target", "baseline", "level"):
        assert re.search(rf'aria-label="{label}"', expanded), label
    compare = (JS / "compare.vue").read_text()
    assert 'aria-label="scale"' in compare and 'v-model="scale"' in compare
    for path in JS.rglob("*.*"):
        assert "v-html" not in path.read_text(), path


def test_the_baseline_box_commits_only_a_chosen_item_or_enter() -> None:
    explorer = (JS / "explorer.vue").read_text()
    box = explorer[explorer.index("<v-autocomplete") : explorer.index("</v-autocomplete>")]
    # the typed text is the template's own; the synced baseline is only read, never v-model
    assert 'v-model:search="baselineQuery"' in box and ':model-value="baseline"' in box
    assert 'v-model="' not in box
    assert '@update:search="searchBaseline"' in box and '@keydown.enter="enterBaseline"' in box
    assert "baselineQuery: ''" in explorer and "this.choose_baseline(" in explorer


def test_every_completeness_badge_carries_its_numbers() -> None:
    badges = 0
    for path in JS.glob("*.vue"):
        source = path.read_text()
        for match in re.finditer(r'<span class="igw-delta"[^>]*>', source):
            assert 'v-bind="badgeAttrs(' in match.group(0), path
            assert "include badge.js" in source, path
            badges += 1
    assert badges >= 2  # the Explorer's and each Compare row's
    part = (JS / "parts" / "badge.js").read_text()
    for attribute in ("data-total", "data-diff", "data-delta"):
        assert f"'{attribute}'" in part, attribute


def test_generated_constants_follow_python() -> None:
    source = _templates.vue_template("explorer.vue")
    palettes = re.search(r"^const PALETTES = (.*);$", source, re.MULTILINE)
    assert palettes is not None
    assert json.loads(palettes.group(1)) == {k: [list(h) for h in v] for k, v in PALETTES.items()}
    assert f"const DELTA_TOLERANCE = {DELTA_TOLERANCE!r};" in source


def test_no_synced_trait_is_named_like_a_vue_option() -> None:
    # a trait `methods` once shadowed Vue's own option: the method menu rendered empty
    from ig_widgets.widgets.teaching.charts import ChartWidget

    vue_options = {"data", "props", "computed", "methods", "watch", "emits", "components"}
    vue_options |= {"directives", "mixins", "extends", "setup", "render", "provide", "inject"}
    classes = [igw.SaliencyChips, igw.AttributionBars, igw.Explorer, igw.Compare]
    classes += [igw.PathView, igw.ConvergenceView, igw.BaselineLab, ChartWidget]
    for cls in classes:
        ours = [k for k in cls.__mro__ if k.__module__.startswith("ig_widgets")]
        synced = {
            n for k in ours for n, v in vars(k).items() if getattr(v, "metadata", {}).get("sync")
        }
        assert not synced & vue_options, (cls.__name__, synced & vue_options)
        # nor like a method or computed property of its template (watchers name traits)
        source = cls.class_traits()["template"].default_value
        script = source[source.find("<script>") :] if "<script>" in source else ""
        script = re.sub(r"^  watch: \{.*?^  \},", "", script, flags=re.MULTILINE | re.DOTALL)
        own = set(re.findall(r"^ {2,4}(\w+)\(", script, re.MULTILINE))
        assert not synced & own, (cls.__name__, synced & own)


def test_template_lookup_reports_missing_files() -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.vue"):
        _templates.template_path("nope.vue")
    with pytest.raises(FileNotFoundError, match=r"parts/nope\.html"):
        _templates.expand_parts("<div>\n  <!-- include nope.html -->\n</div>")


def test_every_synced_trait_of_the_widgets_says_what_it_is() -> None:
    import traitlets

    from ig_widgets.widgets.teaching.charts import ChartWidget

    classes = [igw.SaliencyChips, igw.AttributionBars, igw.Explorer, igw.Compare]
    classes += [igw.PathView, igw.ConvergenceView, igw.BaselineLab, ChartWidget]
    for cls in classes:
        ours = [k for k in cls.__mro__ if k.__module__.startswith("ig_widgets")]
        for klass in ours:
            for name, trait in vars(klass).items():
                if isinstance(trait, traitlets.TraitType) and trait.metadata.get("sync"):
                    assert trait.help, f"{klass.__name__}.{name} has no help"
