"""Hostile model files, made on the fly (never committed): one per class of attack on a shared
server. Each maker returns (filename, bytes, a phrase the refusal must contain).

Shared by the core tests (tests/core/safety) and the browser test of a hostile upload.
"""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np

from tests.bad_files import _keras_bytes, _small_cnn, rewrite_member, rezip

SIDE_EFFECT = {
    "module": "keras.config",
    "class_name": "function",
    "config": "set_epsilon",
    "registered_name": "function",
}


def _layers(cfg: dict) -> list:
    return cfg["config"]["layers"]


def function_activation() -> tuple[str, bytes, str]:
    """A Dense whose activation is keras.config.set_epsilon: every call would change the
    process-wide epsilon for every user."""

    def edit(cfg):
        dense = next(layer for layer in _layers(cfg) if layer["class_name"] == "Dense")
        dense["config"]["activation"] = SIDE_EFFECT

    return "epsilon.keras", rezip(_keras_bytes(_small_cnn()), edit), "serialized function"


def unconnected_side_effect() -> tuple[str, bytes, str]:
    """An Activation layer in the layer list, connected to nothing, whose function would run
    when Keras builds it at load time."""

    def edit(cfg):
        _layers(cfg).append(
            {
                "module": "keras.layers",
                "class_name": "Activation",
                "config": {
                    "name": "ghost",
                    "activation": SIDE_EFFECT,
                    "trainable": True,
                    "dtype": "float32",
                },
                "registered_name": None,
                "name": "ghost",
                "build_config": {"input_shape": [None, 3]},
                "inbound_nodes": [],
            }
        )

    return "ghost.keras", rezip(_keras_bytes(_small_cnn()), edit), "serialized function"


def dotted_lambda() -> tuple[str, bytes, str]:
    """module "keras" + class_name "layers.Lambda": Keras resolves keras.layers.Lambda."""

    def edit(cfg):
        layer = _layers(cfg)[1]
        layer["class_name"] = "layers.Lambda"
        layer["config"] = {
            "name": "conv",
            "function": {"class_name": "__lambda__", "config": {"code": "e30="}},
        }

    return (
        "dotted.keras",
        rezip(_keras_bytes(_small_cnn()), edit),
        "names the class 'layers.Lambda'",
    )


def dotted_download() -> tuple[str, bytes, str]:
    """A dotted Lambda calling a keras.applications constructor with weights="imagenet" (a
    network download from the server)."""

    def edit(cfg):
        layer = _layers(cfg)[1]
        layer["module"] = "keras"
        layer["class_name"] = "layers.Lambda"
        layer["config"] = {
            "name": "conv",
            "arguments": {"weights": "imagenet"},
            "function": {
                "module": "keras.applications",
                "class_name": "function",
                "config": "ResNet50",
                "registered_name": "function",
            },
        }

    return "download.keras", rezip(_keras_bytes(_small_cnn()), edit), "keras.applications.ResNet50"


def legacy_deserialize() -> tuple[str, bytes, str]:
    """A legacy .h5 whose class_name "deserialize" wraps a new-style config."""
    data = _keras_bytes(_small_cnn(), ".h5")
    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        layer = cfg["config"]["layers"][1]
        cfg["config"]["layers"][1] = {"class_name": "deserialize", "config": layer}
        f.attrs["model_config"] = json.dumps(cfg)
    return "legacy.h5", buf.getvalue(), "names class 'deserialize'"


def huge_dense() -> tuple[str, bytes, str]:
    """A config-only edit: the Dense layer declares 10**9 units (4 GB of kernel for 2 KB)."""

    def edit(cfg):
        dense = next(layer for layer in _layers(cfg) if layer["class_name"] == "Dense")
        dense["config"]["units"] = 10**9

    return "units.keras", rezip(_keras_bytes(_small_cnn()), edit), "parameters"


def _empty_dataset_h5(h5: bytes) -> bytes:
    """Add a chunked, never-written dataset declared at ~4 GiB to an HDF5 file."""
    buf = io.BytesIO(h5)
    with h5py.File(buf, "r+") as f:
        f.create_dataset("layers/dense/vars/9", shape=(2**30,), dtype="float32", chunks=(2**20,))
    return buf.getvalue()


def declared_weights_keras() -> tuple[str, bytes, str]:
    data = rewrite_member(_keras_bytes(_small_cnn()), "model.weights.h5", _empty_dataset_h5)
    return "declared.keras", data, "but the file stores"


def declared_weights_h5() -> tuple[str, bytes, str]:
    return (
        "declared.h5",
        _empty_dataset_h5(_keras_bytes(_small_cnn(), ".h5")),
        "but the file stores",
    )


def huge_input() -> tuple[str, bytes, str]:
    """An input of 30000×30000 declared in the config (the weights do not depend on it)."""

    def edit(cfg):
        _layers(cfg)[0]["config"]["batch_shape"] = [None, 30000, 30000, 1]

    return "wide.keras", rezip(_keras_bytes(_small_cnn()), edit), "30000×30000"


def huge_trace() -> tuple[str, bytes, str]:
    """A real model: 1024×1024×3 into a 2048-channel 1×1 conv; its first trace needs 8.6 GB."""
    import keras

    x = keras.Input((1024, 1024, 3))
    y = keras.layers.Conv2D(2048, 1, name="wide")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(x, keras.layers.Dense(2, activation="softmax")(y))
    return "trace.keras", _keras_bytes(model), "trace needs"


def deep_json() -> tuple[str, bytes, str]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "[" * 200_000 + "]" * 200_000)
    return "deep.keras", out.getvalue(), "nested"


def int_model_config() -> tuple[str, bytes, str]:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = np.arange(10)
    return "intconfig.h5", buf.getvalue(), "not JSON text"


def many_members() -> tuple[str, bytes, str]:
    """~190 members of zeros in a small .keras that Keras would extract (~220 MB)."""
    data = _keras_bytes(_small_cnn())
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        for i in range(190):
            dst.writestr(f"assets/pad_{i}.bin", b"\0" * (1_150_000))
    return "members.keras", out.getvalue(), "zip bomb"


def hostile_models() -> list[tuple[str, bytes, str]]:
    return [
        f()
        for f in (
            function_activation,
            unconnected_side_effect,
            dotted_lambda,
            dotted_download,
            legacy_deserialize,
            huge_dense,
            declared_weights_keras,
            declared_weights_h5,
            huge_input,
            huge_trace,
            deep_json,
            int_model_config,
            many_members,
        )
    ]
