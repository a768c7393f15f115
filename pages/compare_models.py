"""Compare models: two networks on the same inputs, layer by layer (linear CKA)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import api, cache
from core.analysis.cka import MIN_INPUTS
from core.errors import LayerLabError
from core.inputs.samples import gallery_kind
from core.model.load import builtin_card
from pages._jobs import watched
from pages._links import share_view
from pages._state import (
    Loaded,
    current_model,
    kept_or_make,
    linked,
    run_trace,
    samples,
    selected_sample,
)
from pages._widgets import altair, export_button, prediction

UPLOAD_B = "Upload a second model…"

lm = current_model()
st.title("Compare two models")
st.caption(
    "Both models see the same inputs. Linear CKA (Kornblith et al. 2019) compares what "
    "two layers make of them: 1 when their representations are the same up to a "
    "rotation and scale, near 0 when unrelated. It works across architectures and "
    "layer widths, so it shows where two networks agree and where they part ways."
)

sample = selected_sample(lm)

# ---- widgets ----------------------------------------------------------------------------------------
# B defaults to a model made for the same inputs as A (the same gallery: digits, scenes or
# speech), else A's own built-in (CKA of a model with itself); then the other models.
made_for = gallery_kind(lm.card)
same_kind = sorted(
    (n for n in api.builtin_names() if builtin_card(n)["input"]["kind"] == lm.kind),
    key=lambda n: (gallery_kind(builtin_card(n)) != made_for, n == lm.name),
)
c1, c2 = st.columns(2)
c1.markdown(f"**Model A:** {lm.card.get('title', lm.name)}  \n(the sidebar's model)")
link_b = linked("link_model_b", same_kind)
choices = same_kind + [UPLOAD_B]
b_choice = c2.selectbox(
    "Model B",
    choices,
    key="cmp_model_b",
    index=choices.index(link_b) if link_b else 0,
    format_func=lambda n: n if n == UPLOAD_B else builtin_card(n).get("title", n),
)
lm_b = None
if b_choice == UPLOAD_B:
    file = c2.file_uploader(
        "Model B file (.keras, .h5 or .onnx)", type=["keras", "h5", "onnx"], key="cmp_model_file"
    )
    if file is not None:
        data = file.getvalue()

        def load_b(data: bytes = data, name: str = file.name) -> Loaded:
            with st.spinner(f"Checking and loading {name}…"):
                try:
                    return Loaded(api.load_bytes(data, name), None)
                except ValueError as e:
                    return Loaded(None, str(e))

        ident = (file.name, len(data), file.file_id)
        lm_b, error = kept_or_make("cmp_upload", ident, load_b)
        if error:
            c2.error(error)
    if lm_b is None:
        st.info("Upload model B (or pick a built-in one) to compare.")
        st.stop()
else:
    with st.spinner(f"Loading {b_choice}…", show_time=True):
        lm_b = cache.builtin_model(b_choice)
if lm_b.kind != lm.kind:
    st.error(
        f"Model B takes {lm_b.kind} input and model A {lm.kind}: CKA needs both models to "
        "see the same inputs. Pick two image models or two audio models."
    )
    st.stop()

# Inputs both models were made for: B's built-in samples join A's only when B was made for the
# same kind of input (digits and CIFAR scenes mixed made even unrelated layers look alike).
both = gallery_kind(lm_b.card) == made_for
pool = {s.key: s for s in cache.probe_batch(lm) + (cache.probe_batch(lm_b) if both else [])}
mine = {s.key: s for s in samples().values() if s.kind == lm.kind}
which = st.radio(
    "Inputs",
    [
        f"built-in samples of {'both models' if both else 'model A'} ({len(pool)})",
        f"the sample list ({len(mine)})",
    ],
    horizontal=True,
    key="cmp_inputs",
    help="The same inputs go to both models, each converting them its own way (size, channels)."
    + (
        ""
        if both
        else " B was made for other inputs than A, so only A's built-in samples are used."
    ),
)
inputs = tuple((pool if which.startswith("built-in") else mine).values())
if len(inputs) > MIN_INPUTS:
    n = st.slider(
        "How many of them",
        min_value=MIN_INPUTS,
        max_value=len(inputs),
        value=len(inputs),
        key=f"cmp_n_{which}",
        help="CKA holds every layer's activations of all the inputs at once (in memory or in "
        "files): with a large model, fewer inputs fit one job's memory.",
    )
    inputs = inputs[:n]

# ---- core call ---------------------------------------------------------------------------------------
try:
    with watched(
        f"Tracing {len(inputs)} inputs through both models and comparing every pair of layers (CKA)"
    ):
        res = cache.cka(lm, lm_b, inputs)
except LayerLabError as e:
    st.error(str(e))
    st.stop()
tr_b = run_trace(lm_b, sample)
_, probs_a, _ = run_trace(lm, sample)
probs_b = tr_b[1]

# ---- display -----------------------------------------------------------------------------------------
st.subheader(f"1 · Both predictions  ·  input: {sample.name}")
p1, p2 = st.columns(2)
with p1:
    prediction(lm, probs_a, key="cmp_pa", title="Prediction A", true_label=sample.label, height=150)
with p2:
    prediction(lm_b, probs_b, key="cmp_pb", title="Prediction B", height=150)

st.subheader(f"2 · CKA between every layer of A and every layer of B  ·  {res.n} inputs")
df = pd.DataFrame(
    [
        {"layer A": a, "layer B": b, "CKA": float(res.matrix[i, j])}
        for i, a in enumerate(res.layers_a)
        for j, b in enumerate(res.layers_b)
    ]
)
# Every layer labelled: a cell fits a label's line; a long model scrolls rather than thins.
cell = 16 if max(len(res.layers_a), len(res.layers_b)) <= 60 else 13


def heat():
    return (
        alt.Chart(df)
        .mark_rect()
        .encode(
            x=alt.X(
                "layer B:N",
                sort=res.layers_b,
                title=f"B: {lm_b.name} (graph order)",
                axis=alt.Axis(
                    labelAngle=-50,
                    labelLimit=120,
                    labelOverlap=False,
                    labelFontSize=cell - 5,
                    labelFlush=False,
                ),
            ),
            y=alt.Y(
                "layer A:N",
                sort=res.layers_a,
                title=f"A: {lm.name} (graph order)",
                axis=alt.Axis(
                    labelLimit=120, labelOverlap=False, labelFontSize=cell - 5, labelFlush=False
                ),
            ),
            color=alt.Color(
                "CKA:Q",
                scale=alt.Scale(scheme="viridis", domain=[0, 1]),
                legend=alt.Legend(orient="right"),
            ),
            tooltip=["layer A", "layer B", alt.Tooltip("CKA:Q", format=".3f")],
        )
        .properties(width=alt.Step(cell), height=alt.Step(cell))
    )


altair(heat, key="cmp_heat", deps=(df, cell, lm.name, lm_b.name))
if np.isnan(res.matrix).any():
    st.caption("Empty cells: a layer whose output is the same for every input (CKA undefined).")

best_j = np.nan_to_num(res.matrix, nan=-1).argmax(axis=1)
best = pd.DataFrame(
    {
        "step": range(len(res.layers_a)),
        "layer A": res.layers_a,
        "closest layer of B": [res.layers_b[j] for j in best_j],
        "CKA": [float(res.matrix[i, j]) for i, j in enumerate(best_j)],
    }
)
st.subheader("3 · Where they agree and where they part ways")


def line():
    return (
        alt.Chart(best)
        .mark_line(point=True, color="#4c78a8")
        .encode(
            x=alt.X(
                "layer A:N",
                sort=res.layers_a,
                title=f"layer of A ({lm.name})",
                axis=alt.Axis(labelAngle=-40, labelLimit=110),
            ),
            y=alt.Y(
                "CKA:Q", scale=alt.Scale(domain=[0, 1]), title="CKA with its closest layer of B"
            ),
            tooltip=["layer A", "closest layer of B", alt.Tooltip("CKA:Q", format=".3f")],
        )
    )


altair(lambda: line().properties(height=240), key="cmp_best", deps=(best, lm.name), width="stretch")
agree = best.nlargest(1, "CKA").iloc[0]
apart = best.iloc[1:].nsmallest(1, "CKA")
text = (
    f"Closest pair: A's **{agree['layer A']}** and B's **{agree['closest layer of B']}** "
    f"(CKA {agree['CKA']:.2f})."
)
if len(apart):
    row = apart.iloc[0]
    text += (
        f" Furthest apart: A's **{row['layer A']}**, whose best match in B is only "
        f"{row['CKA']:.2f} ({row['closest layer of B']})."
    )
st.markdown(text)
st.caption(
    "Each layer of A against the layer of B that represents the inputs most alike. With "
    "few inputs CKA is biased upwards (every layer looks alike on 10 inputs); use the "
    "larger input set to trust small differences."
)
st.dataframe(best.drop(columns="step"), hide_index=True, width="stretch")

share_view(lm, sample, extra={"model_b": lm_b.name if lm_b.source == "builtin" else ""})
export_button(
    lm,
    "Compare models",
    lambda: dict(
        settings={
            "model_b": {"name": lm_b.name, "sha256": lm_b.sha256, "source": lm_b.source},
            "inputs": [s.name for s in inputs],
            "sample": sample.name,
            # B's classes may differ from A's, so its prediction is kept here with its labels.
            "prediction_b": {lab: round(float(p), 6) for lab, p in zip(lm_b.labels, probs_b)},
        },
        predictions={"A": probs_a},
        tables={"cka": df, "closest_layers": best},
    ),
    key="export_cmp_models",
)
