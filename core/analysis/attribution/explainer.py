"""The Explainer: the compiled score and gradient functions attributions need, one per model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from core.errors import (
    OptionError,
    integer,
    number,
)
from core.graph.engine import Plan
from core.graph.interventions import apply
from core.model.outputs import class_scores, probabilities


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


def auto_cam_layers(plan: Plan, layers: list[str]) -> list[str]:
    """Grad-CAM's "auto" layer, as candidates in the order to try them.

    The usual layer is the last convolution block, but which of its outputs shows positive
    evidence depends on the model (our VGG: the conv; the audio model: its ReLU): its
    activation first, then the convolution and the layers between. The caller takes the
    first whose map is not all zero.
    """
    kinds = plan.layer_types()
    convs = plan.map_convs(layers)
    if not convs:
        return layers[-1:]
    block = layers[layers.index(convs[-1]) :][:4]  # conv, BN, activation, ...
    acts = [n for n in block[1:] if kinds[n] in ("Activation", "ReLU")]
    return acts[:1] + [n for n in block if n not in acts[:1]]


def _shape_of(plan: Plan, name: str) -> tuple[int, ...]:
    node = plan.steps_by_name()[name].node
    return tuple(int(d) for d in node.outputs[0].shape[1:])


class Explainer:
    """The compiled functions attributions need, for one model; build once per model.

    Compiled (tf.function, batch axis free, the target a tensor argument so that one graph
    serves every class): `score` (forward only: occlusion, deletion curves) and one gradient
    function per captured layer (None: the domain only; a layer name: Grad-CAM's).

    frozen: {layer: (scale, shift)} (core.graph.interventions.transforms) runs the same
    functions on the model with those channels transformed (NeuralVis' freezing). They run
    eagerly: a configuration is one user's, and compiling per configuration would not pay.
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
        # Grad-CAM's layers: (N, h, w, C) maps; a waveform model without a spectrogram layer
        # has (N, t, C) maps over time.
        rank = 3 if card["input"]["kind"] == "audio" and not audio else 4
        self.cam_layers: list[str] = [
            n
            for n in later
            if len(shape := steps[n].node.outputs[0].shape) == rank
            and (rank == 4 or (shape[-1] or 0) > 1)
        ]
        self.auto_cam_layers: list[str] = auto_cam_layers(plan, self.cam_layers)
        self._fns: dict[Any, Callable] = {}
        self._specs = [
            tf.TensorSpec((None, *self.input_shape), tf.float32),
            tf.TensorSpec((None, *self.domain_shape), tf.float32),
            tf.TensorSpec((), tf.int32),
        ]

    # ---- compiled pieces ---------------------------------------------------------------------
    def _run(self, x, z, after=None, frozen=None):
        """Plan outputs by name with the domain tensor replaced by z (N, *domain)."""
        domain = self.domain
        intervene = apply(frozen or {})

        def hook(n, y):
            if n == domain:
                y = z  # audio: the spectrogram comes from z, not from x's STFT
            y = intervene(n, y)
            return after(n, y) if after is not None else y

        src = z if domain == "input" else x
        return self.plan.outputs(src, after=hook)

    def _compiled(self, key: Any, build: Callable[[], Callable]) -> Callable:
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = build()
        return fn

    def _maybe_compiled(self, key: Any, fn: Callable, frozen: Mapping | None) -> Callable:
        if frozen:
            return fn  # eager, see the class docstring
        return self._compiled(
            key, lambda: tf.function(fn, input_signature=self._specs, reduce_retracing=True)
        )

    def score_fn(self, *, frozen: Mapping[str, Any] | None = None) -> Callable:
        """(x (1, *input), z (N, *domain), target) -> (score (N,), probability (N,))."""

        def fn(x, z, target):
            return class_score(self.card, self.plan, self._run(x, z, frozen=frozen), target)

        return self._maybe_compiled("score", fn, frozen)

    def grad_fn(
        self, layer: str | None = None, *, frozen: Mapping[str, Any] | None = None
    ) -> Callable:
        """(x, z, target) -> (score (N,), ∂score/∂z (N, *domain)[, A (N, h, w, C), ∂score/∂A])."""

        def fn(x, z, target):
            x, z = tf.convert_to_tensor(x), tf.convert_to_tensor(z)  # eager calls get numpy
            got: dict[str, Any] = {}
            with tf.GradientTape() as tape:
                tape.watch(z)

                def capture(n, y):
                    if n == layer:
                        tape.watch(y)
                        got["a"] = y
                    return y

                outs = self._run(x, z, capture, frozen)
                score, _ = class_score(self.card, self.plan, outs, target)
                total = tf.reduce_sum(score)  # rows are independent: per-row gradients
            wrt = [z] + ([got["a"]] if layer is not None else [])
            grads = tape.gradient(total, wrt, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return (score, grads[0]) + ((got["a"], grads[1]) if layer is not None else ())

        return self._maybe_compiled(("grad", layer), fn, frozen)

    def domain_value(self, x: np.ndarray) -> np.ndarray:
        """The domain tensor of one model input x (no batch axis): x itself, or its spectrogram."""
        if self.domain == "input":
            return np.asarray(x, np.float32)

        def build():
            @tf.function(input_signature=self._specs[:1], reduce_retracing=True)
            def fn(x):
                return self.plan.outputs(x)[self.domain]

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

    def _output(self, frozen: Mapping[str, Any] | None) -> Callable:
        """(x (1, *input), z (N, *domain)) -> the model's output (N, units), frozen or not."""

        def fn(x, z):
            return self._run(x, z, frozen=frozen)[self.plan.output_name]

        if frozen:
            return fn
        return self._compiled(
            "output",
            lambda: tf.function(fn, input_signature=self._specs[:2], reduce_retracing=True),
        )

    def predicted(
        self, x: np.ndarray, z: np.ndarray, *, frozen: Mapping[str, Any] | None = None
    ) -> int:
        """The class the model predicts for x (with its domain value z), frozen or not."""
        y = self._output(frozen)(np.asarray(x, np.float32)[None], np.asarray(z, np.float32)[None])
        return int(np.argmax(np.asarray(y)[0]))

    def probabilities(self, x: np.ndarray, zs: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) of x with its domain replaced by each of zs (N,
        *domain): what the model makes of a baseline itself."""
        y = self._output(None)(np.asarray(x, np.float32)[None], np.asarray(zs, np.float32))
        return probabilities(self.card, np.asarray(y))

    def check_target(
        self, target: Any, x: np.ndarray, z: np.ndarray, *, frozen: Mapping | None = None
    ) -> int:
        n = len(self.card["labels"])
        if target is None:
            return self.predicted(x, z, frozen=frozen)
        return integer("target (a class index)", target, 0, n - 1)
