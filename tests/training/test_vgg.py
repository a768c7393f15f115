"""training.vgg: the recipe builds the shipped VGG and its card's user-facing texts; a smoke
run writes a float32 model and card the app loads."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from core import api
from training import vgg

ROOT = Path(__file__).resolve().parents[2]
CIFAR = ROOT.parent / "shared" / "data" / "cifar10"
CARD = json.loads((ROOT / "assets" / "models" / "vgg_cifar10.json").read_text())


def test_the_cards_parameter_count_is_the_recipes():
    assert vgg.build_model().count_params() == CARD["parameters"]


def test_the_cards_training_data_line_is_the_users_not_a_machines():
    assert CARD["training"]["data"] == vgg.DATA_TEXT
    assert "../" not in vgg.DATA_TEXT and "keras.datasets.cifar10" in vgg.DATA_TEXT
    assert CARD["training"]["augmentation"] == vgg.AUGMENTATION_TEXT


def test_the_schedule_warms_up_then_falls_to_zero_and_a_shortened_plan_falls_sooner():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])  # weights to keep
    x, y = np.zeros((1, 1)), np.zeros(1)
    ctl = vgg.Control(model, x, y, epochs=10, steps=10, budget_s=None)
    lrs = [ctl.lr_at(s) for s in range(100)]
    assert np.argmax(lrs) == 14 and lrs[14] == vgg.LR  # warm-up: 15 % of 100 steps
    assert np.all(np.diff(lrs[15:]) < 0) and lrs[-1] == pytest.approx(vgg.LR / 85)
    ctl.planned = 5
    assert ctl.lr_at(49) == pytest.approx(vgg.LR / 35) and ctl.lr_at(50) == 0


@pytest.mark.slow
def test_a_smoke_run_writes_a_float32_model_and_card_the_app_loads(tmp_path):
    if not CIFAR.is_dir():
        pytest.skip("shared/data/cifar10 is not here")
    card = vgg.train(data=CIFAR, out=tmp_path, width=8, mixed=False, smoke=True, command="test")
    assert card["training"]["data"] == vgg.DATA_TEXT and card["training"]["smoke"] is True
    assert card["training"]["best_epoch"] == 1 and card["training"]["schedule_completed"]
    m = api.load(str(tmp_path / "vgg_cifar10.keras"))
    assert all(w.dtype == "float32" for w in m.model.weights)
    assert api.predict(m, np.zeros((32, 32, 3), np.uint8)).shape == (10,)
