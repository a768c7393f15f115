"""AppTest: Compare models' defaults (issue 35, item 10): B is a model made for A's inputs,
the inputs are ones both models were made for, and every layer of the heatmap is labelled."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app._app import open_app

pytestmark = pytest.mark.slow  # CKA over two models' traces


def _page(**state) -> AppTest:
    return open_app("pages/compare_models.py", **state)


def test_a_colour_model_is_compared_with_a_colour_model_on_colour_inputs():
    at = _page(model_choice="vgg_cifar10")
    assert at.selectbox(key="cmp_model_b").value == "vgg_cifar10"  # was LeNet (digits)
    assert at.radio(key="cmp_inputs").value.startswith("built-in samples of both models")
    heat = next(c for c in at.get("vega_lite_chart") if "layer A" in c.proto.spec)
    spec = json.loads(heat.proto.spec)
    for axis in ("x", "y"):
        assert spec["encoding"][axis]["axis"]["labelOverlap"] is False


def test_a_model_made_for_other_inputs_is_given_only_as_own_inputs():
    """Digits and CIFAR scenes mixed (CKA 0.76 at the input) are no longer the default."""
    at = _page(model_choice="vgg_cifar10")
    own = int(at.radio(key="cmp_inputs").value.rsplit("(", 1)[1].rstrip(")"))
    at.selectbox(key="cmp_model_b").set_value("lenet_mnist").run()
    assert not at.exception, [e.value for e in at.exception]
    choice = at.radio(key="cmp_inputs").value
    assert choice == f"built-in samples of model A ({own})", choice
    assert any(f"{own} inputs" in s.value for s in at.subheader)


def test_a_chart_with_more_rows_than_altairs_guard_is_drawn():
    """A ResNet50 (177 layers) against the VGG (39) is a 6,903-cell CKA map."""

    def script() -> None:
        import altair as alt
        import pandas as pd

        from pages._widgets import altair

        df = pd.DataFrame({"a": range(6903), "b": range(6903)})
        altair(lambda: alt.Chart(df).mark_rect().encode(x="a:O", y="b:O"), key="big", deps=(df,))

    at = AppTest.from_function(script, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_fewer_inputs_can_be_compared_as_a_refusal_advises():
    """A refusal says "use fewer inputs (about 6 fit)": the page lets the user pick how many."""
    at = _page(model_choice="vgg_cifar10")
    n = int(at.radio(key="cmp_inputs").value.rsplit("(", 1)[1].rstrip(")"))
    slider = next(s for s in at.slider if s.label == "How many of them")
    assert (slider.min, slider.max, slider.value) == (3, n, n)
    slider.set_value(6).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("6 inputs" in s.value for s in at.subheader), [s.value for s in at.subheader]
