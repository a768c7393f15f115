"""Attribution maps, and the tests that say whether to believe them.

    Explainer(plan, card)                    the compiled score / gradient functions of one model
    attribute(ex, x, method=, target=, **o)  -> (H, W) float32 map over the attribution domain
    faithfulness(ex, x, attribution, kind=)  -> Curve: deletion or insertion (Petsiuk et al. 2018)
    randomization_check(model, card, x, ...) -> [(layer, Spearman similarity)] (Adebayo et al. 2018)

The attribution *domain* is the model input for images and the spectrogram layer's output
(card "spectrogram_layer", (time, frequency, 1)) for audio: the model runs from the raw
waveform, but the spectrogram is what a person reads, and what deletion removes. Every method
differentiates (or perturbs) the same class score (class_score): the target's logit where the
card names a logits layer, else its log-probability.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from core.analysis.saliency import auto_cam_layers
from core.errors import (
    AttributionError,
    LayerNameError,
    OptionError,
    choice,
    integer,
    known_options,
    number,
)
from core.graph.engine import Plan
from core.model.outputs import class_scores


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


def class_score(
    card: Mapping[str, Any], plan: Plan, outputs: Mapping[str, Any], target: Any
) -> tuple[Any, Any]:
    """The differentiable score of class `target` for a batch, and its probability: (N,), (N,).

    The one place that says what "the class score" is: the class's logit from
    core.model.outputs.class_scores (the card's logits layer, or the last layer's input before its
    softmax/sigmoid, else the log-probability; a one-unit binary model as two logits), since
    softmax saturates and gradients of probabilities vanish on confident inputs.
    """
    logits = class_scores(card, plan, outputs)  # (N, C)
    prob = tf.gather(tf.nn.softmax(logits, axis=-1), target, axis=-1)
    return tf.gather(logits, target, axis=-1), prob


def _shape_of(plan: Plan, name: str) -> tuple[int, ...]:
    node = plan.steps_by_name()[name].node
    return tuple(int(d) for d in node.outputs[0].shape[1:])


class Explainer:
    """The compiled functions attributions need, for one model; build once per model.

    Compiled (tf.function, batch axis free, the target a tensor argument so that one graph
    serves every class): `score` (forward only: occlusion, deletion curves) and one gradient
    function per captured layer (None: the domain only; a layer name: Grad-CAM's).
    """

    def __init__(self, plan: Plan, card: Mapping[str, Any]):
        self.plan = plan
        self.card = card
        spec = card.get("spectrogram_layer")
        audio = card["input"]["kind"] == "audio" and spec in plan.names
        self.domain: str = str(spec) if audio else "input"  # audio: spec is a step name
        inp = plan.model.inputs[0]
        self.input_shape = tuple(int(d) for d in inp.shape[1:])
        self.domain_shape = self.input_shape if not audio else _shape_of(plan, self.domain)
        start = plan.index(self.domain) + 1 if audio else 0
        later = plan.names[start:]
        steps = plan.steps_by_name()
        self.cam_layers: list[str] = [n for n in later if len(steps[n].node.outputs[0].shape) == 4]
        self.auto_cam_layers: list[str] = auto_cam_layers(plan, self.cam_layers)
        self._fns: dict[Any, Callable] = {}
        self._specs = [
            tf.TensorSpec((None, *self.input_shape), tf.float32),
            tf.TensorSpec((None, *self.domain_shape), tf.float32),
            tf.TensorSpec((), tf.int32),
        ]

    # ---- compiled pieces ---------------------------------------------------------------------
    def _run(self, x, z, after=None):
        """Plan outputs by name with the domain tensor replaced by z (N, *domain)."""
        domain = self.domain

        def hook(n, y):
            if n == domain:
                y = z  # audio: the spectrogram comes from z, not from x's STFT
            return after(n, y) if after is not None else y

        src = z if domain == "input" else x
        return dict(zip(self.plan.names, self.plan.run(src, after=hook)))

    def _compiled(self, key: Any, build: Callable[[], Callable]) -> Callable:
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = build()
        return fn

    def score_fn(self) -> Callable:
        """(x (1, *input), z (N, *domain), target) -> (score (N,), probability (N,))."""

        def build():
            @tf.function(input_signature=self._specs, reduce_retracing=True)
            def fn(x, z, target):
                return class_score(self.card, self.plan, self._run(x, z), target)

            return fn

        return self._compiled("score", build)

    def grad_fn(self, layer: str | None = None) -> Callable:
        """(x, z, target) -> (score (N,), ∂score/∂z (N, *domain)[, A (N, h, w, C), ∂score/∂A])."""

        def build():
            @tf.function(input_signature=self._specs, reduce_retracing=True)
            def fn(x, z, target):
                got: dict[str, Any] = {}
                with tf.GradientTape() as tape:
                    tape.watch(z)

                    def capture(n, y):
                        if n == layer:
                            tape.watch(y)
                            got["a"] = y
                        return y

                    score, _ = class_score(self.card, self.plan, self._run(x, z, capture), target)
                    total = tf.reduce_sum(score)  # rows are independent: per-row gradients
                wrt = [z] + ([got["a"]] if layer is not None else [])
                grads = tape.gradient(
                    total, wrt, unconnected_gradients=tf.UnconnectedGradients.ZERO
                )
                return (score, grads[0]) + ((got["a"], grads[1]) if layer is not None else ())

            return fn

        return self._compiled(("grad", layer), build)

    def domain_value(self, x: np.ndarray) -> np.ndarray:
        """The domain tensor of one model input x (no batch axis): x itself, or its spectrogram."""
        if self.domain == "input":
            return np.asarray(x, np.float32)

        def build():
            @tf.function(input_signature=self._specs[:1], reduce_retracing=True)
            def fn(x):
                return dict(zip(self.plan.names, self.plan.run(x)))[self.domain]

            return fn

        return self._compiled("domain", build)(np.asarray(x, np.float32)[None]).numpy()[0]

    # ---- helpers on numpy arrays ---------------------------------------------------------------
    def batched(
        self, fn: Callable, x: np.ndarray, zs: np.ndarray, target: int, batch_size: int
    ) -> list[np.ndarray]:
        """fn over zs (N, *domain) in chunks of batch_size; outputs concatenated on axis 0."""
        parts: list[list[np.ndarray]] = []
        xb = np.asarray(x, np.float32)[None]
        for i in range(0, len(zs), batch_size):
            outs = fn(xb, np.asarray(zs[i : i + batch_size], np.float32), np.int32(target))
            parts.append([o.numpy() for o in outs])
        return [np.concatenate(p) for p in zip(*parts)]

    def baseline(self, z: np.ndarray, value: Any) -> np.ndarray:
        """The reference input (same shape as z): "nothing there".

        None: images at the low end of the card's range (black); spectrograms at the card's dB
        floor (10 log10 min_power), else z's minimum (silence). A number: that value; an array:
        itself (shape checked).
        """
        if value is None:
            if self.domain == "input":
                value = float(self.card["input"].get("range", [0.0, 1.0])[0])
            else:
                mel = (self.card.get("stft") or {}).get("mel") or {}
                value = (
                    10 * np.log10(mel["min_power"])
                    if mel.get("power_to_db") and mel.get("min_power")
                    else float(z.min())
                )
        if np.ndim(value) == 0:
            number("baseline", value, -1e9, 1e9)
            return np.full_like(z, float(value))
        b = np.asarray(value, np.float32)
        if b.shape != z.shape:
            raise OptionError(
                f"baseline has shape {b.shape}; expected a number or an array of "
                f"the attribution domain's shape {z.shape}."
            )
        return b

    def to_map(self, a: np.ndarray, *, signed: bool) -> np.ndarray:
        """(*domain) -> (H, W): channels summed (signed maps keep completeness) or the largest
        |value| over channels (Simonyan's reduction for magnitudes)."""
        a = np.asarray(a, np.float32)
        if a.ndim == 3:
            a = a.sum(-1) if signed else np.abs(a).max(-1)
        elif not signed:
            a = np.abs(a)
        return a.astype(np.float32)

    def predicted(self, x: np.ndarray, z: np.ndarray) -> int:
        """The class the model predicts for x (with its domain value z)."""

        def build():
            @tf.function(input_signature=self._specs[:2], reduce_retracing=True)
            def fn(x, z):
                return self._run(x, z)[self.plan.output_name]

            return fn

        y = self._compiled("output", build)(np.asarray(x, np.float32)[None], z[None])
        return int(np.argmax(y.numpy()[0]))

    def check_target(self, target: Any, x: np.ndarray, z: np.ndarray) -> int:
        n = len(self.card["labels"])
        if target is None:
            return self.predicted(x, z)
        return integer("target (a class index)", target, 0, n - 1)


# ---- the methods -------------------------------------------------------------------------------
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


def _occlusion(ex: Explainer, x, z, target, *, window, stride, baseline, batch_size):
    h, w = ex.domain_shape[:2]
    wh, ww = _window(ex, window, "window", (max(2, h // 7), max(2, w // 7)))
    sh, sw = _window(ex, stride, "stride", (max(1, wh // 2), max(1, ww // 2)))
    b = ex.baseline(z, baseline)
    boxes = [(i, j) for i in _starts(h, wh, sh) for j in _starts(w, ww, sw)]
    zs = np.repeat(z[None], len(boxes), axis=0)  # (K, *domain)
    for k, (i, j) in enumerate(boxes):
        zs[k, i : i + wh, j : j + ww] = b[i : i + wh, j : j + ww]
    s0, _ = ex.batched(ex.score_fn(), x, z[None], target, 1)
    s, _ = ex.batched(ex.score_fn(), x, zs, target, batch_size)
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for (i, j), drop in zip(boxes, s0[0] - s):
        total[i : i + wh, j : j + ww] += drop
        count[i : i + wh, j : j + ww] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def _cam(ex: Explainer, x, z, target, *, layer, plus: bool):
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
        _, _, a, g = ex.batched(ex.grad_fn(name), x, z[None], target, 1)
        a, g = a[0].astype(np.float64), g[0].astype(np.float64)  # (h, w, C) each
        if plus:
            # alpha_k(i,j) = g² / (2 g² + Σ_ab A_k(a,b) g³): the closed form for exp(score).
            num = g**2
            den = 2 * num + a.sum(axis=(0, 1), keepdims=True) * g**3
            alpha = num / np.where(den != 0, den, 1.0)
            weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))  # (C,)
        else:
            weights = g.mean(axis=(0, 1))  # (C,)
        cam = np.maximum((a * weights).sum(-1), 0).astype(np.float32)  # (h, w)
        if cam.max() > 0:
            break
    return tf.image.resize(cam[..., None], ex.domain_shape[:2], method="bilinear")[..., 0].numpy()


def attribute(
    ex: Explainer, x: np.ndarray, *, method: str, target: int | None = None, **options: Any
) -> np.ndarray:
    """One attribution map (H, W) float32 over the domain, for class `target` (default: the
    predicted class). x: one model input without batch axis. Options per METHODS."""
    choice("attribution method", method, METHODS)
    info = METHODS[method]
    known_options(method, options, info.options)
    o = {**info.options, **options}
    x = np.asarray(x, np.float32)
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    if method in ("grad_cam", "grad_cam_plus_plus"):
        return _cam(ex, x, z, t, layer=o["layer"], plus=method == "grad_cam_plus_plus")
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
        )
    grad = ex.grad_fn()
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


# ---- faithfulness ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: the target's probability as cells go (or come)."""

    kind: str  # "deletion" | "insertion"
    target: int
    fractions: np.ndarray  # (steps + 1,) share of cells removed / inserted
    probabilities: np.ndarray  # (steps + 1,) for the map's order
    auc: float  # area under it, in [0, 1]
    random_probabilities: np.ndarray  # (steps + 1,) mean over random orders
    random_auc: float
    random_orders: int = 3

    def __float__(self) -> float:
        return self.auc


def _auc(f: np.ndarray, p: np.ndarray) -> float:
    return float(np.clip(np.trapezoid(p, f), 0.0, 1.0))


def faithfulness(
    ex: Explainer,
    x: np.ndarray,
    attribution: np.ndarray,
    *,
    kind: str,
    target: int | None = None,
    steps: int = 20,
    baseline: Any = None,
    random_orders: int = 3,
    seed: int = 0,
    batch_size: int = 64,
) -> Curve:
    """Deletion (cells set to the baseline, most attributed first: a faithful map makes the
    probability fall fast, low AUC) or insertion (cells copied onto the baseline: rises fast,
    high AUC). Beside it the mean curve of `random_orders` random orders: the bar to beat."""
    choice("curve kind", kind, ("deletion", "insertion"))
    steps = integer("steps", steps, 1, 1000)
    random_orders = integer("random_orders", random_orders, 0, 100)
    x = np.asarray(x, np.float32)
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    a = np.asarray(attribution, np.float32)
    hw = ex.domain_shape[:2]
    if a.shape != hw or not np.isfinite(a).all():
        raise AttributionError(
            f"The attribution map has shape {a.shape}"
            f"{'' if np.isfinite(a).all() else ' with NaN/inf values'}; "
            f"expected finite values of shape {hw} (what attribution() "
            "returns for this model)."
        )
    b = ex.baseline(z, baseline)
    n = a.size
    counts = np.round(np.linspace(0, n, steps + 1)).astype(int)
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-a.ravel(), kind="stable")] + [
        rng.permutation(n) for _ in range(random_orders)
    ]
    batch = []
    for order in orders:
        rank = np.empty(n, int)
        rank[order] = np.arange(n)
        rank = rank.reshape(hw)
        for k in counts:
            chosen = rank < k  # (H, W) the first k cells
            if z.ndim == 3:
                chosen = chosen[..., None]
            batch.append(np.where(chosen, b, z) if kind == "deletion" else np.where(chosen, z, b))
    _, p = ex.batched(
        ex.score_fn(), x, np.stack(batch), t, integer("batch_size", batch_size, 1, 4096)
    )
    p = p.reshape(len(orders), steps + 1).astype(np.float64)
    f = counts / n
    rand = p[1:].mean(axis=0) if random_orders else np.full(steps + 1, np.nan)
    return Curve(
        kind=kind,
        target=t,
        fractions=f,
        probabilities=p[0],
        auc=_auc(f, p[0]),
        random_probabilities=rand,
        random_auc=_auc(f, rand) if random_orders else float("nan"),
        random_orders=random_orders,
    )


# ---- the randomisation sanity check ---------------------------------------------------------------
def _seeded_clone(model: keras.Model, seed: int) -> keras.Model:
    """A copy of the architecture with fresh weights from each layer's own initialisers, seeded
    per layer name (so the check is reproducible and never touches Keras' global seed)."""

    def fresh(layer):
        cfg = layer.get_config()
        for k, v in cfg.items():
            if (
                k.endswith("_initializer")
                and isinstance(v, dict)
                and isinstance(v.get("config"), dict)
                and "seed" in v["config"]
            ):
                v["config"]["seed"] = (seed + zlib.crc32(f"{layer.name}/{k}".encode())) % 2**31
        return layer.__class__.from_config(cfg)

    return keras.models.clone_model(model, clone_function=fresh, recursive=True)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two maps; 0 where either is constant (no order to agree on)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a.ravel()), rankdata(b.ravel())
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def weighted_layers(plan: Plan) -> list[str]:
    """Steps whose layer holds weights, in graph order (a shared layer once, at its first call)."""
    seen: set[int] = set()
    out = []
    for name, step in plan.steps_by_name().items():
        if step.op.weights and id(step.op) not in seen:
            seen.add(id(step.op))
            out.append(name)
    return out


def randomization_check(
    model: keras.Model,
    card: Mapping[str, Any],
    x: np.ndarray,
    *,
    method: str,
    target: int | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> list[tuple[str, float]]:
    """Cascading model-parameter randomisation (Adebayo et al. 2018).

    On a clone (the model itself is never touched), layers with weights are re-initialised one
    more at a time from the output towards the input; after each, the method's map is compared
    with the trained model's by the Spearman rank correlation of absolute values. A map that
    explains the model should stop resembling itself as the weights go: similarity near 1 to
    the end means the map shows the input (edges), not what the network learned.
    """
    choice("attribution method", method, METHODS)
    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    fresh = _seeded_clone(model, seed)
    ex = Explainer(Plan(work), card)
    fresh_ops = {n: s.op for n, s in Plan(fresh).steps_by_name().items()}
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    ref = np.abs(attribute(ex, x, method=method, target=t, **options))
    layers = weighted_layers(ex.plan)[::-1]
    work_ops = ex.plan.steps_by_name()
    out = []
    for i, name in enumerate(layers):
        work_ops[name].op.set_weights(fresh_ops[name].get_weights())  # cumulative
        m = np.abs(attribute(ex, x, method=method, target=t, **options))
        out.append((name, _spearman(ref, m)))
        if on_progress is not None:
            on_progress(i + 1, len(layers))
    return out
