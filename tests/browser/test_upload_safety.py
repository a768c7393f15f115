"""Uploads in a shared server, in a real browser: a hostile file hurts nobody else; a
researcher's binary model opens with its class names and a correctable card."""

from __future__ import annotations

import re

import keras
import numpy as np

from core import api
from core.inputs.samples import colour_scenes
from core.model.card import PREPROCESSING_TEXT
from tests.hostile_files import function_activation, huge_trace

from ._helpers import TIMEOUT_MS, expect, metric_value, open_app, wait_for_app

VGG = "VGG-style CNN on CIFAR-10"


def _choose_model(page, title: str) -> None:
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name=title).click()
    wait_for_app(page)


def _upload(page, label: str, path) -> None:
    """Give the sidebar uploader labelled `label` a file; return once the app took it."""
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    uploader = sidebar.locator('[data-testid="stFileUploader"]').filter(has_text=label)
    uploader.locator('input[type="file"]').set_input_files(path)
    expect(uploader.get_by_text(path.name)).to_be_visible()  # the file chip: upload received
    wait_for_app(page, TIMEOUT_MS * 3)  # the first upload starts the sandbox


def test_hostile_upload_leaves_another_session_alone(browser, app_url, tmp_path):
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        a, b = ctx_a.new_page(), ctx_b.new_page()
        for pg in (a, b):
            pg.app_url = app_url
        open_app(b)
        _choose_model(b, VGG)
        cifar = re.compile(r"^[a-z]+$")  # a CIFAR-10 class, not LeNet's digit of the first run
        expect(metric_value(b, "Prediction")).to_have_text(cifar)
        before = metric_value(b, "Prediction").inner_text()
        conf_before = b.get_by_text(re.compile(r"^confidence ")).first.inner_text()
        open_app(a)
        _choose_model(a, "Upload a Keras model…")
        for name, data, phrase in (function_activation(), huge_trace()):
            path = tmp_path / name
            path.write_bytes(data)
            _upload(a, "Keras model", path)
            alert = a.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').filter(
                has_text=name
            )
            expect(alert).to_contain_text(phrase)
            expect(a.locator('[data-testid="stException"]')).to_have_count(0)
        # The other session reruns its trace of the built-in VGG: the same answer.
        b.reload()
        wait_for_app(b)
        _choose_model(b, VGG)
        expect(metric_value(b, "Prediction")).to_have_text(cifar)
        expect(metric_value(b, "Prediction")).to_have_text(before)
        expect(b.get_by_text(re.compile(r"^confidence ")).first).to_have_text(conf_before)
    finally:
        ctx_a.close()
        ctx_b.close()


def _binary_colour_model() -> keras.Model:
    """p(cat) = σ(mean pixel value − 2): a dog on [0, 1] input, a cat on 0–255 input."""
    x = keras.Input((32, 32, 3))
    y = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(x)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(
        keras.layers.Concatenate()([y, x[:, 1:-1, 1:-1]])
    )
    dense = keras.layers.Dense(1, activation="sigmoid", name="cat_or_dog")
    model = keras.Model(x, dense(y), name="pets")
    dense.set_weights(
        [
            np.array([[0.0], [0.0], [1 / 3], [1 / 3], [1 / 3]], np.float32),
            np.array([-2.0], np.float32),
        ]
    )
    return model


def test_binary_model_with_labels_file_and_a_corrected_range(page, tmp_path):
    model = _binary_colour_model()
    model_path = tmp_path / "pets.keras"
    model.save(model_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("dog\ncat\n")
    scene = colour_scenes()[0]
    m = api.load(model_path, card={"labels": ["dog", "cat"]})
    x = api.prepare(m, scene.raw)[0]
    q = float(model(x[None]).numpy()[0, 0])  # what the model itself says, [0, 1] input
    assert q < 0.5

    open_app(page)
    _choose_model(page, "Upload a Keras model…")
    _upload(page, "its card", labels)
    _upload(page, "Keras model", model_path)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("one sigmoid unit: a binary classifier")).to_be_visible()
    # A colour model's session starts on the first colour scene.
    expect(page.get_by_role("combobox", name="Current sample")).to_have_value(scene.name)
    expect(metric_value(page, "Prediction")).to_have_text("dog")
    expect(page.get_by_text(f"confidence {1 - q:.1%}")).to_be_visible()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart.locator("text").filter(has_text=re.compile(r"^cat$"))).to_have_count(1)
    expect(chart.locator("text").filter(has_text=re.compile(r"^dog$"))).to_have_count(1)

    # The model was trained on 0–255: say so in the card form; the prediction follows at once.
    sidebar.get_by_role("combobox", name="Input scaling").click()
    page.keyboard.type(PREPROCESSING_TEXT["0-255"][:14])  # the selectbox filters as you type
    page.keyboard.press("Enter")
    expect(sidebar.get_by_role("combobox", name="Input scaling")).to_have_value(
        PREPROCESSING_TEXT["0-255"]
    )
    sidebar.get_by_role("button", name="Apply").click()
    wait_for_app(page)
    q255 = float(model((x * 255)[None]).numpy()[0, 0])
    expect(metric_value(page, "Prediction")).to_have_text("cat")
    expect(page.get_by_text(f"confidence {q255:.1%}")).to_be_visible()
