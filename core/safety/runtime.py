"""Keras' process-wide settings: one runtime serves every user of the app.

A model file must not change them (an activation that calls keras.config.set_epsilon would
change every other user's results). Snapshot before a load, compare after, restore if needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from core.errors import ModelRefusedError


def keras_settings() -> dict[str, Any]:
    """The global settings a model file could reach, as plain values."""
    return {
        "backend": keras.backend.backend(),
        "epsilon": keras.config.epsilon(),
        "floatx": keras.config.floatx(),
        "image_data_format": keras.config.image_data_format(),
        "dtype_policy": keras.config.dtype_policy().name,
    }


def restore_keras_settings(saved: dict[str, Any]) -> list[str]:
    """Put the settings back as saved; returns what had changed ("epsilon: 1e-07 -> 0.5")."""
    now = keras_settings()
    changed = [f"{k}: {saved[k]!r} -> {now[k]!r}" for k in saved if now.get(k) != saved[k]]
    if now["epsilon"] != saved["epsilon"]:
        keras.config.set_epsilon(saved["epsilon"])
    if now["floatx"] != saved["floatx"]:
        keras.config.set_floatx(saved["floatx"])
    if now["image_data_format"] != saved["image_data_format"]:
        keras.config.set_image_data_format(saved["image_data_format"])
    if now["dtype_policy"] != saved["dtype_policy"]:
        keras.config.set_dtype_policy(saved["dtype_policy"])
    return changed


@contextmanager
def settings_kept(filename: str, doing: str) -> Iterator[None]:
    """A block that must leave Keras' settings as they were (loading or tracing a model file):
    restored afterwards, and a ModelRefusedError naming what `filename` changed while `doing`."""
    before = keras_settings()
    try:
        yield
    finally:
        changed = restore_keras_settings(before)
        if changed:
            raise ModelRefusedError(
                f"{filename!r} changed Keras' process-wide settings while "
                f"{doing} ({'; '.join(changed)}); restored and refused."
            )
