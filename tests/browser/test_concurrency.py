"""Eight users at once: each uploads a different model under the same file name, traces and
attacks; each session sees only its own model and results, and every one finishes."""

from __future__ import annotations

import re

import pytest

from ._helpers import TIMEOUT_MS, expect, metric_value, wait_for_app

SESSIONS = 8


def _model_bytes(n_classes: int, tmp_path) -> bytes:
    """A small CNN with n_classes outputs (so each session's model is recognisable)."""
    import keras

    keras.utils.set_random_seed(n_classes)
    x = keras.Input((28, 28, 1))
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    y = keras.layers.MaxPooling2D(2, name="pool")(y)
    y = keras.layers.Flatten(name="flatten")(y)
    model = keras.Model(x, keras.layers.Dense(n_classes, name="logits")(y))
    path = tmp_path / f"m{n_classes}" / "model.keras"  # the same file name for everyone
    path.parent.mkdir()
    model.save(path)
    return path


@pytest.fixture
def pages(browser, app_url):
    contexts = [
        browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(SESSIONS)
    ]
    out = []
    for c in contexts:
        c.set_default_timeout(TIMEOUT_MS * 3)  # eight sessions share two cores
        out.append(c.new_page())
    yield out
    for c in contexts:
        c.close()


def test_eight_sessions_upload_trace_and_attack_at_once(pages, app_url, tmp_path):
    classes = [2 + i for i in range(SESSIONS)]  # session i's model has i + 2 classes
    files = [_model_bytes(n, tmp_path) for n in classes]
    for pg in pages:
        pg.goto(app_url)
    for pg in pages:
        wait_for_app(pg, TIMEOUT_MS * 3)
        pg.get_by_role("combobox", name="Model").click()
        pg.get_by_role("option", name="Upload a Keras model…").click()
    # Every upload is in flight before any is checked.
    for pg, path in zip(pages, files):
        model_uploader = pg.locator(
            '[data-testid="stSidebar"] [data-testid="stFileUploader"]'
        ).filter(has_text="Keras model")
        expect(model_uploader).to_be_visible()
        model_uploader.locator('input[type="file"]').set_input_files(path)
    for pg, n in zip(pages, classes):
        sidebar = pg.locator('[data-testid="stSidebar"]')
        expect(
            sidebar.get_by_text(re.compile(rf"input 28×28×1 image · {n} classes"))
        ).to_be_visible()
        wait_for_app(pg, TIMEOUT_MS * 3)
        expect(metric_value(pg, "Prediction")).to_have_text(re.compile(r"^\d$"))
        assert int(metric_value(pg, "Prediction").inner_text()) < n  # its own model's classes
    # Attacks on all eight at once.
    for pg in pages:
        pg.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Attack").click()
    for pg in pages:
        wait_for_app(pg, TIMEOUT_MS * 3)
        pg.get_by_role("button", name="Run attack").click()
    for pg, n in zip(pages, classes):
        wait_for_app(pg, TIMEOUT_MS * 3)
        expect(metric_value(pg, "Prediction after")).to_have_text(re.compile(r"^\d$"))
        expect(
            pg.locator('[data-testid="stSidebar"]').get_by_text(re.compile(rf"· {n} classes"))
        ).to_be_visible()
        expect(pg.locator('[data-testid="stException"]')).to_have_count(0)
