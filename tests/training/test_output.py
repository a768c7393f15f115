"""training.output: what every recipe writes (the checked model, the shared card lines), and
every image recipe building its shipped model layer for layer."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from core import api
from training import lenet, output, vgg

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("recipe", "name", "atol"), [(lenet, "lenet_mnist", 1e-6), (vgg, "vgg_cifar10", 1e-5)]
)
def test_the_recipe_builds_the_shipped_model_layer_for_layer(recipe, name, atol):
    shipped = keras.saving.load_model(
        ROOT / "assets" / "models" / f"{name}.keras", compile=False, safe_mode=True
    )
    model = recipe.build_model()
    assert [la.name for la in model.layers] == [la.name for la in shipped.layers]
    model.set_weights(shipped.get_weights())
    x = np.random.default_rng(0).random((2, *shipped.input_shape[1:]), np.float32)
    np.testing.assert_allclose(model(x), shipped(x), atol=atol)
    card = json.loads((ROOT / "assets" / "models" / f"{name}.json").read_text())
    assert card["training"]["augmentation"] == recipe.AUGMENTATION_TEXT


def test_a_saved_model_and_its_card_load_in_the_app(tmp_path):
    inp = keras.Input((4, 4, 1))
    z = keras.layers.Dense(3, name="logits")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, keras.layers.Softmax()(z))
    x = np.random.default_rng(0).random((5, 4, 4, 1), np.float32)
    loaded, probs = output.save_checked(model, tmp_path / "tiny.keras", x)
    np.testing.assert_allclose(probs, model(x), atol=1e-6)
    assert [la.name for la in loaded.layers] == [la.name for la in model.layers]
    labels = ["a", "b", "c"]
    card = output.image_card(
        "tiny",
        "Tiny",
        "three classes",
        labels=labels,
        shape=[4, 4, 1],
        color="grayscale",
        preprocessing="uint8 / 255",
    )
    card["training"] = output.provenance()
    assert output.write_card(tmp_path, "tiny", card) == tmp_path / "tiny.json"
    m = api.load(str(tmp_path / "tiny.keras"))
    assert m.card["labels"] == labels and m.card["logits_layer"] == "logits"
    np.testing.assert_allclose(api.predict(m, x[0, ..., 0]), probs[0], atol=1e-6)


def test_class_accuracy_is_per_class_and_overall():
    acc, per = output.class_accuracy(
        np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["x", "y", "z"]
    )
    assert acc == 0.75 and per == {"x": 1.0, "y": 1.0, "z": 0.5}
