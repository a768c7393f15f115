"""Ordinary models pass every check and trace: the controls for the hostile suite."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from core import api
from core.safety.runtime import keras_settings

# benign uploads through the sandbox, big ones included: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


def _save(model: keras.Model, path: Path) -> bytes:
    model.save(path)
    return path.read_bytes()


def _conv1d_audio() -> keras.Model:
    x = keras.Input((16000, 1))
    y = keras.layers.Conv1D(8, 9, strides=4, activation="relu", name="c1")(x)
    y = keras.layers.Conv1D(8, 9, strides=4, activation="relu", name="c2")(y)
    y = keras.layers.GlobalAveragePooling1D()(y)
    return keras.Model(x, keras.layers.Dense(4, activation="softmax")(y), name="kws")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_small_cnn_loads_and_traces(sequential_cnn, tmp_path, suffix, sandbox):
    settings = keras_settings()
    lm = api.load_bytes(
        _save(sequential_cnn, tmp_path / f"m{suffix}"), f"m{suffix}", sandbox=sandbox
    )
    tr = api.trace(lm, np.zeros((16, 16), np.uint8))
    assert list(tr)[0] == "input" and tr["out"].shape == (3,)
    assert any("sandbox" in n for n in lm.notes)
    assert keras_settings() == settings


def test_conv1d_audio_model_loads_as_16_khz_audio(tmp_path, sandbox):
    lm = api.load_bytes(
        _save(_conv1d_audio(), tmp_path / "kws.keras"), "kws.keras", sandbox=sandbox
    )
    assert lm.kind == "audio" and lm.card["input"]["sample_rate"] == 16000
    assert "1 s at 16000 Hz" in lm.card["inferred"]["sample_rate"]
    wave = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32) * 0.3
    assert api.predict(lm, (wave, 16000)).shape == (4,)


def test_keras_applications_model_loads_and_traces(mobilenet, tmp_path, sandbox):
    lm = api.load_bytes(_save(mobilenet, tmp_path / "mnv2.keras"), "mnv2.keras", sandbox=sandbox)
    tr = api.trace(lm, np.full((48, 48, 3), 128, np.uint8))
    assert len(tr) > 100
    x = api.prepare(lm, np.full((48, 48, 3), 128, np.uint8))[0]
    np.testing.assert_allclose(
        api.predict(lm, np.full((48, 48, 3), 128, np.uint8)),
        mobilenet(x[None]).numpy()[0],
        rtol=1e-4,
        atol=1e-6,
    )
