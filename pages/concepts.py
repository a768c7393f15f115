"""Concepts: does the model use a concept for a class? TCAV (Kim et al. 2018), layer by layer.

Session keys: "tcav_result" (ident, {layer: TCAVResult}, description) of the last run;
"tcav_concept_zip", "tcav_random_zip" the uploaded example sets (ZIP files).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import cache
from core.analysis.tcav import results_table
from core.errors import LayerLabError
from core.inputs.probe import read_inputs
from core.inputs.samples import Sample
from pages._jobs import heavy_job
from pages._links import share_view
from pages._state import ConceptTest, current_model, keep, kept, samples
from pages._widgets import altair, export_button

lm = current_model()
st.title("Concepts")
st.caption(
    "Does the model use a concept to recognise a class? A concept is a set of examples (a "
    "class of held-out inputs, samples you picked, or a ZIP of your own). For each layer, a "
    "linear classifier separates the examples' activations from random ones: its normal is "
    "the concept's direction (CAV). The TCAV score is the share of the class's inputs whose "
    "score rises along that direction; it is compared with directions of random sets "
    "(TCAV, Kim et al. 2018)."
)


def _uploaded(key: str, label: str) -> tuple[Sample, ...]:
    """A ZIP of examples as samples (this session's; never shared)."""
    file = st.file_uploader(label, type=["zip"], key=key)
    if file is None:
        return ()
    try:
        raws = read_inputs(file.getvalue(), lm, filename=file.name)
    except LayerLabError as e:
        st.error(str(e))
        return ()
    return tuple(
        Sample(f"{file.name} #{i}", lm.kind, r, source="upload") for i, r in enumerate(raws)
    )


# ---- widgets -----------------------------------------------------------------------------------
probe = cache.probe(lm)
pool = cache.probe_samples(lm, len(probe))
present = sorted({int(y) for y in probe.labels if y >= 0})
plan = lm.tracer.plan
types = plan.layer_types()
layers = [n for n in plan.names if n != plan.output_name and types[n] not in ("Dropout",)]
c1, c2 = st.columns(2)
with c1:
    source = st.radio(
        "Concept",
        ["a class of held-out inputs", "samples from the sample list", "a ZIP of examples"],
        key="tcav_source",
    )
    if source == "a class of held-out inputs" and not present:
        st.caption(
            f"The held-out inputs ({probe.about}) name none of this model's classes: pick "
            "samples from the sample list or upload a ZIP of examples."
        )
        concept, what = (), "nothing"
    elif source == "a class of held-out inputs":
        cls = st.selectbox(
            "Held-out inputs of class",
            present,
            format_func=lambda k: lm.labels[k],
            key="tcav_concept_class",
        )
        concept = tuple(s for s in pool if s.label == lm.labels[cls])[:40]
        what = f"held-out inputs of class {lm.labels[cls]}"
    elif source == "samples from the sample list":
        names = [n for n, s in samples().items() if s.kind == lm.kind]
        picked = st.multiselect("Samples", names, key="tcav_samples")
        concept = tuple(samples()[n] for n in picked)
        what = f"{len(concept)} samples"
    else:
        concept = _uploaded("tcav_concept_zip", f"ZIP of {lm.kind} files: the concept's examples")
        what = f"{len(concept)} uploaded examples"
    st.caption(f"Concept: {len(concept)} inputs.")
with c2:
    target = st.selectbox(
        "Class to test",
        range(len(lm.labels)),
        format_func=lambda k: lm.labels[k],
        key="tcav_target",
    )
    convs = plan.map_convs(layers)
    chosen = st.multiselect(
        "Layers",
        layers,
        default=(convs + [n for n in layers if types[n] == "Dense"])[:4] or layers[-2:],
        key="tcav_layers",
        format_func=lambda n: f"{n} · {types[n]}",
    )
    runs = st.slider("Random sets (runs)", 5, 30, 10, key="tcav_runs")
    rand_src = st.radio(
        "Random counterexamples from",
        ["the held-out inputs", "a ZIP of your own"],
        horizontal=True,
        key="tcav_random_source",
    )
    random = (
        _uploaded("tcav_random_zip", "ZIP of random counterexamples")
        if rand_src == "a ZIP of your own"
        else ()
    )

ident = (
    lm.key,
    tuple(s.key for s in concept),
    target,
    tuple(chosen),
    runs,
    tuple(s.key for s in random),
)
if st.button(
    "Test the concept", key="tcav_run", type="primary", disabled=not concept or not chosen
):
    try:
        with heavy_job(f"TCAV on {len(chosen)} layers × {runs} runs") as job:
            res = cache.tcav(
                lm,
                concept,
                random,
                (("target", target), ("layers", tuple(chosen)), ("runs", runs)),
                _on_progress=job.progress,
            )
        keep("tcav_result", ident, ConceptTest(res, what))
    except LayerLabError as e:
        st.error(str(e))

# ---- display -----------------------------------------------------------------------------------
shown = kept("tcav_result", ident)
if shown is None:
    st.info("Choose a concept, a class and layers, then *Test the concept*.")
    st.stop()
res, what = shown
table = results_table(res)
rows = []
for r in res.values():
    for name, mean, std, star in (
        ("concept", r.mean, r.std, "*" if r.significant else ""),
        ("random", r.random_mean, r.random_std, ""),
    ):
        # Scores are fractions: the ± one standard deviation whisker stays inside [0, 1].
        lo, hi = max(0.0, mean - std), min(1.0, mean + std)
        rows.append(
            {"layer": r.layer, "set": name, "score": mean, "lo": lo, "hi": hi, "star": star}
        )
bars = pd.DataFrame(rows)
order = list(res)


def _chart():
    base = alt.Chart(bars).encode(
        x=alt.X("layer:N", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelOverlap=False)),
        xOffset=alt.XOffset("set:N", sort=["concept", "random"]),
    )
    colour = alt.Color(
        "set:N",
        scale=alt.Scale(domain=["concept", "random"], range=["#4c78a8", "#bab0ac"]),
        legend=alt.Legend(title=None, orient="top"),
    )
    return (
        base.mark_bar().encode(
            y=alt.Y(
                "score:Q",
                title=f"TCAV score for {lm.labels[target]}",
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=colour,
            tooltip=["layer", "set", alt.Tooltip("score:Q", format=".2f")],
        )
        + base.mark_errorbar(ticks=True, color="#31333f").encode(
            y=alt.Y("lo:Q", title=f"TCAV score for {lm.labels[target]}"), y2="hi:Q"
        )
        + base.mark_text(dy=-14, fontSize=22, fontWeight="bold").encode(y="hi:Q", text="star:N")
    ).properties(height=300)


altair(_chart, key="tcav_chart", deps=(bars, target), width="stretch")
n = len(res)
st.caption(
    f"Bars: mean TCAV score over {runs} runs (concept: {what}) and over as many random-vs-random "
    f"directions; whiskers: ± one standard deviation; * significant. Two-sided Welch t-test "
    f"per layer; {n} layer{'s' * (n > 1)} tested, so each is judged at 0.05 / {n} = "
    f"{0.05 / n:.3g} (Bonferroni). A layer whose concept direction is no better than chance "
    "at telling the examples from random ones is meaningless, whatever its score."
)
st.dataframe(
    table[["layer", "TCAV score", "random score", "p value", "CAV accuracy", "verdict"]],
    hide_index=True,
    width="stretch",
    column_config={
        "TCAV score": st.column_config.NumberColumn(format="%.2f"),
        "random score": st.column_config.NumberColumn(format="%.2f"),
        "p value": st.column_config.NumberColumn(format="%.2g"),
        "CAV accuracy": st.column_config.NumberColumn(format="percent"),
    },
)


def _export():
    per_run = pd.DataFrame(
        [
            {"layer": r.layer, "run": i, "score": s, "random score": rs, "CAV accuracy": a}
            for r in res.values()
            for i, (s, rs, a) in enumerate(zip(r.scores, r.random_scores, r.cav_accuracies))
        ]
    )
    return dict(
        settings={
            "concept": what,
            "concept inputs": len(concept),
            "class": lm.labels[target],
            "layers": list(res),
            "runs": runs,
            "random": "uploaded ZIP" if random else f"held-out inputs ({probe.about})",
        },
        tables={"tcav": table, "runs": per_run},
    )


with st.container(horizontal=True):
    share_view(lm, None)
    export_button(lm, "Concepts", _export, key="export_tcav")
