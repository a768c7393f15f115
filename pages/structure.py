"""Structure: the layers, the connection graph and the weights of the current model."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from core import cache
from core.show.card_view import retrain_steps, training_history, validation_sets
from core.show.graph_layout import FAMILIES, OTHER, layer_config, layout
from pages._audio_views import oriented_maps
from pages._controls import lazy_tabs
from pages._images import arrow_bytes, remember
from pages._links import share_view
from pages._panels import WEIGHT_BINS, weight_charts, weights_panel
from pages._state import current_model, run_trace, selected_sample, usable_samples
from pages._tiles import click_pick, dark_theme, shrink_to_column, span
from pages._widgets import altair, csv_button, export_button, layer_output, shape_text

DEEP = 60  # more layers than this: the graph starts on a range of layers
GRAPH_HEIGHT = 820  # px; a graph of more than TALL layers scrolls in a frame this high
TALL = 14

# Readable names and formats for the columns of core.graph.structure's table.
COLUMNS = {
    "index": st.column_config.NumberColumn(
        "#", format="%d", width=44, help="Execution order (as in the Graph tab)."
    ),
    "name": st.column_config.TextColumn(
        "Layer", help="Layers of a nested model are named block/layer."
    ),
    "type": st.column_config.TextColumn("Type"),
    "parent": st.column_config.TextColumn(
        "In block", help="The nested model holding this layer (empty: the top level)."
    ),
    "output_shape": st.column_config.TextColumn("Output shape", help="None is the batch axis."),
    "params": st.column_config.NumberColumn("Parameters", format="%,d", width=96),
    "trainable_params": st.column_config.NumberColumn(
        "Trainable",
        format="%,d",
        width=90,
        help="Parameters changed by training (BatchNorm's moving mean and variance are not).",
    ),
    "activation": st.column_config.TextColumn("Activation", width=96),
    "filters_or_units": st.column_config.TextColumn("Filters / units", width=96),
    "kernel_size": st.column_config.TextColumn("Kernel / pool", width=92),
    "strides": st.column_config.TextColumn("Strides", width=64),
    "padding": st.column_config.TextColumn("Padding", width=70),
    "inbound": st.column_config.TextColumn("Inputs from"),
}

lm = current_model()
st.title("Structure")
st.caption(
    "What the network is made of: its layers in execution order, how they connect, "
    "and what their trained weights look like."
)

# ---- one core call ---------------------------------------------------------------------------
s = cache.structure(lm)
table = s.table()
stem = Path(lm.name).stem or "model"
with st.container(horizontal=True):
    share_view(lm, None)
    export_button(
        lm,
        "Structure",
        lambda: dict(
            settings={
                "card": {k: v for k, v in lm.card.items() if k != "history"},
                "graph_dot": s.dot,
            },
            tables={"layers": table},
        ),
        key="export_structure",
    )

# ---- the model ----------------------------------------------------------------------------------
card = lm.card
st.subheader(card.get("title", lm.name))
if card.get("description"):
    st.markdown(card["description"])
training, metrics = card.get("training") or {}, card.get("metrics") or {}
facts = []
if isinstance(metrics.get("validation_accuracy"), (int, float)):
    facts.append(f"validation accuracy **{metrics['validation_accuracy']:.2%}**")
if training.get("epochs"):
    facts.append(f"{training['epochs']} epochs")
if isinstance(training.get("data"), str):
    facts.append(f"trained on {training['data']}")
if facts:
    st.markdown(" · ".join(facts))
sets = validation_sets(card)
if sets is not None:
    st.markdown("**Held-out accuracy**")
    st.dataframe(
        sets.assign(
            interval=[
                f"{lo:.1%} – {hi:.1%}" if pd.notna(lo) and pd.notna(hi) else ""
                for lo, hi in zip(sets["low"], sets["high"])
            ]
        )[["set", "accuracy", "interval", "n", "about"]],
        hide_index=True,
        width="stretch",
        key="validation_sets",
        column_config={
            "set": st.column_config.TextColumn("Validation set"),
            "accuracy": st.column_config.ProgressColumn(
                "Accuracy", format="percent", min_value=0.0, max_value=1.0
            ),
            "interval": st.column_config.TextColumn("95 % interval", help="Wilson score interval"),
            "n": st.column_config.NumberColumn("Clips / images", format="%d"),
            "about": st.column_config.TextColumn("What it is"),
        },
    )
history = training_history(card)
if history is not None:
    best = training.get("best_epoch") or metrics.get("best_epoch")
    st.markdown("**Training history**" + (f" · best epoch {best} (dashed)" if best else ""))
    h1, h2 = st.columns(2, gap="large")
    for col, panel in ((h1, "loss"), (h2, "accuracy")):
        part = history[history["panel"] == panel]
        if part.empty:
            continue

        def history_chart(part=part, panel=panel):
            base = alt.Chart(part).encode(
                x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("value:Q", title=panel, scale=alt.Scale(zero=panel == "loss")),
                color=alt.Color(
                    "measure:N",
                    title=None,
                    legend=alt.Legend(orient="bottom", columns=1, labelLimit=300),
                ),
                tooltip=["epoch", "measure", alt.Tooltip("value:Q", format=".4g")],
            )
            chart = base.mark_line() + base.mark_point(size=18, filled=True)
            if best:
                chart += (
                    alt.Chart(pd.DataFrame({"epoch": [best]}))
                    .mark_rule(strokeDash=[4, 3], color="#9ca3af")
                    .encode(x="epoch:Q")
                )
            return chart.properties(height=240)

        altair(history_chart, key=f"history_{panel}", deps=(part, best), where=col, width="stretch")
if training:
    with st.expander("How it was trained"):
        lines = []
        for k, v in training.items():
            if k in ("history", "validation_sets", "command"):
                continue  # drawn above; the command run on the training machine: Retrain below
            if isinstance(v, list):
                v = "; ".join(map(str, v))
            lines.append(f"- **{k.replace('_', ' ')}**: {v}")
        st.markdown("\n".join(lines))
if (recipe := retrain_steps(card)) is not None:
    with st.expander("Retrain it yourself"):
        st.caption("From the root of a fresh clone, after `pip install -r requirements-dev.txt`:")
        st.code("\n".join(recipe[0]), language="bash")
        for note in recipe[1]:
            st.caption(note)

c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Layers",
    f"{s.n_layers:,}",
    border=True,
    help="Rows of the table, input layer included; nested models count by their layers.",
)
c2.metric(
    "Parameters",
    f"{s.total_params:,}",
    border=True,
    help=f"{s.total_params * 4 / 2**20:.2f} MB as float32.",
)
c3.metric("Trainable", f"{s.trainable_params:,}", border=True)
c4.metric(
    "Non-trainable",
    f"{s.non_trainable_params:,}",
    border=True,
    help="Held fixed during training, e.g. BatchNorm's moving mean and variance.",
)

# Lazy: the graph and the weight histograms cost a rerun while their tab is closed otherwise.
layers_tab, graph_tab, weights_tab = lazy_tabs(["Layers", "Graph", "Weights"], key="structure_tab")

# ---- layers ---------------------------------------------------------------------------------------
with layers_tab:
    if layers_tab.open:
        blocks = [p for p in dict.fromkeys(table["parent"]) if p]
        # Leave out columns that would say nothing: "In block" without nested models, "Trainable"
        # when every parameter is trainable.
        columns = [
            c
            for c in COLUMNS
            if (c != "parent" or blocks) and (c != "trainable_params" or s.non_trainable_params)
        ]
        shown = table.assign(index=range(1, len(table) + 1))[columns]
        if blocks:
            st.caption(
                f"Nested models ({', '.join(blocks)}) are flattened: their layers are named "
                "block/layer and listed where the block runs, with the block in *In block*."
            )
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config={c: COLUMNS[c] for c in columns},
            height=min(36 + 35 * len(shown), 36 + 35 * 20),
            key="structure_table",
        )
        csv_button(
            table,
            "Download the table (CSV)",
            file_name=f"{stem}_layers.csv",
            key="structure_csv",
            icon=":material/download:",
            on_click="ignore",
        )


# ---- graph --------------------------------------------------------------------------------------
def dot_subset(dot: str, keep: set[int], names: list[str]) -> str:
    """The graph restricted to the layers at these indices (core numbers nodes n0, n1, ... in
    table order). Edges from or to layers left out end at small grey stubs naming them."""
    node = re.compile(r"^\s*n(\d+) \[")
    edge = re.compile(r"^\s*n(\d+) -> n(\d+) ")
    out, stubs = [], []
    for line in dot.splitlines():
        if m := edge.match(line):
            a, b = int(m[1]), int(m[2])
            if a in keep and b in keep:
                out.append(line)
            elif a in keep or b in keep:
                stubs += [i for i in (a, b) if i not in keep]
                out.append(line.replace("];", ", style=dashed];"))
        elif m := node.match(line):
            if int(m[1]) in keep:
                out.append(line)
        elif line == "}":
            for i in dict.fromkeys(stubs):
                label = names[i].replace("\\", "\\\\").replace('"', '\\"')
                out.append(
                    f'  n{i} [label="{label}", shape=plaintext, style="", '
                    'fontcolor="#6b7280", fontsize=9];'
                )
            out.append(line)
        else:
            out.append(line)
    return "\n".join(out)


NODE_TYPES = [f for _, f, _ in FAMILIES if f != "merge"] + ["merge", OTHER[0]]
NODE_COLOURS = [
    next(c for _, f, c in FAMILIES if f == name) if name != OTHER[0] else OTHER[1]
    for name in NODE_TYPES
]
SHOWN_RANKS = 22  # ranks in view at first; the rest is a drag (or a scroll) away


def _pick_node(key: str) -> None:
    points = st.session_state[key]["selection"].get("node") or []
    if points:
        st.session_state["structure_node"] = points[0]["name"]


def graph_spec(nodes: pd.DataFrame, edges: pd.DataFrame, picked: str | None) -> dict:
    """The layer graph's Vega-Lite spec, the picked layer outlined (a dict, not Altair
    objects: a click on a layer builds a new one, and Altair's validation took ~0.25 s)."""
    depth = int(nodes["rank"].max()) + 1
    lo, hi = float(nodes["slot"].min()), float(nodes["slot"].max())
    # One slot is about 200 px wide; a chain still gets room for the legend above it.
    px = int(min(900, max(460, 200 * (hi - lo + 1.2))))
    half = px / 200 / 2
    mid = (lo + hi) / 2
    q = "quantitative"
    xs = {"domain": [mid - half, mid + half], "nice": False, "zero": False}
    ys = {
        "domain": [-0.7, min(depth, SHOWN_RANKS) - 0.3],
        "reverse": True,
        "nice": False,
        "zero": False,
    }
    box = nodes.assign(
        x0=nodes.slot - 0.42,
        x1=nodes.slot + 0.42,
        y0=nodes["rank"] - 0.32,
        y1=nodes["rank"] + 0.32,
        desc="layer " + nodes["name"],
        picked=nodes["name"] == picked,
        label=nodes["name"].str.rsplit("/", n=1).str[-1],
    )
    at_slot = {
        "x": {"field": "slot", "type": q, "scale": xs, "axis": None},
        "y": {"field": "rank", "type": q, "scale": ys, "axis": None},
    }
    wires = {
        "data": {"name": "edges"},
        "mark": {"type": "rule", "color": "#9ca3af", "strokeWidth": 1.2},
        "encoding": span(xs, ys),
    }
    boxes = {
        "mark": {"type": "rect", "cornerRadius": 5, "cursor": "pointer"},
        "params": [
            {"name": "view", "select": {"type": "interval"}, "bind": "scales"},
            click_pick("node", ["name"]),
        ],
        "encoding": {
            **span(xs, ys),
            "color": {
                "field": "family",
                "type": "nominal",
                "scale": {"domain": NODE_TYPES, "range": NODE_COLOURS},
                "legend": {"title": None, "orient": "top", "columns": 4},
            },
            "stroke": {
                "condition": {"test": "datum.picked", "value": "#e45756"},
                "value": "#9ca3af",
            },
            "strokeWidth": {"condition": {"test": "datum.picked", "value": 3}, "value": 1},
            "description": {"field": "desc", "type": "nominal"},
            "tooltip": [
                {"field": "index", "type": q, "title": "#"},
                {"field": "name", "type": "nominal", "title": "layer"},
                {"field": "type", "type": "nominal"},
                {"field": "output_shape", "type": "nominal", "title": "output"},
                {"field": "params", "type": q, "format": ",d", "title": "parameters"},
            ],
        },
    }
    names = {
        "mark": {
            "type": "text",
            "baseline": "bottom",
            "dy": 1,
            "fontSize": 11,
            "fontWeight": "bold",
            "color": "#1f2937",
        },
        "encoding": {**at_slot, "text": {"field": "label", "type": "nominal"}},
    }
    types = {
        "mark": {"type": "text", "baseline": "top", "dy": 2, "fontSize": 9, "color": "#374151"},
        "encoding": {**at_slot, "text": {"field": "type", "type": "nominal"}},
    }
    return {
        "height": min(60 + 36 * min(depth, SHOWN_RANKS), 860),
        "width": px,
        "config": {"view": {"stroke": None}},
        # Arrow bytes, sent as they are (pages._images.dataset).
        "datasets": {"boxes": arrow_bytes(box), "edges": arrow_bytes(edges)},
        "data": {"name": "boxes"},
        "layer": [wires, boxes, names, types],
    }


def graph_chart(nodes: pd.DataFrame, edges: pd.DataFrame, *, key: str) -> None:
    """The layer graph as a chart: drag to pan, scroll to zoom, click a layer to open it."""
    picked = st.session_state.get("structure_node")
    # Altair's schema validation costs ~0.25 s a graph: build each (model, picked) spec once.
    spec = remember(
        ("graph", lm.key, picked),
        lambda: graph_spec(nodes, edges, picked),
        size=lambda v: sum(map(len, v["datasets"].values())),
    )
    shrink_to_column(key)
    st.vega_lite_chart(
        spec, width="content", key=key, on_select=partial(_pick_node, key), selection_mode="node"
    )


def layer_panel(name: str) -> None:
    """One layer as Netron shows it: type, configuration, parameters, weight histograms, and
    its output for the current sample."""
    row = table.set_index("name").loc[name]
    i = names.index(name) + 1
    st.subheader(f"{i}. {name} · {row['type']}")
    st.markdown(
        f"**{row['params']:,}** parameters · output `{row['output_shape']}`"
        + (f" · activation {row['activation']}" if row["activation"] else "")
        + f" · inputs from {row['inbound'] or 'none (a model input)'}"
        + (f" · in block {row['parent']}" if row["parent"] else "")
    )
    config = layer_config(lm.model, name)
    with st.expander("Configuration (get_config)", expanded=False):
        st.json(config or {"note": "this layer has no configuration to show"}, expanded=1)
    summaries = cache.weight_summaries(lm, name, bins=WEIGHT_BINS) if row["params"] else {}
    items = list(summaries.items())
    if items:
        st.markdown(
            "**Weights** · histograms of "
            + ", ".join(f"{k} {'×'.join(map(str, w.shape))}" for k, w in items)
        )
    weight_charts(summaries, key=f"node_w_{name}")
    pool = usable_samples(lm)
    if not pool:
        st.caption(f"Add a {lm.kind} sample to see this layer's output.")
        return
    sample = selected_sample(lm)
    tr = run_trace(lm, sample)[0]
    out = tr.get(name, tr["input"] if row["type"] == "InputLayer" else None)
    if out is None:
        st.caption(f"{name} is not among the traced layers.")
        return
    layer_output(
        name,
        out,
        scale="shared",
        key=f"node_maps_{name}",
        title=f"**Output for the current sample {sample.name!r}** · {shape_text(out)}",
        maps=oriented_maps(lm, name, out),
        labels=lm.labels if name == lm.tracer.plan.output_name else None,
    )


with graph_tab:
    if graph_tab.open:
        names = list(table["name"])
        nodes, edges = layout(s)
        st.caption(
            f"{len(names)} layers. Drag to pan, scroll to zoom (double-click resets); "
            "click a layer to open it below: its configuration, weights and output for the "
            "current sample."
        )
        graph_chart(nodes, edges, key="structure_graph")
        if st.session_state.get("structure_node") not in names:
            st.session_state["structure_node"] = next(
                (n for n, p in zip(names, table["params"]) if p > 0), names[0]
            )
        layer_panel(st.session_state["structure_node"])
        with st.expander("The Graphviz picture (nested models framed, shapes on the arrows)"):
            keep = set(range(len(names)))
            dot = s.dot
            if len(names) > DEEP:
                lo, hi = st.slider(
                    "Layers (# as in the table)",
                    1,
                    len(names),
                    (1, min(len(names), 40)),
                    key="graph_range",
                )
                keep = set(range(lo - 1, hi))
                dot = dot_subset(s.dot, keep, names)
            with st.container(height=GRAPH_HEIGHT if len(keep) > TALL else "content", border=True):
                if dark_theme():  # the arrows' shape labels and frames: light on a dark page
                    dot = dot.replace("#374151", "#d1d5db").replace("#6b7280", "#9ca3af")
                st.graphviz_chart(
                    dot, width="content", alt=f"Layer graph of {card.get('title', lm.name)}"
                )
            st.download_button(
                "Download the whole graph (.dot)",
                s.dot,
                file_name=f"{stem}.dot",
                mime="text/vnd.graphviz",
                icon=":material/download:",
                on_click="ignore",
                key="structure_dot",
                help="Graphviz source; render it with e.g. `dot -Tsvg model.dot`.",
            )


with weights_tab:
    if weights_tab.open:
        weights_panel(lm, table, key="structure")
