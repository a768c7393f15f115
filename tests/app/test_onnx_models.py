"""AppTest: every page works on models converted from PyTorch via ONNX (an image CNN and a 1-D
audio CNN from tests/data/onnx_zoo), as an upload leaves them in the session; an attack and
Grad-CAM run on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import api
from pages._state import MATTERS_TABS
from tests.app._app import open_app

pytestmark = pytest.mark.slow  # AppTest runs with converted models

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "data" / "onnx_zoo"
PAGES = [
    "pages/trace.py",
    "pages/compare.py",
    "pages/freeze.py",
    "pages/attack.py",
    "pages/explain.py",
    "pages/compare_models.py",
    "pages/filters.py",
    "pages/concepts.py",
    "pages/audio.py",
    "pages/structure.py",
]


@pytest.fixture(scope="module")
def resnet():
    return api.load(ZOO / "resnet18_narrow.onnx")


@pytest.fixture(scope="module")
def audio():
    return api.load(ZOO / "audio_cnn.onnx")


def _with_model(lm, page: str) -> AppTest:
    return open_app(page, model=lm, no_errors=True)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_a_converted_resnet(resnet, page):
    at = _with_model(resnet, page)
    if page == "pages/trace.py":
        assert [m.value for m in at.metric if m.label == "Prediction"][0] in resnet.labels
        text = " ".join(str(x.value) for x in [*at.markdown, *at.caption, *at.selectbox])
        assert "node_Conv_291" in text or any(
            "node_Conv_291" in str(o) for s in at.selectbox for o in s.options
        )
    if page == "pages/explain.py":
        assert "grad_cam" in at.multiselect(key="explain_methods").value
        assert "Grad-CAM" in list(at.dataframe[0].value["method"])


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_a_converted_audio_cnn(audio, page):
    _with_model(audio, page)


def test_attack_on_a_converted_model_runs(resnet):
    at = _with_model(resnet, "pages/attack.py")
    at.button(key="atk_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Prediction after" for m in at.metric)


def test_freeze_saliency_with_a_resnet(resnet):
    """The Freeze page's saliency tab (only the open tab runs: the page test above opens
    the other) on the converted ResNet."""
    at = open_app("pages/freeze.py", model=resnet, freeze_matters_tab=MATTERS_TABS[1])
    assert not at.error, [e.value for e in at.error]
    assert any(c.startswith("Gradient for class") for el in at.get("image") for c in el.captions)
