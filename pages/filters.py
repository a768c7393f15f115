"""Filters: what does each filter respond to? Dataset exemplars, feature visualisation and the
class profile of every channel of a layer, over held-out inputs the model never trained on.

Session keys: "filters_batch" Kept((lm.sha256, file id), ScannedBatch) of an uploaded labelled ZIP.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import api, cache
from core.analysis.exemplars import indexable
from core.graph.engine import digest
from core.inputs.probe import read_labelled
from core.show.audio_view import map_axes
from core.show.exemplar_view import grid, image_patch, index_table, spaced, spectrogram_patch
from pages._audio_views import player
from pages._controls import batch_source
from pages._images import png
from pages._jobs import Progress, heavy_job, watched
from pages._links import share_view
from pages._state import ScannedBatch, current_model, keep, kept, linked
from pages._widgets import export_button, head_note, signed_bars, vega

PER_PAGE = 8
K = 9
MANY_CLASSES, TOP_CLASSES = 20, 10  # more classes than this: profiles show the top ones

lm = current_model()
st.title("Filters")
st.caption(
    "What does a filter respond to? For each channel of a layer: the held-out inputs "
    "that excite it most (cut to the part of the input the unit sees), an input "
    "synthesised to excite it, and its mean activation for each class."
)

# ---- widgets -------------------------------------------------------------------------------------
plan = lm.tracer.plan
types = plan.layer_types()
layers = [n for n in indexable(lm.tracer) if n in types]
convs = plan.map_convs(layers)
default = linked("link_layer", layers) or (convs[-1] if convs else layers[0])
c1, c2, c3 = st.columns([3, 3, 2])
layer = c1.selectbox(
    "Layer",
    layers,
    index=layers.index(default),
    key="filters_layer",
    format_func=lambda n: f"{n} · {types[n]}",
)
sort = c2.radio(
    "Sort channels by",
    ["index", "selectivity", "importance"],
    horizontal=True,
    key="filters_sort",
    help="selectivity: how much more the channel responds to its favourite class "
    "than to the others (0 = no preference, 1 = one class only). importance: "
    "the accuracy lost when the channel alone is frozen (Freeze page), over 200 "
    "held-out inputs; computed once per layer.",
)
mine, up = batch_source(lm, label="Inputs", key="filters", where=c3)
batch = None
if mine:
    if up is not None:
        made_by = (lm.sha256, up.file_id)
        batch = kept("filters_batch", made_by)
        if batch is None:
            try:
                ps = read_labelled(up.getvalue(), lm, filename=up.name)
                with heavy_job(f"Scanning {len(ps)} inputs of {up.name}") as job:
                    ix = api.filter_index(
                        lm, inputs=ps.raws, labels=ps.labels, on_progress=job.progress
                    )
                batch = keep("filters_batch", made_by, ScannedBatch(ps, ix))
            except ValueError as e:
                st.error(str(e))
    if batch is None:
        st.info("Upload a labelled batch, or switch back to the held-out probe set.")
        st.stop()
d1, d2, d3 = st.columns([3, 3, 2])
show_vis = d1.toggle(
    "Feature visualisation",
    value=False,
    key="filters_vis",
    help="Gradient ascent on the channel's mean activation, for each channel "
    "of this page (a few seconds each, then cached).",
)
steps = int(
    d2.select_slider(
        "Ascent steps", [64, 128, 256, 512], value=256, key="filters_steps", disabled=not show_vis
    )
)
only_dead = d3.toggle("Only channels that never fire", value=False, key="filters_dead")

# ---- one core call: the scan (cached per model), then instant queries ----------------------------
if batch is None:
    try:
        probe = cache.probe(lm)
    except ValueError as e:  # no probe set of this model's kind: a labelled ZIP still works
        st.error(str(e))
        st.stop()
    bar = Progress("Indexing…")
    with watched(f"Indexing {len(probe)} held-out inputs (once per model)", bar=bar):
        index = cache.filter_index(
            lm, _on_progress=lambda i, n: bar.progress(i / n, text=f"{i} of {n} inputs")
        )
        bar.empty()
    st.caption(
        f"{index.n_inputs} held-out inputs indexed · the scan itself took {index.seconds:.1f} s"
    )
else:
    probe, index = batch
li = index.layer(layer)
n_ch = li.channels
importance = None
if sort == "importance":
    bar = Progress("Freezing each channel alone over 200 held-out inputs…")
    with watched(f"Freezing each channel of {layer} alone", bar=bar):
        imp = cache.probe_importance(
            lm,
            layer,
            200,
            _on_progress=lambda i, n: bar.progress(i / n, text=f"channel {i} of {n}"),
        )
    bar.empty()
    importance = (
        imp.set_index("channel")["accuracy_drop" if "accuracy_drop" in imp else "prob_drop"]
        .reindex(range(n_ch))
        .to_numpy()
    )
selectivity = li.selectivity()
order = {
    "index": np.arange(n_ch),
    "selectivity": np.argsort(-selectivity, kind="stable"),
    "importance": np.argsort(
        -(importance if importance is not None else np.zeros(n_ch)), kind="stable"
    ),
}[sort]
dead = set(int(c) for c in li.dead)
if only_dead:
    order = np.array([c for c in order if c in dead], int)

# ---- display -------------------------------------------------------------------------------------
st.caption(
    f"{probe.about}. Class profiles group inputs by **{index.grouped_by}**. "
    f"{layer}: {n_ch} channels, map {'×'.join(map(str, li.map_shape)) or 'a vector'}."
)
if len(lm.labels) > MANY_CLASSES:
    st.download_button(
        f"Class profiles of every channel, all {len(lm.labels)} classes (CSV)",
        # Built when clicked (a 1000 × channels table on every rerun would cost each touch).
        lambda: (
            pd.DataFrame(li.class_mean, index=pd.Index(lm.labels, name="class")).to_csv().encode()
        ),
        file_name=f"class_profiles_{layer}.csv",
        mime="text/csv",
        key=f"prof_all_{layer}",
        icon=":material/download:",
    )
st.caption(
    f"How to read a row: the channel's numbers, its top {K} of these inputs (cut to the part "
    "the unit sees; each with its peak activation · true class; **best sees**: where the "
    "best one's unit looks), then its mean activation for each class. **peak** is the channel's largest activation at any one position over "
    "these inputs (what ranks the exemplars, whose numbers are their peaks); **fires on** the "
    "share of inputs where it is ever above 0. The synthesised input is scored by the "
    "channel's **map mean** (the mean over all its positions, what gradient ascent maximises), "
    "beside the best map mean of a real input: a different statistic from the peak."
)
if dead:
    st.warning(
        f"{len(dead)} of {n_ch} channels of {layer} never fire (never > 0) on these "
        f"{index.n_inputs} inputs: {', '.join(map(str, sorted(dead)[:40]))}"
        + (" …" if len(dead) > 40 else ""),
        icon=":material/block:",
    )
if not len(order):
    st.info("No channel to show.")
    st.stop()
pages_n = (len(order) + PER_PAGE - 1) // PER_PAGE
page = (
    st.selectbox(
        "Channels",
        range(pages_n),
        key=f"filters_page_{layer}_{sort}_{only_dead}",
        format_func=lambda p: (
            f"{p * PER_PAGE + 1}–{min((p + 1) * PER_PAGE, len(order))} of "
            f"{len(order)} (sorted by {sort})"
        ),
    )
    if pages_n > 1
    else 0
)
shown = [int(c) for c in order[page * PER_PAGE : (page + 1) * PER_PAGE]]

if batch is None:  # the probe set: cached per model, layer and channels shown
    tops, patches, xs, specs = cache.exemplars(lm, layer, tuple(shown), K)
else:
    tops, patches, xs, specs = api.exemplars(lm, layer, shown, k=K, index=index, probe=probe)
if specs is not None:
    sr = int(lm.card["input"]["sample_rate"])
    t_axis, f_axis = map_axes(lm, next(iter(specs.values())).shape)

vis = {}
if show_vis:
    bar = Progress("Synthesising…")
    for j, c in enumerate(shown):
        with watched(f"Synthesising an input for channel {c}", bar=bar):
            vis[c] = cache.feature_vis(
                lm,
                layer,
                c,
                steps,
                _on_progress=lambda i, n, j=j: bar.progress(
                    (j + i / n) / len(shown), text=f"channel {shown[j]}: step {i} of {n}"
                ),
            )
    bar.empty()


def _cls(e) -> str:
    return lm.labels[e.label] if e.label >= 0 else "?"


def _where(e) -> str:
    if specs is not None and e.local_box is not None:
        f0, b0, f1, b1 = e.local_box
        step = t_axis[1] - t_axis[0] if len(t_axis) > 1 else 0
        return (
            f"{t_axis[f0] - step / 2:.2f}–{t_axis[f1 - 1] + step / 2:.2f} s, "
            f"{f_axis[b0]:.0f}–{f_axis[b1 - 1]:.0f} Hz"
        )
    if len(e.box) != 4:
        return ""
    return f"rows {e.box[0]}–{e.box[2] - 1}, cols {e.box[1]}–{e.box[3] - 1}"


in_hw = tuple(int(d) for d in lm.card["input"]["shape"][:2])
heard = [c for c in shown if tops[c]]
if lm.kind == "audio" and heard:
    # One place to listen for the page (a popover a row cost each rerun ~1 ms apiece), lazy:
    # the players (WAV encoding, 4 elements) run only while it is open.
    pop = st.popover(
        "Listen to a channel's top 3",
        icon=":material/volume_up:",
        key=f"listen_{layer}",
        on_change="rerun",
    )
    with pop:
        if pop.open:
            if st.session_state.get(f"listen_channel_{layer}") not in heard:  # another page
                st.session_state.pop(f"listen_channel_{layer}", None)
            c = st.selectbox("Channel", heard, key=f"listen_channel_{layer}")
            for e in tops[c][:3]:
                player(
                    xs[e.index],
                    sr,
                    label=f'input {e.index} · {e.value:.2f} · "{_cls(e)}" · {_where(e)}',
                )
# A row a channel, its parts side by side in one flex container (they wrap on a narrow
# screen); one style draws the line above every row. Few elements a row: each is a message
# and ~1 ms of the browser's time on every rerun (issue 35 item 14).
st.html(
    "<style>[class*='st-key-frow_'] {border-top: 1px solid "
    "color-mix(in srgb, currentColor 18%, transparent); padding-top: 1rem}</style>"
)
for c in shown:
    exs = tops[c]
    sees = ""
    if exs:
        whole = lm.kind == "image" and exs[0].box == (0, 0, *in_hw)
        sees = f"<br>best sees<br>{'the whole input' if whole else _where(exs[0])}"
    row = st.container(
        horizontal=True,
        key=f"frow_{layer}_{c}",
        gap="medium",
    )
    with row:
        head_note(
            f"**Channel {c}**" + (" · :red[never fires]" if c in dead else ""),
            f"peak {li.top_value[0, c]:.3g}<br>fires on {li.fire_rate[c]:.0%}<br>"
            f"selectivity {selectivity[c]:.2f}"
            + (f"<br>importance {importance[c]:+.3f}" if importance is not None else "")
            + sees,
            width=170,
        )
        # One image element for the exemplars (an image each cost a rerun ~1 ms), in a
        # container that takes the row's free width: in the row itself they stack.
        with st.container(gap="small", width=K * 58):  # K exemplars of 56 px side by side
            if patches[c]:
                st.image(
                    [png(p, draw=spaced) for p in patches[c]],
                    width=56,
                    caption=[f"{e.value:.2f} · {_cls(e)}" for e in exs[: len(patches[c])]],
                )
            if lm.kind == "audio" and show_vis:  # at the exemplars' width
                player(
                    vis[c].raw[0], vis[c].raw[1], label=f"The waveform synthesised for channel {c}"
                )
        if show_vis:
            v = vis[c]
            if lm.kind == "image":
                st.image(
                    png(image_patch(v.raw, (0, 0, *v.raw.shape[:2]), size=96)),
                    width=120,
                    caption=f"synthesised: map mean {v.value:.2f} (best real {li.best_mean[c]:.2f})",
                )
            else:
                spec = lm.tracer(v.raw[0][None])[lm.card["spectrogram_layer"]][0, ..., 0]
                st.image(
                    png(spectrogram_patch(spec, (0, 0, *spec.shape), size=96)),
                    width=150,
                    caption=f"synthesised waveform: map mean {v.value:.2f} (best real "
                    f"{li.best_mean[c]:.2f}); its player is under the exemplars",
                )
        prof = pd.DataFrame({"class": lm.labels, "mean": li.class_mean[:, c].astype(float)})
        class_order = lm.labels
        title = None
        if len(prof) > MANY_CLASSES:  # as prediction charts: the top 10, highest first
            prof = prof.nlargest(TOP_CLASSES, "mean")
            class_order = list(prof["class"])
            title = {
                "text": f"top {TOP_CLASSES} of {len(lm.labels)} classes",
                "subtitle": "every class: the download above",
                "fontSize": 11,
                "subtitleFontSize": 10,
                "anchor": "start",
            }
        short = max(map(len, class_order)) <= 2  # digits: columns; names: rows
        cls = {
            "field": "class",
            "type": "nominal",
            "sort": class_order,
            "title": None,
            "axis": {
                "labelAngle": 0,
                "labelLimit": 70,
                "labelFontSize": 10,
                "labelOverlap": False,
                "labelFlush": False,
            },
        }
        # A short title: the chart is narrow and a long one was clipped.
        val = {"field": "mean", "type": "quantitative", "title": "class mean"}
        vega(
            prof,
            {
                "mark": "bar",
                "height": 120 if short else max(150, 16 * len(class_order) + 10),
                **({"title": title} if title else {}),
                "encoding": {
                    ("x" if short else "y"): cls,
                    ("y" if short else "x"): val,
                    **signed_bars("mean", "class", ".3g"),
                },
            },
            key=f"prof_{layer}_{c}",
            # The frame's content without hashing its class names on every rerun.
            content=("class_profile", lm.key, *digest(li.class_mean[:, c]), len(prof)),
        )

st.divider()


def _export():
    rows = [
        patches[c]
        + (
            [image_patch(vis[c].raw, (0, 0, *vis[c].raw.shape[:2]))]
            if c in vis and lm.kind == "image"
            else []
        )
        for c in shown
    ]
    return dict(
        settings={
            "layer": layer,
            "sort": sort,
            "channels": shown,
            "inputs": probe.about,
            "n_inputs": index.n_inputs,
            "grouped_by": index.grouped_by,
            "dead_channels": sorted(dead),
        },
        images={f"exemplars_{layer}": grid(rows)} if any(rows) else {},
        tables={
            f"exemplars_{layer}": index_table(
                index,
                layer,
                {c: api.top_inputs(lm, layer, c, k=K, index=index) for c in range(n_ch)},
                lm.labels,
            ),
            f"class_profile_{layer}": api.class_profile(lm, layer, index=index)[0].reset_index(),
        },
    )


with st.container(horizontal=True):
    share_view(lm, None, layer=layer)
    export_button(lm, "Filters", _export, key="export_filters")
