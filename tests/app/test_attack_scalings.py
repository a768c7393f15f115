"""AppTest: the Attack page on keras.applications.ResNet50 (weights=None) with its caffe card
(BGR, 0-255 minus the ImageNet mean): the perturbation is reported in pixel levels of 255 and
the adversarial is traced back in as an image (issue 35, item 2)."""

from __future__ import annotations

import re

import keras
import pytest

from core import api
from tests.app._app import open_app

pytestmark = pytest.mark.slow  # a 25 M-parameter model, built and attacked


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("r") / "resnet50.keras"
    keras.applications.ResNet50(weights=None).save(path)
    m = api.load(path, card={"input": {"preprocessing": "caffe"}})
    assert m.card["input"]["channel_order"] == "BGR"
    return m


def test_attack_compare_and_add_to_samples_under_caffe_scaling(resnet50):
    at = open_app("pages/attack.py", model=resnet50, timeout=600)
    at.number_input(key="atk_eps_image_Linf").set_value(8.0)
    at.button(key="atk_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]  # "Float image values span [-124, 151]"
    levels = [
        float(m.group(1))
        for el in at.get("image")
        for c in el.captions
        if (m := re.search(r"stretched to ±([\d.]+) pixel levels", c))
    ]
    assert levels and 0 < levels[0] <= 8.0 + 1e-3, levels  # was ±2040 (255 × too large)
    at.button(key="atk_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    kept = [s for s in at.session_state["samples"].values() if s.source == "adversarial"]
    assert kept and kept[0].raw.dtype.kind == "f" and kept[0].raw.max() <= 1.0
