"""training.lenet: the recipe builds the shipped LeNet; augmentation keeps images in range;
a smoke run writes a model and card the app loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from core import api
from training import lenet

ROOT = Path(__file__).resolve().parents[2]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def test_the_shipped_card_says_how_to_retrain_it():
    card = json.loads((ROOT / "assets" / "models" / "lenet_mnist.json").read_text())
    assert card["training"]["augmentation"] == lenet.AUGMENTATION_TEXT
    assert card["retrain"] == "python scripts/train_lenet.py"  # a fresh clone downloads MNIST


def test_augment_moves_the_digit_and_keeps_pixels_in_range():
    img = np.zeros((8, 28, 28), np.uint8)
    img[:, 8:20, 12:16] = 255  # a vertical stroke
    x, y = lenet.augment(tf.constant(img), tf.range(8), tf.constant(7, tf.int64))
    x = np.asarray(x)
    assert x.shape == (8, 28, 28, 1) and x.min() >= 0 and x.max() <= 1
    assert np.asarray(y).tolist() == list(range(8))
    assert not np.allclose(x[..., 0], img / 255, atol=0.05)  # something moved
    again = lenet.augment(tf.constant(img), tf.range(8), tf.constant(7, tf.int64))[0]
    np.testing.assert_array_equal(x, np.asarray(again))  # stateless: the seed decides


@pytest.mark.slow
def test_a_smoke_run_writes_a_model_and_card_the_app_loads(tmp_path):
    if not MNIST.is_dir():
        pytest.skip("shared/data/mnist is not here")
    card = lenet.train(data=MNIST, out=tmp_path, smoke=True, data_arg=str(MNIST))
    assert card["training"]["smoke"] is True and card["training"]["epochs"] == 1
    m = api.load(str(tmp_path / "lenet_mnist.keras"))
    assert m.card["labels"] == lenet.LABELS
    assert api.predict(m, np.zeros((28, 28), np.uint8)).shape == (10,)
