"""One mapping per ONNX operator: convolutions, pooling, dense layers, normalisation, activations.

A handler takes the converter, the node's inputs (Sym or constant arrays, None where absent) and
its attributes, and returns the node's outputs. Shapes in comments are ONNX's (N, C, H, W);
Keras tensors are channels-last. Shape operators, element-wise arithmetic, padding and resizing
are in ops_shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from core.model.onnx.convert import Converter, Flat, Sym, Value, plain

Handler = Callable[[Converter, list[Value | None], dict[str, Any]], list[Value]]


def _sym(cv: Converter, v: Value | None) -> Sym:
    if isinstance(v, Flat):
        raise cv.refuse(
            "its input is a tensor flattened together with its batch axis; supported: "
            "reshapes that keep the batch first (or as_strided's Reshape -> Gather)"
        )
    if not isinstance(v, Sym):
        raise cv.refuse("its first input must be a tensor computed from the model's input")
    return v


def _spatial(cv: Converter, x: Sym) -> int:
    if x.rank not in (3, 4):
        raise cv.refuse(
            f"input of rank {x.rank} (shape {x.shape}); supported: 1-D (N, C, T) and 2-D "
            "(N, C, H, W)"
        )
    return x.rank - 2


def pads_of(
    cv: Converter, at: dict[str, Any], size: tuple[int, ...], k: list[int], s: list[int]
) -> list[tuple[int, int]]:
    """(begin, end) padding per spatial axis, from pads or auto_pad. k: effective kernel."""
    nd = len(size)
    auto = at.get("auto_pad", "NOTSET")
    if auto == "NOTSET":
        p = list(at.get("pads", [0] * 2 * nd))
        if any(v < 0 for v in p):
            raise cv.refuse(f"negative pads {p}")
        return [(p[i], p[i + nd]) for i in range(nd)]
    if auto == "VALID":
        return [(0, 0)] * nd
    out = []
    for n, kk, ss in zip(size, k, s):
        total = max((math.ceil(n / ss) - 1) * ss + kk - n, 0)
        lo, hi = total // 2, total - total // 2
        out.append((lo, hi) if auto == "SAME_UPPER" else (hi, lo))
    return out


def tf_same(n: int, k: int, s: int, pad: tuple[int, int]) -> bool:
    """Whether Keras' padding='same' windows match ONNX's explicit (begin, end) padding."""
    out = (n + pad[0] + pad[1] - k) // s + 1
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return out == math.ceil(n / s) and pad[0] == total // 2


def _zero_pad(cv: Converter, x: Sym, pads: list[tuple[int, int]]) -> Sym:
    if not any(a or b for a, b in pads):
        return x
    layer = keras.layers.ZeroPadding2D if len(pads) == 2 else keras.layers.ZeroPadding1D
    arg: Any = tuple(pads) if len(pads) == 2 else pads[0]
    return cv.apply(layer(arg, name=cv.name("pad")), x, x.perm)


def border_pad(
    cv: Converter, x: Sym, pads: list[tuple[int, int]], mode: str, suffix: str = "pad"
) -> Sym:
    """Edge or reflect padding of a channels-last tensor from single rows cut out of it
    (Cropping) and put around it (Concatenate): built-in layers only, exact."""
    nd = len(pads)
    crop = keras.layers.Cropping2D if nd == 2 else keras.layers.Cropping1D
    for ax, (lo, hi) in enumerate(pads):
        if not lo and not hi:
            continue
        n = int(x.t.shape[1 + ax])
        if mode == "reflect" and max(lo, hi) >= n:
            raise cv.refuse(f"reflect padding {lo, hi} on an axis of size {n}")

        def row(i: int, n: int = n, ax: int = ax) -> Any:
            c = [(0, 0)] * nd
            c[ax] = (i, n - 1 - i)
            return crop(tuple(c) if nd == 2 else c[0], name=cv.name(f"{suffix}_row"))(x.t)

        if mode == "edge":
            before = [row(0)] * lo
            after = [row(n - 1)] * hi
        else:  # reflect: rows lo..1 before, n-2..n-1-hi after
            before = [row(i) for i in range(lo, 0, -1)]
            after = [row(n - 1 - i) for i in range(1, hi + 1)]
        cat = keras.layers.Concatenate(axis=1 + ax, name=cv.name(suffix))
        x = Sym(cat([*before, x.t, *after]), x.perm)
    return x


def conv(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Conv: (N, C, H, W) * W (M, C/group, kH, kW) (+ B (M,)); 1-D alike."""
    x = cv.nhwc(_sym(cv, ins[0]))
    nd = _spatial(cv, x)
    w = cv.constant(ins[1], "weight W")
    b = cv.constant(ins[2], "bias B") if len(ins) > 2 and ins[2] is not None else None
    k = list(w.shape[2:])
    s = list(at.get("strides", [1] * nd))
    d = list(at.get("dilations", [1] * nd))
    g = int(at.get("group", 1))
    keff = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    size = x.shape[2:]
    pads = pads_of(cv, at, size, keff, s)
    if not any(p != (0, 0) for p in pads):
        padding = "valid"
    elif all(tf_same(n, kk, ss, p) for n, kk, ss, p in zip(size, keff, s, pads)):
        padding = "same"
    else:
        padding = "valid"
        x = _zero_pad(cv, x, pads)
    c_in, m = x.shape[1], int(w.shape[0])
    kw: dict[str, Any] = {
        "strides": s,
        "padding": padding,
        "dilation_rate": d,
        "use_bias": b is not None,
        "name": cv.name(),
    }
    if g > 1 and g == c_in and m % c_in == 0:  # depthwise: W (C*mult, 1, kH, kW)
        layer_cls = keras.layers.DepthwiseConv2D if nd == 2 else keras.layers.DepthwiseConv1D
        mult = m // c_in
        kernel = w.reshape(c_in, mult, *k).transpose(*range(2, 2 + nd), 0, 1)
        layer = layer_cls(k, depth_multiplier=mult, **kw)
    else:
        layer_cls = keras.layers.Conv2D if nd == 2 else keras.layers.Conv1D
        kernel = w.transpose(*range(2, 2 + nd), 1, 0)  # (kH, kW, C/g, M)
        layer = layer_cls(m, k, groups=g, **kw)
    weights = [kernel] if b is None else [kernel, b]
    return [cv.apply(layer, x, x.perm, weights)]


def conv_transpose(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """ConvTranspose: W (C, M, kH, kW); Keras' 'valid' output, then the pads cropped off."""
    x = cv.nhwc(_sym(cv, ins[0]))
    nd = _spatial(cv, x)
    w = cv.constant(ins[1], "weight W")
    b = cv.constant(ins[2], "bias B") if len(ins) > 2 and ins[2] is not None else None
    if int(at.get("group", 1)) != 1:
        raise cv.refuse(f"group={at['group']}; supported: group=1")
    if "output_shape" in at or at.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise cv.refuse("output_shape / auto_pad SAME; supported: explicit pads")
    k = list(w.shape[2:])
    s = list(at.get("strides", [1] * nd))
    d = list(at.get("dilations", [1] * nd))
    op = list(at.get("output_padding", [0] * nd))
    p = list(at.get("pads", [0] * 2 * nd))
    cls = keras.layers.Conv2DTranspose if nd == 2 else keras.layers.Conv1DTranspose
    layer = cls(
        int(w.shape[1]),
        k,
        strides=s,
        padding="valid",
        output_padding=op if any(op) else None,
        dilation_rate=d,
        use_bias=b is not None,
        name=cv.name("full" if any(p) else ""),
    )
    kernel = w.transpose(*range(2, 2 + nd), 1, 0)  # (kH, kW, M, C)
    y = cv.apply(layer, x, x.perm, [kernel] if b is None else [kernel, b])
    if any(p):
        crop = keras.layers.Cropping2D if nd == 2 else keras.layers.Cropping1D
        c = [(p[i], p[i + nd]) for i in range(nd)]
        y = cv.apply(crop(tuple(c) if nd == 2 else c[0], name=cv.name()), y, y.perm)
    return [y]


def gemm(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Gemm: alpha * A (N, K) @ B (K, M) (B transposed if transB) + beta * C -> Dense."""
    x = _sym(cv, ins[0])
    if x.rank != 2 or at.get("transA", 0):
        raise cv.refuse(f"A of shape {x.shape} (transA={at.get('transA', 0)}); supported: (N, K)")
    bmat = cv.constant(ins[1], "weight B")
    kernel = (bmat.T if at.get("transB", 0) else bmat) * float(at.get("alpha", 1.0))
    c = ins[2] if len(ins) > 2 else None
    bias = None
    if c is not None:
        c = cv.constant(c, "bias C")
        bias = np.broadcast_to(c, (1, kernel.shape[1])).reshape(-1) * float(at.get("beta", 1.0))
    layer = keras.layers.Dense(kernel.shape[1], use_bias=bias is not None, name=cv.name())
    return [cv.apply(layer, x, (0, 1), [kernel] if bias is None else [kernel, bias])]


def matmul(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """MatMul of a tensor (..., K) by a constant (K, M): a Dense layer without bias."""
    x = cv.nchw(_sym(cv, ins[0]))
    if isinstance(ins[1], Sym):
        raise cv.refuse("two computed tensors multiplied; supported: tensor @ constant (K, M)")
    w = cv.constant(ins[1], "B")
    if w.ndim != 2:
        raise cv.refuse(f"B of shape {w.shape}; supported: a 2-D constant (K, M)")
    layer = keras.layers.Dense(w.shape[1], use_bias=False, name=cv.name())
    return [cv.apply(layer, x, x.perm, [w])]


def batch_norm(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """BatchNormalization (inference): per-channel (axis 1) scale, bias, mean, var."""
    x = _sym(cv, ins[0])
    if at.get("training_mode", 0):
        raise cv.refuse("training_mode=1", "Export the model in eval mode (model.eval()).")
    gamma, beta, mean, var = (
        cv.constant(v, n) for v, n in zip(ins[1:5], "scale B mean var".split())
    )
    layer = keras.layers.BatchNormalization(
        axis=x.axis(1), epsilon=float(at.get("epsilon", 1e-5)), name=cv.name()
    )
    return [cv.apply(layer, x, x.perm, [gamma, beta, mean, var])]


def layer_norm(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """LayerNormalization over ONNX axes axis..rank-1 (ConvNeXt's over the channels of an NHWC
    view): Keras' LayerNormalization over the same axes, scale and bias in its axis order."""
    x = _sym(cv, ins[0])
    if int(at.get("stash_type", 1)) != 1:
        raise cv.refuse("stash_type other than float32")
    first = int(at.get("axis", -1)) % x.rank
    if first == 0:
        raise cv.refuse("normalisation over the batch axis")
    onnx_axes = list(range(first, x.rank))
    keras_axes = sorted(x.axis(a) for a in onnx_axes)
    shape = tuple(x.shape[a] for a in onnx_axes)
    gamma = np.broadcast_to(cv.constant(ins[1], "scale"), shape)
    beta = cv.constant(ins[2], "B") if len(ins) > 2 and ins[2] is not None else np.zeros(shape)
    beta = np.broadcast_to(beta, shape)
    order = [onnx_axes.index(x.perm[k]) for k in keras_axes]  # ONNX param axes in Keras order
    layer = keras.layers.LayerNormalization(
        axis=keras_axes, epsilon=float(at.get("epsilon", 1e-5)), name=cv.name()
    )
    return [cv.apply(layer, x, x.perm, [gamma.transpose(order), beta.transpose(order)])]


def affine(cv: Converter, x: Sym, scale: Any, offset: Any, suffix: str = "") -> Sym:
    """x * scale + offset for constants that are scalars (Rescaling) or vary along one ONNX
    axis (a BatchNormalization with mean 0 and variance 1: a per-channel affine map)."""
    shape = x.shape
    sc = np.asarray(scale, np.float32)
    of = np.asarray(offset, np.float32)
    try:
        full = np.broadcast_shapes(shape, sc.shape, of.shape)
    except ValueError:
        full = None
    if full != shape:
        raise cv.refuse(
            f"a constant of shape {sc.shape if sc.size > 1 else of.shape} does not broadcast "
            f"onto the tensor {shape} without enlarging it"
        )
    sc, of = np.broadcast_to(sc, shape), np.broadcast_to(of, shape)
    varying = [
        a
        for a in range(1, x.rank)
        if not (np.all(sc == sc.take([0], axis=a)) and np.all(of == of.take([0], axis=a)))
    ]
    if not varying:
        s0, o0 = float(sc.flat[0]), float(of.flat[0])
        return cv.apply(keras.layers.Rescaling(s0, o0, name=cv.name(suffix)), x, x.perm)
    if len(varying) > 1:
        raise cv.refuse(
            f"a constant that varies along ONNX axes {varying}; supported: scalars and "
            "per-channel constants (one axis)"
        )
    a = varying[0]
    idx: list[int | slice] = [0] * x.rank
    idx[a] = slice(None)
    g, bb = sc[tuple(idx)], of[tuple(idx)]
    layer = keras.layers.BatchNormalization(axis=x.axis(a), epsilon=0.0, name=cv.name(suffix))
    zeros, ones = np.zeros_like(g), np.ones_like(g)
    return cv.apply(layer, x, x.perm, [g, bb, zeros, ones])


def _act(make: Callable[[dict[str, Any], str], keras.layers.Layer | str]) -> Handler:
    """An activation: make(attributes, layer name) gives a layer or a Keras activation name."""

    def handler(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
        x = _sym(cv, ins[0])
        name = cv.name()
        try:
            layer = make(at, name)
        except ValueError as e:
            raise cv.refuse(str(e)) from None
        if isinstance(layer, str):
            layer = keras.layers.Activation(layer, name=name)
        return [cv.apply(layer, x, x.perm)]

    return handler


def _selu(at: dict[str, Any], name: str) -> str:
    if not (
        math.isclose(at.get("alpha", 1.67326), 1.6732632, rel_tol=1e-4)
        and math.isclose(at.get("gamma", 1.0507), 1.0507009, rel_tol=1e-4)
    ):
        raise ValueError("Selu with non-standard alpha/gamma")
    return "selu"


def hard_sigmoid(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """max(0, min(1, alpha * x + beta)); PyTorch's (alpha 1/6, beta 0.5) is Keras' own."""
    x = _sym(cv, ins[0])
    alpha, beta = float(at.get("alpha", 0.2)), float(at.get("beta", 0.5))
    if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:
        return [cv.apply(keras.layers.Activation("hard_sigmoid", name=cv.name()), x, x.perm)]
    y = affine(cv, x, alpha, beta, "scale")
    return [cv.apply(keras.layers.ReLU(max_value=1.0, name=cv.name()), y, y.perm)]


def clip(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """Clip(min, max): ReLU(max_value) (ReLU6 when 0..6), shifted when min is not 0."""
    x = _sym(cv, ins[0])
    lo = at.get("min", -np.inf)
    hi = at.get("max", np.inf)
    if len(ins) > 1 and ins[1] is not None:
        lo = float(cv.constant(ins[1], "min"))
    if len(ins) > 2 and ins[2] is not None:
        hi = float(cv.constant(ins[2], "max"))
    lo, hi = float(lo), float(hi)
    top = None if math.isinf(hi) else hi
    if lo == 0.0:
        return [cv.apply(keras.layers.ReLU(max_value=top, name=cv.name()), x, x.perm)]
    if math.isfinite(lo):  # relu(x - lo, max hi - lo) + lo
        y = affine(cv, x, 1.0, -lo, "shift")
        span = None if top is None else top - lo
        y = cv.apply(keras.layers.ReLU(max_value=span, name=cv.name("relu")), y, y.perm)
        return [affine(cv, y, 1.0, lo)]
    if top is None:
        return [cv.identity(x)]
    y = affine(cv, x, -1.0, top, "flip")  # hi - relu(hi - x)
    y = cv.apply(keras.layers.ReLU(name=cv.name("relu")), y, y.perm)
    return [affine(cv, y, -1.0, top)]


def prelu(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
    """PRelu with a per-channel (or single) slope: a PReLU layer sharing the spatial axes."""
    x = cv.nhwc(_sym(cv, ins[0]))
    slope = cv.constant(ins[1], "slope").astype(np.float32)
    c = x.shape[1] if x.rank > 1 else 1
    if slope.size not in (1, c):
        raise cv.refuse(f"slope of shape {slope.shape}; supported: one value or one per channel")
    shared = list(range(1, x.rank - 1)) if x.rank > 2 else None
    alpha = np.broadcast_to(slope.reshape(-1), (c,)).reshape((1,) * (x.rank - 2) + (c,))
    layer = keras.layers.PReLU(shared_axes=shared, name=cv.name())
    return [cv.apply(layer, x, x.perm, [alpha])]


def _softmax(log: bool) -> Handler:
    def handler(cv: Converter, ins: list[Value | None], at: dict[str, Any]) -> list[Value]:
        x = _sym(cv, ins[0])
        axis = int(at.get("axis", -1 if cv.parsed.opset >= 13 else 1))
        if cv.parsed.opset < 13 and axis % x.rank != x.rank - 1:
            raise cv.refuse(f"axis {axis} of a rank-{x.rank} tensor under opset < 13")
        if log:  # Keras' log_softmax activation works on the last axis
            if x.axis(axis) != x.rank - 1:
                x = cv.reorder(x, plain(x.rank), "to_onnx_order")
            if x.axis(axis) != x.rank - 1:
                raise cv.refuse(f"axis {axis} is not the last axis")
            return [cv.apply(keras.layers.Activation("log_softmax", name=cv.name()), x, x.perm)]
        return [cv.apply(keras.layers.Softmax(axis=x.axis(axis), name=cv.name()), x, x.perm)]

    return handler


def _gelu(at: dict[str, Any], name: str) -> str:
    if at.get("approximate", "none") != "none":
        raise ValueError("Gelu approximate='tanh'; supported: the exact (erf) form")
    return "gelu"


OPS: dict[str, Handler] = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "Gemm": gemm,
    "MatMul": matmul,
    "Relu": _act(lambda at, n: keras.layers.ReLU(name=n)),
    "LeakyRelu": _act(lambda at, n: keras.layers.LeakyReLU(at.get("alpha", 0.01), name=n)),
    "Elu": _act(lambda at, n: keras.layers.ELU(at.get("alpha", 1.0), name=n)),
    "Selu": _act(_selu),
    "Sigmoid": _act(lambda at, n: "sigmoid"),
    "Tanh": _act(lambda at, n: "tanh"),
    "Softplus": _act(lambda at, n: "softplus"),
    "Softsign": _act(lambda at, n: "softsign"),
    "HardSwish": _act(lambda at, n: "hard_silu"),
    "Mish": _act(lambda at, n: "mish"),
    "Gelu": _act(_gelu),
    "HardSigmoid": hard_sigmoid,
    "Clip": clip,
    "PRelu": prelu,
    "Softmax": _softmax(False),
    "LogSoftmax": _softmax(True),
}


def _register() -> None:
    from core.model.onnx import ops_pool, ops_shape

    OPS.update(ops_shape.OPS)
    OPS.update(ops_pool.OPS)


def supported() -> list[str]:
    """The operators mapped to layers, plus Constant (any operator on constants is evaluated)."""
    return sorted({*OPS, "Constant"})


_register()
