"""Widgets and displays shared by the pages (not a page itself: app.py registers the pages).

Session keys (one browser session each, never module globals):
  "model"    the current LoadedModel (set by app.py's sidebar on every run)
  "samples"  dict name -> Sample, in insertion order: the sample list every page shares
  "selected" the name of the current sample
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.compare import layer_distances
from core.models import LoadedModel
from core.render import apply_colormap, as_maps, feature_grid
from core.samples import Sample
from core.structure import WeightSummary
from pages._audio_views import clip_panel, oriented_maps


def current_model() -> LoadedModel:
    lm = st.session_state.get("model")
    if lm is None:
        # A deep link (e.g. /freeze) to a freshly started server: Streamlit 1.67 routes through
        # its legacy pages/ auto-discovery until some run of app.py has called st.navigation,
        # so this page ran without app.py. Switch to st.navigation routing (exactly what that
        # call does) and rerun, which runs app.py and then this page.
        from streamlit.runtime.pages_manager import PagesManager

        if PagesManager.uses_pages_directory:
            PagesManager.uses_pages_directory = False
            st.rerun()
        st.info("Pick a model in the sidebar.")
        st.stop()
    return lm


def linked(key: str, options: list | None = None):
    """A setting from the shared link this session opened (once), if it fits the options."""
    v = st.session_state.pop(key, None)
    return v if v is not None and (options is None or v in options) else None


def share_view(lm: LoadedModel, sample: Sample | None, *, layer: str | None = None,
               b: Sample | None = None, attack: str | None = None,
               extra: dict[str, str] | None = None) -> None:
    """Keep the URL in step with the view (st.query_params) and offer it as a link to copy.

    extra: a page's own settings (core.permalink names the keys), e.g. {"methods": "..."}.

    What cannot travel in a URL (an uploaded model, uploads, recordings) is named, not dropped
    silently.
    """
    from urllib.parse import urlencode

    from core.permalink import describe_missing, encode_digit, encode_frozen

    params: dict[str, str] = {}
    missing: list[str] = []
    if lm.source == "builtin":
        params["model"] = lm.name
    else:
        missing.append(f"The model {lm.name!r} is an upload: the link opens the built-in one; "
                       "send the model file along.")
    raw = np.asarray(sample.raw) if sample is not None and sample.kind == "image" else None
    if sample is None:
        pass  # a page about the model alone (Structure)
    elif sample.source == "gallery":
        params["sample"] = sample.name
    elif sample.source == "drawn" and raw is not None and raw.shape == (28, 28):
        params["digit"] = encode_digit(raw)
    else:
        missing.append(describe_missing(sample.source, sample.name) or
                       f"{sample.name!r} cannot travel in a link (only built-in samples and "
                       "drawn digits can).")
    frozen = encode_frozen(st.session_state.get("frozen", {}).get(lm.sha256, {}),
                           freeze_kinds(lm))
    if frozen:
        params["frozen"] = frozen
    if layer:
        params["layer"] = layer
    if b is not None and b.source == "gallery":
        params["b"] = b.name
    elif b is not None:
        missing.append(f"The second sample {b.name!r} cannot travel in a link.")
    if attack:
        params["attack"] = attack
    params.update({k: v for k, v in (extra or {}).items() if v})
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    base = (st.context.url or "").split("?")[0]
    with st.popover("Share this view", icon=":material/link:"):
        st.caption("The address bar always holds this view; copy it from here:")
        st.code(f"{base}?{urlencode(params)}", language=None, wrap_lines=True)
        for m in missing:
            st.caption(f":material/info: {m}")


def freeze_kinds(lm: LoadedModel) -> dict[str, dict]:
    """This model's interventions other than zeroing, {layer: {"kind", "factor"}} (the Freeze
    page's; the frozen channels themselves are st.session_state["frozen"][sha256])."""
    return st.session_state.setdefault("freeze_kinds", {}).setdefault(lm.sha256, {})


def export_button(lm: LoadedModel, page: str, build, *, key: str) -> None:
    """One download per page: a ZIP (core.export) built only when clicked.

    build() returns the keyword arguments of core.export.export_zip except page/model.
    """
    from core.export import export_zip

    stamp = f"layerlab_{page.lower()}_{lm.name}.zip".replace(" ", "_")
    st.download_button("Export (ZIP)", data=lambda: export_zip(page=page, model=lm, **build()),
                       file_name=stamp, mime="application/zip", key=key, on_click="ignore",
                       icon=":material/folder_zip:",
                       help="Settings, model identity (name, file hash), predictions, and the "
                            "pictures (PNG), sounds (WAV) and tables (CSV) shown here.")


def samples() -> dict[str, Sample]:
    return st.session_state.setdefault("samples", {})


def add_sample(sample: Sample, *, select: bool = True, replace: bool = False) -> str:
    """Put a sample in the shared list under a unique name; returns the name used.

    select=True makes it the current sample. The sidebar's selectbox owns the "selected" key
    and is drawn before the page, so the choice goes through "pending_select" and a rerun.
    """
    pool = samples()
    name = sample.name
    if not replace:
        k = 2
        while name in pool and pool[name].key != sample.key:
            name = f"{sample.name} ({k})"
            k += 1
    if name != sample.name:
        sample = Sample(name=name, kind=sample.kind, raw=sample.raw, source=sample.source,
                        label=sample.label, note=sample.note)
    pool[name] = sample
    if select:
        st.session_state["pending_select"] = name
        st.rerun()
    return name


def usable_samples(lm: LoadedModel) -> list[str]:
    return [n for n, s in samples().items() if s.kind == lm.kind]


def selected_sample(lm: LoadedModel) -> Sample:
    names = usable_samples(lm)
    if not names:
        st.info(f"No {lm.kind} samples yet: add one on the "
                f"{'Trace' if lm.kind == 'image' else 'Audio'} page.")
        st.stop()
    name = st.session_state.get("selected")
    return samples()[name if name in names else names[0]]


def run_trace(lm: LoadedModel, sample: Sample):
    """(trace, probabilities, notes), or an error message on the page and a stop."""
    try:
        return cache.trace(lm, sample)
    except ValueError as e:  # InputError and friends: say what was wrong, keep the session
        st.error(f"{sample.name!r} cannot be fed to {lm.name!r}: {e}")
        st.stop()
    except Exception as e:  # noqa: BLE001 - an uploaded model failing at run time
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        st.error(f"{lm.name!r} failed while running on {sample.name!r} ({type(e).__name__}: "
                 f"{first}). Pick another sample or model; the rest of the app keeps working.")
        st.stop()


def label_of(lm: LoadedModel, probs: np.ndarray) -> str:
    return lm.labels[int(np.argmax(probs))]


def prediction(lm: LoadedModel, probs: np.ndarray, *, key: str, title: str = "Prediction",
               true_label: str | None = None, height: int = 180) -> None:
    """The Prediction metric and a bar chart of class probabilities."""
    top = int(np.argmax(probs))
    st.metric(title, lm.labels[top], help="The class with the highest probability.")
    st.caption(f"confidence {probs[top]:.1%}" + (
        f" · true label {true_label}" if true_label is not None else ""))
    df = pd.DataFrame({"class": lm.labels, "probability": probs.astype(float)})
    order = lm.labels
    if len(df) > 20:  # many classes: the 10 most probable, highest first
        df = df.nlargest(10, "probability")
        order = list(df["class"])
        st.caption(f"The 10 most probable of {len(lm.labels)} classes.")
    chart = alt.Chart(df).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=0 if len(order) <= 12 and max(map(len, order)) <= 3
                              else -40)),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
        color=alt.condition(alt.datum["class"] == lm.labels[top], alt.value("#e45756"),
                            alt.value("#4c78a8")),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    ).properties(height=height)
    st.altair_chart(chart, width="stretch", key=key)


def legend(vmin: float, vmax: float, cmap: str, *, key: str, title: str = "activation") -> None:
    """A colour-scale legend: the gradient as an image, with its end and middle values."""
    bar = apply_colormap(np.linspace(0, 1, 240)[None].repeat(14, axis=0), cmap)
    st.image(bar, width=240)
    mid = (vmin + vmax) / 2
    st.markdown(
        f"<div style='display:flex;justify-content:space-between;width:240px;"
        f"font-size:0.8rem;color:#555;margin-top:-0.6rem'><span>{vmin:.3g}</span>"
        f"<span>{mid:.3g}</span><span>{vmax:.3g}</span></div>"
        f"<div style='font-size:0.8rem;color:#777;width:240px;text-align:center'>{title}</div>",
        unsafe_allow_html=True)


def shape_text(a: np.ndarray) -> str:
    return "×".join(str(d) for d in np.shape(a)) or "scalar"


def vector_chart(v: np.ndarray, *, key: str, labels: list[str] | None = None,
                 height: int = 140) -> None:
    """A dense layer's output: a bar chart (few units) or a heat strip (many)."""
    v = np.ravel(v).astype(float)
    if v.size <= 128:
        idx = labels if labels is not None and len(labels) == v.size else [str(i) for i in range(v.size)]
        df = pd.DataFrame({"unit": idx, "value": v, "order": range(v.size)})
        chart = alt.Chart(df).mark_bar().encode(
            x=alt.X("unit:N", sort=alt.EncodingSortField("order"), title="unit",
                    axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("value:Q", title="activation"),
            color=alt.condition(alt.datum.value >= 0, alt.value("#4c78a8"), alt.value("#f58518")),
            tooltip=["unit", alt.Tooltip("value:Q", format=".4g")],
        ).properties(height=height)
        st.altair_chart(chart, width="stretch", key=key)
    else:
        cols = int(np.ceil(np.sqrt(v.size * 8)))
        grid = np.full(int(np.ceil(v.size / cols)) * cols, np.nan)
        grid[: v.size] = v
        grid = grid.reshape(-1, cols)
        img, vmin, vmax = feature_grid(np.nan_to_num(grid, nan=np.nanmin(v))[..., None],
                                       cell=max(cols * 4, 200))
        st.image(img, caption=f"{v.size} units as a heat strip, row by row "
                              f"(range {vmin:.3g} … {vmax:.3g})", clamp=True)


def layer_output(name: str, a: np.ndarray, *, scale: str, key: str, type_name: str = "",
                 labels: list[str] | None = None, maps: np.ndarray | None = None) -> None:
    """One layer's output: a grid of all channels with its legend, or a vector chart.

    maps: the channels as pictures, when the caller orients them (audio: time left to right).
    """
    maps = as_maps(a) if maps is None else maps
    # Few channels (a spectrogram): draw them large; many: small cells, all on one grid.
    cell = 56 if maps is None or maps.shape[-1] > 2 else 280
    left, right = st.columns([3, 1])
    with right:
        zero = float(np.mean(a == 0))
        st.caption(f"min {a.min():.3g} · max {a.max():.3g} · mean {a.mean():.3g}  \n"
                   f"{zero:.0%} of values are exactly 0")
    if maps is not None:
        img, vmin, vmax = feature_grid(maps, scale=scale, cell=cell)
        with left:
            n = maps.shape[-1]
            st.image(img, caption=f"{n} channel{'s' * (n != 1)}, {maps.shape[0]}×{maps.shape[1]} "
                                  "each", width=min(img.shape[1], 900))
        with right:
            if scale == "shared":
                legend(vmin, vmax, "viridis", key=f"{key}_legend")
            else:
                st.caption("Each channel is stretched to its own min…max (dark: its minimum, "
                           "yellow: its maximum).")
    else:
        with left:
            vector_chart(a, key=key, labels=labels)


def distance_chart(df: pd.DataFrame, *, key: str, highlight: str | None = None,
                   height: int = 320) -> None:
    """Cosine distance per layer, in graph order: where two inputs part ways."""
    long = df.rename(columns={"cosine_distance": "cosine distance",
                              "relative_l2": "relative L2"}).melt(
        id_vars=["step", "layer"], value_vars=["cosine distance", "relative L2"],
        var_name="measure", value_name="distance")
    base = alt.Chart(long).encode(
        x=alt.X("layer:N", sort=list(df["layer"]), title="layer (graph order)",
                axis=alt.Axis(labelAngle=-40, labelOverlap=False, labelLimit=110)),
        y=alt.Y("distance:Q", title="distance"),
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(range=["#4c78a8", "#f58518"])),
        tooltip=["layer", "measure", alt.Tooltip("distance:Q", format=".3f")],
    )
    layers = [base.mark_line(), base.mark_point(filled=True, size=45)]
    if highlight is not None:
        rule = alt.Chart(pd.DataFrame({"layer": [highlight]})).mark_rule(
            color="#e45756", strokeDash=[4, 3]).encode(x=alt.X("layer:N", sort=list(df["layer"])))
        layers.append(rule)
    st.altair_chart(alt.layer(*layers).properties(height=height), width="stretch",
                    key=key)


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
    st.caption(f"shape {'×'.join(map(str, w.shape)) or 'scalar'} · {w.size:,} values  \n"
               f"mean {w.mean:.4g} · std {w.std:.4g} · min {w.min:.4g} · max {w.max:.4g}")
    if w.size == 0:
        st.info("Empty array.")
        return
    if w.min == w.max:
        st.info(f"All {w.size:,} values equal {w.min:.4g}: nothing to plot.")
        return
    chart = alt.Chart(w.histogram).mark_bar(color=colour, binSpacing=0).encode(
        x=alt.X("bin_start:Q", bin="binned", title="value",
                axis=alt.Axis(format=".3~g", labelOverlap=True)),
        x2="bin_end:Q",
        y=alt.Y("count:Q", title="count"),
        tooltip=[alt.Tooltip("bin_start:Q", title="from", format=".4g"),
                 alt.Tooltip("bin_end:Q", title="to", format=".4g"),
                 alt.Tooltip("count:Q", format=",d")],
    )
    if w.min < 0 < w.max:  # where zero is: weights are often centred on it
        chart += alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(
            color="#6b7280", strokeDash=[3, 3]).encode(x="zero:Q")
    st.altair_chart(chart.properties(height=220), width="stretch", key=key)


def weights_panel(lm: LoadedModel, table: pd.DataFrame, *, key: str) -> None:
    """Pick a layer that holds weights; histograms of its kernel, bias, ... (core.structure)."""
    weighted = table[table["params"] > 0]
    if weighted.empty:
        st.info("This model has no weights.")
        return
    by_name = weighted.set_index("name")
    pick, _ = st.columns([3, 2])
    layer = pick.selectbox(
        "Layer", list(weighted["name"]), key=f"{key}_weights_layer",
        format_func=lambda n: f"{n} · {by_name.at[n, 'type']} · "
                              f"{by_name.at[n, 'params']:,} parameters",
        help="Only layers that hold weights are listed.")
    summaries = cache.weight_summaries(lm, layer, bins=WEIGHT_BINS)
    row = by_name.loc[layer]
    st.caption(f"{row['type']} · output {row['output_shape']}"
               + (f" · activation {row['activation']}" if row["activation"] else "")
               + f" · {len(summaries)} weight array{'s' * (len(summaries) != 1)}, "
                 f"histograms of {WEIGHT_BINS} bins")
    items = list(summaries.items())
    for i in range(0, len(items), 2):
        if i:
            st.space("small")
        cols = st.columns(2, gap="large")
        for col, (wname, w) in zip(cols, items[i:i + 2]):
            colour, role = ROLES.get(wname, (OTHER_COLOUR, ""))
            with col:
                st.markdown(f"**{wname}**" + (f" · {role}" if role else ""))
                weight_chart(w, colour, key=f"{key}_w_{layer}_{wname}")


def comparison(lm: LoadedModel, a: Sample, b: Sample, *, key: str, export: bool = True) -> str:
    """NeuralVis' comparison panel: two predictions, the per-layer distance chart (where the
    inputs part ways, CSV download), one layer's maps side by side with their difference.

    export: an Export (ZIP) button of its own (off on pages that have one for the whole page).
    """
    ta, pa, _ = run_trace(lm, a)
    tb, pb, _ = run_trace(lm, b)
    dist = layer_distances(ta, tb)

    p1, p2 = st.columns(2)
    with p1:
        prediction(lm, pa, key=f"{key}_pa", title="Prediction A", true_label=a.label, height=150)
    with p2:
        prediction(lm, pb, key=f"{key}_pb", title="Prediction B", true_label=b.label, height=150)

    if lm.kind == "audio":
        c1, c2 = st.columns(2)
        with c1:
            clip_panel(a, key=f"{key}_clip_a", title=f"A: {a.name}")
        with c2:
            clip_panel(b, key=f"{key}_clip_b", title=f"B: {b.name}", colour="#f58518")

    st.subheader("Where the two inputs part ways")
    # The layer where cosine distance grows the most: where the network separates them.
    jumps = dist["cosine_distance"].diff().fillna(0.0)
    split = str(dist.loc[int(jumps.idxmax()), "layer"]) if len(dist) > 1 else None
    distance_chart(dist, key=f"{key}_dist", highlight=split)
    verdict = ("the same class" if label_of(lm, pa) == label_of(lm, pb) else "different classes")
    st.caption(f"Cosine distance is 1 − cos(A, B) of a layer's flattened activations (0: same "
               f"direction, 1: orthogonal, 2: opposite); relative L2 is ‖A−B‖ over their mean "
               f"norm. The dashed line marks the largest rise: **{split}**. The model puts A and B "
               f"in {verdict}.")
    st.download_button("Download distances (CSV)", dist.to_csv(index=False).encode(),
                       file_name=f"distances_{a.name}_vs_{b.name}.csv".replace(" ", "_"),
                       mime="text/csv", key=f"{key}_dl_dist")

    st.subheader("Side by side")
    names = [n for n in ta]
    link = linked("link_layer", names)
    default = link or (split if split in names else names[0])
    layer = st.selectbox("Layer", names, index=names.index(default), key=f"{key}_layer")
    ma, mb = oriented_maps(lm, layer, ta[layer]), oriented_maps(lm, layer, tb[layer])
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
            legend(lo, hi, "viridis", key=f"{key}_leg_ab", title="activation (A and B)")
        with cols[2]:
            legend(dlo, dhi, "diverging", key=f"{key}_leg_d", title="A − B")
        per_channel = np.abs(ma - mb).reshape(-1, ma.shape[-1]).mean(axis=0)
        top = np.argsort(per_channel)[::-1][:5]
        st.caption("Channels that differ most (mean |A − B|): "
                   + ", ".join(f"{int(k)} ({per_channel[k]:.3g})" for k in top))
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
            vector_chart(np.ravel(ta[layer]) - np.ravel(tb[layer]), key=f"{key}_vd", labels=labels)

    def build():
        images, audio = {}, {}
        if ma is not None:
            images = {f"A_{layer}": ga, f"B_{layer}": gb, f"A_minus_B_{layer}": gd}
        if a.kind == "audio":
            audio = {"A": a.raw, "B": b.raw}
        return dict(settings={"A": a.name, "B": b.name, "layer": layer, "split_layer": split},
                    predictions={"A": pa, "B": pb}, images=images, audio=audio,
                    tables={"distances": dist})

    if export:
        export_button(lm, "Compare", build, key=f"{key}_export")
    return layer
