"""Training a classifier through its logits, as the image recipes do (LeNet, VGG)."""

from __future__ import annotations

from typing import Any

import keras


def fit_logits(
    model: keras.Model,
    data: Any,
    *,
    optimizer: keras.optimizers.Optimizer,
    loss: keras.losses.Loss,
    epochs: int,
    steps: int,
    name: str | None = None,
    **fit: Any,
) -> None:
    """Trains `model` through a graph that shares its layers, cut at its "logits" layer (the
    loss takes logits: numerically stable; the saved model keeps its softmax), reporting
    accuracy, one line an epoch. Each epoch is `steps` batches of `data` in its own order (the
    recipes' pipelines shuffle, seeded). name: the graph's; fit: more options of
    keras.Model.fit (validation_data, callbacks)."""
    train_model = keras.Model(model.inputs, model.get_layer("logits").output, name=name)
    train_model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    train_model.fit(data, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=2, **fit)
