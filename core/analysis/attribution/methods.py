"""The attribution methods, by the names their papers use, and `attribute`, which runs one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from core.analysis.attribution.explainer import Explainer
from core.errors import (
    AttributionError,
    LayerNameError,
    OptionError,
    choice,
    integer,
    known_options,
    number,
)


@dataclass(frozen=True)
class Method:
    name: str
    title: str  # as people write it
    about: str
    options: dict[str, Any]  # keyword options and their defaults
    signed: bool  # True: positive = evidence for the class, negative = against


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "gradient",
            "Gradient",
            "Simonyan et al. 2014: |∂score/∂input|, largest over colour channels.",
            {},
            False,
        ),
        Method(
            "gradient_x_input",
            "Gradient × input",
            "Shrikumar et al. 2016: gradient × (input − baseline), summed over channels: a "
            "first-order estimate of each cell's contribution.",
            {"baseline": None},
            True,
        ),
        Method(
            "integrated_gradients",
            "Integrated gradients",
            "Sundararajan et al. 2017: (input − baseline) × the mean gradient along the "
            "straight path from the baseline; sums to score(x) − score(baseline). spacing: "
            "where the path is sampled (cubic: denser near the baseline).",
            {"steps": 64, "baseline": None, "spacing": "cubic", "batch_size": 64},
            True,
        ),
        Method(
            "smoothgrad",
            "SmoothGrad",
            "Smilkov et al. 2017: the gradient map averaged over noisy copies of the input "
            "(noise: standard deviation as a share of the input's range).",
            {"samples": 32, "noise": 0.15, "seed": 0, "batch_size": 64},
            False,
        ),
        Method(
            "smoothgrad_squared",
            "SmoothGrad²",
            "Hooker et al. 2019 (SmoothGrad-SQ): the mean squared gradient over noisy copies.",
            {"samples": 32, "noise": 0.15, "seed": 0, "batch_size": 64},
            False,
        ),
        Method(
            "grad_cam",
            "Grad-CAM",
            "Selvaraju et al. 2017: a convolutional layer's maps weighted by the score's mean "
            "gradient, ReLU, upsampled.",
            {"layer": "auto"},
            False,
        ),
        Method(
            "grad_cam_plus_plus",
            "Grad-CAM++",
            "Chattopadhay et al. 2018: Grad-CAM with per-position weights (higher-order terms "
            "of exp(score)).",
            {"layer": "auto"},
            False,
        ),
        Method(
            "occlusion",
            "Occlusion",
            "Zeiler & Fergus 2014: the drop in score when a window is set to the baseline, "
            "averaged over the windows covering each cell.",
            {"window": None, "stride": None, "baseline": None, "batch_size": 64},
            True,
        ),
    ]
}


def method_names() -> list[str]:
    return list(METHODS)


def _window(ex: Explainer, value: Any, what: str, default: tuple[int, int]) -> tuple[int, int]:
    h, w = ex.domain_shape[:2]
    if value is None:
        return default
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2:
        raise OptionError(f"{what} must be an int or a (rows, columns) pair; got {value!r}.")
    return (integer(f"{what} rows", pair[0], 1, h), integer(f"{what} columns", pair[1], 1, w))


def _starts(n: int, win: int, stride: int) -> list[int]:
    s = list(range(0, n - win + 1, stride))
    return s if s[-1] == n - win else s + [n - win]  # the last window reaches the edge


def _occlusion(ex: Explainer, x, z, target, *, window, stride, baseline, batch_size, frozen):
    h, w = ex.domain_shape[:2]
    wh, ww = _window(ex, window, "window", (max(2, h // 7), max(2, w // 7)))
    sh, sw = _window(ex, stride, "stride", (max(1, wh // 2), max(1, ww // 2)))
    b = ex.baseline(z, baseline)
    boxes = [(i, j) for i in _starts(h, wh, sh) for j in _starts(w, ww, sw)]
    zs = np.repeat(z[None], len(boxes), axis=0)  # (K, *domain)
    for k, (i, j) in enumerate(boxes):
        zs[k, i : i + wh, j : j + ww] = b[i : i + wh, j : j + ww]
    score = ex.score_fn(frozen=frozen)
    s0, _ = ex.batched(score, x, z[None], target, 1)
    s, _ = ex.batched(score, x, zs, target, batch_size)
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for (i, j), drop in zip(boxes, s0[0] - s):
        total[i : i + wh, j : j + ww] += drop
        count[i : i + wh, j : j + ww] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def grad_cam(
    ex: Explainer,
    x: np.ndarray,
    z: np.ndarray,
    target: int,
    *,
    layer: str = "auto",
    plus: bool = False,
    frozen: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, str]:
    """Grad-CAM (or Grad-CAM++) over the domain, and the layer it used: "auto" tries the
    Explainer's auto_cam_layers in order and keeps the first map that is not all zero."""
    if not ex.cam_layers:
        raise AttributionError(
            "Grad-CAM needs a layer with (height, width, channels) maps; "
            "this model has none (no convolution or pooling after its "
            "input). Use gradient, integrated_gradients or occlusion."
        )
    if layer != "auto" and layer not in ex.cam_layers:
        raise LayerNameError(
            f"Grad-CAM needs a layer with (height, width, channels) maps after the "
            f"{'spectrogram' if ex.domain != 'input' else 'input'}; got {layer!r}. Valid: "
            f"{', '.join(['auto'] + ex.cam_layers)}."
        )
    for name in ex.auto_cam_layers if layer == "auto" else [layer]:
        _, _, a, g = ex.batched(ex.grad_fn(name, frozen=frozen), x, z[None], target, 1)
        a, g = a[0].astype(np.float64), g[0].astype(np.float64)  # (h, w, C) or (t, C)
        space = tuple(range(a.ndim - 1))
        if plus:
            # alpha_k(i,j) = g² / (2 g² + Σ_ab A_k(a,b) g³): the closed form for exp(score).
            num = g**2
            den = 2 * num + a.sum(axis=space, keepdims=True) * g**3
            alpha = num / np.where(den != 0, den, 1.0)
            weights = (alpha * np.maximum(g, 0)).sum(axis=space)  # (C,)
        else:
            weights = g.mean(axis=space)  # (C,)
        cam = np.maximum((a * weights).sum(-1), 0).astype(np.float32)  # (h, w) or (t,)
        if cam.max() > 0:
            break
    if cam.ndim == 1:  # a waveform model: a time profile at the input's length
        wave = tf.image.resize(cam[None, :, None], (1, ex.domain_shape[0]), method="bilinear")
        return wave[0, :, 0].numpy(), name
    hw = ex.domain_shape[:2]
    return tf.image.resize(cam[..., None], hw, method="bilinear")[..., 0].numpy(), name


def attribute(
    ex: Explainer,
    x: np.ndarray,
    *,
    method: str,
    target: int | None = None,
    frozen: Mapping[str, Any] | None = None,
    **options: Any,
) -> np.ndarray:
    """One attribution map (H, W) float32 over the domain, for class `target` (default: the
    predicted class). x: one model input without batch axis. Options per METHODS.

    frozen: {layer: (scale, shift)}: the map of the model with those channels transformed
    (core.graph.interventions.transforms), its predicted class the default target."""
    choice("attribution method", method, METHODS)
    info = METHODS[method]
    known_options(method, options, info.options)
    o = {**info.options, **options}
    x = np.asarray(x, np.float32)
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z, frozen=frozen)
    if method in ("grad_cam", "grad_cam_plus_plus"):
        plus = method == "grad_cam_plus_plus"
        return grad_cam(ex, x, z, t, layer=o["layer"], plus=plus, frozen=frozen)[0]
    if method == "occlusion":
        return _occlusion(
            ex,
            x,
            z,
            t,
            window=o["window"],
            stride=o["stride"],
            baseline=o["baseline"],
            batch_size=integer("batch_size", o["batch_size"], 1, 4096),
            frozen=frozen,
        )
    grad = ex.grad_fn(frozen=frozen)
    if method == "gradient":
        return ex.to_map(ex.batched(grad, x, z[None], t, 1)[1][0], signed=False)
    if method == "gradient_x_input":
        b = ex.baseline(z, o["baseline"])
        return ex.to_map(ex.batched(grad, x, z[None], t, 1)[1][0] * (z - b), signed=True)
    bs = integer("batch_size", o["batch_size"], 1, 4096)
    if method == "integrated_gradients":
        steps = integer("steps", o["steps"], 1, 4096)
        power = {"uniform": 1, "cubic": 3}[choice("spacing", o["spacing"], ("cubic", "uniform"))]
        b = ex.baseline(z, o["baseline"])
        # Midpoint rule in u on [0, 1] with alpha = u^power, weight d alpha = power u^(power-1) du:
        # the same path integral. Cubic spacing puts points near the baseline, where a model
        # with per-input normalisation (our audio model's LayerNorm) changes its score:
        # 64 cubic steps sum to score(x) - score(baseline) within 2 %, 256 uniform ones to 58 %.
        u = (np.arange(steps) + 0.5) / steps
        alphas = (u**power).astype(np.float32)
        weights = (power * u ** (power - 1) / steps).astype(np.float32)
        shape = (-1, *[1] * z.ndim)
        path = b[None] + alphas.reshape(shape) * (z - b)[None]  # (steps, *domain)
        g = ex.batched(grad, x, path, t, bs)[1]
        return ex.to_map((g * weights.reshape(shape)).sum(axis=0) * (z - b), signed=True)
    # smoothgrad / smoothgrad_squared
    n = integer("samples", o["samples"], 1, 4096)
    sigma = number("noise", o["noise"], 0.0, 10.0) * float(np.ptp(z) or 1.0)
    rng = np.random.default_rng(integer("seed", o["seed"], 0, 2**32 - 1))
    noisy = z[None] + rng.normal(0.0, sigma, (n, *z.shape)).astype(np.float32)
    g = ex.batched(grad, x, noisy, t, bs)[1]  # (n, *domain)
    if method == "smoothgrad_squared":
        return ex.to_map((g**2).mean(axis=0), signed=False)
    return np.mean([ex.to_map(gi, signed=False) for gi in g], axis=0).astype(np.float32)
