"""Where two inputs part ways: per-layer distances between two traces."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cos(a, b) over the flattened activations; 0 when both are all zero."""
    a = np.ravel(a).astype(np.float64)
    b = np.ravel(b).astype(np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 0.0
    if na == 0 or nb == 0:
        return 1.0
    return float(np.clip(1.0 - a @ b / (na * nb), 0.0, 2.0))


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ((||a|| + ||b||) / 2): scale-free, 0 for identical, 2 at most."""
    a = np.ravel(a).astype(np.float64)
    b = np.ravel(b).astype(np.float64)
    den = (np.linalg.norm(a) + np.linalg.norm(b)) / 2
    return float(np.linalg.norm(a - b) / den) if den > 0 else 0.0


def layer_distances(ta: dict[str, np.ndarray], tb: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per layer (graph order, "input" first): cosine distance and relative L2."""
    if list(ta) != list(tb):
        raise ValueError(
            "The two traces come from different models (their layers differ); "
            "trace both inputs with the same model."
        )
    rows = [
        {
            "step": i,
            "layer": name,
            "cosine_distance": cosine_distance(ta[name], tb[name]),
            "relative_l2": relative_l2(ta[name], tb[name]),
        }
        for i, name in enumerate(ta)
    ]
    return pd.DataFrame(rows)


def parting_layer(distances: pd.DataFrame) -> str | None:
    """The layer where the network separates two inputs: the largest rise in cosine distance
    from one layer to the next (graph order), None for a trace of one layer."""
    if len(distances) < 2:
        return None
    jumps = distances["cosine_distance"].diff().fillna(0.0)
    return str(distances.loc[int(jumps.idxmax()), "layer"])
