"""The scripting API (DESIGN.md): usable from a notebook, the pages and the tests.

    from core import api
    m = api.load("lenet_mnist")
    api.predict(m, raw)   # (n_classes,) probabilities
    api.trace(m, raw)     # {"input": ..., layer: output, ...} in graph order, no batch axis
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np

from core.attacks import AttackResult, attack_methods, run_attack
from core.audio import prepare_audio
from core.errors import InputError
from core.freeze import run_frozen, validate
from core.image import model_to_unit, prepare_image
from core.models import LoadedModel, builtin_names, load, load_bytes
from core.outputs import probabilities

__all__ = ["load", "load_bytes", "builtin_names", "prepare", "predict", "trace",
           "attack_methods", "attack", "LoadedModel", "attribution_methods", "grad_cam_layers", "attribution",
           "deletion_auc", "insertion_auc", "randomization_check", "cka"]

_BATCH = 256


def prepare(m: LoadedModel, raw: Any) -> tuple[np.ndarray, list[str]]:
    """Raw input -> model input without batch axis, and notes of the conversions made."""
    kind = m.card["input"]["kind"]
    if kind == "image":
        if isinstance(raw, tuple):
            raise InputError(f"Model {m.name!r} takes images; got a (waveform, sample_rate) tuple.")
        x, notes = prepare_image(raw, m.card)
        if m.card["input"].get("squeeze_channel"):
            x = x[..., 0]
        return x, notes
    if kind == "audio":
        return prepare_audio(raw, m.card)
    raise InputError(f"Unknown input kind {kind!r} in the card of {m.name!r}.")


def _as_probabilities(m: LoadedModel, y: np.ndarray) -> np.ndarray:
    return probabilities(m.card, y)


def predict(m: LoadedModel, raw: Any) -> np.ndarray:
    """One raw -> (n_classes,) probabilities; a list of raws -> (N, n_classes)."""
    many = isinstance(raw, list)
    xs = np.stack([prepare(m, r)[0] for r in (raw if many else [raw])])
    outs = [keras.ops.convert_to_numpy(m.model(xs[i:i + _BATCH], training=False))
            for i in range(0, len(xs), _BATCH)]
    p = _as_probabilities(m, np.concatenate(outs)).astype(np.float32)
    return p if many else p[0]


def trace(m: LoadedModel, raw: Any,
          frozen: dict[str, list[int]] | None = None) -> dict[str, np.ndarray]:
    """{"input": model input, layer: output, ...}: every layer, graph order, no batch axis.

    frozen: {layer: [channels]} zeroes those output channels (NeuralVis' freezing); only
    layers from the earliest frozen one on are recomputed.
    """
    x, _ = prepare(m, raw)
    base = {k: v[0] for k, v in m.tracer(x[None]).items()}
    if not frozen:
        return base
    fz = validate(m.tracer.plan, base, frozen)
    return run_frozen(m.tracer.plan, x[None], base, fz)


def probabilities_from_trace(m: LoadedModel, tr: dict[str, np.ndarray]) -> np.ndarray:
    """The model's prediction, read off a trace (no second forward pass)."""
    return _as_probabilities(m, tr[m.tracer.plan.output_name][None])[0].astype(np.float32)


def attack(m: LoadedModel, raw: Any, *, method: str, epsilon: float, target: int | None = None,
           steps: int | None = None) -> AttackResult:
    """An adversarial version of one raw input (foolbox; see core.attacks).

    epsilon: images in the [0, 1] image scale whatever the model's own input scaling (8/255 =
    8 pixel levels); audio in waveform amplitude. The result's .adversarial has the raw input's format (DESIGN.md): an
    image at the model's resolution, uint8 if the raw was uint8 (2-D if the raw was 2-D),
    else float in the model's range; audio as (waveform, sample_rate) at the model's rate.
    For a uint8 image the prediction after, the label and success are those of the rounded
    pixels (what a saved PNG gives); .adversarial_input keeps the exact float model input.
    A failed attack returns success=False with the best attempt; it does not raise.
    """
    x, _ = prepare(m, raw)
    r = run_attack(m, x, method=method, epsilon=epsilon, target=target, steps=steps)
    r.adversarial_input = r.adversarial
    if m.kind == "audio":
        r.adversarial = (r.adversarial.reshape(-1).copy(), int(m.card["input"]["sample_rate"]))
        return r
    adv = r.adversarial
    if np.ndim(raw) == 2 and adv.ndim == 3 and adv.shape[-1] == 1:
        adv = adv[..., 0]
    if np.asarray(raw).dtype == np.uint8:
        adv = np.clip(np.rint(model_to_unit(adv, m.card["input"]) * 255), 0, 255).astype(np.uint8)
        p = predict(m, adv)
        label = int(np.argmax(p))
        ok = (label == target) if target is not None else (label != r.original_label)
        if r.success and not ok:
            r.message = ("The float adversarial succeeds, but rounded to 8-bit pixels it no "
                         "longer does: use a larger epsilon, or .adversarial_input.")
        r.probabilities_after, r.adversarial_label, r.success = p, label, ok
    r.adversarial = adv
    return r


# ---- explanations (attribution, faithfulness, sanity checks, model vs model) ----------------------
def _explainer(m: LoadedModel):
    from core.attribution import Explainer

    # What an Explainer reads from the card; a reloaded card with other values gets its own.
    keys = ("output", "logits_layer", "spectrogram_layer", "stft", "labels", "input")
    ident = repr([m.card.get(k) for k in keys])
    return m.tracer.owned(("explainer", ident), lambda: Explainer(m.tracer.plan, m.card))


def attribution_methods() -> list[str]:
    """The attribution methods, by the names their papers use."""
    from core.attribution import method_names

    return method_names()


def grad_cam_layers(m: LoadedModel) -> list[str]:
    """Layers Grad-CAM can use: (height, width, channels) outputs after the attribution domain."""
    return list(_explainer(m).cam_layers)


def attribution(m: LoadedModel, raw: Any, *, method: str, target: int | None = None,
                **options: Any) -> np.ndarray:
    """Which input cells drive class `target` (default: the predicted class): (H, W) float32.

    Images: at the model input's resolution. Audio: over the card's spectrogram layer,
    (time frames, frequency bins). Methods and their keyword options: core.attribution.METHODS
    (gradient, gradient_x_input, integrated_gradients, smoothgrad, smoothgrad_squared, grad_cam,
    grad_cam_plus_plus, occlusion). Scores are the target's logit (card "logits_layer") or its
    log-probability.
    """
    from core.attribution import attribute

    x, _ = prepare(m, raw)
    return attribute(_explainer(m), x, method=method, target=target, **options)


def deletion_auc(m: LoadedModel, raw: Any, attribution: np.ndarray, *, target: int | None = None,
                 steps: int = 20, **options: Any):
    """Deletion curve (most-attributed cells set to the baseline first) with its AUC in [0, 1]
    (.auc; float(result) too) and a random order's (.random_auc): lower is more faithful."""
    from core.attribution import faithfulness

    x, _ = prepare(m, raw)
    return faithfulness(_explainer(m), x, attribution, kind="deletion", target=target,
                        steps=steps, **options)


def insertion_auc(m: LoadedModel, raw: Any, attribution: np.ndarray, *, target: int | None = None,
                  steps: int = 20, **options: Any):
    """Insertion curve (most-attributed cells copied onto the baseline first) with its AUC
    (.auc) and a random order's (.random_auc): higher is more faithful."""
    from core.attribution import faithfulness

    x, _ = prepare(m, raw)
    return faithfulness(_explainer(m), x, attribution, kind="insertion", target=target,
                        steps=steps, **options)


def randomization_check(m: LoadedModel, raw: Any, *, method: str, target: int | None = None,
                        **options: Any) -> list[tuple[str, float]]:
    """[(layer, similarity), ...]: the map's Spearman similarity to the trained model's as
    layers are re-initialised, output first, cumulatively (Adebayo et al. 2018). Works on a
    clone; m is untouched."""
    from core.attribution import randomization_check as _check

    x, _ = prepare(m, raw)
    return _check(m.model, m.card, x, method=method, target=target, **options)


def cka(m_a: LoadedModel, m_b: LoadedModel, inputs: list[Any], **options: Any):
    """Linear CKA (Kornblith et al. 2019) between every layer of m_a and every layer of m_b over
    the same raw inputs (each model converts them its own way): .matrix (layers_a × layers_b),
    .layers_a, .layers_b. At least 3 inputs; a few hundred are cheap."""
    from core.cka import cka as _cka

    xa = np.stack([prepare(m_a, r)[0] for r in inputs]) if inputs else None
    # The same model twice (its layers against each other): convert the inputs once.
    xb = xa if m_b is m_a else np.stack([prepare(m_b, r)[0] for r in inputs]) if inputs else None
    return _cka(m_a.tracer, m_b.tracer, xa, xb, **options)
# ---- second round: what a filter responds to (issue 16) ---------------------------------------

def probe_set(m: LoadedModel) -> tuple[list[Any], np.ndarray]:
    """(raws, labels): held-out inputs the model never trained on (assets/models/*.probe.npz).

    labels are class indices into m.labels, -1 where a probe's class is not one of the model's
    (an uploaded model borrows the probe set of its input kind, matched by class name).
    """
    from core.probe import probe_set as _probe

    p = _probe(m)
    return p.raws, p.labels


def _batch(m: LoadedModel, raws: list[Any]) -> np.ndarray:
    if not isinstance(raws, list) or not raws:
        raise InputError(f"inputs must be a non-empty list of raw inputs; got "
                         f"{type(raws).__name__}{' (empty)' if isinstance(raws, list) else ''}.")
    return np.stack([prepare(m, r)[0] for r in raws])


def filter_index(m: LoadedModel, *, inputs: list[Any] | None = None,
                 labels: np.ndarray | None = None, on_progress=None):
    """Scan a batch (default: the probe set) once: an index of every channel of every layer
    (core.exemplars.FilterIndex) for top_inputs, class profiles and dead filters."""
    from core.exemplars import scan

    if inputs is None:
        inputs, labels = probe_set(m)
    return scan(m.tracer, _batch(m, inputs), labels=labels, n_classes=len(m.labels),
                on_progress=on_progress)


def top_inputs(m: LoadedModel, layer: str, channel: int, *, inputs: list[Any] | None = None,
               k: int = 9, index=None) -> list:
    """The k inputs (default: the probe set) whose largest activation of the channel (max over
    positions) is highest, best first: .index .value .position .box (receptive field in
    model-input units, half-open (y0, x0, y1, x1); (t0, t1) for a waveform) .label.

    index: a FilterIndex from filter_index() over the same inputs, so that repeated queries
    do not scan again (the app caches it per model).
    """
    from core.exemplars import top_inputs as _top

    ix = index if index is not None else filter_index(m, inputs=inputs)
    local = m.card.get("spectrogram_layer") if m.kind == "audio" else None
    return _top(m.tracer, ix, layer, channel, k=k, local_origin=local)


def class_profile(m: LoadedModel, layer: str, *, index=None):
    """(channels × classes DataFrame of mean activation, dead channel indices) over the probe
    set (or the batch the index was built from)."""
    import pandas as pd

    ix = index if index is not None else filter_index(m)
    li = ix.layer(layer)
    df = pd.DataFrame(li.class_mean.T, columns=m.labels)
    df.index.name = "channel"
    return df, [int(c) for c in li.dead]


def visualize(m: LoadedModel, layer: str, channel: int, *, steps: int = 256, seed: int = 0,
              on_progress=None, max_seconds: float | None = None):
    """An input synthesised by gradient ascent to maximise the channel's mean activation
    (core.featvis): .raw in the raw input's format, .value, .domain, .steps, .seconds."""
    from core.featvis import MAX_SECONDS, synthesise

    return synthesise(m, layer, channel, steps=steps, seed=seed, on_progress=on_progress,
                      max_seconds=MAX_SECONDS if max_seconds is None else max_seconds)
