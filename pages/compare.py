"""Compare: two inputs layer by layer (NeuralVis' comparison panel), and where they part ways."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.compare import layer_distances
from core.render import as_maps, feature_grid
from pages._common import (current_model, distance_chart, label_of, legend, prediction,
                           run_trace, samples, selected_sample, shape_text, usable_samples,
                           vector_chart)

lm = current_model()
st.title("Compare two inputs")
st.caption("Both inputs go through the same model; the chart shows, layer by layer, how far "
           "apart their activations are, and the panel below shows one layer side by side.")

# ---- widgets ---------------------------------------------------------------------------------
a = selected_sample(lm)
others = [n for n in usable_samples(lm) if n != a.name]
if not others:
    st.info("Add a second sample (Trace page: draw, upload or pick from the gallery) to compare.")
    st.stop()
c1, c2 = st.columns(2)
c1.markdown(f"**A:** {a.name}  \n(the current sample; change it in the sidebar)")
b_name = c2.selectbox("B: compare with", others, key="compare_b")
b = samples()[b_name]

# ---- core calls ------------------------------------------------------------------------------
ta, pa, _ = run_trace(lm, a)
tb, pb, _ = run_trace(lm, b)
dist = layer_distances(ta, tb)

# ---- display ---------------------------------------------------------------------------------
p1, p2 = st.columns(2)
with p1:
    prediction(lm, pa, key="pa", title="Prediction A", true_label=a.label, height=150)
with p2:
    prediction(lm, pb, key="pb", title="Prediction B", true_label=b.label, height=150)

st.subheader("Where the two inputs part ways")
# The layer where cosine distance grows the most: where the network separates them.
jumps = dist["cosine_distance"].diff().fillna(0.0)
split = str(dist.loc[int(jumps.idxmax()), "layer"]) if len(dist) > 1 else None
distance_chart(dist, key="dist", highlight=split)
verdict = ("the same class" if label_of(lm, pa) == label_of(lm, pb) else "different classes")
st.caption(f"Cosine distance is 1 − cos(A, B) of a layer's flattened activations (0: same "
           f"direction, 1: orthogonal, 2: opposite); relative L2 is ‖A−B‖ over their mean "
           f"norm. The dashed line marks the largest rise: **{split}**. The model puts A and B "
           f"in {verdict}.")
st.download_button("Download distances (CSV)", dist.to_csv(index=False).encode(),
                   file_name=f"distances_{a.name}_vs_{b_name}.csv".replace(" ", "_"),
                   mime="text/csv", key="dl_dist")

st.subheader("Side by side")
names = [n for n in ta]
layer = st.selectbox("Layer", names, index=names.index(split) if split in names else 0,
                     key="compare_layer")
ma, mb = as_maps(ta[layer]), as_maps(tb[layer])
row = dist[dist["layer"] == layer].iloc[0]
st.caption(f"{layer}: output {shape_text(ta[layer])} · cosine distance "
           f"{row['cosine_distance']:.3f} · relative L2 {row['relative_l2']:.3f}")
if ma is not None:
    # One colour scale for A and B, so equal colours mean equal activations.
    lo = float(min(ma.min(), mb.min()))
    hi = float(max(ma.max(), mb.max()))
    ga, _, _ = feature_grid(ma, vrange=(lo, hi))
    gb, _, _ = feature_grid(mb, vrange=(lo, hi))
    gd, dlo, dhi = feature_grid(ma - mb, cmap="diverging")
    cols = st.columns(3)
    cols[0].image(ga, caption=f"A: {a.name}", width="stretch")
    cols[1].image(gb, caption=f"B: {b.name}", width="stretch")
    cols[2].image(gd, caption="A − B (red: A higher, blue: B higher)", width="stretch")
    with cols[0]:
        legend(lo, hi, "viridis", key="leg_ab", title="activation (A and B)")
    with cols[2]:
        legend(dlo, dhi, "diverging", key="leg_d", title="A − B")
    per_channel = np.abs(ma - mb).reshape(-1, ma.shape[-1]).mean(axis=0)
    top = np.argsort(per_channel)[::-1][:5]
    st.caption("Channels that differ most (mean |A − B|): "
               + ", ".join(f"{int(k)} ({per_channel[k]:.3g})" for k in top))
else:
    labels = lm.labels if layer == lm.tracer.plan.output_name else None
    cols = st.columns(3)
    with cols[0]:
        st.markdown(f"A: {a.name}")
        vector_chart(ta[layer], key="va", labels=labels)
    with cols[1]:
        st.markdown(f"B: {b.name}")
        vector_chart(tb[layer], key="vb", labels=labels)
    with cols[2]:
        st.markdown("A − B")
        vector_chart(np.ravel(ta[layer]) - np.ravel(tb[layer]), key="vd", labels=labels)
