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
