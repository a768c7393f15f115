"""Panels shared by several pages: the weights panel and NeuralVis' comparison of two inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.analysis.compare import parting_layer
from core.graph.interventions import Freeze
from core.graph.structure import WeightSummary
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.show.render import channel_image, labelled_grid
from pages._audio_views import clip_panel, oriented_maps
from pages._images import png
from pages._state import linked, run_trace
from pages._tiles import fit_cell, shrink_to_column, tile_grid
from pages._widgets import (
    csv_button,
    distance_chart,
    export_button,
    label_of,
    legend,
    prediction,
    shape_text,
    vector_chart,
    vega,
)

# ---- weights ---------------------------------------------------------------------------------------


WEIGHT_BINS = 40
KERNEL_COLOUR, BIAS_COLOUR, OTHER_COLOUR = "#4c78a8", "#f58518", "#54a24b"
ROLES = {  # colour and a sentence for the usual weight names
    "kernel": (KERNEL_COLOUR, "multiplies the input"),
    "depthwise_kernel": (KERNEL_COLOUR, "one spatial filter per input channel"),
    "pointwise_kernel": (KERNEL_COLOUR, "1×1 mixing of the channels"),
    "bias": (BIAS_COLOUR, "added to each output unit"),
    "gamma": (KERNEL_COLOUR, "learned scale"),
    "beta": (BIAS_COLOUR, "learned shift"),
    "moving_mean": (OTHER_COLOUR, "running mean of the input (not trained)"),
    "moving_variance": (OTHER_COLOUR, "running variance of the input (not trained)"),
}


def weight_chart(w: WeightSummary, colour: str, key: str) -> None:
    """Histogram of one weight array (precomputed bins) with its statistics."""
    st.caption(
        f"shape {'×'.join(map(str, w.shape)) or 'scalar'} · {w.size:,} values  \n"
        f"mean {w.mean:.4g} · std {w.std:.4g} · min {w.min:.4g} · max {w.max:.4g}"
    )
    if w.size == 0:
        st.info("Empty array.")
        return
    if w.min == w.max:
        st.info(f"All {w.size:,} values equal {w.min:.4g}: nothing to plot.")
        return
    bars = {
        "mark": {"type": "bar", "color": colour, "binSpacing": 0},
        "encoding": {
            "x": {
                "field": "bin_start",
                "type": "quantitative",
                "bin": "binned",
                "title": "value",
                "axis": {"format": ".3~g", "labelOverlap": True},
            },
            "x2": {"field": "bin_end"},
            "y": {"field": "count", "type": "quantitative", "title": "count"},
            "tooltip": [
                {"field": "bin_start", "type": "quantitative", "title": "from", "format": ".4g"},
                {"field": "bin_end", "type": "quantitative", "title": "to", "format": ".4g"},
                {"field": "count", "type": "quantitative", "format": ",d"},
            ],
        },
    }
    layers = [bars]
    if w.min < 0 < w.max:  # where zero is: weights are often centred on it
        layers.append(
            {
                "data": {"values": [{"zero": 0.0}]},
                "mark": {"type": "rule", "color": "#6b7280", "strokeDash": [3, 3]},
                "encoding": {"x": {"field": "zero", "type": "quantitative"}},
            }
        )
    vega(w.histogram, {"height": 220, "layer": layers}, key=key)


def weights_panel(lm: LoadedModel, table: pd.DataFrame, *, key: str) -> None:
    """Pick a layer that holds weights; histograms of its kernel, bias, ... (core.graph.structure)."""
    weighted = table[table["params"] > 0]
    if weighted.empty:
        st.info("This model has no weights.")
        return
    by_name = weighted.set_index("name")
    pick, _ = st.columns([3, 2])
    layer = pick.selectbox(
        "Layer",
        list(weighted["name"]),
        key=f"{key}_weights_layer",
        format_func=lambda n: (
            f"{n} · {by_name.at[n, 'type']} · {by_name.at[n, 'params']:,} parameters"
        ),
        help="Only layers that hold weights are listed.",
    )
    summaries = cache.weight_summaries(lm, layer, bins=WEIGHT_BINS)
    row = by_name.loc[layer]
    st.caption(
        f"{row['type']} · output {row['output_shape']}"
        + (f" · activation {row['activation']}" if row["activation"] else "")
        + f" · {len(summaries)} weight array{'s' * (len(summaries) != 1)}, "
        f"histograms of {WEIGHT_BINS} bins"
    )
    weight_charts(summaries, key=f"{key}_w_{layer}")


def weight_charts(summaries: dict[str, WeightSummary], *, key: str) -> None:
    """A layer's weight arrays (core.graph.structure.weight_summaries), two histograms a row."""
    items = list(summaries.items())
    for i in range(0, len(items), 2):
        if i:
            st.space("small")
        cols = st.columns(2, gap="large")
        for col, (wname, w) in zip(cols, items[i : i + 2]):
            colour, role = ROLES.get(wname, (OTHER_COLOUR, ""))
            with col:
                st.markdown(f"**{wname}**" + (f" · {role}" if role else ""))
                weight_chart(w, colour, key=f"{key}_{wname}")


def comparison(
    lm: LoadedModel,
    a: Sample,
    b: Sample,
    *,
    key: str,
    export: bool = True,
    frozen: Freeze = Freeze(),
    predictions: bool = True,
) -> str:
    """NeuralVis' comparison panel: two predictions, the per-layer distance chart (where the
    inputs part ways, CSV download), one layer's maps side by side with their difference.

    export: an Export (ZIP) button of its own (off on pages that have one for the whole page).
    frozen: a cache.frozen_key both inputs are traced with (pages._widgets.freeze_note).
    predictions: A's and B's prediction charts (off where the page shows them already).
    """
    ta, pa, _ = run_trace(lm, a, frozen)
    tb, pb, _ = run_trace(lm, b, frozen)
    dist = cache.distances(lm, a, b, frozen)

    if predictions:
        p1, p2 = st.columns(2)
        with p1:
            prediction(
                lm, pa, key=f"{key}_pa", title="Prediction A", true_label=a.label, height=150
            )
        with p2:
            prediction(
                lm, pb, key=f"{key}_pb", title="Prediction B", true_label=b.label, height=150
            )

    if lm.kind == "audio":
        c1, c2 = st.columns(2)
        with c1:
            clip_panel(a, key=f"{key}_clip_a", title=f"A: {a.name}")
        with c2:
            clip_panel(b, key=f"{key}_clip_b", title=f"B: {b.name}", colour="#f58518")

    st.subheader("Where the two inputs part ways")
    split = parting_layer(dist)
    distance_chart(dist, key=f"{key}_dist", highlight=split)
    verdict = "the same class" if label_of(lm, pa) == label_of(lm, pb) else "different classes"
    st.caption(
        f"Cosine distance is 1 − cos(A, B) of a layer's flattened activations (0: same "
        f"direction, 1: orthogonal, 2: opposite); relative L2 is ‖A−B‖ over their mean "
        f"norm. The dashed line marks where the network parts them: **{split}**, the largest "
        "rise in cosine distance from one learned layer (convolution or dense) to the next. "
        "The input's own scaling, normalisations (they re-centre activations, so the distance "
        "jumps there for any two inputs) and the output (it only restates the two "
        f"predictions) are not candidates. The model puts A and B in {verdict}."
    )
    csv_button(
        dist,
        "Download distances (CSV)",
        file_name=f"distances_{a.name}_vs_{b.name}.csv".replace(" ", "_"),
        key=f"{key}_dl_dist",
    )

    st.subheader("Side by side")
    names = [n for n in ta]
    link = linked("link_layer", names)
    default = link or (split if split in names else names[0])
    layer = st.selectbox("Layer", names, index=names.index(default), key=f"{key}_layer")
    ma, mb = oriented_maps(lm, layer, ta[layer]), oriented_maps(lm, layer, tb[layer])
    row = dist[dist["layer"] == layer].iloc[0]
    st.caption(
        f"{layer}: output {shape_text(ta[layer])} · cosine distance "
        f"{row['cosine_distance']:.3f} · relative L2 {row['relative_l2']:.3f}"
    )
    if ma is not None:
        # One colour scale for A and B, so equal colours mean equal activations; maps at their
        # own pixels (nearest-neighbour), two grids a row, so they stay readable.
        lo = float(min(ma.min(), mb.min()))
        hi = float(max(ma.max(), mb.max()))
        n = ma.shape[-1]
        cell = fit_cell(n, width=560) if n > 2 else 240
        open_key = f"{key}_open"
        if (link_ch := linked("link_channel", list(range(n)))) is not None:
            st.session_state[open_key] = link_ch
        opened = st.session_state.get(open_key)
        opened = opened if opened is not None and opened < n else None
        st.session_state[open_key] = opened  # what the share link carries (compare.py)

        def pick(ch: int) -> None:
            st.session_state[open_key] = ch

        shrink_to_column(*(f"{key}_tiles_{who}" for who in "ABd"))  # one element for the 3
        cols = st.columns(2, gap="medium")
        for col, m, who, sample in ((cols[0], ma, "A", a), (cols[1], mb, "B", b)):
            with col:
                st.markdown(f"**{who}: {sample.name}**")
                tile_grid(
                    m,
                    key=f"{key}_tiles_{who}",
                    on_pick=pick,
                    picked=opened,
                    vrange=(lo, hi),
                    cell=cell,
                    shrink=False,
                )
        cols = st.columns(2, gap="medium")
        with cols[0]:
            legend(lo, hi, "viridis", key=f"{key}_leg_ab", title="activation (A and B)")
        diff = ma - mb
        with cols[1]:
            st.markdown("**A − B** (red: A higher, blue: B higher)")
            dlo, dhi = tile_grid(
                diff,
                key=f"{key}_tiles_d",
                on_pick=pick,
                picked=opened,
                cmap="diverging",
                cell=cell,
                value="A − B",
                shrink=False,
            )
            legend(dlo, dhi, "diverging", key=f"{key}_leg_d", title="A − B")
        per_channel = np.abs(diff).reshape(-1, n).mean(axis=0)
        top = np.argsort(per_channel)[::-1][:5]
        st.caption(
            "Click a channel in any grid to open it large. Channels that differ most "
            "(mean |A − B|): " + ", ".join(f"{int(k)} ({per_channel[k]:.3g})" for k in top)
        )
        if opened is not None:
            big = st.columns(3)
            for col, m, what, cmap, rng in (
                (big[0], ma, f"A: {a.name}", "viridis", (lo, hi)),
                (big[1], mb, f"B: {b.name}", "viridis", (lo, hi)),
                (big[2], diff, "A − B", "diverging", (dlo, dhi)),
            ):
                ch = m[..., opened]
                col.image(
                    png(channel_image(ch, size=240, cmap=cmap, vrange=rng)),
                    width=240,
                    caption=f"{layer} channel {opened} · {what}: min {ch.min():.3g}, "
                    f"max {ch.max():.3g}",
                )
    else:
        labels = lm.labels if layer == lm.tracer.plan.output_name else None
        cols = st.columns(3)
        with cols[0]:
            st.markdown(f"A: {a.name}")
            vector_chart(ta[layer], key=f"{key}_va", labels=labels)
        with cols[1]:
            st.markdown(f"B: {b.name}")
            vector_chart(tb[layer], key=f"{key}_vb", labels=labels)
        with cols[2]:
            st.markdown("A − B")
            vector_chart(
                np.ravel(ta[layer]) - np.ravel(tb[layer]),
                key=f"{key}_vd",
                labels=labels,
                difference=True,
            )

    def build():
        images, audio = {}, {}
        if ma is not None:
            lo = float(min(ma.min(), mb.min()))
            hi = float(max(ma.max(), mb.max()))
            images = {
                f"A_{layer}": labelled_grid(ma, vrange=(lo, hi), title=f"A: {a.name} · {layer}"),
                f"B_{layer}": labelled_grid(mb, vrange=(lo, hi), title=f"B: {b.name} · {layer}"),
                f"A_minus_B_{layer}": labelled_grid(
                    ma - mb, cmap="diverging", title=f"A − B · {layer}"
                ),
            }
        if a.kind == "audio":
            audio = {"A": a.raw, "B": b.raw}
        return dict(
            settings={"A": a.name, "B": b.name, "layer": layer, "split_layer": split},
            predictions={"A": pa, "B": pb},
            images=images,
            audio=audio,
            tables={"distances": dist},
        )

    if export:
        export_button(lm, "Compare", build, key=f"{key}_export")
    return layer
