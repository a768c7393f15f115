"""AppTest: every page works with a researcher's own models: a binary (one sigmoid unit)
digit classifier and a 16 kHz Conv1D audio model, as an upload leaves them in the session."""

from __future__ import annotations

import keras
import pytest
from streamlit.testing.v1 import AppTest

from core import api
from pages._state import MATTERS_TABS
from tests.app._app import open_app

# AppTest runs with uploaded models (sandboxed loads): not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow

PAGES = [
    "pages/trace.py",
    "pages/compare.py",
    "pages/freeze.py",
    "pages/attack.py",
    "pages/audio.py",
    "pages/concepts.py",
    "pages/structure.py",
]


@pytest.fixture(scope="module")
def binary_digits(tmp_path_factory):
    keras.utils.set_random_seed(3)
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv1")(x)
    y = keras.layers.MaxPooling2D(name="pool")(y)
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv2")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    path = tmp_path_factory.mktemp("m") / "is_seven.keras"
    keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(y)).save(path)
    return api.load(path, card={"labels": ["seven"]})


@pytest.fixture(scope="module")
def kws16k(tmp_path_factory):
    x = keras.Input((16000, 1))
    y = keras.layers.Conv1D(8, 9, strides=8, activation="relu", name="c1")(x)
    y = keras.layers.Conv1D(8, 9, strides=4, activation="relu", name="c2")(y)
    y = keras.layers.GlobalMaxPooling1D()(y)
    path = tmp_path_factory.mktemp("a") / "kws.keras"
    keras.Model(x, keras.layers.Dense(10, activation="softmax")(y)).save(path)
    return api.load(path)


def _with_model(lm, page: str) -> AppTest:
    return open_app(page, model=lm)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_a_binary_digit_model(binary_digits, page):
    at = _with_model(binary_digits, page)
    assert not at.error, [e.value for e in at.error]
    if page == "pages/trace.py":
        assert [m.value for m in at.metric if m.label == "Prediction"][0] in ("not seven", "seven")


def test_attack_on_a_binary_model_runs(binary_digits):
    at = _with_model(binary_digits, "pages/attack.py")
    at.button(key="atk_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Prediction after" for m in at.metric)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_a_16_khz_conv1d_model(kws16k, page):
    at = _with_model(kws16k, page)
    assert not at.error, [e.value for e in at.error]


def test_freeze_saliency_with_a_binary_digits(binary_digits):
    """The Freeze page's saliency tab (only the open tab runs: the page test above opens
    the other) on the binary digit model."""
    at = open_app("pages/freeze.py", model=binary_digits, freeze_matters_tab=MATTERS_TABS[1])
    assert not at.error, [e.value for e in at.error]
    assert any(c.startswith("Gradient for class") for el in at.get("image") for c in el.captions)
