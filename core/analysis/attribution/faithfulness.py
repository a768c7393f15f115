"""Deletion and insertion curves (Petsiuk et al. 2018): does removing what a map points at
change the score?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.attribution.explainer import Explainer
from core.errors import (
    AttributionError,
    choice,
    integer,
)


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve: the target's probability as cells go (or come)."""

    kind: str  # "deletion" | "insertion"
    target: int
    fractions: np.ndarray  # (steps + 1,) share of cells removed / inserted
    probabilities: np.ndarray  # (steps + 1,) for the map's order
    auc: float  # area under it, in [0, 1]
    random_probabilities: np.ndarray  # (steps + 1,) mean over random orders
    random_auc: float
    random_orders: int = 3

    def __float__(self) -> float:
        return self.auc


def _auc(f: np.ndarray, p: np.ndarray) -> float:
    return float(np.clip(np.trapezoid(p, f), 0.0, 1.0))


def faithfulness(
    ex: Explainer,
    x: np.ndarray,
    attribution: np.ndarray,
    *,
    kind: str,
    target: int | None = None,
    steps: int = 20,
    baseline: Any = None,
    random_orders: int = 3,
    seed: int = 0,
    batch_size: int = 64,
) -> Curve:
    """Deletion (cells set to the baseline, most attributed first: a faithful map makes the
    probability fall fast, low AUC) or insertion (cells copied onto the baseline: rises fast,
    high AUC). Beside it the mean curve of `random_orders` random orders: the bar to beat."""
    choice("curve kind", kind, ("deletion", "insertion"))
    steps = integer("steps", steps, 1, 1000)
    random_orders = integer("random_orders", random_orders, 0, 100)
    x = np.asarray(x, np.float32)
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    a = np.asarray(attribution, np.float32)
    hw = ex.domain_shape[:2]
    if a.shape != hw or not np.isfinite(a).all():
        raise AttributionError(
            f"The attribution map has shape {a.shape}"
            f"{'' if np.isfinite(a).all() else ' with NaN/inf values'}; "
            f"expected finite values of shape {hw} (what attribution() "
            "returns for this model)."
        )
    b = ex.baseline(z, baseline)
    n = a.size
    counts = np.round(np.linspace(0, n, steps + 1)).astype(int)
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-a.ravel(), kind="stable")] + [
        rng.permutation(n) for _ in range(random_orders)
    ]
    batch = []
    for order in orders:
        rank = np.empty(n, int)
        rank[order] = np.arange(n)
        rank = rank.reshape(hw)
        for k in counts:
            chosen = rank < k  # (H, W) the first k cells
            if z.ndim == 3:
                chosen = chosen[..., None]
            batch.append(np.where(chosen, b, z) if kind == "deletion" else np.where(chosen, z, b))
    _, p = ex.batched(
        ex.score_fn(), x, np.stack(batch), t, integer("batch_size", batch_size, 1, 4096)
    )
    p = p.reshape(len(orders), steps + 1).astype(np.float64)
    f = counts / n
    rand = p[1:].mean(axis=0) if random_orders else np.full(steps + 1, np.nan)
    return Curve(
        kind=kind,
        target=t,
        fractions=f,
        probabilities=p[0],
        auc=_auc(f, p[0]),
        random_probabilities=rand,
        random_auc=_auc(f, rand) if random_orders else float("nan"),
        random_orders=random_orders,
    )
