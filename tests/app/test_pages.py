"""AppTest: every page renders without exception, with the built-in model and a sample selected.

AppTest (Streamlit 1.67) runs app.py only on the first run; later runs execute the current page
alone with the session state the first run left. So state is set before the first run, and the
sidebar (app.py) is checked on that run.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.models import ASSETS, builtin_names

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["pages/trace.py", "pages/compare.py", "pages/freeze.py", "pages/structure.py"]


def _app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_builtin_model_and_sample(page):
    at = _app()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["model"].name == "lenet_mnist"
    assert at.title[0].value in ("Trace", "Compare two inputs", "Freeze filters", "Structure")


IMAGE_MODELS = [n for n in builtin_names() if n != "lenet_mnist"
                and json.loads((ASSETS / f"{n}.json").read_text())["input"]["kind"] == "image"]


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_other_builtin_image_models(name, page):
    at = _app(model_choice=name)
    assert at.session_state["model"].name == name
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_sidebar_has_model_picker_and_sample_list():
    at = _app()
    assert at.sidebar.selectbox(key="model_choice").value == "lenet_mnist"
    assert at.sidebar.selectbox(key="selected").value == "digit 0 (style 1)"
    assert len(at.session_state["samples"]) == 10


def test_trace_shows_the_prediction_of_the_selected_sample():
    at = _app(selected="digit 7 (style 1)")
    assert not at.exception
    metric = [m for m in at.metric if m.label == "Prediction"]
    assert metric and metric[0].value == "7"


def test_compare_shows_two_predictions():
    at = _app()
    at.switch_page("pages/compare.py")
    at.run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["Prediction A"] == "0" and labels["Prediction B"] == "1"


def test_switching_the_colour_scale_keeps_the_page_working():
    at = _app()
    at.radio(key="scale").set_value("per-channel").run()
    assert not at.exception


def test_freeze_page_shows_the_mutated_prediction_and_ranks_filters():
    at = _app(selected="digit 7 (style 1)")
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
    _, _, layer, df, n_labelled = at.session_state["importance"]
    assert layer == at.selectbox(key="imp_layer").value
    assert n_labelled == 30 and len(df) == at.session_state["model"].tracer(
        np.zeros((1, 28, 28, 1), np.float32))[layer].shape[-1]
