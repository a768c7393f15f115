"""AppTest: every page renders without exception, with the built-in model and a sample selected.

AppTest (Streamlit 1.67) runs app.py only on the first run; later runs execute the current page
alone with the session state the first run left. So state is set before the first run, and the
sidebar (app.py) is checked on that run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.model.load import ASSETS, builtin_names
from pages._state import IMAGE_INPUT_TABS, MATTERS_TABS
from tests.app._app import open_app

# AppTest runs of every page with the real models (minutes): not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow

# The Audio page's lazy view tabs (their labels are their values).
HEAR_TAB = ":material/hearing: Hear a filter"
COMPARE_TAB = ":material/compare: Compare"
PAGES = [
    "pages/trace.py",
    "pages/compare.py",
    "pages/freeze.py",
    "pages/attack.py",
    "pages/filters.py",
    "pages/structure.py",
]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_builtin_model_and_sample(page):
    at = open_app()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["model"].name == "lenet_mnist"
    assert at.title[0].value in (
        "Trace",
        "Compare two inputs",
        "Freeze filters",
        "Attack lab",
        "Filters",
        "Structure",
    )


IMAGE_MODELS = [
    n
    for n in builtin_names()
    if n != "lenet_mnist"
    and json.loads((ASSETS / f"{n}.json").read_text())["input"]["kind"] == "image"
]


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_other_builtin_image_models(name, page):
    at = open_app(model_choice=name)
    assert at.session_state["model"].name == name
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_sidebar_has_model_picker_and_sample_list():
    at = open_app()
    assert at.sidebar.selectbox(key="model_choice").value == "lenet_mnist"
    assert at.sidebar.selectbox(key="selected").value == "digit 0 (style 1)"
    assert len(at.session_state["samples"]) == 10


def test_trace_shows_the_prediction_of_the_selected_sample():
    at = open_app(selected="digit 7 (style 1)")
    assert not at.exception
    metric = [m for m in at.metric if m.label == "Prediction"]
    assert metric and metric[0].value == "7"


def test_compare_shows_two_predictions():
    at = open_app()
    at.switch_page("pages/compare.py")
    at.run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["Prediction A"] == "0" and labels["Prediction B"] == "1"


def test_switching_the_colour_scale_keeps_the_page_working():
    at = open_app()
    at.radio(key="scale").set_value("per-channel").run()
    assert not at.exception


def test_freeze_page_shows_the_mutated_prediction_and_ranks_filters():
    at = open_app(selected="digit 7 (style 1)")
    sha = at.session_state["model"].sha256
    at.session_state["frozen"] = {sha: {"conv2": list(range(64))}}  # silence the whole layer
    at.switch_page("pages/freeze.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction"] == "7"
    assert metrics["Prediction with frozen filters"] in at.session_state["model"].labels
    at.button(key="rank").click().run()
    assert not at.exception, [e.value for e in at.exception]
    got = at.session_state["importance"]  # Kept((model, sample, layer), Ranking)
    (_, _, layer), (df, n_labelled) = got
    assert layer == at.selectbox(key="imp_layer").value
    # the current sample and 200 held-out inputs, all labelled
    assert (
        n_labelled == 201
        and len(df)
        == at.session_state["model"].tracer(np.zeros((1, 28, 28, 1), np.float32))[layer].shape[-1]
    )


def test_freeze_defaults_to_a_convolution_and_top_k_adds_to_the_hand_picked_filters():
    at = open_app(selected="digit 0 (style 1)")
    sha = at.session_state["model"].sha256
    at.switch_page("pages/freeze.py").run()
    assert at.selectbox(key="freeze_layer").value == "conv2"  # not pool2
    hand = [10, 11, 12]
    at.session_state["frozen"][sha]["conv2"] = list(hand)
    at.run()
    at.button(key="rank").click().run()
    assert not at.exception, [e.value for e in at.exception]
    df = at.session_state["importance"].result.table
    # Ranked by the logit drop, which is not all zero where the probability drop is.
    assert list(df["logit_drop"]) == sorted(df["logit_drop"], reverse=True)
    assert df["logit_drop"].abs().max() > 1e-3
    assert any("logit" in i.value for i in at.info)
    best = [int(c) for c in df["channel"].head(3)]
    assert not set(best) & set(hand)
    at.button(key="freeze_topk").click().run()
    assert at.session_state["frozen"][sha]["conv2"] == sorted(set(hand) | set(best))
    # Replacing asks first (it would release the hand-picked ones); Cancel keeps them.
    at.button(key="replace_topk").click().run()
    assert at.session_state["frozen"][sha]["conv2"] == sorted(set(hand) | set(best))
    assert any("would release 3 filters" in w.value for w in at.warning)
    at.button(key="replace_no").click().run()
    assert at.session_state["frozen"][sha]["conv2"] == sorted(set(hand) | set(best))
    at.button(key="replace_topk").click().run()
    at.button(key="replace_yes").click().run()
    assert at.session_state["frozen"][sha]["conv2"] == sorted(best)
    assert not at.exception, [e.value for e in at.exception]


def test_trace_and_compare_apply_the_freeze_configuration_and_say_so_attack_says_it_does_not():
    from core import api
    from core.inputs.samples import gallery_digits

    m = api.load("lenet_mnist")
    raw = next(s for s in gallery_digits() if s.name == "digit 7 (style 1)").raw
    frozen = {"conv2": list(range(64))}
    tr = api.trace(m, raw, frozen=frozen)
    expect = m.labels[int(np.argmax(api.probabilities_from_trace(m, tr)))]
    assert expect != "7"  # freezing the whole layer changes the answer
    at = open_app(selected="digit 7 (style 1)")
    at.session_state["frozen"] = {at.session_state["model"].sha256: frozen}
    at.run()
    metrics = {x.label: x.value for x in at.metric}
    assert metrics["Prediction"] == expect
    assert any(
        "64 frozen filters" in c.value and "Applied on this page" in c.value for c in at.caption
    )
    at.toggle(key="trace_unfrozen").set_value(True).run()  # one click: the plain model
    assert {x.label: x.value for x in at.metric}["Prediction"] == "7"
    assert any("Not applied now" in c.value for c in at.caption)
    assert at.session_state["frozen"][at.session_state["model"].sha256] == frozen  # kept

    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert {x.label: x.value for x in at.metric}["Prediction A"] == expect
    at.toggle(key="compare_unfrozen").set_value(True).run()
    assert {x.label: x.value for x in at.metric}["Prediction A"] == "7"

    at.switch_page("pages/attack.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Not applied on the Attack page" in c.value for c in at.caption)


# ---- audio ------------------------------------------------------------------------------------------
AUDIO_PAGES = PAGES + ["pages/audio.py"]


@pytest.mark.parametrize("page", AUDIO_PAGES)
def test_every_page_renders_with_the_spoken_digit_model(page):
    at = open_app(model_choice="spoken_digits", selected='"seven" (en-us-f3)')
    assert at.session_state["model"].kind == "audio"
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_audio_page_predicts_edits_and_compares():
    at = open_app(model_choice="spoken_digits", selected='"seven" (en-us-f3)')
    at.switch_page("pages/audio.py")
    at.run()
    assert {m.label: m.value for m in at.metric}["Prediction"] == "7"
    # the card's held-out numbers, real speakers first
    held_out = next(c.value for c in at.caption if "Held-out accuracy" in c.value)
    assert held_out.index("real speakers") < held_out.index("FSDD speaker theo")
    # a loudness edit keeps the word; the stack shows it and both predictions appear
    at.selectbox(key="edit_op").set_value("gain").run()
    at.button(key="apply_edit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    key = next(iter(at.session_state["audio_edits"]))
    assert [e.name for e in at.session_state["audio_edits"][key]] == ["gain"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction (original)"] == "7" and metrics["Prediction (edited)"] == "7"
    at.session_state["audio_view_tab"] = COMPARE_TAB  # lazy tabs: only the open one runs
    at.run()
    assert at.selectbox(key="audio_compare_b_True").value == "(the edited clip)"
    assert {"Prediction A", "Prediction B"} <= set(m.label for m in at.metric)
    # undo empties the stack again
    at.button(key="undo_edit").click().run()
    assert at.session_state["audio_edits"][key] == []
    assert "Prediction (edited)" not in {m.label for m in at.metric}


def test_an_edit_that_does_not_fit_the_clip_is_refused_with_a_message():
    at = open_app(model_choice="spoken_digits", selected='"two" (en-us-f3)')
    at.switch_page("pages/audio.py")
    at.run()
    at.selectbox(key="edit_op").set_value("slice").run()
    start = next(w for w in at.number_input if w.label == "Start (s)")
    end = next(w for w in at.number_input if w.label == "End (s)")
    start.set_value(0.5)
    end.set_value(0.2).run()  # end before start
    at.button(key="apply_edit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and "end" in at.error[0].value.lower()
    key = next(iter(at.session_state["audio_edits"]))
    assert at.session_state["audio_edits"][key] == []


def test_hear_a_filter_with_griffin_lim_and_with_frozen_filters(monkeypatch):
    import logging

    from streamlit.elements.lib import policies

    # Streamlit logs "created with a default value but also had its value set via the Session
    # State API" once per process (issue 35 item 13: hear_layer did, on every run).
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    policies._LOGGER.addHandler(handler)
    at = open_app(model_choice="spoken_digits", selected='"five" (en-us-f3)')
    sha = at.session_state["model"].sha256
    at.session_state["frozen"] = {sha: {"block1_relu": [0, 1]}}
    at.session_state["audio_view_tab"] = HEAR_TAB
    at.switch_page("pages/audio.py")
    at.run()
    assert at.toggle(key="hear_frozen").value is True
    at.radio(key="hear_method").set_value("griffinlim").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.label == "Download WAV" for b in at.get("download_button"))
    at.selectbox(key="hear_layer").set_value(at.selectbox(key="hear_layer").options[0]).run()
    policies._LOGGER.removeHandler(handler)
    assert not [r.args for r in records if "default value" in r.getMessage()]


def test_audio_page_offers_the_audio_model_when_an_image_model_is_picked():
    at = open_app()
    at.switch_page("pages/audio.py")
    at.run()
    assert not at.exception
    assert at.button(key="to_audio_model").label.startswith("Switch to")
    at.button(key="to_audio_model").click().run()
    assert at.session_state["model_choice"] == "spoken_digits"


# ---- attacks ---------------------------------------------------------------------------------------------
def test_attack_page_runs_fgsm_adds_the_adversarial_and_sweeps():
    at = open_app(selected="digit 7 (style 1)")
    at.switch_page("pages/attack.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="atk_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction before"] == "7" and metrics["Prediction after"] != "7"
    assert at.success and "FGSM changed the prediction" in at.success[0].value
    n = len(at.session_state["samples"])
    at.button(key="atk_add").click().run()
    assert len(at.session_state["samples"]) == n + 1
    added = list(at.session_state["samples"].values())[-1]
    # The raw format (issue 35 item 2): [0, 1] floats, one channel as (H, W).
    assert added.source == "adversarial" and added.raw.shape == (28, 28)
    assert added.raw.dtype == np.float32 and 0 <= added.raw.min() <= added.raw.max() <= 1
    # Section 3 compares A and B without repeating section 2's predictions (item 13).
    assert [m.label for m in at.metric].count("Prediction A") == 0
    # The sweep's default range stays within the page's ε units (Streamlit would silently
    # widen the slider to a default beyond its max).
    from core.analysis.attack_space import epsilon_units

    units = epsilon_units(at.session_state["model"], "Linf")
    sw = at.slider(key="sw_range_image_Linf")
    assert sw.max == units.max and units.min <= sw.value[0] < sw.value[1] <= units.max
    at.number_input(key="sw_nmax").set_value(5)
    at.button(key="sw_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    df = at.session_state["sweep_result"].result.table
    assert len(df) == 5 and (df["n"] == 5).all() and df["levels"].max() <= units.max


def test_attack_page_refuses_a_target_for_an_untargeted_method_by_disabling_it():
    at = open_app()
    at.switch_page("pages/attack.py")
    at.run()
    assert at.selectbox(key="atk_target").disabled
    at.selectbox(key="atk_method").set_value("LinfPGD").run()
    assert not at.selectbox(key="atk_target").disabled


def test_attack_page_on_the_audio_model():
    at = open_app(model_choice="spoken_digits", selected='"two" (en-us-f3)')
    at.switch_page("pages/attack.py")
    at.run()
    at.selectbox(key="atk_method").set_value("LinfPGD").run()
    at.button(key="atk_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Prediction after" in {m.label for m in at.metric}


# ---- the colour model -----------------------------------------------------------------------------------
def test_colour_model_starts_on_a_drawn_scene_and_shows_its_gallery():
    at = open_app(model_choice="vgg_cifar10")
    assert at.sidebar.selectbox(key="selected").value == "drawn airplane"
    metric = [m for m in at.metric if m.label == "Prediction"]
    assert metric and metric[0].value == "airplane"
    assert at.color_picker(key="ink_colour").value.lower() == "#c0392b"
    at.session_state["trace_input_tab"] = IMAGE_INPUT_TABS[2]
    at.run()
    assert any(b.label == "Load 30 real CIFAR-10 test images (needs internet)" for b in at.button)


def _image_captions(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


@pytest.mark.parametrize(
    "model, sample, layer",
    [
        # The positive evidence sits in different outputs of the last conv block: for the VGG on
        # this scene its ReLU output is all zero, for the audio model its conv output can be.
        ("vgg_cifar10", "drawn airplane", "block3_conv3"),
        ("spoken_digits", '"seven" (en-us-f3)', "block4_relu"),
    ],
)
def test_grad_cam_auto_layer_finds_positive_evidence(model, sample, layer):
    at = open_app(model_choice=model, selected=sample, freeze_matters_tab=MATTERS_TABS[1])
    at.switch_page("pages/freeze.py").run()
    at.radio(key="sal_method").set_value("Grad-CAM").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sal_layer").value.startswith("auto")
    assert any(c.endswith(f"at {layer}") for c in _image_captions(at)), _image_captions(at)
    assert not [i for i in at.info if "zero everywhere" in i.value]


def test_grad_cam_on_a_layer_without_positive_evidence_says_so():
    at = open_app(
        model_choice="vgg_cifar10", selected="drawn airplane", freeze_matters_tab=MATTERS_TABS[1]
    )
    at.switch_page("pages/freeze.py").run()
    at.radio(key="sal_method").set_value("Grad-CAM").run()
    at.selectbox(key="sal_layer").set_value("block3_relu3").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i for i in at.info if "zero everywhere" in i.value and "block3_relu3" in i.value]


def test_audio_hear_settings_survive_a_visit_to_another_tab():
    """The view tabs are lazy (only the open one runs); the Hear tab's widgets keep their
    values while another tab is open."""
    at = open_app(model_choice="spoken_digits", selected='"five" (en-us-f3)')
    at.session_state["audio_view_tab"] = HEAR_TAB
    at.switch_page("pages/audio.py")
    at.run()
    at.number_input(key="hear_channel").set_value(5).run()
    at.radio(key="hear_method").set_value("griffinlim").run()
    at.session_state["audio_view_tab"] = ":material/stacks: Every layer"
    at.run()
    assert not at.get("number_input") or all(n.key != "hear_channel" for n in at.number_input)
    at.session_state["audio_view_tab"] = HEAR_TAB
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="hear_channel").value == 5
    assert at.radio(key="hear_method").value == "griffinlim"


@pytest.mark.parametrize("model", builtin_names())
def test_structure_shows_a_fresh_clones_recipe_and_no_developer_paths(model):
    """Issue 35 item 13: the VGG card's training command showed ../shared/data/cifar10 (a folder
    of the training machine); the retrain chain is what a user with a fresh clone runs."""
    at = open_app("pages/structure.py", model_choice=model)
    shown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    code = [c.value for c in at.code]
    for text in shown + code:
        for dev in ("../shared", "/work/", "/home/", "git show"):
            assert dev not in text, (dev, text[:300])
    recipe = [c for c in code if "python scripts/" in c]
    assert recipe and all(line.startswith("python scripts/") for line in recipe[0].splitlines()), (
        recipe
    )


def test_freeze_what_matters_tabs_run_only_the_open_one_and_keep_their_settings():
    """Only the open tab of "What matters" runs (a saliency map costs the browser on every
    rerun); the other tab's settings are kept while it is closed."""
    at = open_app(model_choice="vgg_cifar10", selected="drawn airplane")
    at.switch_page("pages/freeze.py").run()
    assert at.button(key="rank") and not [c for c in _image_captions(at) if "for class" in c]
    at.session_state["freeze_matters_tab"] = MATTERS_TABS[1]
    at.run()
    at.radio(key="sal_method").set_value("Grad-CAM").run()
    at.slider(key="sal_alpha").set_value(0.3).run()
    assert any(c.startswith("Grad-CAM for class") for c in _image_captions(at))
    assert not [b for b in at.button if b.key == "rank"]  # the closed tab did not run
    at.session_state["freeze_matters_tab"] = MATTERS_TABS[0]
    at.run()
    at.session_state["freeze_matters_tab"] = MATTERS_TABS[1]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="sal_method").value == "Grad-CAM"
    assert at.slider(key="sal_alpha").value == 0.3
    # kept values and no widget default beside them (Streamlit would warn)
    assert not [w.value for w in at.warning if "default value" in w.value]
