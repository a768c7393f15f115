"""Compare: two inputs layer by layer (NeuralVis' comparison panel), and where they part ways."""

from __future__ import annotations

import streamlit as st

from pages._links import share_view
from pages._panels import comparison
from pages._state import current_model, linked, samples, selected_sample, usable_samples
from pages._widgets import freeze_note

lm = current_model()
st.title("Compare two inputs")
st.caption(
    "Both inputs go through the same model; the chart shows, layer by layer, how far "
    "apart their activations are, and the panel below shows one layer side by side."
)

# ---- widgets ---------------------------------------------------------------------------------
a = selected_sample(lm)
others = [n for n in usable_samples(lm) if n != a.name]
if not others:
    st.info(
        "Add a second sample to compare ("
        + (
            "Audio page: record, upload or pick a clip"
            if lm.kind == "audio"
            else "Trace page: draw, upload or pick from the gallery"
        )
        + ")."
    )
    st.stop()
c1, c2 = st.columns(2)
c1.markdown(f"**A:** {a.name}  \n(the current sample; change it in the sidebar)")
link_b = linked("link_b", others)
b_name = c2.selectbox(
    "B: compare with", others, key="compare_b", index=others.index(link_b) if link_b else 0
)
b = samples()[b_name]

# ---- core call and display (shared with the Audio page) ---------------------------------------
fkey = freeze_note(lm, applies=True, key="compare", what="both inputs")
layer = comparison(lm, a, b, key="compare", frozen=fkey)
share_view(lm, a, b=b, layer=layer, channel=st.session_state.get("compare_open"))
