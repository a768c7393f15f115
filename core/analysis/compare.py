"""Where two inputs part ways: per-layer distances between two traces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from core.graph.engine import Plan


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


def substantive_layers(plan: Plan, card: Mapping[str, Any]) -> list[str]:
    """The learned layers whose parting means something, graph order: layers with trainable
    weights other than normalisations (which re-centre activations, so the cosine of the raw
    outputs jumps there whatever the inputs), before the decision (the card's logits layer
    and the output only restate the two predictions)."""
    import keras

    norms = (
        keras.layers.BatchNormalization,
        keras.layers.LayerNormalization,
        keras.layers.GroupNormalization,
        keras.layers.Normalization,
        keras.layers.UnitNormalization,
    )
    names = plan.names
    steps = plan.steps_by_name()
    end = len(names) - 1  # the output
    logits = card.get("logits_layer")
    if logits in names:
        end = min(end, names.index(logits))
    return [
        n
        for n in names[:end]
        if steps[n].op.trainable_weights and not isinstance(steps[n].op, norms)
    ]


def layer_distances(
    ta: dict[str, np.ndarray], tb: dict[str, np.ndarray], *, substantive: list[str] | None = None
) -> pd.DataFrame:
    """One row per layer (graph order, "input" first): cosine distance and relative L2, and
    whether the layer is one of `substantive` (substantive_layers; None: every layer)."""
    if list(ta) != list(tb):
        raise ValueError(
            "The two traces come from different models (their layers differ); "
            "trace both inputs with the same model."
        )
    keep = set(ta if substantive is None else substantive)
    rows = [
        {
            "step": i,
            "layer": name,
            "cosine_distance": cosine_distance(ta[name], tb[name]),
            "relative_l2": relative_l2(ta[name], tb[name]),
            "substantive": name in keep,
        }
        for i, name in enumerate(ta)
    ]
    return pd.DataFrame(rows)


def parting_layer(distances: pd.DataFrame) -> str | None:
    """The layer where the network separates two inputs: the largest rise in cosine distance
    from one substantive layer to the next (the first from the layer before it), so neither
    the input's own scaling, a normalisation nor the final decision is marked. Without
    substantive rows, the largest rise between any two layers; None for a trace of one layer."""
    if len(distances) < 2:
        return None
    d = distances["cosine_distance"]
    keep = distances["substantive"] if "substantive" in distances else None
    if keep is None or not keep.any():
        return str(distances.loc[int(d.diff().fillna(0.0).idxmax()), "layer"])
    rows = distances.index[keep]
    first = distances.index.get_loc(rows[0])
    before = float(d.iloc[first - 1]) if first > 0 else 0.0
    jumps = d[rows].diff()
    jumps.iloc[0] = d[rows[0]] - before
    return str(distances.loc[jumps.idxmax(), "layer"])
