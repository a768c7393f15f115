"""Receptive fields from the graph: which model-input pixels one unit of a layer can see.

Walks the engine's Plan backwards (its steps in reverse execution order, so every consumer of
a tensor is handled before its producer): a box of output units becomes, per parent, the box
of input units they read, from each layer's kernel size, strides, dilation and padding.
Branches are merged by the bounding box; nested models are already flattened by the Plan.
Layers without a rule here (Flatten, global pooling, attention, reshapes...) are taken to
read their whole input, so a field is never too small; it is exact for convolutions, pooling,
padding/cropping, up-sampling and per-position layers (activations, BatchNorm, Add, ...).

A box is a tuple of half-open (start, stop) per spatial axis: (H, W) maps give ((y0, y1),
(x0, x1)); a 1-D signal gives ((t0, t1),); a vector (no spatial axis) gives ().
"""

from __future__ import annotations

import math
from typing import Any

from core.graph.engine import Plan

Box = tuple[tuple[int, int], ...]

_CONV = {
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
}
_POOL = {
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
}
# Layers that pass their input through unchanged at inference (noise and dropout act only in
# training).
IDENTITY_AT_INFERENCE = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "Identity",
    }
)
# Per-position layers: an output unit reads the same position of every parent (broadcast
# parents of size 1 are read whole).
_POINTWISE = {
    *IDENTITY_AT_INFERENCE,
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "BatchNormalization",
    "Normalization",
    "Rescaling",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Dense",
    "EinsumDense",
    "Masking",
}
# Normalisations over the spatial axes: exact answer "everything"; with local=True they count
# as per-position (a per-input scale and shift), for a field in a spectrogram.
_GLOBAL_NORM = {"LayerNormalization", "GroupNormalization", "UnitNormalization"}


def spatial_axes(shape: tuple, *, is_input: bool) -> list[int]:
    """Axes of a batched shape that index positions (all but batch and channels).

    The model input may have no channel axis: (N, T) audio is one spatial axis.
    """
    r = len(shape)
    if is_input and r == 2:
        return [1]
    return list(range(1, r - 1))


def full_box(shape: tuple, *, is_input: bool = False) -> Box:
    return tuple((0, int(shape[a])) for a in spatial_axes(shape, is_input=is_input))


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def _window(box: Box, n_in: tuple[int, ...], k: tuple, s: tuple, d: tuple, padding: str) -> Box:
    """Output units [lo, hi) of a sliding window (kernel k, stride s, dilation d) -> input."""
    out = []
    for (lo, hi), n, kk, ss, dd in zip(box, n_in, k, s, d):
        span = (kk - 1) * dd + 1
        if padding == "same":
            n_out = math.ceil(n / ss)
            pad = max((n_out - 1) * ss + span - n, 0) // 2  # TensorFlow puts the odd one after
        elif padding == "causal":
            pad = span - 1
        else:
            pad = 0
        out.append((max(lo * ss - pad, 0), min((hi - 1) * ss - pad + span, n)))
    return tuple(out)


def _clip(box: Box, n_in: tuple[int, ...]) -> Box:
    return tuple((min(max(lo, 0), n), max(min(hi, n), 0)) for (lo, hi), n in zip(box, n_in))


def _parent_box(
    op: Any, box: Box, out_shape: tuple, in_shape: tuple, is_input: bool, local: bool
) -> Box:
    """The box of one parent's units that the units `box` of this op's output read."""
    kind = type(op).__name__
    axes_in = spatial_axes(in_shape, is_input=is_input)
    n_in = tuple(int(in_shape[a]) for a in axes_in)
    whole = tuple((0, n) for n in n_in)
    cfg = op.get_config()
    same_rank = len(axes_in) == len(box)
    if not same_rank or cfg.get("data_format", "channels_last") == "channels_first":
        return whole
    nd = len(box)
    if kind in _CONV:
        return _window(
            box,
            n_in,
            _tuple(cfg["kernel_size"], nd),
            _tuple(cfg["strides"], nd),
            _tuple(cfg.get("dilation_rate", 1), nd),
            cfg["padding"],
        )
    if kind in _POOL:
        k = _tuple(cfg["pool_size"], nd)
        s = _tuple(cfg["strides"] if cfg.get("strides") is not None else k, nd)
        return _window(box, n_in, k, s, (1,) * nd, cfg["padding"])
    if kind.startswith("ZeroPadding"):
        pads = cfg["padding"]
        lows = [pads[0]] if kind == "ZeroPadding1D" else [p[0] for p in pads]
        return _clip(tuple((lo - p, hi - p) for (lo, hi), p in zip(box, lows)), n_in)
    if kind.startswith("Cropping"):
        crop = cfg["cropping"]
        lows = [crop[0]] if kind == "Cropping1D" else [c[0] for c in crop]
        return _clip(tuple((lo + c, hi + c) for (lo, hi), c in zip(box, lows)), n_in)
    if kind.startswith("UpSampling"):
        size = _tuple(cfg["size"], nd)
        if cfg.get("interpolation", "nearest") != "nearest":
            return whole
        return tuple((lo // f, (hi - 1) // f + 1) for (lo, hi), f in zip(box, size))
    pointwise = kind in _POINTWISE or (kind == "Concatenate" and cfg.get("axis") in (-1, nd + 1))
    if kind in _GLOBAL_NORM:
        axis = cfg.get("axis", -1)
        per_channel = axis in (-1, [-1], len(in_shape) - 1, [len(in_shape) - 1])
        pointwise = per_channel or (local and kind == "LayerNormalization")
    if pointwise and tuple(int(out_shape[a]) for a in range(1, nd + 1)) == n_in:
        return box
    if pointwise:  # broadcast: a parent of size 1 on an axis is read whole on it
        return tuple((0, 1) if n == 1 else b for b, n in zip(box, n_in))
    return whole


# Layers whose output channel c reads only channel c of each parent (the field of one channel
# can then be followed through a Concatenate into the branch that made it).
_PER_CHANNEL = _POOL | (
    _POINTWISE  # less those that mix channels (softmax, dense, masking) or are not followed
    - {"PReLU", "Softmax", "Normalization", "Dense", "EinsumDense", "Masking"}
    - {f"SpatialDropout{d}D" for d in (1, 2, 3)}
)


def _parent_channels(op: Any, channel: int | None, in_shapes: list[tuple]) -> list[int | None]:
    """Which channel of each parent output channel `channel` reads; None: several or all.
    A parent whose entry is -1 is not read at all (the other side of a Concatenate)."""
    if channel is None:
        return [None] * len(in_shapes)
    kind = type(op).__name__
    if kind == "Concatenate" and op.get_config().get("axis") in (-1, len(in_shapes[0]) - 1):
        out: list[int | None] = []
        start = 0
        for shp in in_shapes:
            n = int(shp[-1])
            out.append(channel - start if start <= channel < start + n else -1)
            start += n
        return out
    if kind.startswith("DepthwiseConv"):
        return [channel // int(op.get_config().get("depth_multiplier", 1))]
    if kind in _PER_CHANNEL:
        return [channel if int(shp[-1]) > 1 else 0 for shp in in_shapes]
    return [None] * len(in_shapes)


def _union(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return tuple((min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b))


def receptive_field(
    plan: Plan,
    layer: str,
    position: tuple[int, ...],
    *,
    channel: int | None = None,
    origin: str = "input",
    local: bool = False,
) -> Box:
    """The box of `origin`'s units (default: the model input) that unit `position` of `layer`
    reads, half-open per spatial axis, clipped to the input.

    channel: the unit's channel, followed back while layers keep channels apart (activations,
    pooling, depthwise convolutions, a Concatenate's branches); None = any channel.
    local=True counts layer normalisation over the spatial axes as per-position: the field of
    the pattern itself, not of the per-input statistics (used for audio spectrograms).
    """
    plan.index(layer)
    steps = plan.steps_by_name()
    shape_of = {n: tuple(s.node.output_tensors[0].shape) for n, s in steps.items()}
    shape_of["input"] = tuple(plan.model.inputs[0].shape)
    if origin != "input":
        plan.index(origin)
    start = full_box(shape_of[layer])
    if len(position) != len(start):
        raise ValueError(
            f"Layer {layer!r} has {len(start)} spatial axes; got the position "
            f"{tuple(position)}. Give one index per spatial axis."
        )
    boxes: dict[str, Box] = {
        layer: _clip(tuple((int(p), int(p) + 1) for p in position), tuple(b[1] for b in start))
    }
    chans: dict[str, int | None] = {layer: channel}
    for name in reversed(plan.names[: plan.index(layer) + 1]):
        if name not in boxes or name == origin:
            continue
        step = steps[name]
        parents = list(step.parents)
        # One entry per parent; a layer fed the same tensor twice loses the channel.
        per = (
            _parent_channels(step.op, chans[name], [shape_of[p] for p in parents])
            if len(parents) == len(step.node.input_tensors)
            else [None] * len(parents)
        )
        for parent, ch in zip(parents, per):
            if ch == -1:
                continue
            pb = _parent_box(
                step.op, boxes[name], shape_of[name], shape_of[parent], parent == "input", local
            )
            if parent in boxes and chans.get(parent) != ch:
                ch = None
            boxes[parent] = _union(boxes.get(parent), pb)
            chans[parent] = ch
    return boxes.get(origin, full_box(shape_of[origin], is_input=origin == "input"))


def as_yxyx(box: Box) -> tuple[int, ...]:
    """((y0, y1), (x0, x1)) -> (y0, x0, y1, x1) (DESIGN.md's .box); 1-D -> (t0, t1)."""
    return tuple(b[0] for b in box) + tuple(b[1] for b in box)
