"""AppTest: every page renders without exception, with the built-in model and a sample selected.

AppTest (Streamlit 1.67) runs app.py only on the first run; later runs execute the current page
alone with the session state the first run left. So state is set before the first run, and the
sidebar (app.py) is checked on that run.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ["pages/trace.py", "pages/compare.py", "pages/structure.py"]


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
    assert at.title[0].value in ("Trace", "Compare two inputs", "Structure")


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
