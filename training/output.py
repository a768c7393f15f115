"""What every recipe writes: the model, saved and checked to reload as the app loads it, and its
card (the JSON the app reads), with the lines every card shares.

    save_checked(model, path, x)  -> the reloaded model's probabilities on x (or RuntimeError)
    image_card(...)               -> the card of an image classifier of uint8 pixels / 255
    provenance()                  -> which machine and library versions trained it
    write_card(out, name, card)   -> out/<name>.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training import runtime


def predict(model: keras.Model, x: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """(n, *input) -> (n, classes) probabilities, `batch` inputs at a time."""
    return np.concatenate(
        [np.asarray(model(x[i : i + batch], training=False)) for i in range(0, len(x), batch)]
    )


def save_checked(model: keras.Model, path: Path, x: np.ndarray) -> tuple[keras.Model, np.ndarray]:
    """Save model; reload it as the app does (safe_mode) and check that it predicts the same on
    x (the same probabilities to 1e-5, the same classes). Returns (the reloaded model, its
    probabilities on x)."""
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    ref, re = predict(model, x), predict(loaded, x)
    if not (np.allclose(re, ref, atol=1e-5) and (re.argmax(1) == ref.argmax(1)).all()):
        raise RuntimeError(
            f"{path} reloaded predicts differently (max {np.abs(re - ref).max():.2e})"
        )
    return loaded, re


def class_accuracy(pred: np.ndarray, y: np.ndarray, labels: list[str]) -> tuple[float, dict]:
    """(accuracy, {label: accuracy on that class}) of predicted classes against y."""
    per = {labels[k]: round(float((pred[y == k] == k).mean()), 4) for k in range(len(labels))}
    return float((pred == y).mean()), per


def image_card(
    name: str,
    title: str,
    description: str,
    *,
    labels: list[str],
    shape: list[int],
    color: str,
    preprocessing: str,
    **input_notes: Any,
) -> dict[str, Any]:
    """The card of an image classifier fed uint8 pixels / 255 (float32 in [0, 1]) that outputs
    probabilities through a softmax after a layer named "logits". input_notes: more of the
    input's description (e.g. background="black")."""
    return {
        "name": name,
        "title": title,
        "description": description,
        "labels": labels,
        "input": {
            "kind": "image",
            "shape": shape,
            "range": [0.0, 1.0],
            "raw_range": [0, 255],
            "color": color,
            **input_notes,
        },
        "output": "probabilities",
        "logits_layer": "logits",
        "preprocessing": preprocessing,
    }


def provenance() -> dict[str, str]:
    """The card's training lines on what trained the model: the machine, Keras, TensorFlow."""
    return {"machine": runtime.machine(), "keras": keras.__version__, "tensorflow": tf.__version__}


def write_card(out: Path, name: str, card: dict[str, Any]) -> Path:
    """out/<name>.json, as the app reads it."""
    path = out / f"{name}.json"
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path
