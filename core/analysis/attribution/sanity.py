"""The cascading model-parameter randomisation check (Adebayo et al. 2018).

    randomization_check(model, card, x, method=) -> [Similarity(layer, spearman, ssim, hog)]

Layers with weights are re-initialised one more at a time, output first, on a clone; after each
the method's map is compared with the trained model's by the three measures Adebayo et al.
report: the Spearman rank correlation of absolute values, the structural similarity (SSIM) and
the Pearson correlation of histograms of oriented gradients (HOG). All three are taken over the
cells that carry signal (either map non-zero there): a map that is exactly zero on a digit's
black background in both models (integrated gradients: input − baseline = 0 there) would
otherwise agree with itself on most of the image and read 0.99 with every layer randomised.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import keras
import numpy as np

from core.analysis.attribution.explainer import Explainer
from core.analysis.attribution.methods import METHODS, attribute
from core.errors import choice
from core.graph.engine import Plan

MEASURES = ("spearman", "ssim", "hog")


class Similarity(NamedTuple):
    layer: str  # the last layer re-initialised (every layer after it is too)
    spearman: float  # rank correlation of |map|, over the signal cells
    ssim: float  # structural similarity of |map| scaled to [0, 1], over the signal cells
    hog: float  # Pearson correlation of the two maps' HOG features, over the signal's box


def signal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) bool: cells where either |map| is above a millionth of its own peak."""
    a, b = np.abs(a), np.abs(b)
    return (a > 1e-6 * a.max()) | (b > 1e-6 * b.max())


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(a, np.float64))
    top = a.max()
    return a / top if top > 0 else a


def spearman(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Rank correlation of |a| and |b| over mask; 0 where either is constant there."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.abs(a[mask])), rankdata(np.abs(b[mask]))
    if ra.size < 2 or np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray, *, win: int = 7) -> float:
    """Mean SSIM (Wang et al. 2004; 7×7 uniform windows, data range 1) of |a| and |b| scaled
    to [0, 1], averaged over the mask's cells."""
    from scipy.ndimage import uniform_filter

    x, y = _unit(a), _unit(b)
    w = min(win, *x.shape)
    mx, my = uniform_filter(x, w), uniform_filter(y, w)
    vx = uniform_filter(x * x, w) - mx * mx
    vy = uniform_filter(y * y, w) - my * my
    cxy = uniform_filter(x * y, w) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[mask].mean()) if mask.any() else 0.0


def hog(a: np.ndarray, *, cells: int = 7, bins: int = 9) -> np.ndarray:
    """Histograms of oriented gradients (Dalal & Triggs 2005) of |a| scaled to [0, 1]: a
    cells × cells grid, `bins` unsigned orientations each, weighted by gradient magnitude."""
    x = _unit(a)
    gy, gx = np.gradient(x)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    b = np.minimum((ang / np.pi * bins).astype(int), bins - 1)
    rows = np.minimum(np.arange(x.shape[0]) * cells // x.shape[0], cells - 1)
    cols = np.minimum(np.arange(x.shape[1]) * cells // x.shape[1], cells - 1)
    idx = (rows[:, None] * cells + cols[None, :]) * bins + b
    return np.bincount(idx.ravel(), weights=mag.ravel(), minlength=cells * cells * bins)


def hog_similarity(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of the HOG features of a and b, cropped to the mask's bounding box."""
    if not mask.any():
        return 0.0
    r, c = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1))
    ha, hb = hog(a[box]), hog(b[box])
    if np.ptp(ha) == 0 or np.ptp(hb) == 0:
        return 0.0
    return float(np.corrcoef(ha, hb)[0, 1])


def similarity(layer: str, ref: np.ndarray, m: np.ndarray) -> Similarity:
    mask = signal(ref, m)
    return Similarity(
        layer, spearman(ref, m, mask), ssim(ref, m, mask), hog_similarity(ref, m, mask)
    )


def _seeded_clone(model: keras.Model, seed: int) -> keras.Model:
    """A copy of the architecture with fresh weights from each layer's own initialisers, seeded
    per layer name (so the check is reproducible and never touches Keras' global seed)."""

    def fresh(layer):
        cfg = layer.get_config()
        for k, v in cfg.items():
            if (
                k.endswith("_initializer")
                and isinstance(v, dict)
                and isinstance(v.get("config"), dict)
                and "seed" in v["config"]
            ):
                v["config"]["seed"] = (seed + zlib.crc32(f"{layer.name}/{k}".encode())) % 2**31
        return layer.__class__.from_config(cfg)

    return keras.models.clone_model(model, clone_function=fresh, recursive=True)


def weighted_layers(plan: Plan) -> list[str]:
    """Steps whose layer holds weights, in graph order (a shared layer once, at its first call)."""
    seen: set[int] = set()
    out = []
    for name, step in plan.steps_by_name().items():
        if step.op.weights and id(step.op) not in seen:
            seen.add(id(step.op))
            out.append(name)
    return out


def randomization_check(
    model: keras.Model,
    card: Mapping[str, Any],
    x: np.ndarray,
    *,
    method: str,
    target: int | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> list[Similarity]:
    """One Similarity per weighted layer, output first, each after that layer (and every one
    after it) was re-initialised. A map that explains the model stops resembling itself as the
    weights go: similarity near 1 to the end means the map shows the input (edges), not what
    the network learned. The model itself is never touched (a clone is randomised)."""
    choice("attribution method", method, METHODS)
    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    fresh = _seeded_clone(model, seed)
    ex = Explainer(Plan(work), card)
    fresh_ops = {n: s.op for n, s in Plan(fresh).steps_by_name().items()}
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    ref = attribute(ex, x, method=method, target=t, **options)
    layers = weighted_layers(ex.plan)[::-1]
    work_ops = ex.plan.steps_by_name()
    out = []
    for i, name in enumerate(layers):
        work_ops[name].op.set_weights(fresh_ops[name].get_weights())  # cumulative
        out.append(similarity(name, ref, attribute(ex, x, method=method, target=t, **options)))
        if on_progress is not None:
            on_progress(i + 1, len(layers))
    return out
