"""Exemplars (top_inputs), receptive fields, class profiles and dead filters (issue 16)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import api
from core.analysis.exemplars import K_MAX, scan
from core.errors import InputError, LayerNameError
from core.graph.engine import Tracer
from core.graph.receptive import as_yxyx, receptive_field

# receptive fields and exemplars on MobileNetV2 and the probe sets: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lenet_index(lenet, lenet_probe):
    return api.filter_index(lenet, inputs=lenet_probe[0], labels=lenet_probe[1])


def _sub(model: keras.Model, tracer: Tracer, layer: str) -> keras.Model:
    return keras.Model(tracer.flat.inputs[0], tracer.flat.outputs[tracer.names.index(layer)])


def _brute(m, raws, layer):
    """Reference: one sub-model from the input to the layer, all inputs, max over positions."""
    x = np.stack([api.prepare(m, r)[0] for r in raws])
    ref = keras.Model(m.model.inputs[0], m.model.get_layer(layer).output)
    y = keras.ops.convert_to_numpy(ref(x, training=False))  # (N, ..., C)
    return y.reshape(len(x), -1, y.shape[-1]), y.shape[1:-1]


@pytest.mark.parametrize("layer", ["conv1", "pool1", "conv2", "pool2", "fc1", "logits"])
def test_top_inputs_match_a_brute_force_reference(lenet, lenet_probe, lenet_index, layer):
    flat, map_shape = _brute(lenet, lenet_probe[0], layer)
    peak = flat.max(axis=1)  # (N, C)
    for ch in (0, flat.shape[-1] // 2, flat.shape[-1] - 1):
        res = api.top_inputs(lenet, layer, ch, k=9, index=lenet_index)
        want = np.sort(peak[:, ch])[::-1][:9]
        np.testing.assert_allclose([r.value for r in res], want, rtol=1e-5, atol=1e-6)
        for r in res:
            # Each result's own peak is its value, found at its position.
            assert peak[r.index, ch] == pytest.approx(r.value, rel=1e-5, abs=1e-6)
            pos = np.ravel_multi_index(r.position, map_shape) if map_shape else 0
            assert flat[r.index, pos, ch] == pytest.approx(r.value, rel=1e-5, abs=1e-6)
            assert r.label == lenet_probe[1][r.index]
        assert [r.value for r in res] == sorted((r.value for r in res), reverse=True)


def test_top_inputs_without_an_index_scans_the_given_inputs(lenet, lenet_probe):
    raws = lenet_probe[0][:40]
    res = api.top_inputs(lenet, "conv2", 5, inputs=raws, k=3)
    flat, _ = _brute(lenet, raws, "conv2")
    assert [r.index for r in res] == list(np.argsort(-flat.max(axis=1)[:, 5], kind="stable")[:3])


def test_scan_reports_progress_and_keeps_at_most_k_max(lenet, lenet_probe):
    x = np.stack([api.prepare(lenet, r)[0] for r in lenet_probe[0][:100]])
    seen = []
    ix = scan(
        lenet.tracer,
        x,
        labels=None,
        n_classes=10,
        chunk=32,
        on_progress=lambda i, n: seen.append((i, n)),
    )
    assert seen == [(32, 100), (64, 100), (96, 100), (100, 100)]
    assert ix.layer("conv1").top_value.shape == (K_MAX, 32)
    assert ix.grouped_by == "prediction"
    assert ix.nbytes < 2 * 2**20


@pytest.mark.parametrize(
    "kw,match",
    [
        (
            dict(layer="conv2", channel=64),
            r"Channel 64 does not exist in 'conv2'; expected .*0\.\.63",
        ),
        (dict(layer="conv2", channel=-1), r"Channel -1 does not exist"),
        (
            dict(layer="conv2", channel=0, k=0),
            rf"k=0 exemplars .* expected an integer 1\.\.{K_MAX}",
        ),
        (dict(layer="conv2", channel=0, k=K_MAX + 1), r"expected an integer 1\.\."),
    ],
)
def test_top_inputs_refuses_bad_requests(lenet, lenet_index, kw, match):
    with pytest.raises(InputError, match=match):
        api.top_inputs(lenet, index=lenet_index, **kw)


def test_top_inputs_unknown_layer_lists_the_indexed_ones(lenet, lenet_index):
    with pytest.raises(LayerNameError, match=r"No layer named 'nope' in the exemplar index.*conv1"):
        api.top_inputs(lenet, "nope", 0, index=lenet_index)


def test_class_profile_is_the_mean_per_class_and_finds_dead_channels(
    lenet, lenet_probe, lenet_index
):
    flat, _ = _brute(lenet, lenet_probe[0], "conv2")
    means = flat.mean(axis=1)  # (N, C)
    df, dead = api.class_profile(lenet, "conv2", index=lenet_index)
    assert df.shape == (64, 10) and list(df.columns) == lenet.labels
    for c in range(10):
        np.testing.assert_allclose(
            df[str(c)].to_numpy(), means[lenet_probe[1] == c].mean(axis=0), rtol=1e-4, atol=1e-6
        )
    assert dead == [int(c) for c in np.flatnonzero(flat.max(axis=(0, 1)) <= 0)]


def test_a_filter_that_never_fires_is_reported_dead(rng):
    x = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(3, 3, activation="relu", name="c")
    y = keras.layers.Dense(2, activation="softmax", name="p")(
        keras.layers.GlobalAveragePooling2D(name="g")(conv(x))
    )
    model = keras.Model(x, y)
    k, b = conv.get_weights()
    b[1] = -100.0  # channel 1: always < 0
    conv.set_weights([k, b])
    ix = scan(Tracer(model), rng.random((50, 8, 8, 1), dtype=np.float32), labels=None, n_classes=2)
    assert list(ix.layer("c").dead) == [1]
    assert ix.layer("c").fire_rate[1] == 0.0
    sel = ix.layer("c").selectivity()
    assert sel.shape == (3,) and np.all((sel >= 0) & (sel <= 1))


# ---- receptive fields ---------------------------------------------------------------------------


def _unit(sub, x, channel):
    return keras.ops.convert_to_numpy(sub(x, training=False))


def _check_field(model, layer, position, rng, *, bases=4):
    """For the most active channel at that unit: randomising every pixel outside .box leaves
    the unit unchanged; and the pixels that do move it, perturbed one at a time (up and down
    by a lot, from several random inputs, so max-pooling windows and ReLUs let them through),
    span exactly the box: it is not larger than the true field."""
    tracer = Tracer(model)
    sub = _sub(model, tracer, layer)
    shape = tuple(model.inputs[0].shape[1:])
    xs0 = rng.random((bases, *shape), dtype=np.float32)
    channel = int(np.argmax(_unit(sub, xs0[:1], 0)[(0, *position)]))  # active there
    box = as_yxyx(receptive_field(tracer.plan, layer, position, channel=channel))
    y0, x0, y1, x1 = box
    assert 0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]
    outside = np.ones(shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    ys, xs = np.mgrid[y0:y1, x0:x1]
    moved = np.zeros(ys.size, bool)
    for x in xs0:
        base = _unit(sub, x[None], channel)[(0, *position, channel)]
        xr = np.repeat(x[None], 3, axis=0)
        xr[:, outside] = rng.random((3, int(outside.sum()), *shape[2:]), dtype=np.float32)
        got = _unit(sub, xr, channel)[(slice(None), *position, channel)]
        np.testing.assert_allclose(got, base, rtol=1e-5, atol=1e-5)
        for delta in (3.0, -3.0):
            # The last row stays unperturbed: the reference, computed in the same batch (far
            # pixels of a deep net move a unit by as little as 1e-12, so any change counts).
            batch = np.repeat(x[None], ys.size + 1, axis=0)
            batch[np.arange(ys.size), ys.ravel(), xs.ravel()] += delta
            out = _unit(sub, batch, channel)[(slice(None), *position, channel)]
            moved |= out[:-1] != out[-1]
    seen = (ys.ravel()[moved], xs.ravel()[moved])
    assert (seen[0].min(), seen[1].min(), seen[0].max() + 1, seen[1].max() + 1) == box
    return box


@pytest.mark.parametrize(
    "layer,position",
    [
        ("conv1", (0, 0)),
        ("conv1", (13, 27)),
        ("pool1", (5, 9)),
        ("conv2", (4, 6)),
        ("pool2", (3, 2)),
        ("pool2", (0, 4)),
    ],
)
def test_receptive_field_is_exact_on_lenet(lenet, rng, layer, position):
    _check_field(lenet.model, layer, position, rng)


def test_receptive_field_of_a_pool2_unit_by_hand(lenet):
    # pool2 (3, 2): conv2 rows 6-7 -> pool1 rows 6-11 -> conv1 rows 12-23 -> input 10-25
    # ('same' 5×5 pads 2); columns likewise from 4-5.
    assert as_yxyx(receptive_field(lenet.tracer.plan, "pool2", (3, 2))) == (10, 6, 26, 22)
    assert receptive_field(lenet.tracer.plan, "fc1", ()) == ((0, 28), (0, 28))


@pytest.mark.parametrize(
    "layer,position",
    [
        ("block1_conv1", (0, 31)),
        ("block1_pool", (7, 8)),
        ("block2_relu2", (5, 10)),
        ("block2_pool", (3, 4)),
    ],
)
def test_receptive_field_is_exact_on_the_vgg(vgg, rng, layer, position):
    _check_field(vgg.model, layer, position, rng)


@pytest.mark.parametrize(
    "layer,position",
    [
        ("stem", (0, 0)),
        ("sep", (6, 6)),
        ("residual", (11, 3)),
        ("left", (5, 5)),
        ("concat", (2, 9)),
    ],
)
def test_receptive_field_through_branches_and_depthwise(branchy, rng, layer, position):
    _check_field(branchy, layer, position, rng)


def test_receptive_field_through_nested_models(nested, rng):
    assert _check_field(nested, "block/bn_in", (4, 4), rng) == (2, 2, 7, 7)
    assert _check_field(nested, "pool", (0, 0), rng) == (0, 0, 4, 4)
    assert receptive_field(Tracer(nested).plan, "head/flat", ()) == ((0, 10), (0, 10))


@pytest.mark.parametrize(
    "layer,position",
    [
        ("Conv1", (5, 5)),
        ("block_1_pad", (4, 9)),
        ("block_2_add", (3, 4)),
        ("block_3_depthwise_relu", (2, 3)),
        ("block_6_project_BN", (1, 1)),
    ],
)
def test_receptive_field_on_mobilenet(mobilenet, rng, layer, position):
    _check_field(mobilenet, layer, position, rng)


def test_receptive_field_refuses_a_wrong_position(lenet):
    with pytest.raises(ValueError, match=r"'conv2' has 2 spatial axes; got the position \(1,\)"):
        receptive_field(lenet.tracer.plan, "conv2", (1,))


def test_audio_exemplars_have_a_waveform_box_and_a_spectrogram_field(spoken):
    raws, labels = api.probe_set(spoken)
    ix = api.filter_index(spoken, inputs=raws[:24], labels=labels[:24])
    (best,) = api.top_inputs(spoken, "block2_conv", 3, k=1, index=ix)
    # The per-clip LayerNormalization reads the whole clip: every unit sees every sample.
    assert best.box == (0, 8000)
    f0, b0, f1, b1 = best.local_box
    t, f = best.position
    # block2_conv (same 5×5) after a 2×2 pool after block1's same 7×7: rows 2t-7 .. 2t+8.
    assert (f0, b0) == (max(2 * t - 7, 0), max(2 * f - 7, 0))
    assert (f1 - f0, b1 - b0) <= (16, 16)
