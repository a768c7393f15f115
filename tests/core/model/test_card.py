"""A researcher's ordinary model: the inferred card, and predictions equal to the model's own."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from core import api
from core.analysis.attacks import run_attack
from core.errors import CardError


def _save(model: keras.Model, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    model.save(path)
    return path


def _image_model(head, *, shape=(16, 16, 1), pre=None, name="mine") -> keras.Model:
    keras.utils.set_random_seed(1)
    x = keras.Input(shape)
    y = pre(x) if pre is not None else x
    y = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, head(y), name=name)


def _raw(shape=(16, 16), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_sigmoid_unit_is_a_binary_classifier(tmp_path):
    model = _image_model(keras.layers.Dense(1, activation="sigmoid"))
    m = api.load(_save(model, tmp_path, "b.keras"))
    assert m.card["output"] == "binary_probability" and len(m.labels) == 2
    assert "one sigmoid unit" in m.card["inferred"]["output"]
    p = api.predict(m, _raw())
    q = float(model(api.prepare(m, _raw())[0][None]).numpy()[0, 0])
    np.testing.assert_allclose(p, [1 - q, q], rtol=1e-5)


def test_single_logit_is_a_binary_classifier(tmp_path):
    model = _image_model(keras.layers.Dense(1))
    m = api.load(_save(model, tmp_path, "logit.keras"))
    assert m.card["output"] == "binary_logit"
    z = float(model(api.prepare(m, _raw())[0][None]).numpy()[0, 0])
    q = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(api.predict(m, _raw()), [1 - q, q], rtol=1e-5)


def test_final_softmax_layer_is_not_softmaxed_twice(tmp_path):
    model = _image_model(lambda y: keras.layers.Softmax()(keras.layers.Dense(3)(y)))
    m = api.load(_save(model, tmp_path, "sm.keras"))
    assert m.card["output"] == "probabilities"
    np.testing.assert_allclose(
        api.predict(m, _raw()), model(api.prepare(m, _raw())[0][None]).numpy()[0], rtol=1e-5
    )


def test_log_softmax_output_is_exponentiated(tmp_path):
    model = _image_model(keras.layers.Dense(3, activation="log_softmax"))
    m = api.load(_save(model, tmp_path, "ls.keras"))
    assert m.card["output"] == "log_probabilities"
    out = model(api.prepare(m, _raw())[0][None]).numpy()[0]
    np.testing.assert_allclose(api.predict(m, _raw()), np.exp(out), rtol=1e-5)


def test_leading_rescaling_means_0_255_input(tmp_path):
    model = _image_model(
        keras.layers.Dense(3, activation="softmax"),
        shape=(16, 16, 3),
        pre=keras.layers.Rescaling(1 / 255),
    )
    m = api.load(_save(model, tmp_path, "eff.keras"))
    assert m.card["input"]["range"] == [0.0, 255.0]
    assert "rescales" in m.card["inferred"]["range"]
    raw = _raw((16, 16, 3))
    np.testing.assert_allclose(
        api.predict(m, raw), model(raw[None].astype(np.float32)).numpy()[0], rtol=1e-5
    )


def test_conv1d_audio_at_16_khz(tmp_path):
    x = keras.Input((16000, 1))
    y = keras.layers.Conv1D(4, 9, strides=8, activation="relu", name="c1")(x)
    y = keras.layers.GlobalMaxPooling1D()(y)
    model = keras.Model(x, keras.layers.Dense(3, activation="softmax")(y))
    m = api.load(_save(model, tmp_path, "kws.keras"))
    assert m.card["input"]["sample_rate"] == 16000 and m.card["input"]["seconds"] == 1.0
    t = np.arange(16000) / 16000
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-(((t - 0.5) / 0.1) ** 2))).astype(
        np.float32
    )
    xin, notes = api.prepare(m, (wave, 16000))
    assert not any("resampled" in n for n in notes)  # 16 kHz in, 16 kHz model: no resampling
    np.testing.assert_allclose(
        api.predict(m, (wave, 16000)), model(xin[None]).numpy()[0], rtol=1e-5
    )
    cam = api.saliency(m, (wave, 16000), method="grad_cam", layer="c1", target=0).map
    assert cam.shape == (16000,) and np.isfinite(cam).all()


def test_card_override_gives_labels_and_sample_rate(tmp_path):
    x = keras.Input((8000,))
    y = keras.layers.Reshape((8000, 1))(x)
    y = keras.layers.Conv1D(2, 9, strides=8)(y)
    y = keras.layers.GlobalMaxPooling1D()(y)
    model = keras.Model(x, keras.layers.Dense(3)(y))
    path = _save(model, tmp_path, "a.keras")
    m = api.load(path, card={"labels": ["yes", "no", "maybe"], "input": {"sample_rate": 16000}})
    assert m.labels == ["yes", "no", "maybe"] and m.card["input"]["sample_rate"] == 16000
    assert m.card["input"]["seconds"] == 0.5
    assert m.card["inferred"]["labels"] == "given in the card"
    with pytest.raises(CardError, match="2 labels given .*this model has 3 classes"):
        api.load(path, card={"labels": ["a", "b"]})


def test_card_beside_the_file_is_read(tmp_path):
    model = _image_model(keras.layers.Dense(1, activation="sigmoid"))
    path = _save(model, tmp_path, "cat.keras")
    path.with_suffix(".json").write_text('{"labels": ["cat"]}')
    assert api.load(path).labels == ["not cat", "cat"]


def test_correcting_the_card_keeps_the_model_and_changes_predictions(tmp_path):
    model = _image_model(keras.layers.Dense(3, activation="softmax"), shape=(16, 16, 3))
    m = api.load(_save(model, tmp_path, "c.keras"))
    fixed = m.with_card({"input": {"preprocessing": "0-255"}})
    assert fixed.model is m.model and fixed.tracer is m.tracer and fixed.key != m.key
    raw = _raw((16, 16, 3))
    np.testing.assert_allclose(
        api.predict(fixed, raw), model(raw[None].astype(np.float32)).numpy()[0], rtol=1e-5
    )


def test_fgsm_flips_a_confident_binary_prediction():
    """A hand-set one-unit model: p(class) = σ(10 · mean(pixels) − 5); a bright input is
    confidently class 1, and FGSM at ε = 0.5 darkens every pixel enough to flip it."""
    x = keras.Input((8, 8, 1))
    y = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(x, dense(y))
    dense.set_weights([np.full((64, 1), 10 / 64, np.float32), np.array([-5.0], np.float32)])
    from core.graph.engine import Tracer
    from core.model.card import infer_card
    from core.model.load import LoadedModel

    m = LoadedModel(
        model=model,
        card=infer_card(model, "hand"),
        name="hand",
        sha256="0",
        source="file",
        tracer=Tracer(model),
    )
    xin = np.full((8, 8, 1), 0.8, np.float32)
    assert api.predict(m, np.full((8, 8), 0.8, np.float32))[1] > 0.9
    r = run_attack(m, xin, method="FGSM", epsilon=0.5)
    assert r.success and r.original_label == 1 and r.adversarial_label == 0
    t = run_attack(m, np.full((8, 8, 1), 0.3, np.float32), method="LinfPGD", epsilon=0.6, target=1)
    assert t.success and t.adversarial_label == 1


@pytest.mark.slow
def test_resnet50_sized_file_loads_through_api_load(tmp_path):
    """~100 MB as .keras: past the upload cap, but api.load on a user's machine has none; the
    name tells the keras.applications preprocessing (caffe), which predict then applies."""
    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=10)
    path = _save(model, tmp_path, "resnet50.keras")
    assert path.stat().st_size > 90 * 2**20
    m = api.load(path)
    assert m.card["input"]["preprocessing"] == "caffe"
    raw = _raw((224, 224, 3))
    expected = model(
        keras.applications.resnet50.preprocess_input(raw[None].astype(np.float32))
    ).numpy()[0]
    np.testing.assert_allclose(api.predict(m, raw), expected, rtol=1e-4, atol=1e-6)


def test_a_card_cannot_resize_the_input_and_hostile_card_files_are_refused(tmp_path):
    """A card saying the input is 30000×30000 would make every prepared input that big."""
    from core.model.card import card_from_text

    model = _image_model(keras.layers.Dense(3, activation="softmax"))
    m = api.load(_save(model, tmp_path, "c.keras"))
    with pytest.raises(CardError, match="may not change shape"):
        m.with_card({"input": {"shape": [30000, 30000, 1]}})
    with pytest.raises(CardError, match="output 5 is not one of"):  # not a str: no crash
        m.with_card({"output": 5})
    with pytest.raises(CardError, match="not valid JSON"):
        card_from_text("[" * 100_000 + "]" * 100_000, "card.json")
    with pytest.raises(CardError, match="at most 1,000,000"):
        card_from_text("a\n" * 600_000, "labels.txt")
    assert card_from_text('["a", "b", "c"]', "c.json") == {"labels": ["a", "b", "c"]}
