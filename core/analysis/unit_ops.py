"""Per layer kind, the arithmetic of one output unit (core.analysis.unit puts it together).

Each explainer takes (op, parents: [(trace key, traced array without batch axis)], idx: the
unit's (*position, channel), out_shape) and returns the Parts of its sum, in float64. Indices of
input units are full tuples (*position, channel) into the parent's traced array.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from core.errors import UnitError
from core.graph.receptive import IDENTITY_AT_INFERENCE

Ref = tuple[str, tuple[int, ...]]  # (trace key, (*position, channel))
Parents = list[tuple[str, np.ndarray]]


@dataclass
class Parts:
    contributions: list[float] | np.ndarray
    parts: list[str]
    sources: list[Ref | None]
    pre: float
    bias: float = 0.0
    pre_all: np.ndarray | None = None  # every channel's pre-activation at this position
    activation: tuple[str, float] | None = None  # set by layers that are the function
    input_layer: str | None = None
    patch: np.ndarray | None = None
    kernel: np.ndarray | None = None
    padded: np.ndarray | None = None
    window: tuple[np.ndarray, ...] | None = None
    channels: np.ndarray | None = None
    upstream: Ref | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _np(w: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(w), np.float64)


def _nd(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def _window(
    pos: tuple[int, ...], n_in: tuple[int, ...], n_out: tuple[int, ...], k, s, d, padding: str
) -> list[np.ndarray]:
    """Per spatial axis, the input index of each window cell (out of range: padding), as
    TensorFlow pads: 'same' puts the odd cell after, 'causal' all before."""
    out = []
    for p, n, no, kk, ss, dd in zip(pos, n_in, n_out, k, s, d):
        span = (kk - 1) * dd + 1
        if padding == "same":
            before = max((no - 1) * ss + span - n, 0) // 2
        elif padding == "causal":
            before = span - 1
        else:
            before = 0
        out.append(p * ss - before + np.arange(kk) * dd)
    return out


def _gather(x: np.ndarray, window: list[np.ndarray], fill: float = 0.0):
    """x (*spatial, C) -> (patch (*window, C) with `fill` at padding, padded (*window,))."""
    nd = len(window)
    valid = np.ones(tuple(len(w) for w in window), bool)
    for a, w in enumerate(window):
        ok = (w >= 0) & (w < x.shape[a])
        valid &= ok.reshape([-1 if i == a else 1 for i in range(nd)])
    clipped = [np.clip(w, 0, x.shape[a] - 1) for a, w in enumerate(window)]
    patch = x[np.ix_(*clipped, np.arange(x.shape[-1]))].astype(np.float64)
    patch[~valid] = fill
    return patch, ~valid


def _best(score: np.ndarray, padded: np.ndarray) -> tuple[int, ...]:
    """The (*cell, channel) of the largest score outside the padding."""
    s = np.where(padded[..., None], -np.inf, score)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(s)), s.shape))


def _at(window: list[np.ndarray], cell: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(w[c]) for w, c in zip(window, cell))


def _sign(v: float) -> float:
    return -1.0 if v < 0 else 1.0


def conv(op: Any, parents: Parents, idx: tuple[int, ...], out_shape: tuple[int, ...]) -> Parts:
    """Conv, DepthwiseConv and SeparableConv of any rank: sum over the window and channels."""
    (src, x), kind = parents[0], type(op).__name__
    pos, o, nd = idx[:-1], idx[-1], len(idx) - 1
    k = _nd(op.kernel_size, nd)
    s, d = _nd(op.strides, nd), _nd(op.dilation_rate, nd)
    win = _window(pos, x.shape[:-1], out_shape[:-1], k, s, d, op.padding)
    patch, padded = _gather(x, win)
    bias_all = _np(op.bias) if getattr(op, "bias", None) is not None else np.zeros(out_shape[-1])
    if kind.startswith("Depthwise"):
        dw = _np(op.kernel)  # (*k, C_in, multiplier)
        mult = dw.shape[-1]
        c = o // mult
        chans = np.array([c])
        kern = dw[..., c, o % mult][..., None]
        flat = patch.reshape(-1, patch.shape[-1])  # (window cells, C_in)
        pre_all = np.einsum("wc,wcm->cm", flat, dw.reshape(len(flat), *dw.shape[-2:]))
        pre_all = pre_all.reshape(-1) + bias_all
    else:
        if kind.startswith("Separable"):
            dw, pw = _np(op.depthwise_kernel), _np(op.pointwise_kernel)
            cin, mult = dw.shape[-2:]
            # The depthwise then pointwise step is one convolution with this kernel.
            full = np.einsum("...cm,cmo->...co", dw, pw.reshape(cin, mult, -1))
            groups = 1
        else:
            full, groups = _np(op.kernel), int(getattr(op, "groups", 1))  # (*k, C_in/g, C_out)
        cin_g, cout = full.shape[-2:]
        grp = o // (cout // groups)
        chans = np.arange(grp * cin_g, (grp + 1) * cin_g)
        kern = full[..., o]
        per = patch.reshape(-1, groups, cin_g)  # (window cells, group, its channels)
        ker = full.reshape(len(per), cin_g, groups, cout // groups)
        pre_all = np.einsum("wgc,wcgj->gj", per, ker).reshape(-1) + bias_all
    prods = patch[..., chans] * kern
    axes = tuple(range(nd))
    contrib = prods.sum(axis=axes)
    bias = float(bias_all[o])
    pre = float(contrib.sum() + bias)
    score = prods * _sign(pre)
    sources: list[Ref | None] = []
    for j, c in enumerate(chans):
        cell = _best(score[..., j : j + 1], padded)[:-1]
        sources.append((src, (*_at(win, cell), int(c))))
    best = _best(score, padded)
    n_pad = int(padded.sum())
    note = (
        f"{kind}: a {'×'.join(map(str, k))} kernel"
        + (f", strides {s}" if any(v > 1 for v in s) else "")
        + (f", dilation {d}" if any(v > 1 for v in d) else "")
        + f", padding '{op.padding}'"
        + (
            f" ({n_pad} of {padded.size} window cells lie in the padding, read as 0)"
            if n_pad
            else ""
        )
        + f"; {len(chans)} input channel{'s' * (len(chans) != 1)} of {src}."
    )
    return Parts(
        contrib,
        [f"{src} channel {int(c)}" for c in chans],
        sources,
        pre,
        bias=bias,
        pre_all=pre_all,
        input_layer=src,
        patch=patch[..., chans],
        kernel=kern,
        padded=padded,
        window=tuple(win),
        channels=chans,
        upstream=(src, (*_at(win, best[:-1]), int(chans[best[-1]]))),
        note=note,
    )


def dense(op: Any, parents: Parents, idx: tuple[int, ...], out_shape: tuple[int, ...]) -> Parts:
    (src, x) = parents[0]
    pos, o = idx[:-1], idx[-1]
    v = x[pos].astype(np.float64)  # (C_in,)
    w = _np(op.kernel)
    b = _np(op.bias) if op.bias is not None else np.zeros(w.shape[-1])
    contrib = v * w[:, o]
    pre = float(contrib.sum() + b[o])
    i = int(np.argmax(contrib * _sign(pre)))
    return Parts(
        contrib,
        [f"{src} unit {i}" for i in range(len(v))],
        [(src, (*pos, i)) for i in range(len(v))],
        pre,
        bias=float(b[o]),
        pre_all=v @ w + b,
        input_layer=src,
        upstream=(src, (*pos, i)),
        note=f"Dense: {len(v)} inputs of {src}, each times its weight to unit {o}.",
    )


def pool(op: Any, parents: Parents, idx: tuple[int, ...], out_shape: tuple[int, ...]) -> Parts:
    """Max and average pooling, local and global: which input wins, or the mean."""
    (src, x), kind = parents[0], type(op).__name__
    o = idx[-1]
    spatial = x.shape[:-1]
    if kind.startswith("Global"):
        win = [np.arange(n) for n in spatial]
    else:
        nd = len(spatial)
        k = _nd(op.pool_size, nd)
        s = _nd(op.strides if op.strides is not None else k, nd)
        win = _window(idx[:-1], spatial, out_shape[:-1], k, s, (1,) * nd, op.padding)
    is_max = "Max" in kind
    patch, padded = _gather(x[..., o : o + 1], win, fill=-np.inf if is_max else 0.0)
    n = int((~padded).sum())
    cell = _best(patch, padded)[:-1]
    where = (*_at(win, cell), o)
    kern: np.ndarray | None
    if is_max:
        pre, what, kern = float(patch[(*cell, 0)]), "max", None
        shown = np.where(padded[..., None], 0.0, patch)  # the padding's -inf fill shown as 0
        note = f"{kind}: the largest of {n} inputs wins, the one at {where[:-1]}."
    else:
        kern = np.where(padded, 0.0, 1.0 / n)[..., None]  # the padding is not counted (TensorFlow)
        pre, what, shown = float((patch * kern).sum()), "mean", patch
        note = f"{kind}: the mean of {n} inputs (each weighs 1/{n})."
    return Parts(
        [pre],
        [f"{what} of {n} inputs of {src} channel {o}"],
        [(src, where)],
        pre,
        input_layer=src,
        patch=shown,
        kernel=kern,
        padded=padded,
        window=tuple(win),
        channels=np.array([o]),
        upstream=(src, where),
        note=note,
    )


def _affine(src: str, x: float, scale: float, shift: float, idx, formula: str) -> Parts:
    return Parts(
        [x * scale],
        [f"{src} × {scale:.4g}"],
        [(src, idx)],
        x * scale + shift,
        bias=shift,
        input_layer=src,
        upstream=(src, idx),
        note=f"{formula} = x · {scale:.6g} + ({shift:.6g}), x = {x:.6g}.",
    )


def _last_axis(op: Any, rank: int, kind: str) -> None:
    axis = op.axis if isinstance(op.axis, int) else (op.axis[0] if len(op.axis) == 1 else None)
    if axis not in (-1, rank):
        raise UnitError(f"A {kind} over axis {op.axis!r} (not the channels) cannot be explained.")


def _normalised(
    src: str, x: np.ndarray, idx, mean, var, eps: float, gamma, beta, formula: str
) -> Parts:
    """(x − mean) / √(var + eps) · gamma + beta at idx, as the affine map it is there."""
    scale = gamma / np.sqrt(var + eps)
    return _affine(src, float(x[idx]), float(scale), float(beta - mean * scale), idx, formula)


def batch_norm(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x), c = parents[0], idx[-1]
    _last_axis(op, len(out_shape), "BatchNormalization")
    mean, var = _np(op.moving_mean)[c], _np(op.moving_variance)[c]
    gamma = _np(op.gamma)[c] if op.scale else 1.0
    beta = _np(op.beta)[c] if op.center else 0.0
    formula = f"(x − {mean:.4g}) / √({var:.4g} + {op.epsilon:g}) · {gamma:.4g} + {beta:.4g}"
    return _normalised(
        src, x, idx, mean, var, op.epsilon, gamma, beta, f"BatchNormalization: {formula}"
    )


def layer_norm(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    if getattr(op, "rms_scaling", False):
        raise UnitError("A LayerNormalization with rms_scaling cannot be explained.")
    rank = len(out_shape)
    axes = sorted(
        a - 1 if a > 0 else a + rank for a in ([op.axis] if isinstance(op.axis, int) else op.axis)
    )
    group = x[tuple(slice(None) if a in axes else i for a, i in enumerate(idx))].astype(np.float64)
    mu, var = float(group.mean()), float(group.var())
    sub = tuple(idx[a] for a in axes)
    gamma = float(_np(op.gamma)[sub]) if op.gamma is not None else 1.0
    beta = float(_np(op.beta)[sub]) if op.beta is not None else 0.0
    note = (
        f"LayerNormalization over {group.size} values (mean {mu:.4g}, variance {var:.4g}): "
        f"(x − mean) / √(variance + {op.epsilon:g}) · {gamma:.4g} + {beta:.4g}"
    )
    return _normalised(src, x, idx, mu, var, op.epsilon, gamma, beta, note)


def normalization(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    full = (0, *idx)  # its mean and variance carry the batch axis
    mean = float(np.broadcast_to(_np(op.mean), (1, *x.shape))[full])
    sd = max(
        float(np.sqrt(np.broadcast_to(_np(op.variance), (1, *x.shape))[full])),
        keras.config.epsilon(),
    )
    scale, shift = (sd, mean) if op.invert else (1.0 / sd, -mean / sd)
    return _affine(
        src, float(x[idx]), scale, shift, idx, f"Normalization: (x − {mean:.4g}) / {sd:.4g}"
    )


def rescaling(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    scale = float(np.broadcast_to(_np(op.scale), x.shape)[idx])
    offset = float(np.broadcast_to(_np(op.offset), x.shape)[idx])
    return _affine(src, float(x[idx]), scale, offset, idx, "Rescaling")


def activation(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    """A layer that is a function of its input (Activation, ReLU, Softmax...), applied as the
    model applies it (float32, the whole tensor: a softmax reads every channel)."""
    (src, x), kind = parents[0], type(op).__name__
    fn = getattr(op, "activation", None)
    name = getattr(fn, "__name__", None) if kind == "Activation" else kind.lower()
    y = keras.ops.convert_to_numpy(op(x[None].astype(np.float32), training=False))[0]
    v = float(x[idx])
    return Parts(
        [v],
        [f"{src}"],
        [(src, idx)],
        v,
        activation=(str(name), float(y[idx])),
        input_layer=src,
        upstream=(src, idx),
        note=f"{kind}: {name} applied to x = {v:.6g}.",
    )


PASS_THROUGH = IDENTITY_AT_INFERENCE


def _moved(src: str, x: np.ndarray, pidx: tuple[int, ...] | None, note: str) -> Parts:
    v = 0.0 if pidx is None else float(x[pidx])
    ref = None if pidx is None else (src, pidx)
    return Parts(
        [v],
        [src if ref else "padding"],
        [ref],
        v,
        activation=("identity", v),
        input_layer=src,
        upstream=ref,
        note=note,
    )


def pass_through(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    return _moved(src, x, idx, f"{type(op).__name__}: the input unchanged (at inference).")


def reshape(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x), kind = parents[0], type(op).__name__
    if kind == "Permute":
        pidx = [0] * len(idx)
        for i, dim in enumerate(op.dims):
            pidx[dim - 1] = idx[i]
        p = tuple(pidx)
    else:
        flat = int(np.ravel_multi_index(idx, out_shape))
        p = tuple(int(i) for i in np.unravel_index(flat, x.shape))
    return _moved(src, x, p, f"{kind}: the value of {src} at {p}, moved.")


def zero_padding(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    pads = op.padding
    lows = [pads[0]] if isinstance(pads[0], int) else [p[0] for p in pads]
    p = tuple(i - lo for i, lo in zip(idx[:-1], lows)) + (idx[-1],)
    inside = all(0 <= i < n for i, n in zip(p, x.shape))
    return _moved(
        src,
        x,
        p if inside else None,
        "ZeroPadding: " + ("moved" if inside else "a 0 of the padding"),
    )


def cropping(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    (src, x) = parents[0]
    crop = op.cropping
    lows = [crop[0]] if isinstance(crop[0], int) else [c[0] for c in crop]
    p = tuple(i + lo for i, lo in zip(idx[:-1], lows)) + (idx[-1],)
    return _moved(src, x, p, f"{type(op).__name__}: the value of {src} at {p}, moved.")


def concatenate(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    rank = len(out_shape)
    axis = op.axis - 1 if op.axis > 0 else op.axis + rank
    start = 0
    for src, x in parents:
        n = x.shape[axis]
        if start <= idx[axis] < start + n:
            p = tuple(i - start if a == axis else i for a, i in enumerate(idx))
            return _moved(src, x, p, f"Concatenate: this part comes from {src} at {p}.")
        start += n
    raise UnitError(f"Concatenate: index {idx} lies beyond its inputs.")


def merge(op: Any, parents: Parents, idx: tuple[int, ...], out_shape) -> Parts:
    """Add, Subtract, Average, Maximum, Minimum, Multiply: one part per input (broadcast ones
    read at 0); pre_activation is their sum (mean, max, min, product)."""
    kind = type(op).__name__
    refs, vals = [], []
    for src, x in parents:
        p = tuple(i if n > 1 else 0 for i, n in zip(idx[len(idx) - x.ndim :], x.shape))
        refs.append((src, p))
        vals.append(float(x[p]))
    v = np.array(vals)
    if kind == "Subtract":
        v[1:] *= -1
    if kind == "Average":
        v /= len(v)
    if kind == "Multiply":  # e.g. a squeeze-excitation gate: the map times its weight
        full = [i for i, (_, x) in enumerate(parents) if x.shape == tuple(out_shape)]
        win = full[0] if full else 0
        pre, note = float(np.prod(v)), f"Multiply of {len(v)} inputs: their product."
    elif kind in ("Maximum", "Minimum"):
        win = int(np.argmax(v) if kind == "Maximum" else np.argmin(v))
        pre, note = float(v[win]), f"{kind}: {refs[win][0]} wins."
    else:
        win = int(np.argmax(v * _sign(float(v.sum()))))
        pre, note = float(v.sum()), f"{kind} of {len(v)} inputs."
    return Parts(v, [r[0] for r in refs], list(refs), pre, upstream=refs[win], note=note)


EXPLAINERS: dict[str, Callable[..., Parts]] = {
    **{
        k: conv
        for k in (
            "Conv1D",
            "Conv2D",
            "Conv3D",
            "DepthwiseConv1D",
            "DepthwiseConv2D",
            "SeparableConv1D",
            "SeparableConv2D",
        )
    },
    "Dense": dense,
    **{
        f"{g}{p}Pooling{d}D": pool
        for g in ("", "Global")
        for p in ("Max", "Average")
        for d in (1, 2, 3)
    },
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "Normalization": normalization,
    "Rescaling": rescaling,
    **{k: activation for k in ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")},
    **{k: reshape for k in ("Flatten", "Reshape", "Permute")},
    **{f"ZeroPadding{d}D": zero_padding for d in (1, 2, 3)},
    **{f"Cropping{d}D": cropping for d in (1, 2, 3)},
    "Concatenate": concatenate,
    **{k: merge for k in ("Add", "Subtract", "Average", "Maximum", "Minimum", "Multiply")},
}


def explained_kinds() -> list[str]:
    return sorted({*EXPLAINERS, *PASS_THROUGH})
