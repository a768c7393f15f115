"""Deletion and insertion curves (Petsiuk et al. 2018): does a map rank the cells that matter?

    baselines(ex, zs)                        -> {name: domain array}: what "removed" means
    default_baseline(ex, x, candidates)      -> the candidate the model is least sure about
    model_baselines(ex, xs)                  -> both, from held-out model inputs
    faithfulness(ex, x, attribution, kind=, baseline=) -> Curve

Deletion sets the most attributed cells to a baseline first; insertion copies them onto it.
The baseline must not be a feature itself: on the CIFAR-10 VGG, black reads as "airplane"
(38 %), so deleting towards black made every method look worse than a random order. The
literature's choices are offered (Samek et al. 2017; Petsiuk et al. 2018; Sturmfels et al.
2020): a blurred copy of the input, the dataset's mean colour, the mean input of the model's
probe set, and black (an image's low end; audio: the spectrogram's floor, silence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.attribution.explainer import Explainer
from core.errors import AttributionError, OptionError, choice, integer

BLUR = "blurred input"
DATASET_MEAN = "dataset mean"
PROBE_MEAN = "probe-set mean"
BLACK = "black"
SILENCE = "silence"
AUTO = "auto"


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
    baseline: str = BLACK  # what removed cells were set to (a name of baselines(), or "given")

    def __float__(self) -> float:
        return self.auc


def _auc(f: np.ndarray, p: np.ndarray) -> float:
    return float(np.clip(np.trapezoid(p, f), 0.0, 1.0))


def blurred(z: np.ndarray) -> np.ndarray:
    """z (H, W[, C]) blurred over its two cell axes (Gaussian, sigma = 1/8 of the shorter
    side: shapes go, colours and the overall level stay)."""
    from scipy.ndimage import gaussian_filter

    sigma = max(1.0, min(z.shape[:2]) / 8)
    return gaussian_filter(np.asarray(z, np.float32), sigma=(sigma, sigma) + (0,) * (z.ndim - 2))


def baselines(ex: Explainer, zs: np.ndarray) -> dict[str, np.ndarray]:
    """Input-independent baselines over the domain, from zs (N, *domain): the domain values of
    held-out inputs. Black (images: the card's low end) or silence (audio: the floor), the
    dataset mean (per channel, everywhere), the probe-set mean (cell by cell)."""
    zs = np.asarray(zs, np.float32)
    low = ex.baseline(zs[0], None)  # the Explainer's own "nothing there"
    mean = zs.mean(axis=0)
    per_channel = np.broadcast_to(zs.mean(axis=tuple(range(zs.ndim - 1))), mean.shape)
    return {
        (BLACK if ex.domain == "input" else SILENCE): low,
        DATASET_MEAN: np.ascontiguousarray(per_channel, np.float32),
        PROBE_MEAN: mean,
    }


def default_baseline(ex: Explainer, x: np.ndarray, candidates: dict[str, np.ndarray]) -> str:
    """The candidate the model is least sure about (highest entropy of its prediction on the
    baseline itself): a baseline the model reads as a class is evidence, not absence."""
    names = list(candidates)
    p = np.clip(ex.probabilities(x, np.stack([candidates[n] for n in names])), 1e-12, 1.0)
    entropy = -(p * np.log(p)).sum(axis=1)
    return names[int(np.argmax(entropy))]


def model_baselines(ex: Explainer, xs: np.ndarray) -> tuple[dict[str, np.ndarray], str]:
    """(baselines(), default_baseline()) from held-out model inputs xs (N, *input)."""
    named = baselines(ex, np.stack([ex.domain_value(x) for x in xs]))
    return named, default_baseline(ex, xs[0], named)


def faithfulness(
    ex: Explainer,
    x: np.ndarray,
    attribution: np.ndarray,
    *,
    kind: str,
    target: int | None = None,
    steps: int = 20,
    baseline: Any = AUTO,
    named: tuple[dict[str, np.ndarray], str] | None = None,
    random_orders: int = 3,
    seed: int = 0,
    batch_size: int = 64,
) -> Curve:
    """Deletion (cells set to the baseline, most attributed first: a faithful map makes the
    probability fall fast, low AUC) or insertion (cells copied onto the baseline: rises fast,
    high AUC). Beside it the mean curve of `random_orders` random orders: the bar to beat.

    baseline: a name ("blurred input", "auto": named's default, or one of named's: see
    model_baselines()), a number, an array of the domain's shape, or None (black / silence)."""
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
    if isinstance(baseline, str) and baseline == AUTO:
        baseline = named[1] if named else None
    if isinstance(baseline, str):
        known = {BLUR: None, **(named[0] if named else {})}
        if baseline not in known:
            raise OptionError(
                f"baseline {baseline!r} is not one of {', '.join(map(repr, known))}; give one "
                "of those names, a number or an array of the attribution domain's shape."
            )
        label = baseline
        b = blurred(z) if baseline == BLUR else ex.baseline(z, known[baseline])
    else:
        label = (BLACK if ex.domain == "input" else SILENCE) if baseline is None else "given"
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
        baseline=label,
    )
