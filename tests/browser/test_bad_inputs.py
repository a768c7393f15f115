"""Bad input in a real browser: every bad upload gets a clear message, never a traceback, and
the session keeps working (its sample and prediction survive)."""

from __future__ import annotations

import re

import pytest

from tests.bad_files import bad_audio, bad_images, bad_models, converted_images

from ._helpers import expect, metric_value, open_app, open_tab, wait_for_app
from .test_audio import open_audio_lab


def _upload(page, scope, name: str, data: bytes, tmp_path) -> None:
    path = tmp_path / name  # a file, not a buffer: Playwright caps buffers at 50 MB
    path.write_bytes(data)
    scope.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(path)
    wait_for_app(page)


def _no_traceback(page) -> None:
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def _each_refused(page, panel, files, tmp_path, *, keeps: str) -> None:
    """Upload each bad file in turn: its message names it; the current prediction stays."""
    for name, data, phrase in files:
        _upload(page, panel, name, data, tmp_path)
        alert = panel.locator('[data-testid="stAlert"]').filter(has_text=name)
        expect(alert).to_contain_text(phrase)
        expect(alert).not_to_contain_text(re.compile(r"object at 0x|BytesIO"))
        _no_traceback(page)
        expect(metric_value(page, "Prediction")).to_have_text(keeps)


@pytest.fixture(scope="module")
def models():
    return bad_models()


def test_bad_models_are_refused_with_a_message(page, models, tmp_path):
    open_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Upload a Keras model…").click()
    wait_for_app(page)
    for name, data, phrase in models:
        _upload(page, sidebar, name, data, tmp_path)
        alert = sidebar.locator('[data-testid="stAlert"]').filter(has_text=name)
        expect(alert).to_contain_text(phrase)
        _no_traceback(page)
    # The built-in model stands in meanwhile: the Trace page still predicts.
    expect(metric_value(page, "Prediction")).to_have_text("0")


def test_bad_and_unusual_images(page, tmp_path):
    open_app(page)
    panel = open_tab(page, "Upload image")
    _each_refused(page, panel, bad_images(), tmp_path, keeps="0")
    for name, data, phrase in converted_images():
        _upload(page, panel, name, data, tmp_path)
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        expect(panel.get_by_text(f"Uploaded {name}")).to_contain_text(phrase)
        expect(metric_value(page, "Prediction")).to_have_text(re.compile(r"^\d$"))
    # A blank sketchpad is not a sample.
    open_tab(page, "Draw")
    expect(page.get_by_text("The pad is empty.")).to_be_visible()


def test_bad_audio(page, tmp_path):
    open_audio_lab(page)
    panel = open_tab(page, "Upload")
    _each_refused(page, panel, bad_audio(), tmp_path, keeps="0")
    expect(page.get_by_role("heading", name=re.compile(r'^Edit · "zero"'))).to_be_visible()
