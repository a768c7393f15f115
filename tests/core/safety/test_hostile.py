"""Every class of hostile upload is refused with its message; the process and other users'
models are untouched; ordinary models still load (through the same door as the sidebar)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import api
from core.errors import LayerLabError, ModelRefusedError
from core.inputs.samples import colour_scenes
from core.safety.runtime import keras_settings
from tests.hostile_files import hostile_models

HOSTILE = hostile_models()


@pytest.fixture(scope="module")
def vgg_before():
    m = api.load("vgg_cifar10")
    raws = [s.raw for s in colour_scenes()]
    return m, raws, api.predict(m, raws), keras_settings()


@pytest.mark.parametrize("name,data,phrase", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_upload_is_refused_and_changes_nothing(name, data, phrase, vgg_before, sandbox):
    m, raws, before, settings = vgg_before
    with pytest.raises(LayerLabError, match=phrase) as e:
        api.load_bytes(data, name, sandbox=sandbox)
    assert name in str(e.value)
    assert keras_settings() == settings
    np.testing.assert_array_equal(api.predict(m, raws), before)


def test_refusals_are_model_refused_errors():
    for name, data, _ in HOSTILE[:3]:
        with pytest.raises(ModelRefusedError):
            api.load_bytes(data, name, sandbox=False)  # the scan alone refuses these


@pytest.mark.slow
def test_the_sandbox_turns_a_memory_blowup_into_a_refusal(tmp_path, monkeypatch, sandbox):
    """A model within the config budget whose first trace exceeds the sandbox's address space:
    the child dies or raises MemoryError, the server gets a refusal and lives on."""
    x = keras.Input((512, 512, 3))
    y = keras.layers.Conv2D(64, 3, padding="same", name="big")(x)
    y = keras.layers.Conv2D(64, 3, padding="same")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    path = tmp_path / "big.keras"
    keras.Model(x, keras.layers.Dense(2)(y)).save(path)
    monkeypatch.setenv("LAYERLAB_SANDBOX_MEMORY_MB", "64")
    with pytest.raises(ModelRefusedError, match="sandbox"):
        api.load_bytes(path.read_bytes(), "big.keras", sandbox=sandbox)
    assert api.predict(api.load("lenet_mnist"), np.zeros((28, 28), np.uint8)).shape == (10,)


def test_the_sandbox_times_out_a_slow_load(tmp_path, monkeypatch, sandbox, sequential_cnn):
    path = tmp_path / "slow.keras"
    sequential_cnn.save(path)
    monkeypatch.setenv("LAYERLAB_SANDBOX_SECONDS", "0.01")
    with pytest.raises(ModelRefusedError, match="did not finish loading and tracing within"):
        api.load_bytes(path.read_bytes(), "slow.keras", sandbox=sandbox)
