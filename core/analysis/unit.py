"""The arithmetic of one unit: how the number a trace holds at (layer, position, channel) came
about, recomputed from the layer's weights and its inputs' traced values (CNN Explainer's view,
for any traced model).

A unit is one number of a layer's output (no batch axis): `position` indexes the spatial axes
((y, x) of a 2-D map, (t,) of a 1-D signal, () of a vector) and `channel` the last axis. Its
`contributions` add up, with `bias`, to `pre_activation`; the layer's activation function of
that gives `activation`, which equals `traced` (the trace's value) to float32 rounding: the sums
here run in float64, the model's in float32.

Explained: convolutions (Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D: one
contribution per input channel, the window read with its padding, the kernel slice), Dense
(one contribution per input unit), pooling (max: which input wins; average: the mean; global
ones too), BatchNormalization, LayerNormalization and Normalization (the affine they apply),
activation layers (the function of one input), layers that only move numbers (Dropout at
inference, Flatten, Reshape, Permute, ZeroPadding, Cropping, Concatenate: where the number
comes from) and Add/Subtract/Average/Maximum/Minimum/Multiply (one part per input). Anything
else raises UnitError.

`upstream` is the input unit that contributed most (the largest product in the direction of
the pre-activation's sign; the winner of a max): following it walks down to the pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from core.analysis import unit_ops as ops
from core.errors import OptionError, UnitError
from core.graph.engine import Plan
from core.inputs.prepare import prepare
from core.model.load import LoadedModel


@dataclass(frozen=True)
class UnitRef:
    """One unit of a traced tensor ("input" = the model input)."""

    layer: str
    channel: int
    position: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Unit:
    """How one unit's value came about (see the module docstring)."""

    layer: str
    kind: str  # the layer's class name
    channel: int
    position: tuple[int, ...]
    contributions: np.ndarray  # (P,) float64: one per input channel (or input unit, or part)
    parts: tuple[str, ...]  # (P,) what each contribution is
    sources: tuple[UnitRef | None, ...]  # (P,) the strongest input unit of each part
    bias: float
    pre_activation: float  # sum(contributions) + bias (a max/min pool or merge's winner, a product)
    activation_name: str  # "relu", "linear", "identity (at inference)", ...
    activation: float  # the activation function applied to pre_activation, recomputed
    traced: float  # the value api.trace holds at this unit
    input_layer: str | None  # where the window/inputs are read from (one parent)
    patch: np.ndarray | None  # (*window, C): the input window, 0 where padding
    kernel: np.ndarray | None  # (*window, C): the weights applied to it
    padded: np.ndarray | None  # (*window,) True where the window lies in the padding
    window: tuple[np.ndarray, ...] | None  # per spatial axis, the input index of each cell
    channels: np.ndarray | None  # (C,) the input channels of patch/kernel's last axis
    upstream: UnitRef | None
    note: str

    @property
    def products(self) -> np.ndarray | None:
        """patch * kernel: each input channel's product map (*window, C)."""
        if self.patch is None or self.kernel is None:
            return None
        return self.patch * self.kernel

    @property
    def error(self) -> float:
        """|recomputed - traced|."""
        return abs(self.activation - self.traced)


def _index(shape: tuple[int, ...], layer: str, channel: Any, position: Any) -> tuple[int, ...]:
    """(*position, channel) checked against an output shape (no batch axis)."""
    if isinstance(position, (int, np.integer)) and not isinstance(position, bool):
        position = (position,)
    if not isinstance(position, Sequence) or isinstance(position, str):
        raise OptionError(
            f"position must be a tuple of {len(shape) - 1} indices for {layer!r} "
            f"(output {shape}); got {position!r}."
        )
    if len(position) != len(shape) - 1:
        raise OptionError(
            f"{layer!r} outputs {shape}: a position has {len(shape) - 1} indices "
            f"({'none: pass ()' if len(shape) == 1 else 'one per spatial axis'}); got {tuple(position)!r}."
        )
    idx = []
    for what, v, n in zip(["position"] * len(position) + ["channel"], [*position, channel], shape):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < n:
            raise OptionError(
                f"{what} index {v!r} is out of range for {layer!r} (output {shape}); "
                f"expected a whole number from 0 to {n - 1}."
            )
        idx.append(int(v))
    return tuple(idx)


def _parent_arrays(
    plan: Plan, trace: Mapping[str, np.ndarray], layer: str
) -> list[tuple[str, np.ndarray]]:
    """(trace key, traced array) of each tensor the layer consumes, in argument order."""
    steps = plan.steps_by_name()
    out = []
    for producer, tensor in plan.inputs_of(layer):
        key = producer
        if key not in trace:  # a multi-output producer: its outputs are traced as "name:k"
            outs = steps[producer].node.output_tensors
            key = next(f"{producer}:{k}" for k, t in enumerate(outs) if t is tensor)
        out.append((key, np.asarray(trace[key])))
    return out


def explain_unit(
    plan: Plan,
    trace: Mapping[str, np.ndarray],
    layer: str,
    channel: int,
    position: Any,
) -> Unit:
    """The arithmetic of unit (position, channel) of `layer` in a trace of one input (api.trace:
    no batch axes). Raises UnitError for a layer kind it cannot explain."""
    if layer == "input":
        raise UnitError(
            "The model input has no arithmetic: its values are the converted input itself. "
            "Pick a layer."
        )
    if layer not in trace and ":" in layer:
        raise UnitError(f"{layer!r} is one output of a multi-output layer; it cannot be explained.")
    plan.index(layer)  # unknown names list the valid ones
    op = plan.steps_by_name()[layer].op
    out = np.asarray(trace[layer])
    idx = _index(out.shape, layer, channel, position)
    kind = type(op).__name__
    explain = ops.EXPLAINERS.get(kind)
    if explain is None and kind in ops.PASS_THROUGH:
        explain = ops.pass_through
    if explain is None or getattr(op, "data_format", "channels_last") == "channels_first":
        raise UnitError(
            f"{layer!r} is a {kind}{' (channels first)' if explain else ''}; Layer Lab cannot "
            f"explain its units. Explained kinds: {', '.join(ops.explained_kinds())}."
        )
    parents = _parent_arrays(plan, trace, layer)
    r = explain(op, parents, idx, out.shape)
    act_name, act = _activation(op, r, parents, idx)
    refs = tuple(
        None if s is None else UnitRef(s[0], int(s[1][-1]), tuple(s[1][:-1])) for s in r.sources
    )
    up = (
        None
        if r.upstream is None
        else UnitRef(r.upstream[0], int(r.upstream[1][-1]), tuple(r.upstream[1][:-1]))
    )
    return Unit(
        layer=layer,
        kind=kind,
        channel=idx[-1],
        position=idx[:-1],
        contributions=np.asarray(r.contributions, np.float64),
        parts=tuple(r.parts),
        sources=refs,
        bias=float(r.bias),
        pre_activation=float(r.pre),
        activation_name=act_name,
        activation=act,
        traced=float(out[idx]),
        input_layer=r.input_layer,
        patch=r.patch,
        kernel=r.kernel,
        padded=r.padded,
        window=r.window,
        channels=r.channels,
        upstream=up,
        note=r.note,
    )


def _activation(
    op: Any, r: ops.Parts, parents: list[tuple[str, np.ndarray]], idx: tuple[int, ...]
) -> tuple[str, float]:
    """(name, value) of the function a layer applies after its sum."""
    if r.activation is not None:  # the layer is the function (Activation, ReLU, ...)
        return r.activation
    fn = getattr(op, "activation", None)
    name = getattr(fn, "__name__", "linear") if fn is not None else "linear"
    if fn is None or name == "linear":
        return "linear", float(r.pre)
    # Softmax and friends read every channel at this position: apply to all of them.
    vec = r.pre_all if r.pre_all is not None else np.array([r.pre])
    y = keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(vec[None], dtype="float64")))
    return name, float(y[0, idx[-1]] if r.pre_all is not None else y[0, 0])


def unit(m: LoadedModel, raw: Any, layer: str, channel: int, position: Any) -> Unit:
    """api.unit: the arithmetic of one unit of the trace of a raw input (the same trace as
    api.trace). position: the map's spatial indices ((y, x), (t,), or () for a vector)."""
    x, _ = prepare(m, raw)
    tr = {k: v[0] for k, v in m.tracer(x[None]).items()}
    return explain_unit(m.tracer.plan, tr, layer, channel, position)
