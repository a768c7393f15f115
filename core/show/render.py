"""Arrays -> pictures: feature-map grids with colour scales, colormaps, difference maps."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from core.errors import InputError

# Anchor colours of matplotlib's viridis and a blue-white-red diverging map (RdBu reversed),
# interpolated in numpy so we need no matplotlib.
_VIRIDIS = np.array(
    [
        [68, 1, 84],
        [72, 40, 120],
        [62, 74, 137],
        [49, 104, 142],
        [38, 130, 142],
        [31, 158, 137],
        [53, 183, 121],
        [109, 205, 89],
        [180, 222, 44],
        [253, 231, 37],
    ],
    np.float32,
)
_DIVERGING = np.array(
    [
        [5, 48, 97],
        [33, 102, 172],
        [67, 147, 195],
        [146, 197, 222],
        [247, 247, 247],
        [244, 165, 130],
        [214, 96, 77],
        [178, 24, 43],
        [103, 0, 31],
    ],
    np.float32,
)
COLORMAPS = {"viridis": _VIRIDIS, "diverging": _DIVERGING}


def colormap_hex(name: str, n: int = 9) -> list[str]:
    """n colours of a colormap as hex strings (for legends in Altair)."""
    rgb = apply_colormap(np.linspace(0, 1, n)[None], name)[0]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]


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


def grid_layout(
    h: int, w: int, c: int, *, cell: int = 56, gap: int = 2, band: int = 0
) -> tuple[int, int, int, list[tuple[int, int, int, int]]]:
    """Where feature_grid puts each channel: (height, width, up, boxes).

    up: the nearest-neighbour enlargement (32×32 maps and cell 56: 2×, 4×4 maps: 14×); boxes:
    per channel the half-open pixel box (y0, x0, y1, x1) of its tile. band: pixels left free
    above every row of tiles, for channel numbers.
    """
    rows, cols = grid_shape(c)
    up = max(1, round(cell / max(h, w)))
    th, tw = h * up, w * up
    boxes = []
    for k in range(c):
        r, q = divmod(k, cols)
        y0, x0 = gap + band + r * (th + gap + band), gap + q * (tw + gap)
        boxes.append((y0, x0, y0 + th, x0 + tw))
    return rows * (th + gap + band) + gap, cols * (tw + gap) + gap, up, boxes


def feature_grid(
    maps: np.ndarray,
    *,
    scale: str = "shared",
    cmap: str = "viridis",
    cell: int = 56,
    vrange: tuple[float, float] | None = None,
    dim: set[int] | frozenset[int] = frozenset(),
    band: int = 0,
    background: tuple[int, int, int] | None = (255, 255, 255),
) -> tuple[np.ndarray, float, float]:
    """(H, W, C) maps -> one RGB grid image with every channel, and the value range shown.

    scale: "shared" maps one value range over all channels (compare channels with each other),
    "per-channel" stretches each channel to its own min..max (see the structure of weak ones).
    vrange: fixes the shared range (e.g. to compare two inputs on one scale); symmetric for
    the diverging map. dim: channels drawn greyed out (e.g. frozen filters). band: free
    pixels above each row (grid_layout). background: the colour between tiles; None gives an
    RGBA image, transparent there (it then sits on any page theme).
    """
    h, w, c = maps.shape
    height, width, up, boxes = grid_layout(h, w, c, cell=cell, band=band)
    if background is None:
        out = np.zeros((height, width, 4), np.uint8)
    else:
        out = np.empty((height, width, 3), np.uint8)
        out[:] = background
    if vrange is not None:
        vmin, vmax = vrange
    elif cmap == "diverging":
        m = float(np.abs(maps).max()) or 1.0
        vmin, vmax = -m, m
    else:
        vmin, vmax = float(maps.min()), float(maps.max())
    for k, (y0, x0, y1, x1) in enumerate(boxes):
        ch = maps[..., k].astype(np.float32)
        if scale == "per-channel":
            lo, hi = (
                (float(ch.min()), float(ch.max()))
                if cmap != "diverging"
                else (-float(np.abs(ch).max()), float(np.abs(ch).max()))
            )
        else:
            lo, hi = vmin, vmax
        norm = (
            (ch - lo) / (hi - lo)
            if hi > lo
            else np.zeros_like(ch) + (0.5 if cmap == "diverging" else 0.0)
        )
        img = apply_colormap(norm, cmap)
        if k in dim:
            img = (img.mean(axis=-1, keepdims=True) * 0.35 + 150).astype(np.uint8).repeat(3, -1)
        out[y0:y1, x0:x1, :3] = img.repeat(up, 0).repeat(up, 1)
        if background is None:
            out[y0:y1, x0:x1, 3] = 255
    return out, vmin, vmax


def vector_image(
    v: np.ndarray,
    *,
    cmap: str = "viridis",
    cell: int = 8,
    vrange: tuple[float, float] | None = None,
) -> np.ndarray:
    """A dense layer's output (any shape, flattened to N units) -> an RGB heat grid: units row
    by row, ceil(sqrt(N)) to a row, each a cell×cell square; white past the last unit. The
    diverging map is centred on zero (a difference: white is no change)."""
    v = np.ravel(np.asarray(v, np.float32))
    cols = max(1, int(np.ceil(np.sqrt(v.size))))
    rows = max(1, -(-v.size // cols))
    if vrange is not None:
        lo, hi = vrange
    elif cmap == "diverging":
        m = float(np.abs(v).max()) if v.size else 0.0
        lo, hi = -(m or 1.0), m or 1.0
    else:
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    norm = (
        (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v) + (0.5 if cmap == "diverging" else 0)
    )
    flat = np.full((rows * cols, 3), 255, np.uint8)
    flat[: v.size] = apply_colormap(norm, cmap).reshape(-1, 3)
    return flat.reshape(rows, cols, 3).repeat(cell, 0).repeat(cell, 1)


def labelled_grid(
    maps: np.ndarray,
    *,
    title: str,
    scale: str = "shared",
    cmap: str = "viridis",
    vrange: tuple[float, float] | None = None,
    cell: int = 56,
) -> np.ndarray:
    """A figure to keep: title, every channel numbered above its tile, and a colour bar with
    its values (shared scale) or a note that each channel has its own. RGB uint8."""
    from PIL import Image, ImageDraw, ImageFont

    band = 14
    grid, lo, hi = feature_grid(maps, scale=scale, cmap=cmap, vrange=vrange, cell=cell, band=band)
    _, _, _, boxes = grid_layout(*maps.shape, cell=cell, band=band)
    font = ImageFont.load_default(11)
    bar_w = max(160, min(grid.shape[1] - 20, 320))
    width = max(grid.shape[1], bar_w + 20)
    canvas = Image.new("RGB", (width, 24 + grid.shape[0] + 52), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 5), title, fill="black", font=ImageFont.load_default(13))
    canvas.paste(Image.fromarray(grid), (0, 24))
    for k, (y0, x0, _, _) in enumerate(boxes):
        draw.text((x0, 24 + y0 - band), str(k), fill="#333333", font=font)
    y = 24 + grid.shape[0] + 8
    if scale == "shared":
        bar = apply_colormap(np.linspace(0, 1, bar_w)[None].repeat(12, axis=0), cmap)
        canvas.paste(Image.fromarray(bar), (10, y))
        for frac, anchor in ((0.0, "la"), (0.5, "ma"), (1.0, "ra")):
            draw.text(
                (10 + frac * bar_w, y + 15),
                f"{lo + frac * (hi - lo):.3g}",
                fill="black",
                font=font,
                anchor=anchor,
            )
    else:
        draw.text((10, y), "each channel stretched to its own min…max", fill="black", font=font)
    return np.asarray(canvas)


def channel_image(
    ch: np.ndarray,
    *,
    cmap: str = "viridis",
    size: int = 280,
    vrange: tuple[float, float] | None = None,
) -> np.ndarray:
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


def png_bytes(img: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3|4) uint8, or floats in [0, 1] (clipped), as PNG file bytes."""
    a = np.asarray(img)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 3, 4)):
        raise InputError(f"A picture must be (H, W) or (H, W, 3|4); got shape {a.shape}.")
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a).save(buf, format="PNG")
    return buf.getvalue()


def png_url(img: np.ndarray) -> str:
    """png_bytes(img) as a data URL: st.image sends one as it is (bytes it decodes and
    re-encodes on every run), and HTML exports embed it."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode()


def overlay(rgb: np.ndarray, heat: np.ndarray, *, alpha: float) -> np.ndarray:
    """A heat map (H, W, 3) uint8 laid over a picture (H, W, 3) uint8 with opacity alpha."""
    return (rgb * (1 - alpha) + heat * alpha).astype(np.uint8)
