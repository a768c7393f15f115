"""AppTest: a difference of dense outputs (Freeze's after − before, Compare's A − B) is drawn
on a diverging scale centred on zero: "no change" is white, not the sequential map's brightest
colour (issue 35, item 5)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.app._app import APP

pytestmark = pytest.mark.slow  # AppTest runs of Freeze and Compare


def _strip(at: AppTest) -> np.ndarray:
    """The heat strip of the difference (its caption says so) as an RGB array."""
    img = next(
        el
        for el in at.get("image")
        if any("heat strip" in c and "white 0" in c for c in el.captions)
    )
    url = img.proto.imgs[0].url
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def _mostly_white(rgb: np.ndarray) -> float:
    return float((rgb.min(axis=-1) > 235).mean())


def test_freeze_after_minus_before_of_flatten_is_white_where_nothing_changed():
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["selected"] = "digit 7 (style 1)"
    at.run()
    at.switch_page("pages/freeze.py")
    at.run()
    at.selectbox(key="freeze_layer").set_value("conv2").run()
    # The filter tiles are a browser component; the configuration they write is set directly.
    at.session_state["frozen"][at.session_state["model"].sha256]["conv2"] = [0, 1, 2]
    at.run()
    at.selectbox(key="freeze_show").set_value("flatten").run()
    assert not at.exception, [e.value for e in at.exception]
    strip = _strip(at)
    # Three of 64 channels frozen: most of flatten's 1024 units did not change (white).
    assert _mostly_white(strip) > 0.5, _mostly_white(strip)


def test_compare_a_minus_b_of_a_dense_layer_is_diverging():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/compare.py")
    at.run()
    layer = next(k for k in at.selectbox if k.key and k.key.endswith("_layer"))
    layer.set_value("flatten").run()
    assert not at.exception, [e.value for e in at.exception]
    strip = _strip(at)
    red = (strip[..., 0] > 180) & (strip[..., 2] < 120)
    blue = (strip[..., 2] > 180) & (strip[..., 0] < 120)
    assert red.any() and blue.any()  # both signs, on one scale centred on zero
