"""Exemplars as pictures and tables: receptive-field patches, spectrogram patches, the grid and
the CSV of an index. Pure NumPy/PIL (no Streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from core.analysis.exemplars import Exemplar, FilterIndex
from core.show.render import apply_colormap


def _upscale(img: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour enlargement so the longer side is about `size` pixels (RGB uint8)."""
    if img.ndim == 2:
        img = img[..., None].repeat(3, -1)
    up = max(1, round(size / max(img.shape[:2])))
    return img.repeat(up, 0).repeat(up, 1)


def image_patch(display: np.ndarray, box: tuple[int, ...], *, size: int = 72) -> np.ndarray:
    """The receptive field (y0, x0, y1, x1) cut out of a uint8 (H, W[, 3]) model input, on a
    white square (a field clipped by the image border stays in proportion)."""
    y0, x0, y1, x1 = box
    p = _upscale(np.ascontiguousarray(display[y0:y1, x0:x1]), size)
    side = max(p.shape[:2])
    out = np.full((side, side, 3), 255, np.uint8)
    dy, dx = (side - p.shape[0]) // 2, (side - p.shape[1]) // 2
    out[dy : dy + p.shape[0], dx : dx + p.shape[1]] = p
    return out


def spectrogram_patch(spec: np.ndarray, box: tuple[int, ...], *, size: int = 72) -> np.ndarray:
    """A (frames, bins) spectrogram cut to (f0, b0, f1, b1) and drawn with time left to right,
    low frequencies at the bottom, viridis over the clip's own range."""
    f0, b0, f1, b1 = box
    lo, hi = float(spec.min()), float(spec.max())
    cut = spec[f0:f1, b0:b1]
    norm = (cut - lo) / (hi - lo) if hi > lo else np.zeros_like(cut)
    img = apply_colormap(np.flip(norm.T, axis=0), "viridis")  # (bins, frames, 3)
    # Spectrogram cells are narrow in time: stretch to a square-ish patch.
    h, w = img.shape[:2]
    scale = size / max(h, w)
    return np.asarray(
        Image.fromarray(img).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.NEAREST
        )
    )


def spaced(img: np.ndarray, *, margin: int = 4) -> np.ndarray:
    """An RGB patch inside a transparent margin (RGBA): patches drawn side by side keep a gap
    on any page theme (LeNet's black digit patches ran into one strip)."""
    h, w = img.shape[:2]
    out = np.zeros((h + 2 * margin, w + 2 * margin, 4), np.uint8)
    out[margin : margin + h, margin : margin + w, :3] = (
        img[..., :3] if img.ndim == 3 else img[..., None]
    )
    out[margin : margin + h, margin : margin + w, 3] = 255
    return out


def grid(rows: list[list[np.ndarray]], *, cell: int = 72, gap: int = 4) -> np.ndarray:
    """Rows of patches (any sizes) -> one white RGB picture, each patch centred in a cell."""
    n_cols = max((len(r) for r in rows), default=1)
    out = np.full((len(rows) * (cell + gap) + gap, n_cols * (cell + gap) + gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            p = p[:cell, :cell]
            y = gap + i * (cell + gap) + (cell - p.shape[0]) // 2
            x = gap + j * (cell + gap) + (cell - p.shape[1]) // 2
            out[y : y + p.shape[0], x : x + p.shape[1]] = p if p.ndim == 3 else p[..., None]
    return out


def index_table(
    index: FilterIndex, layer: str, exemplars: dict[int, list[Exemplar]], labels: list[str]
) -> pd.DataFrame:
    """One row per (channel, rank): the exemplar's input, value, position and field."""
    li = index.layer(layer)
    rows = []
    for ch, exs in exemplars.items():
        for rank, e in enumerate(exs, start=1):
            rows.append(
                {
                    "layer": layer,
                    "channel": ch,
                    "rank": rank,
                    "input": e.index,
                    "value": e.value,
                    "position": " ".join(map(str, e.position)),
                    "box": " ".join(map(str, e.box)),
                    "label": labels[e.label] if e.label >= 0 else "",
                    "fire_rate": float(li.fire_rate[ch]),
                }
            )
    return pd.DataFrame(rows)


def patches(
    card: dict,
    xs: dict[int, np.ndarray],
    specs: dict[int, np.ndarray] | None,
    tops: dict[int, list[Exemplar]],
) -> dict[int, list[np.ndarray]]:
    """{channel: [uint8 RGB]}: each exemplar cut to its receptive field. xs: the exemplars'
    model inputs by probe row; specs: an audio model's spectrogram (T, F) by row, or None."""
    from core.inputs.image import to_display

    def one(e: Exemplar) -> np.ndarray | None:
        if specs is not None and e.local_box is not None:
            return spectrogram_patch(specs[e.index], e.local_box)
        if card["input"]["kind"] == "image":
            return image_patch(to_display(xs[e.index], card), e.box)
        return None

    return {c: [p for p in map(one, exs) if p is not None] for c, exs in tops.items()}
