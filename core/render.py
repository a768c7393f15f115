"""Arrays -> pictures: feature-map grids with colour scales, colormaps, difference maps."""
from __future__ import annotations

import math

import numpy as np

# Anchor colours of matplotlib's viridis and a blue-white-red diverging map (RdBu reversed),
# interpolated in numpy so we need no matplotlib.
_VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
                     [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44],
                     [253, 231, 37]], np.float32)
_DIVERGING = np.array([[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222],
                       [247, 247, 247], [244, 165, 130], [214, 96, 77], [178, 24, 43],
                       [103, 0, 31]], np.float32)
COLORMAPS = {"viridis": _VIRIDIS, "diverging": _DIVERGING}


def colormap_hex(name: str, n: int = 9) -> list[str]:
    """n colours of a colormap as hex strings (for legends in Altair)."""
    rgb = apply_colormap(np.linspace(0, 1, n)[None], name)[0]
    return ["#%02x%02x%02x" % tuple(c) for c in rgb]


def apply_colormap(v: np.ndarray, name: str = "viridis") -> np.ndarray:
    """v: floats in [0, 1], any shape -> uint8 (..., 3)."""
    lut = COLORMAPS[name]
    pos = np.clip(np.nan_to_num(v), 0, 1) * (len(lut) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(lut) - 1)
    t = (pos - lo)[..., None]
    return (lut[lo] * (1 - t) + lut[hi] * t + 0.5).astype(np.uint8)


def as_maps(a: np.ndarray) -> np.ndarray | None:
    """A layer output without batch axis -> (H, W, C) maps, or None if it is not spatial."""
    a = np.asarray(a)
    if a.ndim == 3:
        return a
    if a.ndim == 2 and min(a.shape) >= 4:  # (H, W) output, e.g. squeezed greyscale
        return a[..., None]
    return None


def grid_shape(c: int) -> tuple[int, int]:
    cols = min(c, max(4, math.ceil(math.sqrt(c * 1.5))))
    return math.ceil(c / cols), cols


def feature_grid(maps: np.ndarray, *, scale: str = "shared", cmap: str = "viridis",
                 cell: int = 56, vrange: tuple[float, float] | None = None,
                 dim: set[int] | frozenset[int] = frozenset()) -> tuple[np.ndarray, float, float]:
    """(H, W, C) maps -> one RGB grid image with every channel, and the value range shown.

    scale: "shared" maps one value range over all channels (compare channels with each other),
    "per-channel" stretches each channel to its own min..max (see the structure of weak ones).
    vrange: fixes the shared range (e.g. to compare two inputs on one scale); symmetric for
    the diverging map. dim: channels drawn greyed out (e.g. frozen filters).
    """
    h, w, c = maps.shape
    rows, cols = grid_shape(c)
    # Nearest-neighbour enlargement to about `cell` pixels (32×32 maps: 2×, 4×4 maps: 14×).
    up = max(1, round(cell / max(h, w)))
    gap = 2
    out = np.full((rows * (h * up + gap) + gap, cols * (w * up + gap) + gap, 3), 255, np.uint8)
    if vrange is not None:
        vmin, vmax = vrange
    elif cmap == "diverging":
        m = float(np.abs(maps).max()) or 1.0
        vmin, vmax = -m, m
    else:
        vmin, vmax = float(maps.min()), float(maps.max())
    for k in range(c):
        ch = maps[..., k].astype(np.float32)
        if scale == "per-channel":
            lo, hi = (float(ch.min()), float(ch.max())) if cmap != "diverging" else (
                -float(np.abs(ch).max()), float(np.abs(ch).max()))
        else:
            lo, hi = vmin, vmax
        norm = (ch - lo) / (hi - lo) if hi > lo else np.zeros_like(ch) + (0.5 if cmap == "diverging" else 0.0)
        img = apply_colormap(norm, cmap)
        if k in dim:
            img = (img.mean(axis=-1, keepdims=True) * 0.35 + 150).astype(np.uint8).repeat(3, -1)
        img = img.repeat(up, 0).repeat(up, 1)
        r, q = divmod(k, cols)
        y0, x0 = gap + r * (h * up + gap), gap + q * (w * up + gap)
        out[y0:y0 + h * up, x0:x0 + w * up] = img
    return out, vmin, vmax


def channel_image(ch: np.ndarray, *, cmap: str = "viridis", size: int = 280,
                  vrange: tuple[float, float] | None = None) -> np.ndarray:
    """One (H, W) channel, enlarged with nearest-neighbour so pixels stay visible."""
    ch = ch.astype(np.float32)
    if vrange is None:
        if cmap == "diverging":
            m = float(np.abs(ch).max()) or 1.0
            vrange = (-m, m)
        else:
            vrange = (float(ch.min()), float(ch.max()))
    lo, hi = vrange
    norm = (ch - lo) / (hi - lo) if hi > lo else np.zeros_like(ch)
    up = max(1, size // max(ch.shape))
    return apply_colormap(norm, cmap).repeat(up, 0).repeat(up, 1)
