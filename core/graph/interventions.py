"""Filter freezing (NeuralVis' model mutation, Algorithm 1).

Freezing channel j of layer L: L's output has channel j (last axis) set to zero, and every
later layer consumes the zeroed tensor. Only the steps from the earliest frozen layer on are
re-run; the outputs before it are taken from the unfrozen trace.

Freezing generalised (interventions): per layer, the chosen channels are zeroed ("zero", the
default), replaced by their mean over a probe set ("mean": mean ablation), multiplied by a
factor ("scale"), or they are the only ones kept ("keep": every other channel zeroed). Each is
an affine map of the layer's output, y -> y * scale + shift, with scale (C,) and shift
(*spatial, C): one compiled graph serves them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import FreezeConfigError, LayerNameError, number
from core.graph.engine import Plan, numpy_view, suits_xla, xla_or

Frozen = dict[str, tuple[int, ...]]
KINDS = {
    "zero": "set to 0 (NeuralVis' freezing)",
    "mean": "replaced by its mean over the probe set (mean ablation)",
    "scale": "multiplied by a factor",
    "keep": "the only channels kept (all others set to 0)",
}


@dataclass(frozen=True)
class Intervention:
    """What happens to some channels of one layer's output."""

    channels: tuple[int, ...]
    kind: str = "zero"  # one of KINDS
    factor: float = 1.0  # "scale" only


def intervention(chans: Any, kind: str = "zero", factor: float = 1.0) -> Intervention:
    """A checked Intervention (channels as given; validate() checks them against a layer)."""
    if kind not in KINDS:
        raise FreezeConfigError(
            f"Unknown intervention {kind!r}; expected one of {', '.join(KINDS)}."
        )
    factor = number("The scale factor", factor, -1e6, 1e6, error=FreezeConfigError)
    return Intervention(tuple(chans), kind, factor)


def as_intervention(v: Any) -> Intervention:
    """A list of channels (zeroing, the original form), an Intervention, or its dict form
    {"kind": ..., "channels": [...], "factor": ...}."""
    if isinstance(v, Intervention):
        return v
    if isinstance(v, dict):
        if "channels" not in v:
            raise FreezeConfigError(
                f"An intervention needs its channels; got {v!r}. Expected "
                '{"kind": "mean", "channels": [0, 3]}.'
            )
        return intervention(v["channels"], v.get("kind", "zero"), v.get("factor", 1.0))
    return Intervention(tuple(v))


class Freeze(Mapping[str, Intervention]):
    """A freeze configuration as one immutable, hashable value: {layer: Intervention}, layers
    in name order, channels sorted and unique, layers without channels left out.

    The pages build it (from the Freeze page's channels and kinds), the caches key on it, and
    the engine takes it as the mapping it is (api.trace(m, raw, frozen=Freeze(...)))."""

    __slots__ = ("_items",)

    def __init__(
        self,
        frozen: Mapping[str, Any] | None = None,
        kinds: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        items: list[tuple[str, Intervention]] = []
        for name, value in (frozen or {}).items():
            iv = as_intervention(value)
            kind = (kinds or {}).get(name)
            if kind:  # the Freeze page keeps kinds apart from the ticked channels
                iv = intervention(iv.channels, kind.get("kind", "zero"), kind.get("factor", 1.0))
            try:
                chans = tuple(sorted({int(c) for c in iv.channels}))
            except (TypeError, ValueError):
                raise FreezeConfigError(
                    f"Channels for {name!r} must be a list of integers; got {iv.channels!r}."
                ) from None
            if chans:
                items.append((name, Intervention(chans, iv.kind, iv.factor)))
        self._items = tuple(sorted(items, key=lambda item: item[0]))

    def __getitem__(self, name: str) -> Intervention:
        for n, iv in self._items:
            if n == name:
                return iv
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (n for n, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Freeze) and other._items == self._items

    def __repr__(self) -> str:
        return f"Freeze({dict(self._items)!r})"


def channels_of(trace: Mapping[str, np.ndarray], name: str) -> int:
    """Number of channels (last axis) of a layer's output in a trace without batch axis."""
    return int(np.shape(trace[name])[-1]) if np.ndim(trace[name]) else 0


def validate(plan: Plan, trace: Mapping[str, np.ndarray], frozen: Mapping[str, Any]) -> Frozen:
    """Check names and channel indices; returns {name: sorted unique channels} without empties."""
    out: Frozen = {}
    for name, chans in frozen.items():
        chans = chans.channels if isinstance(chans, Intervention) else chans
        if name not in trace or name == "input":
            raise LayerNameError(
                f"Cannot freeze {name!r}: no such layer. Valid names: {', '.join(plan.names)}."
            )
        n = channels_of(trace, name)
        try:
            idx = sorted({int(c) for c in chans})
        except (TypeError, ValueError):
            raise FreezeConfigError(
                f"Channels for {name!r} must be a list of integers; got {chans!r}."
            ) from None
        bad = [c for c in idx if not 0 <= c < n]
        if bad:
            raise FreezeConfigError(
                f"Layer {name!r} has channels 0..{n - 1}; got {bad}. Use indices in that range."
            )
        if idx:
            out[name] = tuple(idx)
    return out


def affine(
    shape: tuple[int, ...], iv: Intervention, mean: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(scale (C,), shift (*spatial, C)) for a layer output of `shape` (no batch axis):
    y * scale + shift applies the intervention (broadcast over the batch)."""
    n = int(shape[-1])
    scale = np.ones(n, np.float32)
    shift = np.zeros(shape, np.float32)
    chans = list(iv.channels)
    if iv.kind == "keep":
        scale[:] = 0.0
        scale[chans] = 1.0
    elif iv.kind == "scale":
        scale[chans] = iv.factor
    else:
        scale[chans] = 0.0
        if iv.kind == "mean":
            if mean is None or np.shape(mean) != tuple(shape):
                raise FreezeConfigError(
                    f"Mean ablation needs the layer's mean output over a probe set, shape "
                    f"{tuple(shape)}; got {None if mean is None else np.shape(mean)}. Compute "
                    "it with channel_means()."
                )
            shift[..., chans] = mean[..., chans]
    return scale, shift


def transforms(
    base: Mapping[str, np.ndarray],
    frozen: Mapping[str, Any],
    means: Mapping[str, np.ndarray] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer: (scale, shift)} of a configuration, shapes from a trace without batch axis."""
    return {
        name: affine(np.shape(base[name]), as_intervention(v), (means or {}).get(name))
        for name, v in frozen.items()
    }


def channel_means(
    tracer: Any, x: np.ndarray, layers: list[str], batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Each layer's output averaged over a probe batch x (N, *input): {layer: (*spatial, C)},
    what mean ablation substitutes (the mean map per channel, position by position)."""
    sums: dict[str, np.ndarray] = {}
    for i in range(0, len(x), batch_size):
        out = tracer(x[i : i + batch_size])
        for n in layers:
            sums[n] = sums.get(n, 0.0) + out[n].astype(np.float64).sum(axis=0)
    return {n: (v / len(x)).astype(np.float32) for n, v in sums.items()}


def apply(tfs: Mapping[str, Any]) -> Callable[[str, Any], Any]:
    """The Plan.run `after` hook that applies {layer: (scale, shift)}."""
    return lambda n, y: y * tfs[n][0] + tfs[n][1] if n in tfs else y


def compile_frozen(plan: Plan, layers: tuple[str, ...]) -> Callable[..., list[Any]]:
    """One compiled graph for "these layers have interventions": the steps after the earliest
    of them (whose own output comes transformed from the unfrozen trace, not re-run).

    The (scale, shift) pairs are arguments, so changing which channels are frozen (or how)
    reuses the graph; only a different set of layers needs another one. Returns
    fn(x, values, transforms) -> outputs of plan.names[start:], with x the input batch (None
    when no later step reads it), values the prefix outputs {name: (N, ...)} later steps read,
    transforms those of the later frozen layers (see run_frozen).
    """
    import tensorflow as tf

    start = min(plan.index(n) for n in layers) + 1

    def tail(x, values, tfs):
        return plan.run(x, values=values, start=start, after=apply(tfs))[start:]

    graph = tf.function(tail)
    # One concrete function per input shape (batch axis None), called directly: that skips
    # tf.function's per-call signature matching, which costs as much as a small tail. A
    # batch of one (a page's input) runs under XLA where it suits the model
    # (engine.suits_xla): a small model's tail is dispatch-bound, and XLA fuses it.
    concrete: dict[tuple, Any] = {}

    def specs(x, values, tfs, batch: int | None) -> tuple:
        def spec(a: Any, batched: bool = True) -> Any:
            if a is None:  # x, when no later layer reads it
                return None
            a = np.asarray(a)
            return tf.TensorSpec(((batch,) if batched else ()) + a.shape[batched:], a.dtype)

        return (
            spec(x),
            {n: spec(v) for n, v in values.items()},
            {n: (spec(a, False), spec(b, False)) for n, (a, b) in tfs.items()},
        )

    xla = suits_xla(plan)

    def fn(x, values, tfs):
        one = xla and len(x if x is not None else next(iter(values.values()))) == 1
        key = (
            one,
            None if x is None else np.shape(x)[1:],
            tuple((n, np.shape(v)[1:]) for n, v in values.items()),
            tuple(tfs),
        )
        if key not in concrete:
            plain = graph.get_concrete_function(*specs(x, values, tfs, None))
            concrete[key] = (
                xla_or(
                    plain,
                    lambda: tf.function(tail, jit_compile=True).get_concrete_function(
                        *specs(x, values, tfs, 1)
                    ),
                    x,
                    values,
                    tfs,
                )
                if one
                else plain
            )
        return concrete[key](x, values, tfs)

    return fn


FROZEN_GRAPHS = 16  # compiled downstream graphs kept per model (sets of frozen layers)


def frozen_graph(tracer: Any, layers: tuple[str, ...]) -> Callable[..., list[Any]]:
    """compile_frozen(tracer.plan, layers), built once per model and set of layers and shared
    by every caller (a freeze, a filter-importance scan). Which layers are frozen comes from
    the user (a link): a bounded number of graphs is kept."""
    layers = tuple(sorted(layers))
    return tracer.owned(
        ("frozen", layers), lambda: compile_frozen(tracer.plan, layers), keep=FROZEN_GRAPHS
    )


def run_frozen(
    plan: Plan,
    x: np.ndarray,
    base: Mapping[str, np.ndarray],
    frozen: Mapping[str, Any],
    *,
    compiled: Callable[..., list[Any]] | None = None,
    means: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Trace with channels zeroed (or intervened on). x: (1, *input) batch; base: the unfrozen
    trace (no batch axis); frozen: {layer: channels} or {layer: Intervention}; means: the
    probe-set means (channel_means) of layers under mean ablation.

    Returns a full trace (no batch axis): the prefix before the earliest frozen layer is
    base's arrays themselves, that layer's output is base's transformed (the layer itself is
    not re-run), the rest is recomputed from there (eagerly, or by `compiled` from
    compile_frozen(plan, tuple(frozen)) for repeated use).
    """
    if not frozen:
        return dict(base)
    first = min(plan.index(n) for n in frozen)
    name0, start = plan.names[first], first + 1
    tfs = transforms(base, frozen, means)
    scale, shift = tfs[name0]
    y0 = base[name0] * scale + shift  # (*spatial, C)
    # Only what the later layers read goes in: the prefix outputs they consume, x only if one
    # reads the model input, the transforms of later frozen layers (name0's is applied above).
    # Each argument costs the compiled call a conversion and a signature check.
    values = {n: base[n][None] for n in plan.needed_before(start)}
    if name0 in values:
        values[name0] = y0[None]
    xb = np.asarray(x, np.float32) if plan.reads_input(start) else None
    later = {n: pair for n, pair in tfs.items() if n != name0}
    if start == len(plan.names):
        tail: list[Any] = []
    elif compiled is not None:
        tail = compiled(xb, values, later)
    else:
        tail = plan.run(xb, values=values, start=start, after=apply(later))[start:]
    result = {"input": base["input"]}
    result.update({n: base[n] for n in plan.names[:first]})
    result[name0] = y0
    for name, y in zip(plan.names[start:], tail):
        result[name] = numpy_view(y)[0]
    return result


def with_kinds(
    frozen: Mapping[str, Any], kinds: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Intervention]:
    """The pages' two stores, {layer: [channels]} and {layer: {"kind", "factor"}} (layers
    without an entry are zeroed), as {layer: Intervention}."""
    return {n: intervention(c, **(kinds or {}).get(n, {})) for n, c in frozen.items()}


def kinds_of(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The inverse: {layer: {"kind", "factor"}} of the layers that are not simply zeroed."""
    out = {}
    for n, v in config.items():
        iv = as_intervention(v)
        if iv.kind != "zero":
            out[n] = {"kind": iv.kind, "factor": iv.factor}
    return out


def parse_config(doc: Any) -> dict[str, list[int] | Intervention]:
    """A freeze configuration from JSON: ours, or NeuralVis' list form.

    Accepted: {"frozen": {"conv1": [0, 3]}}, {"conv1": [0, 3]}, or
    [{"layer_name": "conv1", "feature_index": 0}, ...]; in ours a layer's value may also be an
    intervention {"kind": "mean" | "scale" | "keep" | "zero", "channels": [...], "factor": x}
    (returned as an Intervention; plain lists are zeroed channels, as before).
    """
    if isinstance(doc, dict) and "frozen" in doc:
        doc = doc["frozen"]
    if isinstance(doc, list):
        out: dict[str, list[int]] = {}
        for i, item in enumerate(doc):
            if not (isinstance(item, dict) and "layer_name" in item and "feature_index" in item):
                raise FreezeConfigError(
                    f"Item {i} of the list is {item!r}; expected objects like "
                    '{"layer_name": "conv1", "feature_index": 3} (NeuralVis form).'
                )
            out.setdefault(str(item["layer_name"]), []).append(item["feature_index"])
        return dict(out)  # as dict[str, list[int] | Intervention] (a dict's values are invariant)
    if isinstance(doc, dict) and all(isinstance(v, (list, dict)) for v in doc.values()):
        return {
            str(k): list(v) if isinstance(v, list) else as_intervention(v) for k, v in doc.items()
        }
    raise FreezeConfigError(
        'Expected {"frozen": {"layer": [channels]}} or a NeuralVis list of {"layer_name", '
        '"feature_index"} objects; got ' + f"{type(doc).__name__}."
    )


def to_config(frozen: Mapping[str, Any], *, model: str, model_sha256: str) -> dict[str, Any]:
    """The downloadable form of a freeze configuration: zeroed channels as plain lists (what
    older versions read), other interventions as {"kind", "channels"[, "factor"]}."""

    def entry(v: Any) -> Any:
        iv = as_intervention(v)
        if iv.kind == "zero":
            return list(iv.channels)
        return {
            "kind": iv.kind,
            "channels": list(iv.channels),
            **({"factor": iv.factor} if iv.kind == "scale" else {}),
        }

    return {
        "model": model,
        "model_sha256": model_sha256,
        "frozen": {k: entry(v) for k, v in frozen.items()},
    }
