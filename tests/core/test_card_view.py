"""core.card_view: the training history and validation sets a card holds, as tables."""

from __future__ import annotations

import pytest

from core.card_view import training_history, validation_sets
from core.models import builtin_card


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


def test_audio_history_names_its_validation_sets_by_their_card_labels():
    h = training_history(builtin_card("spoken_digits"))
    assert "validation: FSDD speaker theo" in set(h["measure"])
    assert "validation: sc09" in set(h["measure"])  # named under training, no label


def test_audio_validation_sets_carry_their_accuracy():
    card = builtin_card("spoken_digits")
    v = validation_sets(card).set_index("set")
    assert v.loc["real speakers (none trained on)", "accuracy"] == pytest.approx(0.8962)
    assert v.loc["real speakers (none trained on)", "n"] == 366
    assert v.loc["FSDD speaker theo", "about"] == card["training"]["validation_sets"]["fsdd_theo"]
    # sc09 has only a plain accuracy and a size: shown too, not dropped.
    assert v.loc["sc09", "accuracy"] == pytest.approx(0.9) and v.loc["sc09", "n"] == 30


def test_a_card_without_history_or_sets_gives_none():
    assert training_history({"labels": ["a"]}) is None
    assert validation_sets({"metrics": {"validation_accuracy": 0.5}}) is None
