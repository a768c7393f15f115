"""Filter freezing (NeuralVis' model mutation, Algorithm 1).

Freezing channel j of layer L: L's output has channel j (last axis) set to zero, and every
later layer consumes the zeroed tensor. Only the steps from the earliest frozen layer on are
re-run; the outputs before it are taken from the unfrozen trace.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import keras
import numpy as np

from core.engine import Plan
from core.errors import LayerLabError, LayerNameError

Frozen = dict[str, tuple[int, ...]]


class FreezeConfigError(LayerLabError):
    """A freeze configuration names a layer or channel the model does not have."""


def channels_of(trace: Mapping[str, np.ndarray], name: str) -> int:
    """Number of channels (last axis) of a layer's output in a trace without batch axis."""
    return int(np.shape(trace[name])[-1]) if np.ndim(trace[name]) else 0


def validate(plan: Plan, trace: Mapping[str, np.ndarray],
             frozen: Mapping[str, Any]) -> Frozen:
    """Check names and channel indices; returns {name: sorted unique channels} without empties."""
    out: Frozen = {}
    for name, chans in frozen.items():
        if name not in trace or name == "input":
            raise LayerNameError(
                f"Cannot freeze {name!r}: no such layer. Valid names: {', '.join(plan.names)}.")
        n = channels_of(trace, name)
        try:
            idx = sorted({int(c) for c in chans})
        except (TypeError, ValueError):
            raise FreezeConfigError(f"Channels for {name!r} must be a list of integers; got "
                                    f"{chans!r}.") from None
        bad = [c for c in idx if not 0 <= c < n]
        if bad:
            raise FreezeConfigError(f"Layer {name!r} has channels 0..{n - 1}; got {bad}. "
                                    "Use indices in that range.")
        if idx:
            out[name] = tuple(idx)
    return out


def _masks(base: Mapping[str, np.ndarray], frozen: Frozen) -> dict[str, np.ndarray]:
    out = {}
    for name, chans in frozen.items():
        m = np.ones(channels_of(base, name), np.float32)
        m[list(chans)] = 0.0
        out[name] = m  # (C,): broadcasts over (1, ..., C)
    return out


def compile_frozen(plan: Plan, layers: tuple[str, ...]) -> Callable[..., list[Any]]:
    """One compiled graph for "these layers have masks": the steps from the earliest of them on.

    Masks are arguments, so changing which channels are frozen reuses the graph; only a
    different set of frozen layers needs another one. Returns fn(x, values, masks) -> outputs
    of plan.names[start:], with values = the prefix outputs {name: (1, ...)}.
    """
    import tensorflow as tf

    start = min(plan.index(n) for n in layers)

    @tf.function(reduce_retracing=True)
    def fn(x, values, masks):
        outs = plan.run(x, values=values, start=start,
                        after=lambda n, y: y * masks[n] if n in masks else y)
        return outs[start:]

    return fn


def run_frozen(plan: Plan, x: np.ndarray, base: Mapping[str, np.ndarray], frozen: Frozen, *,
               compiled: Callable[..., list[Any]] | None = None) -> dict[str, np.ndarray]:
    """Trace with channels zeroed. x: (1, *input) batch; base: the unfrozen trace (no batch axis).

    Returns a full trace (no batch axis): the prefix before the earliest frozen layer is
    base's arrays themselves, the rest is recomputed from there (eagerly, or by `compiled`
    from compile_frozen(plan, tuple(frozen)) for repeated use).
    """
    if not frozen:
        return dict(base)
    start = min(plan.index(n) for n in frozen)
    prefix = plan.names[:start]
    masks = _masks(base, frozen)
    # Only the prefix outputs that later layers read go in (x too: a later layer may read it).
    values = {n: base[n][None] for n in plan.needed_before(start)}
    xb = np.asarray(x, np.float32)
    if compiled is not None:
        tail = compiled(xb, values, masks)
    else:
        tail = plan.run(xb, values=values, start=start,
                        after=lambda n, y: y * masks[n] if n in masks else y)[start:]
    result = {"input": base["input"]}
    result.update({n: base[n] for n in prefix})
    for name, y in zip(plan.names[start:], tail):
        result[name] = keras.ops.convert_to_numpy(y)[0]
    return result


def parse_config(doc: Any) -> dict[str, list[int]]:
    """A freeze configuration from JSON: ours, or NeuralVis' list form.

    Accepted: {"frozen": {"conv1": [0, 3]}}, {"conv1": [0, 3]}, or
    [{"layer_name": "conv1", "feature_index": 0}, ...].
    """
    if isinstance(doc, dict) and "frozen" in doc:
        doc = doc["frozen"]
    if isinstance(doc, list):
        out: dict[str, list[int]] = {}
        for i, item in enumerate(doc):
            if not (isinstance(item, dict) and "layer_name" in item and "feature_index" in item):
                raise FreezeConfigError(
                    f"Item {i} of the list is {item!r}; expected objects like "
                    '{"layer_name": "conv1", "feature_index": 3} (NeuralVis form).')
            out.setdefault(str(item["layer_name"]), []).append(item["feature_index"])
        return out
    if isinstance(doc, dict) and all(isinstance(v, list) for v in doc.values()):
        return {str(k): list(v) for k, v in doc.items()}
    raise FreezeConfigError(
        'Expected {"frozen": {"layer": [channels]}} or a NeuralVis list of {"layer_name", '
        '"feature_index"} objects; got ' + f"{type(doc).__name__}.")


def to_config(frozen: Frozen, *, model: str, model_sha256: str) -> dict[str, Any]:
    """The downloadable form of a freeze configuration."""
    return {"model": model, "model_sha256": model_sha256,
            "frozen": {k: list(v) for k, v in frozen.items()}}
