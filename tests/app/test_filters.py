"""AppTest of the Filters view and of the probe set on the Trace, Freeze and Attack pages."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from pages._state import IMAGE_INPUT_TABS
from tests.app._app import APP, open_app

# AppTest runs of the Filters page (probe-set exemplars): not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


def _filters(**state) -> AppTest:
    return open_app("pages/filters.py", no_errors=True, **state)


def _captions(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def _channels(at) -> list[int]:
    return [
        int(m.value.split("**Channel ")[1].split("**")[0])
        for m in at.markdown
        if m.value.startswith("**Channel ")
    ]


def test_filters_page_shows_exemplars_of_a_conv_layer():
    at = _filters()
    assert at.title[0].value == "Filters"
    assert at.selectbox(key="filters_layer").value == "conv2"  # the last convolution
    assert _channels(at) == list(range(8))
    caps = _captions(at)
    # 9 exemplars per channel, each "activation · true class".
    assert sum(" · " in c for c in caps) == 8 * 9, caps[:12]
    assert any("2000 real MNIST digits" in c.value for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 8  # class profiles
    # Peak and map mean are different statistics, said once (issue 35 item 12).
    assert any("**peak**" in c.value and "**map mean**" in c.value for c in at.caption)


def test_filters_sorted_by_selectivity_and_paged():
    at = _filters()
    at.radio(key="filters_sort").set_value("selectivity").run()
    assert not at.exception, [e.value for e in at.exception]
    first = _channels(at)
    page = at.selectbox(key="filters_page_conv2_selectivity_False")
    page.set_value(1).run()
    second = _channels(at)
    assert len(first) == len(second) == 8 and not set(first) & set(second)


def test_filters_sorted_by_importance_and_with_feature_visualisation():
    at = _filters()
    at.selectbox(key="filters_layer").set_value("conv1").run()
    at.radio(key="filters_sort").set_value("importance").run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum("<br>importance " in m.value for m in at.markdown) == 8  # in each row's head
    at.toggle(key="filters_vis").set_value(True)
    at.session_state["filters_steps"] = 64  # the slider is enabled by the toggle's rerun
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert sum(c.startswith("synthesised: map mean") for c in _captions(at)) == 8


def test_filters_page_on_the_audio_model_has_spectrogram_patches():
    at = _filters(model_choice="spoken_digits", selected='"seven" (en-us-f3)')
    assert at.selectbox(key="filters_layer").value == "block4_conv"
    assert sum(" · " in c for c in _captions(at)) == 8 * 9
    assert any("best sees<br>" in m.value and " Hz" in m.value for m in at.markdown)


def test_trace_gallery_has_real_held_out_images():
    at = AppTest.from_file(APP, default_timeout=300)
    # The input tabs are lazy: only the open one runs (a user clicks the tab first).
    at.session_state["trace_input_tab"] = IMAGE_INPUT_TABS[3]
    at.run()
    at.button(key="real_0").click().run()
    assert not at.exception, [e.value for e in at.exception]
    added = [s for s in at.session_state["samples"].values() if s.source == "probe"]
    assert len(added) == 1 and added[0].raw.shape == (28, 28) and added[0].label is not None


def test_freeze_ranking_shows_the_top_filters_exemplars():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/freeze.py").run()
    at.button(key="rank").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("**What the top filters respond to**") for m in at.markdown)
    df = at.session_state["importance"].result.table
    assert [c.value for c in at.caption if c.value.startswith("filter ")] == [
        f"filter {int(c)}" for c in df["channel"].head(5)
    ]
    assert np.isfinite(df["accuracy_drop"]).all()


@pytest.fixture(scope="module")
def thousand_classes(tmp_path_factory):
    """A small colour model with 1000 classes (an ImageNet-style head)."""
    import keras

    from core import api

    keras.utils.set_random_seed(1)
    x = keras.Input((32, 32, 3))
    y = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    path = tmp_path_factory.mktemp("k") / "thousand.keras"
    keras.Model(x, keras.layers.Dense(1000, activation="softmax")(y)).save(path)
    return api.load(path)


def test_a_1000_class_models_profiles_show_the_top_classes(thousand_classes):
    """Issue 35 item 6: each channel's profile drew all 1000 classes (a 130,000 px page)."""
    import json

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.session_state["model"] = thousand_classes
    at.switch_page("pages/filters.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("vega_lite_chart")
    assert charts
    for ch in charts:
        spec = json.loads(ch.proto.spec)
        assert spec["height"] <= 16 * 10 + 10, spec["height"]
        assert len(spec["encoding"]["y"]["sort"]) == 10
    # Each profile says so in its own title (no element of its own: one a row costs reruns).
    assert all(
        json.loads(ch.proto.spec)["title"]["text"] == "top 10 of 1000 classes" for ch in charts
    )
    assert any("all 1000 classes" in b.proto.label for b in at.get("download_button"))


def test_a_refused_index_shows_its_message_and_no_empty_progress_bar(monkeypatch):
    import streamlit as st

    monkeypatch.setenv("LAYERLAB_JOB_MB", "0.01")  # LeNet's index no longer fits one job
    st.cache_resource.clear()  # an index cached by an earlier test would not be refused
    at = open_app("pages/filters.py")
    assert any("needs about" in e.value and "LAYERLAB_JOB_MB" in e.value for e in at.error), [
        e.value for e in at.error
    ]
    assert not at.get("progress")  # the bar left with its job (it stood empty above the message)
