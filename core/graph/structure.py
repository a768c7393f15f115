"""Structure of a Keras model: layer table, connection graph (Graphviz DOT), weight histograms.

Built from the engine's `Plan` (core.graph.engine: the one walk of the graph), so nested models are
flattened the same way everywhere: their layers are rows named "outer/inner" and the nested
model itself is not a row (it appears as a cluster box in the graph). A layer called at several
places (shared weights) is one row with all its inputs.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd

from core.errors import UnsupportedModelError
from core.graph.engine import Plan

# Activation layers whose activation is the layer type itself (they have no `activation`
# attribute or config entry).
_ACTIVATION_LAYER_NAMES: tuple[tuple[str, str], ...] = (
    ("ReLU", "relu"),
    ("LeakyReLU", "leaky_relu"),
    ("PReLU", "prelu"),
    ("ELU", "elu"),
    ("Softmax", "softmax"),
)

# Node fill colours by layer family, first match on the class name wins.
_NODE_COLOURS: tuple[tuple[str, str], ...] = (
    ("InputLayer", "#dbeafe"),
    ("Conv", "#fde68a"),
    ("Dense", "#fecaca"),
    ("Pooling", "#bbf7d0"),
    ("Normalization", "#e9d5ff"),
    ("Add", "#fed7aa"),
    ("Concatenate", "#fed7aa"),
    ("Multiply", "#fed7aa"),
    ("Dropout", "#e5e7eb"),
)
_DEFAULT_COLOUR = "#f3f4f6"


@dataclass(frozen=True)
class LayerRow:
    """One layer of the flattened graph, in execution order."""

    name: str  # flattened: "outer/inner" for layers of nested models
    type: str  # class name
    output_shape: str  # e.g. "(None, 28, 28, 32)"
    params: int
    trainable_params: int
    activation: str
    kernel_size: str  # pooling layers show their pool size here
    strides: str
    padding: str
    filters_or_units: str
    parent: str  # "" or the flattened name of the nested model holding it
    inbound: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Structure:
    """Everything the Structure view shows about a model."""

    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    n_layers: int
    dot: str

    def table(self) -> pd.DataFrame:
        """The layer rows as a DataFrame (inbound names joined by ", ")."""
        records = [{**row.__dict__, "inbound": ", ".join(row.inbound)} for row in self.layers]
        return pd.DataFrame.from_records(records, columns=list(LayerRow.__dataclass_fields__))


@dataclass(frozen=True)
class WeightSummary:
    """One weight array of a layer, reduced to what a histogram view needs."""

    shape: tuple[int, ...]
    size: int
    mean: float
    std: float
    min: float
    max: float
    histogram: pd.DataFrame  # columns bin_start, bin_end, count


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str


def _plan(model: keras.Model | Plan) -> Plan:
    return model if isinstance(model, Plan) else Plan(model)


def _input_layer(plan: Plan) -> Any:
    fn = plan.model._functional if isinstance(plan.model, keras.Sequential) else plan.model
    return next(op for op in fn.operations if isinstance(op, keras.layers.InputLayer))


def summarize(model: keras.Model | Plan) -> Structure:
    """Layer table, totals and connection graph of a functional or built Sequential model (or
    of its Plan, which the loaded model already has)."""
    if isinstance(model, keras.Sequential) and getattr(model, "_functional", None) is None:
        raise UnsupportedModelError(
            f"Model '{model.name}' is a Sequential model that was never built, so it has no "
            "layer graph to read. Build it with keras.Input(shape=...) first."
        )
    plan = _plan(model)
    inp = _input_layer(plan)
    rows: dict[str, LayerRow] = {
        inp.name: _row_of(inp, inp.name, "", str(tuple(plan.model.inputs[0].shape)), [])
    }
    edges: list[_Edge] = []
    rename = {"input": inp.name}
    for name, step in plan.steps_by_name().items():
        base, _, k = name.rpartition("#")
        row_name = base if k.isdigit() and base in rows else name  # a shared layer's later call
        inbound = [rename.get(src, src) for src, _ in plan.inputs_of(name)]
        edges.extend(
            _Edge(rename.get(src, src), row_name, _edge_label(t.shape))
            for src, t in plan.inputs_of(name)
        )
        rename[name] = row_name
        if row_name in rows:
            rows[row_name].inbound.extend(n for n in inbound if n not in rows[row_name].inbound)
            continue
        shape = ", ".join(str(tuple(t.shape)) for t in step.node.output_tensors)
        rows[row_name] = _row_of(
            step.op, row_name, _parent_of(row_name), shape, list(dict.fromkeys(inbound))
        )
    total = _count(plan.model.weights)
    trainable = _count(plan.model.trainable_weights)
    layers = list(rows.values())
    return Structure(
        layers=layers,
        total_params=total,
        trainable_params=trainable,
        non_trainable_params=total - trainable,
        n_layers=len(layers),
        dot=_dot(plan.model.name, layers, edges),
    )


def weights(model: keras.Model | Plan, layer_name: str) -> dict[str, np.ndarray]:
    """Weight arrays of one layer by flattened name, e.g. {"kernel": ..., "bias": ...}."""
    plan = _plan(model)
    if layer_name == _input_layer(plan).name:
        return {}
    layer = plan.steps_by_name()[plan.names[plan.index(layer_name)]].op
    arrays: dict[str, np.ndarray] = {}
    for variable in layer.weights:
        # Layers with sub-layers can hold two variables called "kernel": fall back to the path.
        key = variable.name if variable.name not in arrays else variable.path
        arrays[key] = np.asarray(variable.numpy())  # a copy: the page never touches the model
    return arrays


def histogram(values: np.ndarray, bins: int = 40) -> pd.DataFrame:
    """Histogram of an array's finite values: columns bin_start, bin_end, count."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    counts, bin_edges = np.histogram(flat[np.isfinite(flat)], bins=bins)
    return pd.DataFrame({"bin_start": bin_edges[:-1], "bin_end": bin_edges[1:], "count": counts})


def weight_summaries(
    model: keras.Model | Plan, layer_name: str, bins: int = 40
) -> dict[str, WeightSummary]:
    """Shape, statistics and histogram of every weight array of one layer."""
    summaries: dict[str, WeightSummary] = {}
    for key, array in weights(model, layer_name).items():
        flat = array.astype(np.float64).ravel()
        empty = flat.size == 0
        summaries[key] = WeightSummary(
            shape=tuple(int(d) for d in array.shape),
            size=int(flat.size),
            mean=float("nan") if empty else float(flat.mean()),
            std=float("nan") if empty else float(flat.std()),
            min=float("nan") if empty else float(flat.min()),
            max=float("nan") if empty else float(flat.max()),
            histogram=histogram(flat, bins=bins),
        )
    return summaries


# --- rows ----------------------------------------------------------------------------------------


def _row_of(op: Any, name: str, parent: str, output_shape: str, inbound: list[str]) -> LayerRow:
    config = _config(op)
    return LayerRow(
        name=name,
        type=type(op).__name__,
        output_shape=output_shape,
        params=_count(getattr(op, "weights", [])),
        trainable_params=_count(getattr(op, "trainable_weights", [])),
        activation=_activation(op, config),
        kernel_size=_fmt(config.get("kernel_size", config.get("pool_size"))),
        strides=_fmt(config.get("strides")),
        padding=_fmt(config.get("padding")),
        filters_or_units=_fmt(config.get("filters", config.get("units"))),
        parent=parent,
        inbound=inbound,
    )


def _config(op: Any) -> dict[str, Any]:
    try:
        return op.get_config()
    except NotImplementedError:  # custom layers may not define a config
        return {}


def _activation(op: Any, config: dict[str, Any]) -> str:
    function = getattr(op, "activation", None)
    if callable(function):
        return getattr(function, "__name__", type(function).__name__)
    if isinstance(config.get("activation"), str):
        return config["activation"]
    for type_name, activation in _ACTIVATION_LAYER_NAMES:
        if type(op).__name__ == type_name:
            max_value = config.get("max_value")
            return f"{activation} (max {max_value:g})" if max_value is not None else activation
    return ""


def _count(variables: list[Any]) -> int:
    # A variable can be listed twice (a layer shared by two nested models): count it once.
    unique = {id(v): v for v in variables}
    return int(sum(int(np.prod(v.shape)) for v in unique.values()))


def _fmt(value: Any) -> str:
    """Config values as short strings: (3, 3) -> "3×3", None -> ""."""
    if value is None:
        return ""
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value):
        return "×".join(str(v) for v in value)
    return str(value)


def _edge_label(shape: tuple[int | None, ...]) -> str:
    """Tensor shape without the batch axis: (None, 28, 28, 32) -> "28×28×32"."""
    dims = ["?" if d is None else str(d) for d in tuple(shape)[1:]]
    return "×".join(dims) if dims else "scalar"


# --- DOT ----------------------------------------------------------------------------------------


def _dot(model_name: str, layers: list[LayerRow], edges: list[_Edge]) -> str:
    ids = {row.name: f"n{i}" for i, row in enumerate(layers)}
    by_parent: dict[str, list[LayerRow]] = {}
    for row in layers:
        by_parent.setdefault(row.parent, []).append(row)
    # Every nested model is a cluster, including ones whose only children are clusters.
    clusters = {p for row in layers if row.parent for p in _ancestors(row.parent)}

    lines = [
        f"digraph {_quote(model_name)} {{",
        "  rankdir=TB;",
        '  graph [fontname="Helvetica", fontsize=11, nodesep=0.3, ranksep=0.35];',
        '  node [shape=box, style="rounded,filled", color="#9ca3af", fontname="Helvetica", '
        'fontsize=10, margin="0.22,0.06"];',
        '  edge [color="#6b7280", fontname="Helvetica", fontsize=8, fontcolor="#374151", '
        "arrowsize=0.6];",
    ]

    def emit(parent: str, indent: str) -> None:
        for row in by_parent.get(parent, []):
            label = (
                f"<<b>{html.escape(row.name)}</b><br/>"
                f'<font point-size="8">{html.escape(row.type)}</font>>'
            )
            lines.append(
                f'{indent}{ids[row.name]} [label={label}, fillcolor="{_colour(row.type)}"];'
            )
        for child in sorted(c for c in clusters if _parent_of(c) == parent):
            lines.append(f"{indent}subgraph {_quote('cluster_' + child)} {{")
            lines.append(
                f'{indent}  label={_quote(child)}; style="rounded,dashed"; '
                'color="#6b7280"; fontcolor="#374151";'
            )
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit("", "  ")
    lines.extend(
        f"  {ids[e.source]} -> {ids[e.target]} [label={_quote(' ' + e.label)}];" for e in edges
    )
    lines.append("}")
    return "\n".join(lines)


def _ancestors(path: str) -> list[str]:
    """ "a/b/c" -> ["a", "a/b", "a/b/c"]."""
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _colour(type_name: str) -> str:
    return next((c for key, c in _NODE_COLOURS if key in type_name), _DEFAULT_COLOUR)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
