"""training.audio.model: the recipe builds the shipped network; masks act in training only."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from training.audio.model import STFT_CARD, SpecMask, build_model, training_graph

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "models"


@pytest.fixture(scope="module")
def shipped():
    return keras.saving.load_model(ASSETS / "spoken_digits.keras", compile=False, safe_mode=True)


def test_the_recipe_builds_the_shipped_network_layer_for_layer(shipped):
    model = build_model()
    assert [(la.name, la.__class__.__name__) for la in model.layers] == [
        (la.name, la.__class__.__name__) for la in shipped.layers
    ]
    assert [w.shape for w in model.weights] == [w.shape for w in shipped.weights]
    model.set_weights(shipped.get_weights())
    x = np.random.default_rng(0).normal(0, 0.1, (3, 8000)).astype(np.float32)
    np.testing.assert_allclose(model(x), shipped(x), atol=1e-6)
    card = json.loads((ASSETS / "spoken_digits.json").read_text())
    assert card["stft"] == STFT_CARD
    assert card["spectrogram_shape"] == list(model.get_layer("spectrogram").output.shape[1:])


def test_spec_mask_masks_bands_in_training_only():
    x = np.ones((4, 126, 64, 1), np.float32)
    layer = SpecMask(2, 12, 2, 8)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    m = np.asarray(layer(x, training=True))[..., 0]
    assert m.shape == (4, 126, 64) and set(np.unique(m)) <= {0.0, 1.0}
    for clip in m:
        frames = (clip == 0).all(axis=1).sum()  # whole frames masked: time bands
        mels = (clip == 0).all(axis=0).sum()  # whole mel bins masked: frequency bands
        assert frames <= 24 and mels <= 16
        assert ((clip == 0) == ((clip == 0).all(axis=1)[:, None] | (clip == 0).all(axis=0))).all()


def test_the_training_graph_shares_the_models_layers_and_gives_its_logits(shipped):
    model = build_model()
    model.set_weights(shipped.get_weights())
    graph = training_graph(model, SpecMask(2, 12, 2, 8))
    assert "spec_mask" not in [la.name for la in model.layers]
    x = np.random.default_rng(1).normal(0, 0.1, (2, 8000)).astype(np.float32)
    logits = np.asarray(graph(x, training=False))
    np.testing.assert_allclose(
        np.asarray(keras.ops.softmax(logits)), np.asarray(model(x)), atol=1e-6
    )
    graph.get_layer("logits").bias.assign(np.ones(10, np.float32))  # shared: model sees it too
    np.testing.assert_array_equal(np.asarray(model.get_layer("logits").bias), np.ones(10))
