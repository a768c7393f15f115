"""ONNX operators on shapes and elements: arithmetic, reshapes, axis orders, padding, resizing.

Same handler form as core.model.onnx.ops. Shapes in comments are ONNX's, batch first.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from core.model.onnx.convert import (
    Converter,
    Flat,
    Sym,
    Value,
    channels_last,
    plain,
    same_memory,
)
from core.model.onnx.ops import Handler, _sym, affine, border_pad


def _binary(kind: str) -> Handler:
    """Add / Sub / Mul / Div: two tensors (broadcasting, e.g. squeeze-and-excitation's
    (N, C, 1, 1) * (N, C, H, W)) through a merge layer; a tensor and a constant as an affine map."""
    merge = {"Add": keras.layers.Add, "Sub": keras.layers.Subtract, "Mul": keras.layers.Multiply}

    def handler(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
        a, b = ins[0], ins[1]
        if isinstance(a, Sym) and isinstance(b, Sym):
            if kind not in merge:
                raise cv.refuse(
                    "a tensor divided by a tensor; supported: a tensor divided by a constant"
                )
            if a.rank != b.rank:
                raise cv.refuse(f"tensors of ranks {a.rank} and {b.rank}; supported: equal ranks")
            b = cv.reorder(b, a.perm, "align")
            return [cv.apply(merge[kind](name=cv.name()), [a, b], a.perm)]
        x, c = (a, b) if isinstance(a, Sym) else (b, a)
        assert isinstance(x, Sym) and c is not None
        c = np.asarray(c, np.float32)
        if kind == "Add":
            return [affine(cv, x, 1.0, c)]
        if kind == "Mul":
            return [affine(cv, x, c, 0.0)]
        if kind == "Sub":
            return [affine(cv, x, 1.0, -c) if x is a else affine(cv, x, -1.0, c)]
        if x is not a:
            raise cv.refuse("a constant divided by a tensor; supported: tensor / constant")
        return [affine(cv, x, 1.0 / c, 0.0)]

    return handler


def _variadic(kind: str) -> Handler:
    """Sum / Max / Min of tensors (Max/Min with a constant 0 is a ReLU)."""
    merge = {"Sum": keras.layers.Add, "Max": keras.layers.Maximum, "Min": keras.layers.Minimum}

    def handler(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
        syms = [v for v in ins if isinstance(v, Sym)]
        consts = [v for v in ins if v is not None and not isinstance(v, Sym)]
        if kind == "Max" and len(syms) == 1 and all(np.all(c == 0) for c in consts):
            return [cv.apply(keras.layers.ReLU(name=cv.name()), syms[0], syms[0].perm)]
        if consts:
            raise cv.refuse(f"{kind} of a tensor and a constant; supported: tensors only")
        if len(syms) == 1:
            return [cv.identity(syms[0])]
        first = syms[0]
        rest = [cv.reorder(s, first.perm, "align") for s in syms[1:]]
        return [cv.apply(merge[kind](name=cv.name()), [first, *rest], first.perm)]

    return handler


def reshape_to(cv: Converter, x: Sym, out: tuple[int, ...], suffix: str = "") -> Sym:
    """x reshaped to the ONNX shape `out` (batch 1), in ONNX's (row-major, NCHW) element
    order: reordered to ONNX's axis order first unless only size-1 axes differ. The result is
    channels-last when that keeps the same memory, else in ONNX order."""
    if not out or out[0] != 1 or int(np.prod(out)) != int(np.prod(x.shape)):
        raise cv.refuse(
            f"reshape of {x.shape} to {out} changes the batch axis; supported: reshapes that "
            "keep the batch first (x.flatten(1), x.view(x.size(0), -1))"
        )
    if not same_memory(x.shape, x.perm, plain(x.rank)):
        x = cv.reorder(x, plain(x.rank), "to_onnx_order")
    cl = channels_last(len(out))
    perm = cl if same_memory(out, plain(len(out)), cl) else plain(len(out))
    target = tuple(out[i] for i in perm[1:])
    if tuple(int(d) for d in x.t.shape[1:]) == target and not suffix:
        return cv.identity(x, perm)
    return cv.apply(keras.layers.Reshape(target, name=cv.name(suffix)), x, perm)


def reshape(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    x = _sym(cv, ins[0])
    shape = cv.constant(ins[1], "shape").astype(np.int64).tolist() if len(ins) > 1 else at["shape"]
    dims = list(shape)
    if not at.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    try:
        out = np.empty(x.shape, np.bool_).reshape(dims).shape  # -1 resolved as ONNX does
    except ValueError:
        raise cv.refuse(f"shape {shape} does not fit a tensor of shape {x.shape}") from None
    if len(out) == 1:  # with the batch axis: as_strided's first half (see Flat)
        return [Flat(x)]
    return [reshape_to(cv, x, tuple(int(d) for d in out))]


def flatten(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    x = _sym(cv, ins[0])
    axis = int(at.get("axis", 1)) % max(x.rank, 1)
    if axis != 1:
        raise cv.refuse(f"axis {axis}; supported: axis 1 (x.flatten(1))")
    return [reshape_to(cv, x, (1, int(np.prod(x.shape[1:]))))]


def _axes(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[int] | None:
    if "axes" in at:
        return list(at["axes"])
    if len(ins) > 1 and ins[1] is not None:
        return cv.constant(ins[1], "axes").astype(np.int64).tolist()
    return None


def squeeze(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    x = _sym(cv, ins[0])
    axes = _axes(cv, ins, at)
    drop = (
        {a % x.rank for a in axes}
        if axes is not None
        else {i for i, d in enumerate(x.shape) if d == 1 and i > 0}
    )
    if 0 in drop:
        raise cv.refuse("squeezes the batch axis; supported: squeezing other axes")
    return [reshape_to(cv, x, tuple(d for i, d in enumerate(x.shape) if i not in drop))]


def unsqueeze(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    x = _sym(cv, ins[0])
    axes = _axes(cv, ins, at) or []
    rank = x.rank + len(axes)
    new = sorted(a % rank for a in axes)
    if 0 in new:
        raise cv.refuse("adds an axis before the batch axis")
    dims = iter(x.shape)
    return [reshape_to(cv, x, tuple(1 if i in new else next(dims) for i in range(rank)))]


def transpose(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """No data moves: the output's axis order is recorded (a Permute comes only where needed)."""
    x = _sym(cv, ins[0])
    t = list(at.get("perm", range(x.rank - 1, -1, -1)))
    if t[0] != 0:
        raise cv.refuse(f"perm {t} moves the batch axis; supported: perms that keep axis 0")
    inv = [t.index(i) for i in range(x.rank)]  # input ONNX axis -> output ONNX axis
    return [cv.identity(x, tuple(inv[a] for a in x.perm))]


def concat(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    syms = [v for v in ins if v is not None]
    if not all(isinstance(v, Sym) for v in syms):
        raise cv.refuse("a constant concatenated to a tensor; supported: tensors only")
    first = syms[0]
    assert isinstance(first, Sym)
    rest = [cv.reorder(s, first.perm, "align") for s in syms[1:] if isinstance(s, Sym)]
    axis = first.axis(int(at["axis"]))
    if axis == 0:
        raise cv.refuse("concatenation along the batch axis")
    if not rest:
        return [cv.identity(first)]
    layer = keras.layers.Concatenate(axis=axis, name=cv.name())
    return [cv.apply(layer, [first, *rest], first.perm)]


def identity(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Identity, Dropout (inference), Cast to float: the tensor unchanged, as a layer."""
    if "to" in at and at["to"] not in (1,):  # onnx.TensorProto.FLOAT
        raise cv.refuse(f"a cast to ONNX type {at['to']}; supported: float32")
    return [cv.identity(_sym(cv, ins[0]))]


def shape(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Shape of a tensor: a constant (batch 1), so shape arithmetic folds at conversion."""
    x = _sym(cv, ins[0])
    start, end = at.get("start", 0), at.get("end", None)
    return [np.array(x.shape[start:end], np.int64)]


def pad(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Pad the spatial axes: zeros (ZeroPadding), negative pads (Cropping), edge / reflect."""
    x = _sym(cv, ins[0])
    mode = at.get("mode", "constant")
    if len(ins) > 1 and ins[1] is not None:
        pads = cv.constant(ins[1], "pads").astype(np.int64).tolist()
        value = float(cv.constant(ins[2], "value")) if len(ins) > 2 and ins[2] is not None else 0.0
    else:
        pads, value = list(at["pads"]), float(at.get("value", 0.0))
    r = x.rank
    if len(ins) > 3 and ins[3] is not None:  # opset 18 axes: pads only for those
        axes = [a % r for a in cv.constant(ins[3], "axes").astype(np.int64).tolist()]
        full = [0] * 2 * r
        for i, a in enumerate(axes):
            full[a], full[a + r] = pads[i], pads[i + len(axes)]
        pads = full
    if any(pads[i] or pads[i + r] for i in (0, 1)) or r not in (3, 4):
        raise cv.refuse(
            f"pads {pads} on a rank-{r} tensor; supported: padding the spatial axes of "
            "(N, C, H, W) or (N, C, T)"
        )
    x = cv.nhwc(x)
    sp = [(pads[i], pads[i + r]) for i in range(2, r)]
    nd = r - 2
    if any(lo < 0 or hi < 0 for lo, hi in sp):
        if any(lo > 0 or hi > 0 for lo, hi in sp) or mode != "constant":
            raise cv.refuse(f"pads {pads} mix cropping and padding")
        crop = keras.layers.Cropping2D if nd == 2 else keras.layers.Cropping1D
        c = [(-lo, -hi) for lo, hi in sp]
        return [cv.apply(crop(tuple(c) if nd == 2 else c[0], name=cv.name()), x, x.perm)]
    if mode in ("edge", "reflect"):
        y = border_pad(cv, x, sp, mode, "rows")
        return [cv.identity(y)]
    if mode != "constant":
        raise cv.refuse(f"mode {mode!r}; supported: constant, edge, reflect")
    layer = keras.layers.ZeroPadding2D if nd == 2 else keras.layers.ZeroPadding1D
    arg: Any = tuple(sp) if nd == 2 else sp[0]
    if value == 0.0:
        return [cv.apply(layer(arg, name=cv.name()), x, x.perm)]
    y = affine(cv, x, 1.0, -value, "shift")  # pad (x - v) with zeros, then add v back
    y = cv.apply(layer(arg, name=cv.name("zeros")), y, y.perm)
    return [affine(cv, y, 1.0, value)]


def resize(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Resize / Upsample of the spatial axes: nearest by whole factors (UpSampling), linear
    with half-pixel centres (UpSampling or Resizing: PyTorch's align_corners=False)."""
    x = cv.nhwc(_sym(cv, ins[0]))
    r = x.rank
    if r not in (3, 4):
        raise cv.refuse(f"a rank-{r} tensor; supported: (N, C, H, W) and (N, C, T)")
    mode = at.get("mode", "nearest")
    scales = sizes = None
    if cv.node is not None and cv.node.op_type == "Upsample":
        scales = at.get("scales")
        if scales is None:
            scales = cv.constant(ins[1], "scales").tolist()
    else:  # Resize: X, roi, scales, sizes (opset 11+); X, scales (opset 10)
        rest = ins[1:] if cv.parsed.opset >= 11 else [None, *ins[1:]]
        if len(rest) > 1 and rest[1] is not None:
            scales = cv.constant(rest[1], "scales").tolist() or None  # empty: not given
        if len(rest) > 2 and rest[2] is not None:
            sizes = cv.constant(rest[2], "sizes").astype(np.int64).tolist() or None
    shape = x.shape
    if sizes is None:
        if scales is None or len(scales) != r:
            raise cv.refuse("neither scales nor sizes for every axis")
        sizes = [int(math.floor(n * float(s))) for n, s in zip(shape, scales)]
    if list(sizes[:2]) != list(shape[:2]):
        raise cv.refuse(f"resizes the batch or channel axis ({shape} -> {sizes})")
    src, dst = shape[2:], sizes[2:]
    ctm = at.get(
        "coordinate_transformation_mode", "half_pixel" if cv.parsed.opset >= 11 else "asymmetric"
    )
    whole = all(d % s == 0 and d >= s for s, d in zip(src, dst))
    factors = tuple(d // s for s, d in zip(src, dst)) if whole else None
    nd = r - 2
    if mode == "nearest":
        if factors is None or ctm in ("align_corners", "tf_crop_and_resize"):
            raise cv.refuse(
                f"nearest resize {src} -> {dst} ({ctm}); supported: whole upscaling factors"
            )
        if nd == 1:
            layer = keras.layers.UpSampling1D(factors[0], name=cv.name())
        else:
            layer = keras.layers.UpSampling2D(factors, interpolation="nearest", name=cv.name())
        return [cv.apply(layer, x, x.perm)]
    if mode in ("linear", "bilinear") and nd == 2:
        if ctm not in ("half_pixel", "pytorch_half_pixel") or at.get("antialias", 0):
            raise cv.refuse(
                f"linear resize with {ctm}; supported: half_pixel (align_corners=False)"
            )
        if factors is not None:
            layer = keras.layers.UpSampling2D(factors, interpolation="bilinear", name=cv.name())
        else:
            layer = keras.layers.Resizing(dst[0], dst[1], interpolation="bilinear", name=cv.name())
        return [cv.apply(layer, x, x.perm)]
    raise cv.refuse(f"mode {mode!r} on a {nd}-D input; supported: nearest, 2-D linear")


def select(cv: Converter, x: Sym, axis: int, idx: list[int], suffix: str = "") -> Sym:
    """x with only the entries `idx` along ONNX `axis`: a Cropping of a spatial axis when they
    are a run, else a Dense layer over that axis (moved last) whose kernel picks them (weights
    1 and 0: exact)."""
    n = x.shape[axis]
    if axis == 0:
        raise cv.refuse("slices the batch axis; supported: slicing other axes")
    if not idx:
        raise cv.refuse(f"an empty slice of an axis of size {n}")
    k = x.axis(axis)
    run = idx == list(range(idx[0], idx[0] + len(idx)))
    crop = (0, 0) if not run else (idx[0], n - idx[0] - len(idx))
    if run and x.rank == 4 and k in (1, 2):
        c = (crop, (0, 0)) if k == 1 else ((0, 0), crop)
        return cv.apply(keras.layers.Cropping2D(c, name=cv.name(suffix)), x, x.perm)
    if run and x.rank == 3 and k == 1:
        return cv.apply(keras.layers.Cropping1D(crop, name=cv.name(suffix)), x, x.perm)
    if k != x.rank - 1:
        order = (*[p for p in x.perm if p != axis], axis)
        x = cv.reorder(x, order, f"{suffix}_order" if suffix else "order")
    kernel = np.zeros((n, len(idx)), np.float32)
    kernel[idx, np.arange(len(idx))] = 1.0
    layer = keras.layers.Dense(len(idx), use_bias=False, name=cv.name(suffix))
    return cv.apply(layer, x, x.perm, [kernel])


def _ints(cv: Converter, v: Value | None, what: str) -> list[int] | None:
    return None if v is None else cv.constant(v, what).astype(np.int64).reshape(-1).tolist()


def slice_(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Slice (starts, ends, axes, steps) of a tensor, one axis after another."""
    x = _sym(cv, ins[0])
    if "starts" in at:  # opset < 10: attributes
        starts, ends, axes, steps = at["starts"], at["ends"], at.get("axes"), None
    else:
        get = [ins[i] if len(ins) > i else None for i in range(1, 5)]
        starts, ends = _ints(cv, get[0], "starts"), _ints(cv, get[1], "ends")
        axes, steps = _ints(cv, get[2], "axes"), _ints(cv, get[3], "steps")
    assert starts is not None and ends is not None
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    todo = []
    for a, b, e, st in zip(axes, starts, ends, steps):
        a %= x.rank
        idx = list(range(x.shape[a]))[slice(b, e, st)]
        if idx != list(range(x.shape[a])):
            todo.append((a, idx))
    if not todo:
        return [cv.identity(x)]
    for i, (a, idx) in enumerate(todo):
        x = select(cv, x, a, idx, "" if i == len(todo) - 1 else f"axis{a}")
    return [x]


def split(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Split into parts along an axis (torch.chunk / torch.split): one selection per part."""
    x = _sym(cv, ins[0])
    axis = int(at.get("axis", 0)) % x.rank
    n = x.shape[axis]
    sizes = at.get("split") or _ints(cv, ins[1] if len(ins) > 1 else None, "split")
    assert cv.node is not None
    if not sizes:
        parts = int(at.get("num_outputs", len(cv.node.output)))
        size = -(-n // parts)
        sizes = [min(size, n - i * size) for i in range(parts)]
    outs: list[Value] = []
    start = 0
    for i, size in enumerate(sizes):
        outs.append(
            select(cv, x, axis, list(range(start, start + size)), "" if i == 0 else f"part{i}")
        )
        start += size
    return outs


def gather(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Gather of a tensor at constant indices (x[:, 3], x[:, [0, 2]]), or as_strided's second
    half: the values of a Flat tensor at indices shaped like the result (batch 1)."""
    ind = cv.constant(ins[1], "indices").astype(np.int64)
    if isinstance(ins[0], Flat) and int(at.get("axis", 0)) == 0:
        src = ins[0].src
        size = int(np.prod(src.shape))
        if ind.ndim < 2 or ind.shape[0] != 1:
            raise cv.refuse(f"as_strided indices of shape {ind.shape}; supported: (1, ...)")
        flat = ind.reshape(-1) % size
        if np.array_equal(flat, np.arange(size)):
            return [reshape_to(cv, src, tuple(ind.shape))]
        if size * flat.size > 2**24:
            raise cv.refuse(f"a gather of {flat.size:,} of {size:,} values is too large a table")
        rows = reshape_to(cv, src, (1, size), "flat")
        picked = select(cv, rows, 1, flat.tolist(), "pick")
        return [reshape_to(cv, picked, tuple(ind.shape))]
    x = _sym(cv, ins[0])
    axis = int(at.get("axis", 0)) % x.rank
    if ind.ndim > 1:
        raise cv.refuse(f"indices of shape {ind.shape}; supported: a scalar or a list")
    idx = [int(i) % x.shape[axis] for i in ind.reshape(-1)]
    if ind.ndim == 1:
        return [select(cv, x, axis, idx)]
    y = select(cv, x, axis, idx, "pick")
    return [reshape_to(cv, y, tuple(d for a, d in enumerate(y.shape) if a != axis))]


OPS: dict[str, Handler] = {
    "Add": _binary("Add"),
    "Sub": _binary("Sub"),
    "Mul": _binary("Mul"),
    "Div": _binary("Div"),
    "Sum": _variadic("Sum"),
    "Max": _variadic("Max"),
    "Min": _variadic("Min"),
    "Reshape": reshape,
    "Flatten": flatten,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "Transpose": transpose,
    "Concat": concat,
    "Identity": identity,
    "Dropout": identity,
    "Cast": identity,
    "Shape": shape,
    "Pad": pad,
    "Resize": resize,
    "Upsample": resize,
    "Slice": slice_,
    "Split": split,
    "Gather": gather,
}
