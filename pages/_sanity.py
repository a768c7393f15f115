"""Explain's randomisation check (Adebayo et al. 2018): widgets, one cached core call, chart."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import cache
from core.analysis.attribution import METHODS
from core.analysis.attribution.sanity import MEASURES, Similarity
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from pages._jobs import watched
from pages._state import keep, kept
from pages._widgets import altair


def randomisation_check(
    lm: LoadedModel, sample: Sample, methods: list[str], target: int, opts
) -> list[Similarity] | None:
    """Section 3 of Explain; returns the check on screen (None before it ran)."""
    st.subheader("3 · Randomisation check")
    r1, r2 = st.columns([2, 3])
    rmethod = r1.selectbox(
        "Method to check",
        methods,
        key="explain_rand_method",
        format_func=lambda n: METHODS[n].title,
    )
    r2.caption(
        "The layers with weights are re-initialised one more at a time, from the output "
        "towards the input (on a copy; the model itself is not changed), and the map is "
        "recomputed each time."
    )
    made_by = (lm.sha256, sample.key, rmethod, target, opts(rmethod))
    if st.button("Run the randomisation check", key="explain_rand"):
        with watched(
            f"Re-initialising the layers one at a time and recomputing "
            f"{METHODS[rmethod].title} after each"
        ):
            rand = cache.randomization(lm, sample, rmethod, target, opts(rmethod))
        keep("explain_rand_result", made_by, rand)
    rand = kept("explain_rand_result", made_by)
    if rand is not None:
        rdf = pd.DataFrame(
            {
                "layers randomised": range(len(rand) + 1),
                "layer": ["none (trained)"] + [s.layer for s in rand],
                **{k: [1.0] + [getattr(s, k) for s in rand] for k in MEASURES},
            }
        )
        long = rdf.melt(["layers randomised", "layer"], list(MEASURES), "measure", "similarity")

        def line():
            return (
                alt.Chart(long)
                .mark_line(point=True)
                .encode(
                    x=alt.X(
                        "layers randomised:Q",
                        title="layers re-initialised (from the output)",
                        axis=alt.Axis(tickMinStep=1),
                    ),
                    y=alt.Y(
                        "similarity:Q",
                        title="similarity to the trained map",
                        scale=alt.Scale(domain=[min(0.0, float(long.similarity.min())), 1]),
                    ),
                    color=alt.Color(
                        "measure:N",
                        sort=list(MEASURES),
                        legend=alt.Legend(orient="top", title=None),
                    ),
                    tooltip=[
                        "layers randomised",
                        "layer",
                        "measure",
                        alt.Tooltip("similarity:Q", format=".3f"),
                    ],
                )
            )

        altair(
            lambda: line().properties(height=260),
            key="explain_rand_chart",
            deps=(long,),
            width="stretch",
        )
        st.caption(
            "How to read it: a map that explains *this network* should change as its "
            "weights are destroyed, so the line should fall well below 1 (towards 0) as "
            "more layers are randomised. A line that stays high means the map mostly shows "
            "the input itself (edges, loud cells) whatever the weights are — Adebayo et al. "
            "2018 found this for several popular methods. Their three measures: **spearman**, the "
            "rank correlation of the absolute maps; **ssim**, their structural similarity; "
            "**hog**, the correlation of their histograms of oriented gradients. Each is taken "
            "over the cells that carry signal (non-zero in either map), so a background that is "
            "exactly zero in both does not count as agreement."
        )
        st.dataframe(rdf, hide_index=True, width="stretch")
        return rand
