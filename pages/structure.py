"""Structure: the layers, the connection graph and the weights of the current model."""
from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from core import cache
from pages._panels import weights_panel
from pages._state import current_model
from pages._widgets import export_button, share_view

DEEP = 60            # more layers than this: the graph starts on a range of layers
GRAPH_HEIGHT = 820   # px; a graph of more than TALL layers scrolls in a frame this high
TALL = 14

# Readable names and formats for the columns of core.structure's table.
COLUMNS = {
    "index": st.column_config.NumberColumn("#", format="%d", width=44,
                                           help="Execution order (as in the Graph tab)."),
    "name": st.column_config.TextColumn(
        "Layer", help="Layers of a nested model are named block/layer."),
    "type": st.column_config.TextColumn("Type"),
    "parent": st.column_config.TextColumn(
        "In block", help="The nested model holding this layer (empty: the top level)."),
    "output_shape": st.column_config.TextColumn("Output shape", help="None is the batch axis."),
    "params": st.column_config.NumberColumn("Parameters", format="%,d", width=96),
    "trainable_params": st.column_config.NumberColumn(
        "Trainable", format="%,d", width=90,
        help="Parameters changed by training (BatchNorm's moving mean and variance are not)."),
    "activation": st.column_config.TextColumn("Activation", width=96),
    "filters_or_units": st.column_config.TextColumn("Filters / units", width=96),
    "kernel_size": st.column_config.TextColumn("Kernel / pool", width=92),
    "strides": st.column_config.TextColumn("Strides", width=64),
    "padding": st.column_config.TextColumn("Padding", width=70),
    "inbound": st.column_config.TextColumn("Inputs from"),
}

lm = current_model()
st.title("Structure")
st.caption("What the network is made of: its layers in execution order, how they connect, "
           "and what their trained weights look like.")

# ---- one core call ---------------------------------------------------------------------------
s = cache.structure(lm)
table = s.table()
stem = Path(lm.name).stem or "model"
with st.container(horizontal=True):
    share_view(lm, None)
    export_button(lm, "Structure", lambda: dict(
        settings={"card": {k: v for k, v in lm.card.items() if k != "history"},
                  "graph_dot": s.dot},
        tables={"layers": table}), key="export_structure")

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
if training.get("data"):
    facts.append(f"trained on {training['data']}")
if facts:
    st.markdown(" · ".join(facts))
if training:
    with st.expander("How it was trained"):
        st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {v}" for k, v in training.items()))

c1, c2, c3, c4 = st.columns(4)
c1.metric("Layers", f"{s.n_layers:,}", border=True,
          help="Rows of the table, input layer included; nested models count by their layers.")
c2.metric("Parameters", f"{s.total_params:,}", border=True,
          help=f"{s.total_params * 4 / 2**20:.2f} MB as float32.")
c3.metric("Trainable", f"{s.trainable_params:,}", border=True)
c4.metric("Non-trainable", f"{s.non_trainable_params:,}", border=True,
          help="Held fixed during training, e.g. BatchNorm's moving mean and variance.")

layers_tab, graph_tab, weights_tab = st.tabs(["Layers", "Graph", "Weights"])

# ---- layers ---------------------------------------------------------------------------------------
with layers_tab:
    blocks = [p for p in dict.fromkeys(table["parent"]) if p]
    # Leave out columns that would say nothing: "In block" without nested models, "Trainable"
    # when every parameter is trainable.
    columns = [c for c in COLUMNS if (c != "parent" or blocks)
               and (c != "trainable_params" or s.non_trainable_params)]
    shown = table.assign(index=range(1, len(table) + 1))[columns]
    if blocks:
        st.caption(f"Nested models ({', '.join(blocks)}) are flattened: their layers are named "
                   "block/layer and listed where the block runs, with the block in *In block*.")
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={c: COLUMNS[c] for c in columns},
                 height=min(36 + 35 * len(shown), 36 + 35 * 20), key="structure_table")
    st.download_button("Download the table (CSV)", table.to_csv(index=False),
                       file_name=f"{stem}_layers.csv", mime="text/csv",
                       icon=":material/download:", on_click="ignore", key="structure_csv")


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
                out.append(line.replace("];", ', style=dashed];'))
        elif m := node.match(line):
            if int(m[1]) in keep:
                out.append(line)
        elif line == "}":
            for i in dict.fromkeys(stubs):
                label = names[i].replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'  n{i} [label="{label}", shape=plaintext, style="", '
                           'fontcolor="#6b7280", fontsize=9];')
            out.append(line)
        else:
            out.append(line)
    return "\n".join(out)


with graph_tab:
    names = list(table["name"])
    n = len(names)
    keep = set(range(n))
    if n > DEEP:
        blocks = [p for p in dict.fromkeys(table["parent"]) if p]
        views = ["A range of layers", *[f"Block {b}" for b in blocks], "The whole model"]
        c1, c2 = st.columns([1, 2], gap="large")
        view = c1.selectbox("Show", views, key="graph_view",
                            help=f"{n} layers make a very tall graph: pick a part of it.")
        if view == "A range of layers":
            lo, hi = c2.slider("Layers (# as in the table)", 1, n, (1, min(n, 40)),
                               key="graph_range")
            keep = set(range(lo - 1, hi))
        elif view.startswith("Block "):
            block = view.removeprefix("Block ")
            keep = {i for i, p in enumerate(table["parent"])
                    if p == block or p.startswith(block + "/")}
    dot = s.dot if len(keep) == n else dot_subset(s.dot, keep, names)
    st.caption((f"{len(keep)} of {n} layers; grey names are layers outside the range that feed "
                "into it or take its output. " if len(keep) < n else "")
               + "Boxes are layers (nested models are dashed frames); arrows carry the output "
                 "shape without the batch axis."
               + (" The graph scrolls in its frame." if len(keep) > TALL else ""))
    # The graph at its natural size in a frame that scrolls: a chain of layers is narrow and
    # tall, so stretching it to the page's width blows every box up to poster size, and fitting
    # it into a fixed height shrinks the text to nothing.
    with st.container(height=GRAPH_HEIGHT if len(keep) > TALL else "content", border=True):
        st.graphviz_chart(dot, width="content",
                          alt=f"Layer graph of {card.get('title', lm.name)}")
    st.download_button("Download the whole graph (.dot)", s.dot, file_name=f"{stem}.dot",
                       mime="text/vnd.graphviz", icon=":material/download:", on_click="ignore",
                       key="structure_dot",
                       help="Graphviz source; render it with e.g. `dot -Tsvg model.dot`.")


with weights_tab:
    weights_panel(lm, table, key="structure")
