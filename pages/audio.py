"""Audio lab (d-DeVIS): record, upload or pick a spoken digit, edit it, trace it through every
layer, and hear what each filter hears."""

from __future__ import annotations

from functools import partial
from html import escape

import streamlit as st

from core import api, cache
from core.analysis.hearing import to_wav_bytes
from core.errors import InputError
from core.graph.interventions import Freeze
from core.inputs.edits import EDITS, Edit
from core.inputs.samples import Sample
from core.model.load import builtin_card
from core.show.audio_view import ensemble_note, filter_owner, hear_filter, time_freq_layers
from core.show.render import labelled_grid
from pages._audio_inputs import audio_inputs
from pages._audio_views import clip_panel, held_out_line, map_chart, oriented_maps, player
from pages._controls import colour_scale, lazy_tabs
from pages._jobs import heavy_job
from pages._links import share_view
from pages._panels import comparison, weights_panel
from pages._state import (
    add_sample,
    current_model,
    freeze_kinds,
    keep_widget_state,
    linked,
    run_trace,
    samples,
    selected_sample,
    usable_samples,
)
from pages._tiles import fit_cell, tile_grid
from pages._unit import unit_section
from pages._widgets import every_layer, export_button, legend, prediction, shape_text

METHODS = {"phase": "ISTFT with the input's phase", "griffinlim": "Griffin-Lim (phase estimated)"}


def _switch_model(name: str) -> None:
    st.session_state["model_choice"] = name  # a callback: runs before the sidebar is drawn


lm = current_model()
st.title("Audio lab")
INTRO = (
    "Record, upload or pick a spoken digit; edit it and see the prediction change; "
    "follow it through every layer and *hear* what each filter hears."
)

if lm.kind != "audio":
    st.caption(INTRO)
    audio_models = [n for n in api.builtin_names() if builtin_card(n)["input"]["kind"] == "audio"]
    st.info(f"{lm.card.get('title', lm.name)} takes images; this page is for audio models.")
    if audio_models:
        st.button(
            f"Switch to {builtin_card(audio_models[0]).get('title', audio_models[0])}",
            on_click=_switch_model,
            args=(audio_models[0],),
            key="to_audio_model",
            type="primary",
        )
    st.stop()

held_out = held_out_line(lm.card)  # the card's honest numbers, real speakers first
st.caption(INTRO + (f"  \n{held_out}" if held_out else ""))
SR = int(lm.card["input"]["sample_rate"])
WINDOW_S = lm.card["input"]["shape"][0] / SR


# ---- inputs --------------------------------------------------------------------------------------
audio_inputs(lm)

# ---- the clip and its edits ------------------------------------------------------------------------
sample = selected_sample(lm)
share_view(lm, sample, layer=st.session_state.get("hear_layer"))
stacks = st.session_state.setdefault("audio_edits", {})
stack: list[Edit] = stacks.setdefault(sample.key, [])

st.divider()
st.subheader(f"Edit · {sample.name}")
if sample.note:
    st.caption(sample.note)
try:
    edited = cache.edited(sample, tuple(stack), WINDOW_S) if stack else None
except InputError as e:  # a stack that no longer applies (should not happen: checked on add)
    st.error(f"The edits no longer apply: {e}")
    stack.clear()
    edited = None
current = edited if edited is not None else sample
duration = len(current.raw[0]) / SR

left, right = st.columns([2, 3], gap="large")
with left:
    op = st.selectbox("Edit", list(EDITS), format_func=lambda n: EDITS[n].label, key="edit_op")
    spec = EDITS[op]
    st.caption(spec.help)
    params: dict[str, float | int] = {}
    row = st.container(horizontal=True)  # the parameters side by side (no column each)
    for p in spec.params_for(duration):
        label = f"{p.label} ({p.unit})" if p.unit else p.label
        # The clip's duration is in the key: time limits change with every edit.
        wkey = f"edit_{op}_{p.name}_{duration:.3f}"
        if p.integer:
            params[p.name] = int(
                row.number_input(label, int(p.min), int(p.max), int(p.default), key=wkey)
            )
        else:
            params[p.name] = float(
                row.number_input(
                    label,
                    float(p.min),
                    float(p.max),
                    float(p.default),
                    float(p.step),
                    key=wkey,
                    format="%.2f",
                )
            )
    if st.button("Apply edit", key="apply_edit", type="primary", icon=":material/add:"):
        try:
            cache.edited(sample, tuple(stack + [Edit(op, params)]), WINDOW_S)
        except InputError as e:
            st.error(str(e))
        else:
            stack.append(Edit(op, params))
            st.rerun()
with right:
    st.markdown(
        "**Edit stack** (applied top to bottom)  \n"
        + (
            "\n".join(f"{i}. {e.describe()}" for i, e in enumerate(stack, 1))
            if stack
            else "<span style='font-size:0.875rem;opacity:0.65'>No edits yet: the clip is as "
            "recorded.</span>"
        ),
        unsafe_allow_html=True,
    )
    buttons = st.container(horizontal=True)  # three buttons in a row (no column each)
    if buttons.button(
        "Undo", key="undo_edit", disabled=not stack, icon=":material/undo:", width="stretch"
    ):
        stack.pop()
        st.rerun()
    if buttons.button(
        "Reset",
        key="reset_edits",
        disabled=not stack,
        icon=":material/restart_alt:",
        width="stretch",
    ):
        stack.clear()
        st.rerun()
    if buttons.button(
        "Add to samples",
        key="keep_edit",
        disabled=edited is None,
        icon=":material/playlist_add:",
        width="stretch",
        help="Store the edited clip in the sample list (for Compare and Freeze).",
    ):
        add_sample(
            Sample(
                f"{sample.name} edited",
                "audio",
                edited.raw,
                source="edited",
                label=sample.label,
                note=edited.note,
            )
        )

c1, c2 = st.columns(2)
with c1:
    clip_panel(sample, key="orig", title="Original")
with c2:
    if edited is not None:
        clip_panel(edited, key="edited", title="Edited", colour="#f58518")
    else:
        st.info(
            "Apply an edit to hear and see the result next to the original.", icon=":material/tune:"
        )

# ---- one core call ---------------------------------------------------------------------------------
tr, probs, notes = run_trace(lm, current)
if edited is not None:
    probs_orig = run_trace(lm, sample)[1]

# ---- prediction ------------------------------------------------------------------------------------
st.divider()
if edited is not None:
    p1, p2 = st.columns(2)
    with p1:
        prediction(
            lm,
            probs_orig,
            key="pred_orig",
            title="Prediction (original)",
            true_label=sample.label,
            height=160,
        )
    with p2:
        prediction(lm, probs, key="pred_edit", title="Prediction (edited)", height=160)
else:
    p1, p2 = st.columns([2, 3])
    with p1:
        prediction(lm, probs, key="pred", true_label=sample.label, height=160)
    with p2:
        converted = (
            ("Converted: " + "; ".join(notes) + ".")
            if notes
            else "The clip already fitted the window."
        )
        st.markdown(
            f"**What the model hears** · the {WINDOW_S:g} s window  \n"
            f"<span style='font-size:0.875rem;opacity:0.65'>{escape(converted)}</span>",
            unsafe_allow_html=True,
        )
        player(tr["input"], SR)
if edited is not None and notes:
    st.caption("Converted (edited clip): " + "; ".join(notes) + ".")


def _audio_export():
    audio = {"original": sample.raw, "model_window": (tr["input"], SR)}
    preds = {"clip": probs}
    if edited is not None:
        audio["edited"] = edited.raw
        preds = {"original": probs_orig, "edited": probs}
    layer, ch, method = hear_choice
    if layer in tf_layers:
        audio[f"{layer}_filter{ch}_{method}"] = (
            hear_filter(lm, tr, layer, int(ch), method=method),
            SR,
        )
    images = {
        n: labelled_grid(oriented_maps(lm, n, tr[n]), title=f"{n} · {shape_text(tr[n])}")
        for n in tf_layers
    }
    return dict(
        settings={
            "sample": sample.name,
            "edits": [e.describe() for e in stack],
            "conversions": notes,
            "hear": {"layer": layer, "filter": ch, "method": method},
        },
        predictions=preds,
        audio=audio,
        images=images,
    )


tf_layers = time_freq_layers(lm)
# Read now: the export runs later, on click, outside this script run.
hear_default = (
    next((n for n in tf_layers if n.endswith("relu")), tf_layers[0]) if tf_layers else None
)
hear_choice = (
    st.session_state.get("hear_layer", hear_default),
    st.session_state.get("hear_channel", 0),
    st.session_state.get("hear_method", "phase"),
)
export_button(lm, "Audio", _audio_export, key="export_audio")

# ---- views ------------------------------------------------------------------------------------------
VIEWS = [
    ":material/stacks: Every layer",
    ":material/hearing: Hear a filter",
    ":material/compare: Compare",
    ":material/bar_chart: Weights",
]
# Only the open tab runs. The hidden tabs' widgets keep their values (Streamlit forgets a
# widget's value on a run that does not draw it); a shared link to a filter opens its tab.
keep_widget_state(
    "hear_layer",
    "hear_channel",
    "hear_method",
    "hear_frozen",
    "audio_scale",
    "audio_layer_page",
    "audio_compare_layer",
    "audio_weights_layer",
    f"audio_compare_b_{edited is not None}",
)
if st.session_state.get("link_layer") is not None:
    st.session_state["audio_view_tab"] = VIEWS[1]
layers_tab, hear_tab, compare_tab, weights_tab = lazy_tabs(VIEWS, key="audio_view_tab")

frozen_cfg: dict[str, list[int]] = st.session_state.get("frozen", {}).get(lm.sha256, {})

with layers_tab:
    if layers_tab.open:
        scale = colour_scale(key="audio_scale", unit="filter")
        st.caption(
            "Time-frequency maps run left to right in time with low frequencies at the "
            f"bottom (clip {current.name!r})."
        )
        with st.expander("The arithmetic of one unit", expanded=True, icon=":material/calculate:"):
            unit_section(lm, current, tr, timefreq=tf_layers)
        names = [n for n in tr if n != "input"]
        maps = partial(oriented_maps, lm)
        every_layer(lm, tr, names, scale=scale, key="audio_layer", maps=maps)

with hear_tab:
    if hear_tab.open:
        if not tf_layers:
            st.info(
                "This model's card names no spectrogram layer, so its maps cannot be turned "
                "back into sound."
            )
        else:
            c1, c2, c3 = st.columns([2, 1, 2])
            # The layer lives in the session state only (keep_widget_state keeps it there):
            # a default index beside it made Streamlit warn on every run.
            link = linked("link_layer", tf_layers)
            if link or st.session_state.get("hear_layer") not in tf_layers:
                st.session_state["hear_layer"] = link or hear_default
            layer = c1.selectbox("Layer", tf_layers, key="hear_layer")
            maps = tr[layer]
            n_ch = int(maps.shape[-1])
            if st.session_state.get("hear_channel", 0) >= n_ch:  # kept from a wider layer
                st.session_state["hear_channel"] = 0
            ch = int(
                c2.number_input(
                    "Filter",
                    0,
                    n_ch - 1,
                    key="hear_channel",
                    help="Or click a filter's tile below.",
                )
            )
            method = c3.radio(
                "Inversion",
                list(METHODS),
                format_func=METHODS.get,
                key="hear_method",
                horizontal=True,
                help="ISTFT: the map masks the input's STFT, which is inverted with "
                "the input's own phase (faithful). Griffin-Lim: the phase is "
                "estimated from the masked magnitude alone.",
            )
            if "hear_frozen" not in st.session_state:  # on by default when filters are frozen
                st.session_state["hear_frozen"] = bool(frozen_cfg)
            use_frozen = st.toggle(
                f"With the frozen filters ({sum(map(len, frozen_cfg.values()))} set on the Freeze "
                "page)",
                disabled=not frozen_cfg,
                key="hear_frozen",
                help="Hear the mutated network: frozen filters are silent and later layers hear "
                "what reaches them.",
            )
            fkey = cache.frozen_key(frozen_cfg, freeze_kinds(lm)) if use_frozen else Freeze()
            with st.spinner("Recomputing the layers with the frozen filters…", show_time=True):
                shown = cache.trace_frozen(lm, current, fkey)[0] if fkey else tr
            pics = oriented_maps(lm, layer, shown[layer])
            dim = set(frozen_cfg.get(layer, [])) if fkey else set()
            g1, g2 = st.columns([3, 2])
            with g1:
                lo, hi = tile_grid(
                    pics,
                    key="hear_tiles",
                    dim=dim,
                    cell=fit_cell(n_ch, 48, 640),
                    picked=ch,
                    on_pick=partial(st.session_state.__setitem__, "hear_channel"),
                )
                st.caption(
                    f"all {n_ch} filters of {layer}"
                    + (" (frozen ones grey)" if dim else "")
                    + ": click one to hear it. "
                    + (ensemble_note(lm.card, n_ch) or "")
                )
            with g2:
                legend(lo, hi, "viridis", key="hear_legend")
            fmap = shown[layer][..., ch]
            owner = filter_owner(lm.card, n_ch, ch)  # (network, its filter, per network) or None
            m1, m2 = st.columns([3, 2], gap="large")
            with m1:
                map_chart(
                    lm,
                    fmap,
                    key="hear_map",
                    height=260,
                    title=f"{layer} · filter {ch}"
                    + (f" (network {owner[0]}'s filter {owner[1]})" if owner else "")
                    + (" (frozen)" if ch in dim else ""),
                )
            with m2:
                if method == "griffinlim":  # iterative: a heavy job on a shared server
                    with heavy_job(f"Griffin-Lim for filter {ch}"):
                        sound = cache.filter_audio(lm, current, fkey, layer, ch, method)
                else:
                    with st.spinner(
                        f"Turning filter {ch}'s map of {layer} into sound ({method})…",
                        show_time=True,
                    ):
                        sound = cache.filter_audio(lm, current, fkey, layer, ch, method)
                st.markdown(f"**What filter {ch} hears**")
                player(sound, SR)
                st.download_button(
                    "Download WAV",
                    to_wav_bytes(sound, SR),
                    file_name=f"{layer}_filter{ch}_{method}.wav",
                    mime="audio/wav",
                    key="dl_filter_wav",
                    icon=":material/download:",
                )
                st.markdown("**The model's input**")
                player(tr["input"], SR)
                st.caption(
                    "The map is stretched onto the input's STFT grid (mel rows at their "
                    "frequencies), scaled to 0…1 and used as a mask; loudness is "
                    "normalised so quiet filters are audible and nothing clips."
                )

with compare_tab:
    if compare_tab.open:
        options = (["(the edited clip)"] if edited is not None else []) + [
            n for n in usable_samples(lm) if n != sample.name
        ]
        if not options:
            st.info("Apply an edit, or add a second clip, to compare.")
        else:
            b_name = st.selectbox(
                f"Compare {sample.name!r} with",
                options,
                key=f"audio_compare_b_{edited is not None}",
            )
            b = edited if b_name == "(the edited clip)" else samples()[b_name]
            comparison(lm, sample, b, key="audio_compare", export=False)

with weights_tab:
    if weights_tab.open:
        weights_panel(lm, cache.structure(lm).table(), key="audio")
