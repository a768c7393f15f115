"""Loading: built-ins with cards, and every refusal of an untrusted upload, with its message."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from core.errors import ModelRefusedError, UnsupportedModelError
from core.model.load import builtin_names, load, load_bytes
from core.safety.scan import scan
from core.settings import limits
from tests.bad_files import rezip


def _keras_bytes(model: keras.Model, tmp_path: Path, name: str = "m.keras") -> bytes:
    path = tmp_path / name
    model.save(path)
    return path.read_bytes()


def test_builtin_lenet_loads_with_card():
    assert "lenet_mnist" in builtin_names()
    lm = load("lenet_mnist")
    assert lm.card["input"]["kind"] == "image"
    assert lm.card["labels"] == [str(i) for i in range(10)]
    assert lm.tracer.plan.output_name == "probabilities"
    assert len(lm.sha256) == 64


@pytest.mark.slow
def test_upload_of_a_plain_model_loads(sequential_cnn, tmp_path):
    lm = load_bytes(_keras_bytes(sequential_cnn, tmp_path), "mine.keras")
    assert lm.source == "upload"
    assert lm.card["input"] == {
        "kind": "image",
        "shape": [16, 16, 1],
        "range": [0.0, 1.0],
        "preprocessing": "0-1",
    }
    assert lm.card["output"] == "probabilities"
    assert "assumed values in [0, 1]" in lm.card["inferred"]["range"]
    x = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(lm.model(x), sequential_cnn(x), rtol=1e-5)


@pytest.mark.slow
def test_legacy_h5_loads(sequential_cnn, tmp_path):
    path = tmp_path / "m.h5"
    sequential_cnn.save(path)
    lm = load_bytes(path.read_bytes(), "m.h5")
    assert lm.card["labels"] == ["0", "1", "2"]


def _lambda_model() -> keras.Model:
    x = keras.Input((8, 8, 1))
    y = keras.layers.Lambda(lambda t: t * 2, name="double")(x)
    y = keras.layers.Flatten()(y)
    return keras.Model(x, keras.layers.Dense(2)(y))


def test_lambda_keras_is_refused_before_loading(tmp_path):
    data = _keras_bytes(_lambda_model(), tmp_path)
    with pytest.raises(
        ModelRefusedError,
        match=r"refused before loading: layer 'double' is a "
        r"Lambda.*Accepted: a Sequential",
    ):
        load_bytes(data, "lambda.keras")


def test_lambda_h5_is_refused_before_loading(tmp_path):
    path = tmp_path / "lambda.h5"
    _lambda_model().save(path)
    with pytest.raises(ModelRefusedError, match="is a Lambda: a Lambda layer runs Python code"):
        load_bytes(path.read_bytes(), "lambda.h5")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("module", "os", r"from module 'os', which is not part of Keras"),
        ("class_name", "TFSMLayer", "TFSMLayer loads a TensorFlow SavedModel"),
        ("registered_name", "mypkg>MyConv", "custom registered object 'mypkg>MyConv'"),
    ],
    ids=["non_keras_module", "tfsmlayer", "custom_registered_object"],
)
def test_a_layer_config_that_loads_foreign_code_is_refused(
    sequential_cnn, tmp_path, key, value, match
):
    def edit(cfg):
        cfg["config"]["layers"][1][key] = value

    data = rezip(_keras_bytes(sequential_cnn, tmp_path), edit)
    with pytest.raises(ModelRefusedError, match=match):
        scan(data, "evil.keras", limits())


@pytest.mark.parametrize("name", ["junk.keras", "junk.h5"])
def test_random_bytes_are_refused(name):
    data = np.random.default_rng(1).bytes(4096)
    with pytest.raises(ModelRefusedError, match="not a valid .keras file|not an HDF5 file"):
        load_bytes(data, name)


def test_empty_file_is_refused():
    with pytest.raises(ModelRefusedError, match=r"is empty \(0 bytes\)"):
        load_bytes(b"", "empty.keras")


def test_wrong_extension_is_refused():
    with pytest.raises(ModelRefusedError, match=r"extension '.pt'; expected .keras, .h5 or .onnx"):
        load_bytes(b"abc", "model.pt")


def test_oversized_file_is_refused(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(ModelRefusedError, match=r"uploads up to 0 MB are accepted"):
        load_bytes(b"x" * 2000, "big.keras")


def test_zip_bomb_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\0" * (300 * 2**20))  # 300 MB of zeros, ~300 KB packed
    with pytest.raises(ModelRefusedError, match="looks like a zip bomb"):
        load_bytes(out.getvalue(), "bomb.keras")


def test_zip_without_config_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(ModelRefusedError, match="without config.json"):
        load_bytes(out.getvalue(), "notamodel.keras")


def test_weights_only_h5_is_refused(tmp_path):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kernel", data=np.zeros(3))
    with pytest.raises(ModelRefusedError, match="holds no model_config: it is a weights-only"):
        load_bytes(path.read_bytes(), "w.h5")


@pytest.mark.slow
def test_two_input_model_is_unsupported(tmp_path):
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    y = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    model = keras.Model([a, b], keras.layers.Dense(2)(y))
    with pytest.raises(UnsupportedModelError, match=r"has 2 inputs.*Supported: one input"):
        load_bytes(_keras_bytes(model, tmp_path), "two.keras")


@pytest.mark.slow
def test_text_model_is_unsupported(tmp_path):
    x = keras.Input((20,), dtype="int32")
    y = keras.layers.Embedding(100, 8)(x)
    y = keras.layers.GlobalAveragePooling1D()(y)
    model = keras.Model(x, keras.layers.Dense(2)(y))
    with pytest.raises(UnsupportedModelError, match="token ids or text"):
        load_bytes(_keras_bytes(model, tmp_path), "text.keras")


def test_unknown_builtin_name_lists_builtins():
    with pytest.raises(ModelRefusedError, match="neither a built-in model .*lenet_mnist"):
        load("no_such_model")


def test_vgg_classifies_the_project_scenes_the_same_after_save_and_load(tmp_path):
    """The colour model on the project's own drawn scenes: identical after a save/load cycle,
    and it recognises most of the themes they were drawn as."""
    from core import api
    from core.inputs.samples import colour_scenes

    m = api.load("vgg_cifar10")
    scenes = colour_scenes()
    assert len(scenes) == 10 and all(s.raw.shape == (32, 32, 3) for s in scenes)
    p = api.predict(m, [s.raw for s in scenes])
    path = tmp_path / "copy.keras"
    m.model.save(path)
    again = api.load(path)
    np.testing.assert_allclose(api.predict(again, [s.raw for s in scenes]), p, atol=1e-5)
    hits = sum(m.labels[i] == s.label for i, s in zip(p.argmax(axis=1), scenes))
    assert hits >= 8, hits


@pytest.mark.parametrize("in_sandbox", [False, True])
def test_a_file_keras_cannot_read_gets_keras_reason(sequential_cnn, tmp_path, sandbox, in_sandbox):
    """Not a safety refusal: Keras' own reason, and what to try."""
    from core.errors import ModelUnreadableError

    def edit(cfg):
        cfg["config"]["layers"][1]["config"]["no_such_argument"] = 1

    data = rezip(_keras_bytes(sequential_cnn, tmp_path), edit)
    with pytest.raises(
        ModelUnreadableError,
        match=r"Keras could not read 'odd.keras': .*"
        r"saving it again with Keras 3 as .keras",
    ):
        load_bytes(data, "odd.keras", sandbox=sandbox if in_sandbox else False)
