"""Freeze: switch filters off and see what changes downstream; which filters and pixels matter."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import api, cache
from core.analysis.compare import layer_distances
from core.analysis.importance import all_negligible
from core.errors import LayerLabError
from core.graph.interventions import KINDS, kinds_of, parse_config, to_config, validate, with_kinds
from core.show.render import feature_grid, vector_image
from pages._audio_views import oriented_maps
from pages._controls import lazy_tabs
from pages._exemplars import top_filters_exemplars
from pages._filter_grid import filter_picker
from pages._images import grid_png
from pages._jobs import heavy_job
from pages._links import share_view
from pages._saliency import saliency_tab
from pages._state import (
    MATTERS_TABS,
    Ranking,
    current_model,
    freeze_kinds,
    keep,
    keep_widget_state,
    kept,
    linked,
    run_trace,
    samples,
    selected_sample,
)
from pages._widgets import (
    altair,
    csv_button,
    distance_chart,
    export_button,
    label_of,
    legend,
    prediction,
    shape_text,
    vector_chart,
)

lm = current_model()
st.title("Freeze filters")
st.caption(
    "NeuralVis' model mutation: a frozen filter's output channel is set to zero and every "
    "later layer consumes the zeroed tensor. Freeze filters in one or more layers and "
    "watch the prediction and the later layers change. Besides zeroing, a layer's chosen "
    "channels can be replaced by their mean over the probe set (mean ablation), scaled, "
    "or be the only ones kept."
)

sample = selected_sample(lm)
tr, probs, _ = run_trace(lm, sample)
# Per-model freeze configuration: {layer: [channels]}; "freeze_version" remounts the pickers
# when the configuration is changed by something other than them (upload, top-k, reset).
store = st.session_state.setdefault("frozen", {})
config: dict[str, list[int]] = store.setdefault(lm.sha256, {})
interventions = freeze_kinds(lm)  # {layer: {"kind", "factor"}}: layers not listed are zeroed
version = st.session_state.setdefault("freeze_version", 0)
layers = [n for n in tr if n != "input" and np.ndim(tr[n]) >= 1 and tr[n].shape[-1] > 1]
spatial = [n for n in layers if oriented_maps(lm, n, tr[n]) is not None]


def _set_config(new: dict[str, list[int]], new_kinds: dict | None = None) -> None:
    config.clear()
    config.update({k: sorted(set(map(int, v))) for k, v in new.items() if v})
    if new_kinds is not None:
        interventions.clear()
        interventions.update(new_kinds)
    st.session_state["freeze_version"] += 1


KIND_TITLES = {"zero": "zero", "mean": "mean (probe set)", "scale": "scale", "keep": "keep only"}


# ---- choose filters ------------------------------------------------------------------------------
st.subheader(f"1 · Choose filters  ·  input: {sample.name}")
left, right = st.columns([3, 2])
with left:
    # The default is the last convolution (what NeuralVis freezes), not a pooling or dropout.
    convs = lm.tracer.plan.map_convs(spatial)
    default = linked("link_layer", layers) or (convs or spatial or layers)[-1]
    layer = st.selectbox(
        "Layer",
        layers,
        index=layers.index(default),
        key="freeze_layer",
        help="Any layer whose output has channels (last axis): convolutions, "
        "pooling, BatchNorm, activations, dense units.",
    )
    n_ch = int(tr[layer].shape[-1])
    chosen = config.get(layer, [])
    k1, k2 = st.columns([3, 1])
    now = interventions.get(layer, {"kind": "zero", "factor": 1.0})
    kind = k1.radio(
        "What happens to the chosen filters",
        list(KINDS),
        horizontal=True,
        index=list(KINDS).index(now["kind"]),
        format_func=KIND_TITLES.get,
        key=f"kind_{version}_{layer}",
        help="\n\n".join(f"**{KIND_TITLES[k]}**: {v}" for k, v in KINDS.items()),
    )
    factor = k2.number_input(
        "factor",
        -10.0,
        10.0,
        float(now["factor"]),
        0.25,
        key=f"factor_{version}_{layer}",
        disabled=kind != "scale",
        help="Scale: each chosen channel is multiplied by this.",
    )
    if kind == "zero":
        interventions.pop(layer, None)
    else:
        interventions[layer] = {"kind": kind, "factor": float(factor)}
    maps = oriented_maps(lm, layer, tr[layer])

    def _toggle(c: int, layer: str = layer) -> None:
        """A tile was clicked (runs before the rerun): freeze or release filter c. The layer is
        bound now: the callback runs before the next run, when this run's names may be gone."""
        now = set(config.get(layer, [])) ^ {c}
        if now:
            config[layer] = sorted(now)
        else:
            config.pop(layer, None)

    if maps is not None:
        # NeuralVis' filter panel: every filter's map for this input; click a tile to choose it.
        st.markdown(
            f"Filters of **{layer}** for this input: click a tile to choose it "
            f"(chosen: grey, outlined) · {len(chosen)} of {n_ch} chosen"
        )
        filter_picker(maps, set(chosen), key=f"fz_grid_{version}_{layer}", on_toggle=_toggle)
    else:  # a vector (dense units): numbers to pick, no maps to show
        picked = st.multiselect(
            f"Frozen units of {layer}",
            list(range(n_ch)),
            default=chosen,
            key=f"multi_{version}_{layer}",
        )
        if sorted(picked) != chosen:
            if picked:
                config[layer] = sorted(picked)
            else:
                config.pop(layer, None)
            st.rerun()
with right:
    st.markdown("**Configuration**")
    if config:

        def _what(k: str) -> str:
            kd = interventions.get(k, {"kind": "zero"})
            return f"scale × {kd['factor']:g}" if kd["kind"] == "scale" else KIND_TITLES[kd["kind"]]

        st.dataframe(
            pd.DataFrame(
                {
                    "layer": list(config),
                    "intervention": [_what(k) for k in config],
                    "filters": [", ".join(map(str, v)) for v in config.values()],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("Nothing frozen yet.")
    doc = to_config(with_kinds(config, interventions), model=lm.name, model_sha256=lm.sha256)
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download config",
        json.dumps(doc, indent=2).encode(),
        file_name="freeze_config.json",
        mime="application/json",
        key="dl_freeze",
        width="stretch",
    )
    if c2.button("Reset all", key="reset_freeze", width="stretch", disabled=not config):
        _set_config({})
        st.rerun()
    up = st.file_uploader(
        "Load a config (ours, or NeuralVis' list of layer_name / feature_index)",
        type=["json"],
        key=f"freeze_upload_{version}",
    )
    if up is not None:
        try:
            parsed = parse_config(json.loads(up.getvalue()))
            new = validate(lm.tracer.plan, tr, parsed)
        except (ValueError, UnicodeDecodeError) as e:
            st.error(f"{up.name}: {e}")
        else:
            _set_config({k: list(v) for k, v in new.items()}, kinds_of(parsed))
            st.rerun()

share_view(lm, sample, layer=layer)

# ---- effect ----------------------------------------------------------------------------------------
st.subheader("2 · Effect")
fkey = cache.frozen_key(config, interventions)
with st.spinner(
    f"Recomputing the layers after {', '.join(config) or 'the frozen ones'} with "
    f"{sum(map(len, config.values()))} filters frozen…",
    show_time=True,
):
    ftr, fprobs = cache.trace_frozen(lm, sample, fkey)
p1, p2 = st.columns(2)
with p1:
    prediction(lm, probs, key="before", title="Prediction", true_label=sample.label, height=150)
with p2:
    prediction(lm, fprobs, key="after", title="Prediction with frozen filters", height=150)
    acting = {k: v for k, v in interventions.items() if k in config}
    if acting:
        st.caption(
            "With interventions: "
            + "; ".join(
                f"{k} {KIND_TITLES[v['kind']]}"
                + (f" × {v['factor']:g}" if v["kind"] == "scale" else "")
                for k, v in acting.items()
            )
        )
if lm.kind == "audio":
    st.page_link(
        "pages/audio.py",
        icon=":material/hearing:",
        label="Hear what each filter hears with this configuration (Audio page, Hear a filter)",
    )
if not config:
    st.info("Freeze some filters above to see their effect.")
else:
    changed = label_of(lm, probs) != label_of(lm, fprobs)
    cls = int(np.argmax(probs))
    st.markdown(
        ("**The prediction changed.** " if changed else "")
        + f"Probability of class {lm.labels[cls]}: {probs[cls]:.1%} → {fprobs[cls]:.1%}."
    )
    dist = layer_distances(tr, ftr)
    distance_chart(dist, key="freeze_dist")
    first = min(lm.tracer.plan.index(n) for n in config)
    later = lm.tracer.plan.names[first:]
    show = st.selectbox(
        "Layer to inspect (the earliest frozen layer and everything after it)",
        later,
        key="freeze_show",
    )
    a, b = tr[show], ftr[show]
    ma, mb = oriented_maps(lm, show, a), oriented_maps(lm, show, b)
    st.caption(f"{show}: output {shape_text(a)}")
    cols = st.columns(3)
    if ma is not None:
        lo, hi = float(min(ma.min(), mb.min())), float(max(ma.max(), mb.max()))
        cols[0].image(grid_png(ma, vrange=(lo, hi))[0], caption="before", width="stretch")
        # Grey: the channels an intervention acts on ("keep only": all the others).
        acted = set(config.get(show, []))
        if interventions.get(show, {}).get("kind") == "keep":
            acted = set(range(mb.shape[-1])) - acted
        cols[1].image(
            grid_png(mb, vrange=(lo, hi), dim=frozenset(acted))[0],
            caption="after (frozen filters grey)",
            width="stretch",
        )
        gd, dlo, dhi = grid_png(mb - ma, cmap="diverging")
        cols[2].image(gd, caption="after − before (red: higher, blue: lower)", width="stretch")
        with cols[0]:
            legend(lo, hi, "viridis", key="fl1", title="activation")
        with cols[2]:
            legend(dlo, dhi, "diverging", key="fl2", title="after − before")
    else:
        labels = lm.labels if show == lm.tracer.plan.output_name else None
        with cols[0]:
            vector_chart(a, key="fa", labels=labels)
        with cols[1]:
            vector_chart(b, key="fb", labels=labels)
        with cols[2]:
            vector_chart(np.ravel(b) - np.ravel(a), key="fd", labels=labels, difference=True)


def _freeze_export():
    out = dict(
        settings={
            "sample": sample.name,
            "frozen": config,
            "interventions": interventions,
            "config": to_config(
                with_kinds(config, interventions), model=lm.name, model_sha256=lm.sha256
            ),
        },
        predictions={"before": probs, "after": fprobs},
    )
    if config:
        out["tables"] = {"distances": dist}
        if ma is not None:  # the grids drawn above
            out["images"] = {
                f"before_{show}": feature_grid(ma, vrange=(lo, hi))[0],
                f"after_{show}": feature_grid(mb, vrange=(lo, hi))[0],
                f"after_minus_before_{show}": gd,
            }
        else:  # a dense layer: its units as heat grids, before and after on one scale
            va, vb = np.ravel(a), np.ravel(b)
            vr = (float(min(va.min(), vb.min())), float(max(va.max(), vb.max())))
            out["images"] = {
                f"before_{show}": vector_image(va, vrange=vr),
                f"after_{show}": vector_image(vb, vrange=vr),
                f"after_minus_before_{show}": vector_image(vb - va, cmap="diverging"),
            }
    return out


export_button(lm, "Freeze", _freeze_export, key="export_freeze")

# ---- what matters ----------------------------------------------------------------------------------
st.subheader("3 · What matters")
# Only the open tab runs; its widgets keep their values while the other is open.
keep_widget_state("imp_layer", "imp_batch", "topk", "sal_method", "sal_layer", "sal_alpha")
if st.session_state.get("imp_layer") not in layers:
    st.session_state["imp_layer"] = layer
imp_tab, sal_tab = lazy_tabs(MATTERS_TABS, key="freeze_matters_tab", label="What matters")
with imp_tab:
    if imp_tab.open:
        st.caption(
            "Freeze each filter of a layer alone and measure the drop in the predicted "
            "class's logit (its score before the softmax) and probability for the current "
            "input, and the accuracy drop over a batch of labelled samples."
        )
        c1, c2 = st.columns([2, 3])
        imp_layer = c1.selectbox("Layer to rank", layers, key="imp_layer")
        builtin = cache.gallery(lm.card)
        held_out = cache.probe_samples(lm, 200)
        batch_options = [
            f"{len(held_out)} real held-out inputs",
            f"the {len(builtin)} built-in samples",
            "the sample list",
        ]
        if st.session_state.get("imp_batch") not in batch_options:  # kept from another model
            st.session_state.pop("imp_batch", None)
        batch_choice = c2.radio(
            "Accuracy over",
            batch_options,
            horizontal=True,
            key="imp_batch",
        )
        if st.button("Rank filters", key="rank", type="primary"):
            pool = {
                "the sample list": [s for s in samples().values() if s.kind == lm.kind],
                f"the {len(builtin)} built-in samples": builtin,
            }.get(batch_choice, held_out)
            batch = [sample] + [s for s in pool if s.key != sample.key]
            try:
                labels = [s.label for s in batch]
                with heavy_job(f"Freezing the filters of {imp_layer} one at a time") as job:
                    df = api.importance(
                        lm,
                        [s.raw for s in batch],
                        imp_layer,
                        labels=labels,
                        on_progress=job.progress,
                    )
                made_by = (lm.key, sample.key, imp_layer)
                keep("importance", made_by, Ranking(df, sum(y in lm.labels for y in labels)))
            except (ValueError, LayerLabError) as e:
                st.error(str(e))
        ranking = kept("importance", (lm.key, sample.key, imp_layer))
        if ranking is not None:
            df, n_lab = ranking
            cls_name = lm.labels[int(np.argmax(probs))]
            top = df.head(20).copy()
            top["filter"] = top["channel"].astype(str)
            # One panel per measure (their units differ), rows in the ranking's order.
            names = {
                "logit_drop": f"logit of class {cls_name} (ranks)",
                "prob_drop": f"probability of class {cls_name}",
                "accuracy_drop": f"accuracy over {n_lab} inputs",
            }
            # One chart per measure (their units differ), side by side (stacked on a phone), rows
            # in the ranking's order.
            shown_m = [m for m in names if m in df]
            for col, m, colour in zip(
                st.columns(len(shown_m)), shown_m, ["#4c78a8", "#f58518", "#54a24b"]
            ):
                altair(
                    lambda m=m, colour=colour: (
                        alt.Chart(top)
                        .mark_bar(color=colour)
                        .encode(
                            y=alt.Y(
                                "filter:N",
                                sort=list(top["filter"]),
                                title=f"filter of {imp_layer}",
                                axis=alt.Axis(labelOverlap=False, labelFlush=False),
                            ),
                            x=alt.X(
                                f"{m}:Q",
                                title=f"drop in {names[m]}",
                                axis=alt.Axis(format=".3~g", tickCount=4),
                            ),
                            tooltip=["filter", alt.Tooltip(f"{m}:Q", format=".4g", title=names[m])],
                        )
                        .properties(height=18 * len(top))
                    ),
                    key=f"imp_chart_{m}",
                    deps=(top, m, colour, imp_layer, names[m]),
                    where=col,
                    width="stretch",
                )
            flat_p, flat_z = all_negligible(df, "prob_drop"), all_negligible(df, "logit_drop")
            if flat_z:
                st.warning(
                    f"Freezing any single filter of {imp_layer} alone leaves the class score "
                    "unchanged (every drop is ~0), so this order says nothing. Freeze several "
                    "at once, or rank another layer."
                )
            elif flat_p:
                st.info(
                    f"The model is sure of class {cls_name} ({probs.max():.4%}): freezing any "
                    "single filter leaves that probability where it is (every drop is ~0). "
                    "The ranking therefore uses the drop in the class's **logit** (its score "
                    "before the softmax), which still moves."
                )
            st.caption(
                f"Top {len(top)} of {len(df)} filters, ranked by the logit drop"
                + (f"; accuracy over {n_lab} labelled inputs" if "accuracy_drop" in df else "")
                + ". Download the full table below."
            )
            ranked = [int(c) for c in df["channel"]]
            c1, c2, c3 = st.columns([1, 2, 2], vertical_alignment="bottom")
            if not 1 <= st.session_state.get("topk", 0) <= len(df):  # first, or a shorter ranking
                st.session_state["topk"] = min(3, len(df))
            k = int(c1.number_input("k", 1, len(df), key="topk"))
            best = ranked[:k]
            mine = config.get(imp_layer, [])
            if c2.button(
                f"Add the top {k} to the selection",
                key="freeze_topk",
                help=f"Keeps what is chosen in {imp_layer} ({len(mine)} now) and adds "
                f"filters {', '.join(map(str, best))}.",
            ):
                _set_config({**config, imp_layer: sorted(set(mine) | set(best))})
                st.rerun()
            lost = sorted(set(mine) - set(best))
            if c3.button(
                f"Replace the selection with the top {k}",
                key="replace_topk",
                help=f"Freeze exactly filters {', '.join(map(str, best))} in {imp_layer}.",
            ):
                if lost:  # never drop filters chosen by hand without asking
                    st.session_state["confirm_replace"] = (imp_layer, tuple(best))
                else:
                    _set_config({**config, imp_layer: best})
                    st.rerun()
            ask = st.session_state.get("confirm_replace")
            if ask and ask[0] == imp_layer and ask[1] == tuple(best) and lost:
                st.warning(
                    f"Replacing would release {len(lost)} filter{'s' * (len(lost) != 1)} "
                    f"chosen in {imp_layer} ({', '.join(map(str, lost))}) and freeze only "
                    f"{', '.join(map(str, best))}."
                )
                y, n = st.columns(2)
                if y.button(
                    f"Yes, replace ({len(lost)} released)", key="replace_yes", type="primary"
                ):
                    st.session_state.pop("confirm_replace")
                    _set_config({**config, imp_layer: best})
                    st.rerun()
                if n.button("Cancel", key="replace_no"):
                    st.session_state.pop("confirm_replace")
                    st.rerun()
            csv_button(
                df,
                "Download ranking (CSV)",
                file_name=f"importance_{imp_layer}.csv",
                key="dl_imp",
                where=c3,
            )
            top_filters_exemplars(
                lm, imp_layer, [int(c) for c in df["channel"].head(5)], key="imp_ex"
            )

with sal_tab:
    if sal_tab.open:
        saliency_tab(lm, sample, tr, fprobs, config=config, fkey=fkey)
