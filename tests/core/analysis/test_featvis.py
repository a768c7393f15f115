"""Feature visualisation: beats the best held-out input, keeps the raw format, bounded."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import api
from core.analysis.featvis import MAX_STEPS
from core.errors import InputError, LayerNameError

# feature visualisation by gradient ascent: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


def _best_probe_mean(m, layer, channel):
    """The highest mean activation of the channel over the whole probe set."""
    raws, _ = api.probe_set(m)
    x = np.stack([api.prepare(m, r)[0] for r in raws])
    flat = m.tracer.flat
    sub = keras.Model(flat.inputs[0], flat.outputs[m.tracer.names.index(layer)])
    y = np.concatenate(
        [
            keras.ops.convert_to_numpy(sub(x[i : i + 250], training=False))
            for i in range(0, len(x), 250)
        ]
    )
    return float(y[..., channel].reshape(len(x), -1).mean(axis=1).max())


@pytest.mark.parametrize(
    "name,layer,channel,shape",
    [
        ("lenet_mnist", "conv2", 3, (28, 28)),
        ("lenet_mnist", "fc1", 10, (28, 28)),
        ("vgg_cifar10", "block2_conv1", 7, (32, 32, 3)),
    ],
)
def test_visualize_beats_the_best_probe_input(name, layer, channel, shape):
    m = api.load(name)
    seen = []
    v = api.visualize(m, layer, channel, steps=256, on_progress=lambda i, n: seen.append(i))
    assert v.raw.dtype == np.uint8 and v.raw.shape == shape
    assert seen[-1] == 256 and v.steps == 256 and len(v.history) == 256
    best = _best_probe_mean(m, layer, channel)
    assert v.value > best, (v.value, best)
    # .value is what the model gives for the returned raw (through the card's conversion).
    y = api.trace(m, v.raw)[layer]
    assert float(np.mean(y[..., channel])) == pytest.approx(v.value, rel=1e-4, abs=1e-5)


def test_visualize_audio_optimises_the_waveform(spoken):
    v = api.visualize(spoken, "block3_relu", 2, steps=64)
    wave, sr = v.raw
    assert sr == 8000 and wave.shape == (8000,) and wave.dtype == np.float32
    assert np.abs(wave).max() <= 0.9 and "waveform" in v.domain
    assert v.history[-1] > v.history[0]


def test_visualize_is_deterministic_per_seed_and_stops_at_the_time_limit():
    m = api.load("lenet_mnist")
    a = api.visualize(m, "conv1", 0, steps=16, seed=1)
    b = api.visualize(m, "conv1", 0, steps=16, seed=1)
    np.testing.assert_array_equal(a.raw, b.raw)
    short = api.visualize(m, "conv1", 0, steps=MAX_STEPS, max_seconds=0.0)
    assert short.steps == 1


@pytest.mark.parametrize(
    "kw,err,match",
    [
        (dict(layer="conv2", channel=64), InputError, r"Channel 64 does not exist in 'conv2'"),
        (
            dict(layer="conv2", channel=0, steps=0),
            InputError,
            rf"steps=0; expected an integer 1\.\.{MAX_STEPS}",
        ),
        (dict(layer="conv2", channel=0, steps=5000), InputError, r"steps=5000"),
        (dict(layer="conv2", channel=0, seed="x"), InputError, r"seed='x'; expected an integer"),
        (dict(layer="nope", channel=0), LayerNameError, r"No layer named 'nope'.*conv1"),
        (dict(layer="flatten", channel=0), InputError, r"'flatten' has no channel axis"),
    ],
)
def test_visualize_refuses_bad_requests(kw, err, match):
    with pytest.raises(err, match=match):
        api.visualize(api.load("lenet_mnist"), **kw)
