"""The Freeze page's "Input saliency" tab: gradient or Grad-CAM of the (frozen) model, overlaid
on its input (a time profile for a waveform model)."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import api, cache
from core.errors import LayerLabError
from core.graph.interventions import Freeze
from core.inputs.image import to_display
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.show.audio_view import display_maps, time_profile
from core.show.render import apply_colormap, overlay
from pages._images import png
from pages._jobs import spinner
from pages._widgets import altair, legend


def saliency_tab(
    lm: LoadedModel,
    sample: Sample,
    tr: dict[str, np.ndarray],
    fprobs: np.ndarray,
    *,
    config: dict[str, Any],
    fkey: Freeze,
) -> None:
    """Widgets, one cached core call (cache.saliency), the map."""
    c1, c2, c3, c4 = st.columns(4)
    method = c1.radio(
        "Method",
        ["Gradient", "Grad-CAM"],
        key="sal_method",
        help="Gradient: |∂score/∂pixel|. Grad-CAM: a convolutional layer's maps "
        "weighted by the score's mean gradient (Selvaraju et al. 2017).",
    )
    spec = lm.card.get("spectrogram_layer") if lm.kind == "audio" else None
    cam_layers = api.grad_cam_layers(lm)
    convs = lm.tracer.plan.map_convs(cam_layers)
    auto = f"auto ({convs[-1]} block)" if convs else "auto (last spatial layer)"
    if st.session_state.get("sal_layer") not in [auto, *cam_layers]:  # kept from another model
        st.session_state.pop("sal_layer", None)
    cam_choice = (
        c2.selectbox(
            "Grad-CAM layer",
            [auto] + cam_layers,
            key="sal_layer",
            disabled=method != "Grad-CAM",
            help="auto: the last convolution's activation, the convolution "
            "itself or the layers between, whichever first shows "
            "positive evidence for the class.",
        )
        if cam_layers
        else None
    )
    target = c3.selectbox("Class", lm.labels, index=int(np.argmax(fprobs)), key="sal_class")
    st.session_state.setdefault("sal_alpha", 0.6)  # no default beside a kept value
    alpha = c4.slider("Opacity", 0.0, 1.0, step=0.05, key="sal_alpha")
    cls = lm.labels.index(target)
    try:
        with spinner(f"{method} saliency for class {target}", frozen=config):
            grad_cam = method == "Grad-CAM" and cam_choice is not None
            layer = None if not grad_cam or cam_choice == auto else cam_choice
            sal, cam_layer = cache.saliency(lm, sample, method, cls, layer, fkey)
    except LayerLabError as e:
        st.error(str(e))
        return
    if lm.kind == "audio" and not spec:  # a waveform model: a time profile over the clip
        times, curves = time_profile(sal, tr["input"], int(lm.card["input"]["sample_rate"]))
        df = pd.DataFrame({"time (s)": times, method: curves[0], "|waveform|": curves[1]}).melt(
            "time (s)", var_name="curve", value_name="normalised"
        )
        altair(
            lambda: (
                alt.Chart(df)
                .mark_line()
                .encode(x="time (s):Q", y="normalised:Q", color="curve:N")
                .properties(height=220)
            ),
            key="sal_profile",
            deps=(df,),
            width="stretch",
        )
        st.caption(
            f"{method} for class {target}"
            + (f" at {cam_layer}" if cam_layer else "")
            + " over the clip's time, with the waveform's envelope for reference."
        )
        return
    if spec:  # audio: saliency over the model's own spectrogram, time left to right
        s_img = display_maps(tr[spec])[..., 0]
        base_img = (255 * (s_img - s_img.min()) / (np.ptp(s_img) or 1.0)).astype(np.uint8)
        sal = display_maps(sal)[..., 0]
    else:
        base_img = to_display(tr["input"], lm.card)
    rgb = base_img[..., None].repeat(3, -1) if base_img.ndim == 2 else base_img
    heat = apply_colormap(sal / (sal.max() or 1.0), "viridis")
    over = overlay(rgb, heat, alpha=alpha)
    up = max(1, 280 // max(over.shape[:2]))
    c1, c2 = st.columns(2)
    c1.image(
        png(over.repeat(up, 0).repeat(up, 1)),
        width=280,
        caption=f"{method} for class {target}"
        + (f" at {cam_layer}" if cam_layer else "")
        + (" (with frozen filters)" if config else ""),
    )
    c2.image(png(heat.repeat(up, 0).repeat(up, 1)), width=280, caption="the map alone")
    if not sal.max() > 0:
        st.info(
            f"The {method} map is zero everywhere: at {cam_layer!r} nothing speaks *for* "
            f"class {target} (Grad-CAM keeps only positive evidence). Try another layer "
            "or class."
        )
    with c2:
        legend(
            0.0,
            float(sal.max()),
            "viridis",
            key="sal_leg",
            title="|gradient|" if method == "Gradient" else "Grad-CAM (normalised)",
        )
