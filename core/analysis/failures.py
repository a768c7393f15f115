"""Where a model fails, layer by layer: a dataset's activations summarised per input, a 2-D map
of a layer, and the filters that tell a confusion cell's inputs from the correct ones.

Each input is summarised at each layer by its channel means (the mean over positions of every
channel: (N, C) per layer), from one compiled pass over the dataset (the exemplar scan's step,
core.analysis.exemplars.compile_scan, which reduces every layer inside the graph). That is the
representation the map reduces to 2-D and the table compares; a Dense layer's is its output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from core.errors import LayerNameError
from core.model.load import LoadedModel
from core.work.run import heavy

MAP_METHODS = ("pca", "umap")


@heavy()
def channel_means(
    m: LoadedModel, x: np.ndarray, *, on_progress=None, executor: Any = None
) -> dict[str, np.ndarray]:
    """x (N, *input) -> {layer: (N, C) float32 mean over positions of each channel}, for every
    layer with a channel axis, one compiled pass per chunk (the sizes fit LAYERLAB_JOB_MB)."""
    from core.analysis.exemplars import compile_scan
    from core.work.budget import chunk, trace_bytes

    step = m.tracer.owned(("scan_step",), lambda: compile_scan(m.tracer))
    n = len(x)
    per_input = trace_bytes(m.tracer) + 4 * sum(1 for _ in step.reduced)
    size = chunk("Summarising every layer over a dataset", per_input, n, most=256)
    parts: dict[str, list[np.ndarray]] = {nm: [] for nm in step.reduced}
    for i in range(0, n, size):
        xb = np.asarray(x[i : i + size], m.tracer.flat.inputs[0].dtype)
        for nm, r in zip(step.reduced, step.fn(xb)):
            parts[nm].append(np.asarray(r[2], np.float32))
        if on_progress is not None:
            on_progress(min(i + size, n), n)
    out = {nm: np.concatenate(v) for nm, v in parts.items()}
    out.update({nm: out[p] for nm, p in step.same.items()})
    return {nm: out[nm] for nm in step.names}


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def layer_map(features: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32: PCA (standardised features, sign fixed so that the largest
    loading of each axis is positive: the same data gives the same picture) or UMAP."""
    from core.errors import choice

    choice("map method", method, MAP_METHODS, fix="'pca' always works; 'umap' needs umap-learn.")
    f = np.asarray(features, np.float64).reshape(len(features), -1)
    if method == "umap":
        if not umap_available():
            from core.errors import OptionError

            raise OptionError("method='umap' needs the umap-learn package; got none. Use 'pca'.")
        import umap

        return umap.UMAP(random_state=seed).fit_transform(f).astype(np.float32)
    f = f - f.mean(axis=0)
    scale = f.std(axis=0)
    f = f / np.where(scale > 1e-12, scale, 1.0)
    if len(f) < 2 or f.shape[1] == 0:
        return np.zeros((len(f), 2), np.float32)
    _, _, vt = np.linalg.svd(f, full_matrices=False)
    axes = np.zeros((f.shape[1], 2))
    k = min(2, vt.shape[0])
    axes[:, :k] = vt[:k].T
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(2)] < 0, -1.0, 1.0)
    return (f @ axes).astype(np.float32)


def separation(points: np.ndarray, labels: np.ndarray) -> float:
    """How well classes separate on a map: the share of inputs whose nearest other point has
    the same label (leave-one-out 1-nearest-neighbour accuracy)."""
    p = np.asarray(points, np.float64)
    if len(p) < 2:
        return float("nan")
    sq = (p**2).sum(axis=1)
    d = sq[:, None] + sq[None, :] - 2 * p @ p.T  # (N, N) squared distances
    np.fill_diagonal(d, np.inf)
    return float((np.asarray(labels)[d.argmin(axis=1)] == labels).mean())


class ErrorFilters(NamedTuple):
    table: Any  # DataFrame: channel, cell_mean, correct_mean, difference, effect (ranked)
    n_cell: int  # inputs of the cell
    n_correct: int  # correctly classified inputs of the true class


def error_filters(
    means: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    true: int,
    predicted: int,
    *,
    layer: str = "",
) -> ErrorFilters:
    """The channels whose mean activation differs most between a confusion cell's inputs
    (class `true` predicted `predicted`) and the correctly classified inputs of `true`.

    means: (N, C) channel means at one layer. Ranked by |effect|: the difference of the two
    groups' means over their pooled standard deviation (Cohen's d), so a channel with a large
    range does not win by scale alone."""
    import pandas as pd

    if means.ndim != 2:
        raise LayerNameError(f"Layer {layer!r} has no channels to compare (shape {means.shape}).")
    cell = (labels == true) & (predictions == predicted)
    good = (labels == true) & (predictions == true)
    a, b = means[cell].astype(np.float64), means[good].astype(np.float64)
    cols = ["channel", "cell_mean", "correct_mean", "difference", "effect"]
    if not len(a) or not len(b):
        return ErrorFilters(pd.DataFrame(columns=cols), int(len(a)), int(len(b)))
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    va = a.var(axis=0, ddof=1) if len(a) > 1 else np.zeros_like(ma)
    vb = b.var(axis=0, ddof=1) if len(b) > 1 else np.zeros_like(mb)
    dof = max(len(a) + len(b) - 2, 1)
    pooled = np.sqrt(((len(a) - 1) * va + (len(b) - 1) * vb) / dof)
    effect = (ma - mb) / np.maximum(pooled, 1e-6 * (np.abs(ma) + np.abs(mb)).max() + 1e-12)
    df = pd.DataFrame(
        {
            "channel": np.arange(len(ma)),
            "cell_mean": ma,
            "correct_mean": mb,
            "difference": ma - mb,
            "effect": effect,
        }
    )
    df = df.iloc[np.argsort(-np.abs(effect), kind="stable")].reset_index(drop=True)
    return ErrorFilters(df, int(len(a)), int(len(b)))
