"""The arithmetic of one unit (core.analysis.unit): the recomputed value equals the traced one on
every explained layer kind, and the walk upstream reaches the model input."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import api
from core.analysis.unit import explain_unit
from core.analysis.unit_ops import explained_kinds
from core.errors import OptionError, UnitError
from core.graph.engine import Tracer
from core.inputs.prepare import gallery


def _scale(u) -> float:
    """What float32 rounding is relative to: the magnitudes of the terms summed."""
    terms = np.abs(u.products).sum() if u.products is not None else np.abs(u.contributions).sum()
    return float(terms + abs(u.bias) + abs(u.traced))


def _units(shape: tuple[int, ...], rng: np.random.Generator, n: int = 4):
    """Corners (where padding is read) and random units of an output shape (no batch axis)."""
    yield tuple(0 for _ in shape)
    yield tuple(s - 1 for s in shape)
    for _ in range(n):
        yield tuple(int(rng.integers(s)) for s in shape)


def _check_all(plan, tr, *, skip: tuple[str, ...] = ()) -> set[str]:
    """Every layer of a trace: each explained unit is exact; returns the kinds explained."""
    rng = np.random.default_rng(0)
    kinds = set()
    types = plan.layer_types()
    for layer in plan.names:
        if layer in skip:
            continue
        if types[layer] not in explained_kinds():
            with pytest.raises(UnitError, match="cannot explain"):
                explain_unit(plan, tr, layer, 0, (0,) * (tr[layer].ndim - 1))
            continue
        for idx in _units(tr[layer].shape, rng):
            u = explain_unit(plan, tr, layer, idx[-1], idx[:-1])
            assert u.traced == pytest.approx(float(tr[layer][idx]))
            assert u.error <= 1e-5 * _scale(u) + 1e-6, (layer, idx, u.activation, u.traced)
            if "Max" not in u.kind and u.kind not in ("Minimum", "Multiply"):
                assert u.pre_activation == pytest.approx(
                    u.contributions.sum() + u.bias, rel=1e-9, abs=1e-9
                )
            if u.upstream is not None:
                up = u.upstream
                assert up.layer == "input" or up.layer in tr
                full = (*up.position, up.channel)
                assert all(0 <= i < n for i, n in zip(full, tr[up.layer].shape))
        kinds.add(types[layer])
    return kinds


def _trace(model: keras.Model, x: np.ndarray):
    t = Tracer(model)
    return t.plan, {k: v[0] for k, v in t(x[None]).items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet_mnist", "vgg_cifar10", "spoken_digits"])
def test_every_layer_of_the_builtin_models_is_exact(name):
    m = api.load(name)
    rng = np.random.default_rng(1)
    if m.kind == "image":
        raw = (rng.random(m.card["input"]["shape"]) * 255).astype(np.uint8)
    else:
        raw = (rng.standard_normal(8000).astype(np.float32) * 0.1, 8000)
    kinds = _check_all(m.tracer.plan, api.trace(m, raw))
    assert {"Conv2D", "Dense"} <= kinds
    # api.unit is the same thing from a raw input; its activation is what api.trace holds.
    layer = (
        "conv2"
        if name == "lenet_mnist"
        else "block1_conv1"
        if name == "vgg_cifar10"
        else "block1_conv"
    )
    u = api.unit(m, raw, layer, 3, (2, 5))
    assert u.traced == float(api.trace(m, raw)[layer][2, 5, 3])
    assert u.contributions.shape == (u.patch.shape[-1],) and u.kernel.shape == u.patch.shape


@pytest.mark.slow
def test_walking_upstream_from_a_logit_reaches_the_pixels():
    m = api.load("lenet_mnist")
    raw = gallery(m)[7].raw
    u = api.unit(m, raw, "logits", 3, ())
    path = [u.layer]
    while u.upstream is not None and u.upstream.layer != "input":
        ref = u.upstream
        u = api.unit(m, raw, ref.layer, ref.channel, ref.position)
        path.append(u.layer)
        assert u.error <= 1e-5 * _scale(u) + 1e-6
    assert path == [
        "logits",
        "dropout2",
        "fc2",
        "dropout1",
        "fc1",
        "flatten",
        "pool2",
        "conv2",
        "pool1",
        "conv1",
    ]
    assert u.upstream.layer == "input" and len(u.upstream.position) == 2
    # conv1 reads the 28×28 picture with 'same' padding: a corner's window lies partly outside.
    corner = api.unit(m, raw, "conv1", 0, (0, 0))
    assert corner.padded.any() and (corner.patch[corner.padded] == 0).all()


def test_branches_separable_depthwise_add_concat_and_global_pooling(branchy, rng):
    plan, tr = _trace(branchy, rng.random((12, 12, 3), np.float32))
    kinds = _check_all(plan, tr)
    assert {
        "SeparableConv2D",
        "DepthwiseConv2D",
        "Add",
        "Concatenate",
        "GlobalMaxPooling2D",
    } <= kinds
    # Concatenate: the last channels come from the depthwise branch.
    u = explain_unit(plan, tr, "concat", 5, (3, 3))
    assert u.upstream.layer == "right" and u.upstream.channel == 1
    add = explain_unit(plan, tr, "residual", 2, (4, 4))
    assert add.parts == ("stem", "sep_bn") and add.pre_activation == pytest.approx(
        float(tr["stem"][4, 4, 2] + tr["sep_bn"][4, 4, 2]), rel=1e-6
    )


@pytest.mark.slow
def test_nested_models(nested, rng):
    plan, tr = _trace(nested, rng.random((10, 10, 1), np.float32))
    kinds = _check_all(plan, tr)
    assert {"Conv2D", "BatchNormalization", "Flatten", "MaxPooling2D"} <= kinds
    u = explain_unit(plan, tr, "block/conv_in", 1, (0, 9))
    assert u.input_layer == "pre" and u.padded.any()
    assert explain_unit(plan, tr, "head/squeeze", 0, (2, 2)).input_layer == "pool"


@pytest.mark.slow
def test_strides_dilations_padding_groups_and_1d_audio_convs(rng):
    keras.utils.set_random_seed(3)
    x = keras.Input((17, 15, 4))
    a = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="s2_same")(x)
    b = keras.layers.Conv2D(6, 3, strides=(2, 3), padding="valid", name="s23_valid")(x)
    c = keras.layers.Conv2D(4, 3, dilation_rate=2, padding="same", name="dil_same")(x)
    d = keras.layers.Conv2D(4, (2, 3), groups=2, padding="same", activation="tanh", name="grp")(x)
    e = keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", name="dw")(x)
    f = keras.layers.SeparableConv2D(5, 3, dilation_rate=2, padding="valid", name="sep")(x)
    g = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="avg_same")(x)
    h = keras.layers.ZeroPadding2D(((1, 2), (0, 1)), name="zpad")(x)
    h = keras.layers.MaxPooling2D(2, padding="same", name="max_same")(h)
    i = keras.layers.Conv2D(3, 1, activation="softmax", name="soft")(x)
    j = keras.layers.ReLU(max_value=0.5, name="relu6ish")(
        keras.layers.LayerNormalization(name="ln")(x)
    )
    outs = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{t.name}")(t)
        for t in (a, b, c, d, e, f, g, h, i, j)
    ]
    model = keras.Model(x, keras.layers.Concatenate(name="cat")(outs))
    plan, tr = _trace(model, rng.standard_normal((17, 15, 4)).astype(np.float32))
    kinds = _check_all(plan, tr)
    assert {
        "DepthwiseConv2D",
        "SeparableConv2D",
        "AveragePooling2D",
        "ZeroPadding2D",
        "ReLU",
    } <= kinds
    assert explain_unit(plan, tr, "grp", 3, (0, 0)).channels.tolist() == [2, 3]
    assert explain_unit(plan, tr, "dw", 3, (1, 1)).channels.tolist() == [1]
    assert explain_unit(plan, tr, "dil_same", 0, (8, 7)).window[0].tolist() == [6, 8, 10]

    wav = keras.Input((400, 1))
    y = keras.layers.Conv1D(4, 9, strides=3, padding="same", name="c1_same")(wav)
    y = keras.layers.Conv1D(
        4, 5, dilation_rate=3, padding="causal", activation="relu", name="c1_causal"
    )(y)
    y = keras.layers.SeparableConv1D(3, 3, padding="valid", name="sep1")(y)
    y = keras.layers.DepthwiseConv1D(3, padding="same", name="dw1")(y)
    y = keras.layers.MaxPooling1D(4, name="max1")(y)
    y = keras.layers.Flatten(name="flat")(y)
    m1 = keras.Model(wav, keras.layers.Dense(2, name="out")(y))
    plan, tr = _trace(m1, rng.standard_normal((400, 1)).astype(np.float32))
    kinds = _check_all(plan, tr)
    assert {"Conv1D", "SeparableConv1D", "DepthwiseConv1D", "MaxPooling1D"} <= kinds
    causal = explain_unit(plan, tr, "c1_causal", 0, (7,))
    assert causal.padded.tolist() == [True, True, False, False, False]  # all padding is before


@pytest.mark.slow
def test_mobilenet_is_exact(mobilenet, rng):
    plan, tr = _trace(mobilenet, rng.random((48, 48, 3), np.float32))
    kinds = _check_all(plan, tr)
    assert {"DepthwiseConv2D", "ZeroPadding2D", "ReLU", "Add", "BatchNormalization"} <= kinds


@pytest.mark.slow
def test_wrong_units_and_unexplained_kinds_are_refused(spoken):
    m = api.load("lenet_mnist")
    raw = gallery(m)[0].raw
    with pytest.raises(OptionError, match="2 indices"):
        api.unit(m, raw, "conv1", 0, (1,))
    with pytest.raises(OptionError, match="channel index 32 is out of range.*0 to 31"):
        api.unit(m, raw, "conv1", 32, (1, 1))
    with pytest.raises(OptionError, match="position index 28"):
        api.unit(m, raw, "conv1", 0, (28, 1))
    with pytest.raises(KeyError, match="Valid names"):
        api.unit(m, raw, "conv9", 0, (1, 1))
    with pytest.raises(UnitError, match="no arithmetic"):
        api.unit(m, raw, "input", 0, (1, 1))
    with pytest.raises(UnitError, match="MelSpectrogram; Layer Lab cannot explain"):
        api.unit(spoken, gallery(spoken)[0].raw, "mel_spectrogram", 0, (0,))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "bottom"), [("vgg_cifar10", "input"), ("spoken_digits", "mel_spectrogram")]
)
def test_the_walk_upstream_reaches_pixels_or_spectrogram_cells(name, bottom):
    """From a logit down, each step exact, to the picture (VGG, through BatchNorm and
    Normalization) or to a mel spectrogram cell (the audio model's STFT is not explained)."""
    m = api.load(name)
    raw = gallery(m)[3].raw
    ref, steps = api.unit(m, raw, "logits", 3, ()).upstream, 0
    while ref.layer != "input":
        try:
            u = api.unit(m, raw, ref.layer, ref.channel, ref.position)
        except UnitError:
            break
        assert u.error <= 1e-5 * _scale(u) + 1e-6, (u.layer, u.activation, u.traced)
        ref, steps = u.upstream, steps + 1
    assert ref.layer == bottom and steps > 10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18_narrow", "mobilenet_v3_small", "audio_cnn"])
def test_torchvision_and_audio_exports_through_onnx_are_exact(name):
    """PyTorch models exported to ONNX and converted (tests/data/onnx_zoo): Cropping,
    squeeze-excitation Multiply, hard-swish Activation, Conv1D audio front ends, all exact."""
    from pathlib import Path

    m = api.load(Path(__file__).resolve().parents[2] / "data" / "onnx_zoo" / f"{name}.onnx")
    rng = np.random.default_rng(2)
    if m.kind == "image":
        raw = (rng.random(m.card["input"]["shape"]) * 255).astype(np.uint8)
    else:
        raw = (
            rng.standard_normal(16000).astype(np.float32) * 0.1,
            int(m.card["input"]["sample_rate"]),
        )
    kinds = _check_all(m.tracer.plan, api.trace(m, raw))
    assert kinds >= {"Conv2D", "Dense"} or kinds >= {"Conv1D", "Dense"}
    assert set(m.tracer.plan.layer_types().values()) <= set(explained_kinds())
