"""The Audio lab in a real browser: upload a WAV, record through a (fake) microphone, edit.

Each test is a fresh session on the built-in image model; it opens the Audio page and
switches to the spoken-digit model with the page's own button, as a user would.
"""

from __future__ import annotations

import re

from ._helpers import expect, metric_value, open_app, open_tab, shot, wait_for_app
from .conftest import MIC_DIGIT, spoken_digit_wav


def open_audio_lab(page) -> None:
    open_app(page, "audio")
    expect(page.get_by_role("heading", name="Audio lab", exact=True)).to_be_visible()
    page.get_by_role("button", name=re.compile("^Switch to")).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name=re.compile(r"^Edit · "))).to_be_visible()
    wait_for_app(page)


def test_upload_a_wav(page, tmp_path):
    # "eight" as a 48 kHz recording with a quiet lead-in and a long tail: it must be
    # resampled, trimmed and centred.
    path = spoken_digit_wav(tmp_path / "eight.wav", "8", lead_s=1.0, tail_s=1.5)
    open_audio_lab(page)
    panel = open_tab(page, "Upload")
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(path)
    expect(page.get_by_role("heading", name="Edit · eight.wav")).to_be_visible()
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text("8")
    expect(page.get_by_text(re.compile(r"Converted: .*trimmed"))).to_be_visible()
    shot(page, "audio_uploaded_8")


def test_upload_a_broken_file_says_what_is_wrong(page, tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really a wav file")
    open_audio_lab(page)
    panel = open_tab(page, "Upload")
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(path)
    alert = panel.locator('[data-testid="stAlert"]').filter(has_text="broken.wav")
    expect(alert).to_be_visible()
    # the session goes on with the sample it had
    expect(metric_value(page, "Prediction")).to_have_text("0")


def test_record_through_the_microphone(mic_page):
    page = mic_page
    open_audio_lab(page)
    recorder = page.locator('[data-testid="stAudioInput"]')
    recorder.get_by_role("button", name="Record", exact=True).click()
    # While recording, the clock runs and the live waveform (the level meter) is drawn.
    clock = recorder.locator('[data-testid="stAudioInputWaveformTimeCode"]')
    expect(clock).to_have_text(re.compile(r"^00:0[1-9]"), timeout=10_000)
    expect(recorder.locator('[data-testid="stAudioInputWaveSurfer"]')).to_be_visible()
    page.wait_for_timeout(2500)  # the fake microphone plays the word (0.6 s lead-in)
    recorder.get_by_role("button", name="Stop recording", exact=True).click()
    expect(page.get_by_role("heading", name="Edit · Recording 1")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text(MIC_DIGIT)
    expect(page.get_by_role("combobox", name="Current sample")).to_have_value("Recording 1")
    shot(page, "audio_recorded")


def test_apply_an_edit_and_compare(page):
    open_audio_lab(page)
    edit = page.locator('[data-testid="stSelectbox"]').filter(has_text="Edit")
    edit.click()
    page.get_by_role("option", name="Add noise").click()
    wait_for_app(page)
    page.get_by_role("button", name="Apply edit").click()
    wait_for_app(page)
    expect(page.get_by_text("Add noise (snr_db 20 dB)")).to_be_visible()
    expect(metric_value(page, "Prediction (original)")).to_have_text("0")
    expect(metric_value(page, "Prediction (edited)")).to_have_text(re.compile(r"^\d$"))
    expect(page.get_by_text("Edited", exact=True)).to_be_visible()
    shot(page, "audio_edited")

    panel = open_tab(page, "Compare")
    expect(panel.get_by_text("Where the two inputs part ways")).to_be_visible()
    expect(metric_value(page, "Prediction A")).to_have_text("0")
    expect(metric_value(page, "Prediction B")).to_have_text(re.compile(r"^\d$"))
    expect(panel.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    wait_for_app(page)
    panel.get_by_text("Where the two inputs part ways").scroll_into_view_if_needed()
    shot(page, "audio_compare")
