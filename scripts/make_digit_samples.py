#!/usr/bin/env python
"""Render the built-in digit samples from hand-authored stroke templates.

Run from the repository root:

    python scripts/make_digit_samples.py

Reads ``assets/samples/digit_strokes.json`` ({"0": [variant, ...], ...}; a variant is a list of
strokes, a stroke a list of [x, y] points in a unit box, y down) and writes
``assets/samples/digits/{digit}_{variant}.png``: each variant is drawn like a person drawing on a
280×280 sketchpad (white round-capped brush of 20-26 px on black, with a little seeded jitter:
rotation, scale, slant, wobble), then framed MNIST-style by ``core.inputs.image.mnist_style`` into a
28×28 8-bit greyscale PNG (white ink on black). Deterministic: the same templates give the
same files.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.inputs.image import mnist_style  # noqa: E402

SEED = 2024
PAD = 280  # sketchpad side in pixels
SUPERSAMPLE = 4  # draw at 4x and box-filter down: anti-aliased edges like a browser canvas
BRUSH = (20.0, 26.0)  # brush width range in pad pixels: ~2.2-2.8 px strokes at 28x28
# (MNIST median ~2.6 px; the 18 px sketchpad gives ~2.1 px)
ROT_DEG = 8.0  # rotation +-degrees
SCALE = (0.92, 1.08)  # isotropic scale
ASPECT = 0.05  # extra x scale 1 +- ASPECT
SLANT = 0.12  # shear x += SLANT * (y - 0.5), +- this
WOBBLE = 0.006  # smooth per-point noise (unit-box units)


def load_strokes(path: Path) -> dict[str, list]:
    with open(path) as f:
        data = json.load(f)
    if sorted(data) != [str(d) for d in range(10)]:
        raise ValueError(f"{path}: expected keys '0'..'9', got {sorted(data)}")
    return data


def render_pad(strokes, *, width: float = 20.0, size: int = PAD) -> np.ndarray:
    """Strokes in the unit box -> uint8 (size, size): white round-capped lines on black."""
    ss = SUPERSAMPLE
    im = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(im)
    w = width * ss
    r = w / 2.0
    for stroke in strokes:
        pts = [(float(x) * size * ss, float(y) * size * ss) for x, y in stroke]
        if len(pts) > 1:
            draw.line(pts, fill=255, width=int(round(w)), joint="curve")
        for x, y in pts:  # round caps (and round joins between points)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(im.reduce(ss))


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """(n, 2) noise correlated along the stroke, so the line wobbles instead of jittering."""
    raw = rng.normal(0.0, 1.0, (n + 4, 2))
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    kernel /= np.sqrt((kernel**2).sum())
    sm = np.stack([np.convolve(raw[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    return sigma * sm[:n]


def jitter(strokes, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """Random similarity + slant about the box centre, plus smooth wobble; returns brush width."""
    ang = math.radians(rng.uniform(-ROT_DEG, ROT_DEG))
    s = rng.uniform(*SCALE)
    ax = 1.0 + rng.uniform(-ASPECT, ASPECT)
    sh = rng.uniform(-SLANT, SLANT)
    width = rng.uniform(*BRUSH)
    c, si = math.cos(ang), math.sin(ang)
    m = np.array([[c, -si], [si, c]]) @ np.array([[s * ax, sh * s], [0.0, s]])
    out = []
    for stroke in strokes:
        p = np.asarray(stroke, dtype=np.float64) - 0.5
        p = p @ m.T + _smooth_noise(rng, len(p), WOBBLE) + 0.5
        out.append(np.clip(p, 0.04, 0.96))
    return out, width


def make_sample(strokes, rng: np.random.Generator) -> np.ndarray:
    pts, width = jitter(strokes, rng)
    return mnist_style(render_pad(pts, width=width))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strokes", type=Path, default=ROOT / "assets/samples/digit_strokes.json")
    ap.add_argument("--out", type=Path, default=ROOT / "assets/samples/digits")
    args = ap.parse_args(argv)
    data = load_strokes(args.strokes)
    args.out.mkdir(parents=True, exist_ok=True)
    n = 0
    for digit in sorted(data):
        for v, strokes in enumerate(data[digit]):
            # One generator per sample: editing one template leaves the others' files unchanged.
            rng = np.random.default_rng([SEED, int(digit), v])
            img = make_sample(strokes, rng)
            Image.fromarray(img).save(args.out / f"{digit}_{v}.png", optimize=True)
            n += 1
    print(f"wrote {n} samples to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
