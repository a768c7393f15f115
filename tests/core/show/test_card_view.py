"""core.show.card_view: the training history and validation sets a card holds, as tables."""

from __future__ import annotations

import pytest

from core.model.load import builtin_card
from core.show.card_view import training_history, validation_sets


def test_vgg_history_is_per_epoch_loss_and_accuracy_curves():
    card = builtin_card("vgg_cifar10")
    h = training_history(card)
    epochs = len(card["training"]["history"])
    assert set(h["measure"]) == {"training loss", "training accuracy", "validation accuracy"}
    assert (h.groupby("measure").size() == epochs).all()
    first = card["training"]["history"][0]
    got = h[(h.epoch == first["epoch"]) & (h.measure == "validation accuracy")]["value"]
    assert got.item() == pytest.approx(first["val_acc"])
    assert set(h[h.panel == "loss"]["measure"]) == {"training loss"}


# A card like the first spoken-digit model's: per-epoch accuracy on validation sets, one named
# by its metric's label, one only under training.
OLD_AUDIO = {
    "history": [
        {"epoch": 1, "loss": 1.8, "accuracy": 0.34, "fsdd_theo": 0.86, "sc09": 0.47},
        {"epoch": 2, "loss": 1.1, "accuracy": 0.61, "fsdd_theo": 0.93, "sc09": 0.6},
    ],
    "training": {"validation_sets": {"fsdd_theo": "FSDD speaker theo", "sc09": "30 clips"}},
    "metrics": {
        "fsdd_theo": {"accuracy": 0.986, "n": 500, "label": "FSDD speaker theo"},
        "validation_accuracy": {"fsdd_theo": 0.986, "sc09": 0.9},
        "validation_sizes": {"fsdd_theo": 500, "sc09": 30},
    },
}


def test_history_names_its_validation_sets_by_their_card_labels():
    h = training_history(OLD_AUDIO)
    assert "validation: FSDD speaker theo" in set(h["measure"])
    assert "validation: sc09" in set(h["measure"])  # named under training, no label


def test_audio_history_is_the_training_curve_of_the_shipped_model():
    card = builtin_card("spoken_digits")
    h = training_history(card)
    assert set(h["measure"]) == {"training loss", "training accuracy"}  # last epoch kept
    assert h["epoch"].max() == card["training"]["epochs"]


def test_audio_validation_sets_carry_their_accuracy():
    card = builtin_card("spoken_digits")
    v = validation_sets(card).set_index("set")
    real = card["metrics"]["held_out_real_speakers"]
    assert v.index[0] == real["label"]  # real speakers first
    assert v.loc[real["label"], "accuracy"] == pytest.approx(real["accuracy"])
    assert v.loc[real["label"], "n"] == 366
    assert v.loc["FSDD speaker theo", "about"] == card["training"]["validation_sets"]["fsdd_theo"]


def test_a_set_with_only_a_plain_accuracy_and_a_size_is_shown():
    v = validation_sets(OLD_AUDIO).set_index("set")
    assert v.loc["sc09", "accuracy"] == pytest.approx(0.9) and v.loc["sc09", "n"] == 30


def test_a_card_without_history_or_sets_gives_none():
    assert training_history({"labels": ["a"]}) is None
    assert validation_sets({"metrics": {"validation_accuracy": 0.5}}) is None
