"""ONNX pooling and reductions: MaxPool, AveragePool, the global pools, and ReduceMean /
ReduceMax / ReduceSum over any axes but the batch (over the spatial axes: a global pooling).

Same handler form as core.model.onnx.ops. Shapes in comments are ONNX's, batch first.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from core.model.onnx.convert import Converter, Sym, Value, channels_last, plain, same_memory
from core.model.onnx.ops import (
    Handler,
    _spatial,
    _sym,
    _zero_pad,
    affine,
    border_pad,
    pads_of,
    tf_same,
)


def _pool(cv: Converter, ins: list[Value | None], at: dict[str, Any], kind: str) -> Sym:
    x = cv.nhwc(_sym(cv, ins[0]))
    nd = _spatial(cv, x)
    k = list(at["kernel_shape"])
    s = list(at.get("strides", [1] * nd))
    if any(v != 1 for v in at.get("dilations", [1] * nd)):
        raise cv.refuse(f"dilations {at['dilations']}; supported: 1")
    size = x.shape[2:]
    pads = pads_of(cv, at, size, k, s)
    ceil = bool(at.get("ceil_mode", 0))
    outs, ends = [], []
    for n, kk, ss, (lo, hi) in zip(size, k, s, pads):
        o = (math.ceil if ceil else math.floor)((n + lo + hi - kk) / ss) + 1
        if ceil and (o - 1) * ss >= n + lo:  # PyTorch: the last window starts inside
            o -= 1
        outs.append(o)
        ends.append(max((o - 1) * ss + kk - n - lo, 0))  # end padding giving o windows
    cls2, cls1 = (
        (keras.layers.MaxPooling2D, keras.layers.MaxPooling1D)
        if kind == "max"
        else (keras.layers.AveragePooling2D, keras.layers.AveragePooling1D)
    )
    exact = [(lo, e) for (lo, _), e in zip(pads, ends)]
    if not any(a or b for a, b in exact):
        padding = "valid"
    elif all(tf_same(n, kk, ss, p) for n, kk, ss, p in zip(size, k, s, pads)) and outs == [
        math.ceil(n / ss) for n, ss in zip(size, s)
    ]:
        padding = "same"  # Keras' same pooling ignores the padding, as ONNX max and avg do
        if kind == "avg" and at.get("count_include_pad", 0):
            x, padding = _zero_pad(cv, x, exact), "valid"
    elif kind == "max":  # pad with copies of the border: a window's max is unchanged
        x, padding = border_pad(cv, x, exact, "edge"), "valid"
    elif at.get("count_include_pad", 0) and ends == [hi for _, hi in pads]:
        x, padding = _zero_pad(cv, x, exact), "valid"
    else:
        raise cv.refuse(
            f"average pooling with pads {pads}, ceil_mode={int(ceil)}, count_include_pad="
            f"{at.get('count_include_pad', 0)}: windows that Keras pooling cannot reproduce",
            "Supported: no padding, padding that keeps the size, or count_include_pad=1.",
        )
    cls = cls2 if nd == 2 else cls1
    layer = cls(pool_size=k, strides=s, padding=padding, name=cv.name())
    return cv.apply(layer, x, x.perm)


def max_pool(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    return [_pool(cv, ins, at, "max")]


def avg_pool(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    return [_pool(cv, ins, at, "avg")]


def _global(cv: Converter, x: Sym, kind: str, keepdims: bool) -> Sym:
    x = cv.nhwc(x)
    nd = _spatial(cv, x)
    cls = {
        ("avg", 2): keras.layers.GlobalAveragePooling2D,
        ("avg", 1): keras.layers.GlobalAveragePooling1D,
        ("max", 2): keras.layers.GlobalMaxPooling2D,
        ("max", 1): keras.layers.GlobalMaxPooling1D,
    }[(kind, nd)]
    perm = x.perm if keepdims else (0, 1)
    return cv.apply(cls(keepdims=keepdims, name=cv.name()), x, perm)


def global_avg(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    return [_global(cv, _sym(cv, ins[0]), "avg", True)]


def global_max(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    return [_global(cv, _sym(cv, ins[0]), "max", True)]


def _reduce(kind: str) -> Handler:
    """Reduce{Mean,Max,Sum}: over the spatial axes a global pooling; over other axes (e.g. a
    channel mean, as in spatial attention) the reduced axes are brought first and flattened,
    pooled by a 1-D global pooling, and the result reshaped to ONNX's output shape."""

    def handler(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
        x = _sym(cv, ins[0])
        axes = at.get("axes")
        if axes is None and len(ins) > 1 and ins[1] is not None:
            axes = cv.constant(ins[1], "axes").astype(np.int64).tolist()
        keep = bool(at.get("keepdims", 1))
        red = sorted({a % x.rank for a in axes} if axes else set(range(1, x.rank)))
        if 0 in red:
            raise cv.refuse(f"reduction over axes {axes}, the batch axis among them")
        pool = "avg" if kind in ("avg", "sum") else "max"
        if red == list(range(2, x.rank)) and x.rank in (3, 4) and kind != "sum":
            return [_global(cv, x, pool, keep)]
        shape = x.shape
        rest = [a for a in range(1, x.rank) if a not in red]
        n_red = int(np.prod([shape[a] for a in red]))
        n_rest = int(np.prod([shape[a] for a in rest])) if rest else 1
        y = cv.reorder(x, (0, *red, *rest), "reduce_order")
        y = cv.apply(keras.layers.Reshape((n_red, n_rest), name=cv.name("rows")), y, (0, 1, 2))
        cls = (
            keras.layers.GlobalAveragePooling1D
            if pool == "avg"
            else keras.layers.GlobalMaxPooling1D
        )
        y = cv.apply(cls(name=cv.name("pool")), y, (0, 1))  # (N, rest)
        if kind == "sum":
            y = affine(cv, y, float(n_red), 0.0, "sum")
        out = tuple(1 if a in red else d for a, d in enumerate(shape) if keep or a not in red)
        perm = channels_last(len(out))
        perm = perm if same_memory(out, plain(len(out)), perm) else plain(len(out))
        target = tuple(out[i] for i in perm[1:])
        return [cv.apply(keras.layers.Reshape(target, name=cv.name()), y, perm)]

    return handler


OPS: dict[str, Handler] = {
    "MaxPool": max_pool,
    "AveragePool": avg_pool,
    "GlobalAveragePool": global_avg,
    "GlobalMaxPool": global_max,
    "ReduceMean": _reduce("avg"),
    "ReduceMax": _reduce("max"),
    "ReduceSum": _reduce("sum"),
}
