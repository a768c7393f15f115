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
from core.image import prepare_image
from core.models import LoadedModel, builtin_names, load, load_bytes

__all__ = ["load", "load_bytes", "builtin_names", "prepare", "predict", "trace",
           "attack_methods", "attack", "LoadedModel"]

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
    if m.card.get("output") == "probabilities":
        return y
    return keras.ops.convert_to_numpy(keras.ops.softmax(y, axis=-1))


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

    epsilon is in the model input's units (images in [0, 1]: 8/255 = 8 pixel levels; audio
    waveform amplitude). The result's .adversarial has the raw input's format (DESIGN.md): an
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
        lo, hi = m.card["input"].get("range", [0.0, 1.0])
        adv = np.clip(np.rint((adv - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
        p = predict(m, adv)
        label = int(np.argmax(p))
        ok = (label == target) if target is not None else (label != r.original_label)
        if r.success and not ok:
            r.message = ("The float adversarial succeeds, but rounded to 8-bit pixels it no "
                         "longer does: use a larger epsilon, or .adversarial_input.")
        r.probabilities_after, r.adversarial_label, r.success = p, label, ok
    r.adversarial = adv
    return r


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
