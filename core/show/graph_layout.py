"""A layered drawing of a model's layer graph, as tables a chart can draw (no Streamlit).

    layout(structure) -> (nodes, edges)
      nodes: one row per layer (core.graph.structure.Structure.layers order) with its rank (depth:
             the longest path from an input), slot (x position in its rank, centred on 0) and
             the table's columns; edges: x0, y0 (the producer), x1, y1 (the consumer), label.
    layer_config(model, name) -> the layer's get_config() (nested names "outer/inner")

A chain of layers is one column; a branch sits beside its sibling, so residual blocks read as
they run. Ranks grow downwards, like the Graphviz picture.
"""

from __future__ import annotations

from typing import Any

import keras
import pandas as pd

from core.graph.structure import Structure

# Node colours by layer family (first match on the class name), as in the Graphviz picture.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("InputLayer", "input", "#dbeafe"),
    ("Conv", "convolution", "#fde68a"),
    ("Dense", "dense", "#fecaca"),
    ("Pooling", "pooling", "#bbf7d0"),
    ("Normalization", "normalization", "#e9d5ff"),
    ("Add", "merge", "#fed7aa"),
    ("Concatenate", "merge", "#fed7aa"),
    ("Multiply", "merge", "#fed7aa"),
    ("Dropout", "dropout", "#e5e7eb"),
)
OTHER = ("other", "#f3f4f6")


def family(type_name: str) -> str:
    return next((f for key, f, _ in FAMILIES if key in type_name), OTHER[0])


def layout(s: Structure) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ranks by longest path from the inputs; slots in execution order within a rank."""
    rank: dict[str, int] = {}
    for row in s.layers:  # execution order: every producer comes before its consumers
        rank[row.name] = 1 + max((rank[p] for p in row.inbound if p in rank), default=-1)
    by_rank: dict[int, list[str]] = {}
    for row in s.layers:
        by_rank.setdefault(rank[row.name], []).append(row.name)
    slot = {n: i - (len(names) - 1) / 2 for names in by_rank.values() for i, n in enumerate(names)}
    nodes = pd.DataFrame(
        [
            {
                "index": i + 1,
                "name": row.name,
                "type": row.type,
                "rank": rank[row.name],
                "slot": slot[row.name],
                "params": row.params,
                "output_shape": row.output_shape,
                "activation": row.activation,
                "parent": row.parent,
                "family": family(row.type),
            }
            for i, row in enumerate(s.layers)
        ]
    )
    edges = pd.DataFrame(
        [
            {
                "source": p,
                "target": row.name,
                "x0": slot[p],
                "y0": rank[p],
                "x1": slot[row.name],
                "y1": rank[row.name],
            }
            for row in s.layers
            for p in row.inbound
            if p in rank
        ],
        columns=["source", "target", "x0", "y0", "x1", "y1"],
    )
    return nodes, edges


def layer_config(model: keras.Model, name: str) -> dict[str, Any]:
    """get_config() of a layer by flattened name; {} for a model's InputLayer that Sequential
    does not list, or a layer that cannot describe itself."""
    layer: Any = model
    try:
        for part in name.split("/"):
            layer = layer.get_layer(part)
        return dict(layer.get_config())
    except (ValueError, NotImplementedError, AttributeError):
        return {}
