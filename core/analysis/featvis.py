"""Feature visualisation: synthesise an input that maximises one channel's mean activation.

Gradient ascent on a parametrised input (Olah et al., "Feature Visualization", Distill 2017),
raising the channel before its activation (a ReLU that is off has no gradient):
- images: a decorrelated Fourier parametrisation (1/f-scaled spectrum, colour decorrelation
  for RGB, a sigmoid into [0, 1]) and, at each step, random jitter (circular shift) and
  random scale, so the result is a pattern the channel likes anywhere, not adversarial noise;
- audio: the waveform itself (tanh-bounded, random time shift each step); the model computes
  its spectrogram inside the graph, so the gradient reaches the samples directly.
The ascent step (forward to the layer, gradient, Adam update) is one tf.function, traced once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from core.analysis.exemplars import indexable
from core.errors import InputError
from core.model.load import LoadedModel
from core.settings import MAX_JOB_SECONDS

MAX_STEPS = 1024
LEARNING_RATE = 0.05
# Lucid's colour correlation (ImageNet RGB), square root of its covariance via SVD.
_COLOUR = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOUR = _COLOUR / np.max(np.linalg.norm(_COLOUR, axis=0))


@dataclass(frozen=True)
class FeatureVis:
    """A synthesised input and what it achieved."""

    raw: Any  # the raw input's format: uint8 image at the model's size, or audio
    #                     (waveform float32, sample_rate)
    value: float  # the channel's mean activation for that input (as fed to the model)
    domain: str  # what was optimised, in words
    steps: int  # ascent steps run (fewer than asked if the time limit was reached)
    seconds: float
    history: np.ndarray  # (steps,) float32: the mean before the activation, with the random
    #                      transforms, along the way


def _check(m: LoadedModel, layer: str, channel: int, steps: int, seed: int) -> int:
    layers = indexable(m.tracer)
    if layer not in layers:
        m.tracer.plan.index(layer)  # unknown names: LayerNameError listing the valid ones
        raise InputError(
            f"Layer {layer!r} has no channel axis to maximise; choose one of {', '.join(layers)}."
        )
    n_ch = int(m.tracer.flat.outputs[m.tracer.names.index(layer)].shape[-1])
    if (
        isinstance(channel, bool)
        or not isinstance(channel, (int, np.integer))
        or not 0 <= int(channel) < n_ch
    ):
        raise InputError(
            f"Channel {channel!r} does not exist in {layer!r}; expected an integer 0..{n_ch - 1}."
        )
    if (
        isinstance(steps, bool)
        or not isinstance(steps, (int, np.integer))
        or not 1 <= steps <= MAX_STEPS
    ):
        raise InputError(f"steps={steps!r}; expected an integer 1..{MAX_STEPS} (256 is usual).")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"seed={seed!r}; expected an integer.")
    return n_ch


_MONOTONIC = {
    "relu",
    "relu6",
    "elu",
    "selu",
    "leaky_relu",
    "softplus",
    "sigmoid",
    "tanh",
    "hard_sigmoid",
    "silu",
    "swish",
    "gelu",
}
_ACTIVATION_LAYERS = {"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU"}


def _pre_activation(m: LoadedModel, layer: str) -> keras.Model:
    """The model from the input to the layer's output before its (monotonic) activation.

    A ReLU channel that is off for the starting input has no gradient; its pre-activation
    always has one, and raising it raises the channel. Layers without an activation: itself.
    """
    flat, names, plan = m.tracer.flat, m.tracer.names, m.tracer.plan
    op = plan.steps_by_name()[layer].op
    parents = plan.parents(layer)
    kind = type(op).__name__
    act = getattr(op, "activation", None)
    act_name = getattr(act, "__name__", "linear")
    if len(parents) != 1 or not (kind in _ACTIVATION_LAYERS or act_name in _MONOTONIC):
        return keras.Model(flat.inputs[0], flat.outputs[names.index(layer)])
    src = flat.inputs[0] if parents[0] == "input" else flat.outputs[names.index(parents[0])]
    if kind in _ACTIVATION_LAYERS:
        if kind == "Activation" and act_name not in _MONOTONIC:
            return keras.Model(flat.inputs[0], flat.outputs[names.index(layer)])
        return keras.Model(flat.inputs[0], src)
    # A private copy without the activation (the shared model is never changed).
    clone = type(op).from_config({**op.get_config(), "activation": "linear"})
    clone.build(src.shape)
    clone.set_weights(op.get_weights())
    return keras.Model(flat.inputs[0], clone(src))


def _image_param(tf, shape: tuple[int, int, int], rng: np.random.Generator):
    """(variable, to_image): a Fourier spectrum and the map to a (1, H, W, C) image in [0, 1]."""
    h, w, c = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    scale = (1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / max(h, w))).astype(np.float32)
    scale = tf.constant((scale * np.sqrt(h * w) / 8.0).astype(np.float32))  # (H, W//2+1)
    init = rng.normal(0, 0.01, (2, c, h, w // 2 + 1)).astype(np.float32)
    var = tf.Variable(init)

    def to_image(v):
        spec = tf.complex(v[0] * scale, v[1] * scale)  # (C, H, W//2+1)
        img = tf.transpose(tf.signal.irfft2d(spec, fft_length=[h, w]), [1, 2, 0])  # (H, W, C)
        if c == 3:
            img = tf.reshape(tf.reshape(img, [-1, 3]) @ tf.constant(_COLOUR.T), [h, w, 3])
        return tf.sigmoid(img)[None]

    return var, to_image


def _image_transform(tf, gen, h: int, w: int):
    jit = max(1, round(max(h, w) / 14))  # 2 px on 28-32 px inputs

    def transform(img):
        s = gen.uniform([2], -jit, jit + 1, dtype=tf.int32)
        img = tf.roll(img, shift=s, axis=[1, 2])
        f = gen.uniform([], 0.9, 1.1)
        size = tf.cast(tf.round(f * tf.constant([h, w], tf.float32)), tf.int32)
        img = tf.image.resize(img, size, method="bilinear")
        return tf.image.resize_with_crop_or_pad(img, h, w)

    return transform


def synthesise(
    m: LoadedModel,
    layer: str,
    channel: int,
    *,
    steps: int = 256,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    max_seconds: float = MAX_JOB_SECONDS,
) -> FeatureVis:
    """Gradient ascent on the channel's mean activation (over positions) of `layer`."""
    import tensorflow as tf

    _check(m, layer, channel, steps, seed)
    t0 = time.perf_counter()
    flat = m.tracer.flat
    sub = keras.Model(flat.inputs[0], flat.outputs[m.tracer.names.index(layer)])
    pre = _pre_activation(m, layer)  # what the ascent raises (same channel)
    in_shape = tuple(int(d) for d in flat.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    gen = tf.random.Generator.from_seed(seed)
    lo, hi = m.card["input"].get("range", [0.0, 1.0] if m.kind == "image" else [-1.0, 1.0])
    if m.kind == "image":
        hwc = (in_shape[0], in_shape[1], in_shape[2] if len(in_shape) == 3 else 1)
        var, to_input = _image_param(tf, hwc, rng)
        jitter = _image_transform(tf, gen, hwc[0], hwc[1])

        def model_input(v, train):  # (1, *model input) in the card's range
            img = to_input(v)
            img = jitter(img) if train else img
            x = lo + (hi - lo) * img
            return tf.reshape(x, (1, *in_shape))

        domain = "image pixels (decorrelated Fourier parametrisation, jitter and scale)"
    else:
        n = in_shape[0]
        var = tf.Variable(rng.normal(0, 0.05, in_shape).astype(np.float32))
        shift = n // 20

        def model_input(v, train):
            y = 0.9 * tf.tanh(v)[None]
            if train:
                y = tf.roll(y, gen.uniform([], -shift, shift + 1, dtype=tf.int32), axis=1)
            return y

        domain = (
            f"the waveform ({m.card['input'].get('sample_rate', '?')} Hz samples, "
            "random time shifts); the spectrogram is computed inside the model"
        )
    opt_m = tf.Variable(tf.zeros_like(var))
    opt_v = tf.Variable(tf.zeros_like(var))
    t_var = tf.Variable(0.0)
    c = tf.constant(int(channel))

    @tf.function
    def ascend():
        with tf.GradientTape() as tape:
            y = pre(model_input(var, True), training=False)  # (1, ..., C)
            obj = tf.reduce_mean(tf.gather(y, c, axis=-1))
        g = tape.gradient(obj, var)
        t_var.assign_add(1.0)  # Adam, ascending
        opt_m.assign(0.9 * opt_m + 0.1 * g)
        opt_v.assign(0.999 * opt_v + 0.001 * g * g)
        mh = opt_m / (1 - 0.9**t_var)
        vh = opt_v / (1 - 0.999**t_var)
        var.assign_add(LEARNING_RATE * mh / (tf.sqrt(vh) + 1e-8))
        return obj

    history = []
    for i in range(int(steps)):
        history.append(float(ascend()))
        if on_progress is not None and ((i + 1) % 16 == 0 or i + 1 == steps):
            on_progress(i + 1, int(steps))
        if time.perf_counter() - t0 > max_seconds:
            break
    x = model_input(var, False).numpy()[0]  # (*model input)
    if m.kind == "image":
        raw = np.clip(np.rint((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
        raw = raw[..., 0] if raw.ndim == 3 and raw.shape[-1] == 1 else raw
        x = lo + (hi - lo) * raw.reshape(in_shape).astype(np.float32) / 255.0  # as fed
        out: Any = raw
    else:
        out = (x.astype(np.float32), int(m.card["input"].get("sample_rate", 8000)))
    y = keras.ops.convert_to_numpy(sub(x[None], training=False))[0]
    value = float(np.mean(y[..., int(channel)]))
    return FeatureVis(
        out, value, domain, len(history), time.perf_counter() - t0, np.asarray(history, np.float32)
    )
