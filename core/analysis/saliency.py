"""Which input pixels drive a prediction: gradient saliency and Grad-CAM.

Both differentiate the class score through the flattened plan (core.graph.engine.Plan) eagerly, so
they work for any traced model, nested ones included, and respect frozen filters (and the
other interventions of core.graph.interventions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from core.errors import LayerLabError
from core.graph.engine import Plan
from core.graph.interventions import apply
from core.model.outputs import class_scores


def _score_and_layer(
    plan: Plan,
    x: np.ndarray,
    class_index: int,
    card: Mapping[str, Any],
    transforms: dict[str, tuple[np.ndarray, np.ndarray]],
    layer: str | None,
):
    """Run the plan under a tape; returns (tape, score, input tensor, layer output or None).

    Frozen (intervened) channels are transformed after their layer (core.graph.interventions.transforms:
    y * scale + shift); `layer`'s output is watched so the score can be differentiated with
    respect to it.
    """
    captured: dict[str, Any] = {}
    intervene = apply(transforms)

    def after(name: str, y: Any) -> Any:
        y = intervene(name, y)
        if name == layer:
            captured["a"] = y
            tape.watch(y)
        return y

    xt = tf.convert_to_tensor(np.asarray(x, np.float32)[None])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        outs = dict(zip(plan.names, plan.run(xt, after=after)))
        # The class's logit (core.model.outputs): pre-softmax, since softmax saturates.
        score = class_scores(card, plan, outs)[0, class_index]
    return tape, score, xt, captured.get("a")


def gradient_saliency(
    plan: Plan,
    x: np.ndarray,
    class_index: int,
    *,
    card: Mapping[str, Any] | None = None,
    transforms: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    wrt: str | None = None,
) -> np.ndarray:
    """|d score / d input|, max over channels. x: (*input) -> (H, W) (or input shape for 1-D).

    wrt: differentiate with respect to this layer's output instead of the input (e.g. an audio
    model's spectrogram layer: which time-frequency cells drive the prediction).
    """
    if wrt is not None:
        plan.index(wrt)  # unknown names list the valid ones
    tape, score, xt, a = _score_and_layer(plan, x, class_index, card or {}, transforms or {}, wrt)
    g = tape.gradient(score, a if wrt is not None else xt)
    if g is None:
        raise LayerLabError(
            "The class score does not depend on the input through "
            "differentiable layers, so there is no gradient saliency."
        )
    g = np.abs(g.numpy()[0])
    return g.max(axis=-1) if g.ndim == 3 else g


def grad_cam(
    plan: Plan,
    x: np.ndarray,
    class_index: int,
    layer: str,
    *,
    card: Mapping[str, Any] | None = None,
    transforms: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k alpha_k A_k), alpha_k = mean over space of
    d score / d A_k, normalised to [0, 1].

    A spatial layer (H', W', C) gives an (H, W) map at the input's resolution (or `size`, e.g.
    an audio model's spectrogram (frames, bins)); a 1-D layer (T', C) of a waveform or sequence
    model gives a time profile (T,) at the input's length."""
    plan.index(layer)  # unknown names list the valid ones
    tape, score, _, a = _score_and_layer(plan, x, class_index, card or {}, transforms or {}, layer)
    if len(a.shape) not in (3, 4):
        raise LayerLabError(
            f"Grad-CAM needs a layer whose output has positions and channels: "
            f"(H, W, C) or (time, C); {layer!r} outputs {tuple(a.shape[1:])}. "
            "Pick a convolution or pooling layer."
        )
    g = tape.gradient(score, a)
    if g is None:
        raise LayerLabError(f"The class score does not depend on {layer!r}.")
    axes = tuple(range(1, len(a.shape) - 1))
    alpha = tf.reduce_mean(g, axis=axes, keepdims=True)  # (1, [1,] 1, C)
    cam = tf.nn.relu(tf.reduce_sum(alpha * a, axis=-1))[0]  # (h, w) or (t,)
    if len(a.shape) == 3:
        n = size[0] if size is not None else int(np.asarray(x).shape[0])
        cam = tf.image.resize(cam[None, :, None], (1, n), method="bilinear")[0, :, 0].numpy()
    else:
        h, w = size if size is not None else np.asarray(x).shape[:2]
        cam = tf.image.resize(cam[..., None], (h, w), method="bilinear")[..., 0].numpy()
    top = cam.max()
    return cam / top if top > 0 else cam


def cam_layers(plan: Plan, card: Mapping[str, Any], trace: Mapping[str, np.ndarray]) -> list[str]:
    """Layers Grad-CAM can use, in graph order: an image model's (H, W, C) maps; an audio
    model's time-frequency layers from its spectrogram on; a waveform model's (time, C) maps."""
    from core.show.audio_view import time_freq_layers
    from core.show.render import as_maps

    if card["input"]["kind"] == "audio":
        if card.get("spectrogram_layer") in plan.names:
            return time_freq_layers(plan, card["spectrogram_layer"])
        return [n for n in plan.names if np.ndim(trace[n]) == 2 and trace[n].shape[-1] > 1]
    return [
        n
        for n in plan.names
        if np.ndim(trace[n]) >= 1 and trace[n].shape[-1] > 1 and as_maps(trace[n]) is not None
    ]


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
