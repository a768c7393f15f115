"""Tiny named models shared by the tests: each exercises one kind of graph the engine must handle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Before numpy loads (see core/__init__.py): one OpenBLAS thread beside TensorFlow's.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Heavy api calls run in this process unless a test passes an executor (tests/core/work do).
os.environ.setdefault("LAYERLAB_WORK", "inline")
# The test process (gigabytes after a few hundred tests) is no server: pools here grant jobs
# LAYERLAB_JOB_MB, not what is left of a server's memory (tests/core/work/test_grant.py and
# the ResNet50 session test set a server limit themselves).
os.environ.setdefault("LAYERLAB_SERVER_MB", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def sequential_cnn() -> keras.Model:
    """conv-bn-pool-conv-pool-dense: the Sequential case."""
    _seed()
    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv_a"),
            keras.layers.BatchNormalization(name="bn_a"),
            keras.layers.MaxPooling2D(name="pool_a"),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv_b"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ],
        name="sequential_cnn",
    )


@pytest.fixture(scope="session")
def branchy() -> keras.Model:
    """Functional DAG: a residual Add, a Concatenate of two branches, separable + depthwise convs."""
    _seed()
    x = keras.Input((12, 12, 3), name="img")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    b = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(a)
    b = keras.layers.BatchNormalization(name="sep_bn")(b)
    r = keras.layers.Add(name="residual")([a, b])
    left = keras.layers.Conv2D(4, 1, name="left")(r)
    right = keras.layers.DepthwiseConv2D(3, padding="same", name="right")(r)
    c = keras.layers.Concatenate(name="concat")([left, right])
    y = keras.layers.GlobalMaxPooling2D(name="gmp")(c)
    y = keras.layers.Dense(5, activation="softmax", name="probs")(y)
    return keras.Model(x, y, name="branchy")


@pytest.fixture(scope="session")
def nested() -> keras.Model:
    """A Sequential block and a functional block nested inside a functional model."""
    _seed()
    block = keras.Sequential(
        [
            keras.Input((10, 10, 4)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_in"),
            keras.layers.BatchNormalization(name="bn_in"),
        ],
        name="block",
    )
    i = keras.Input((5, 5, 4))
    j = keras.layers.Conv2D(2, 1, name="squeeze")(i)
    head = keras.Model(i, keras.layers.Flatten(name="flat")(j), name="head")
    x = keras.Input((10, 10, 1), name="img")
    y = keras.layers.Conv2D(4, 3, padding="same", name="pre")(x)
    y = block(y)
    y = keras.layers.MaxPooling2D(name="pool")(y)
    y = head(y)
    y = keras.layers.Dense(3, activation="softmax", name="probs")(y)
    return keras.Model(x, y, name="nested")


@pytest.fixture(scope="session")
def mobilenet() -> keras.Model:
    """keras.applications MobileNetV2 (random weights, small width): the real-architecture case."""
    _seed()
    return keras.applications.MobileNetV2(
        input_shape=(48, 48, 3), alpha=0.35, weights=None, classes=4
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def spoken():
    """The built-in spoken-digit model (raw 8 kHz waveform in, in-model log-mel spectrogram)."""
    from core import api

    return api.load("spoken_digits")


@pytest.fixture(scope="session")
def sandbox():
    """One sandbox zygote for the session, as the app keeps one (core.cache.sandbox)."""
    from core.safety.sandbox import Sandbox

    box = Sandbox()
    yield box
    box.close()
