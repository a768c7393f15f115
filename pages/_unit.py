"""The arithmetic of one unit (Trace page): a channel's map whose positions can be clicked, and
the panel that shows how the clicked unit's value came about (core.analysis.unit), with a
button to walk to the input unit that contributed most.

Session key: "unit_at" (model key, layer, channel, position) of the unit shown.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.errors import LayerLabError
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.show.audio_view import display_maps
from core.show.render import channel_image
from pages._images import arrow_bytes, digest, png, remember
from pages._tiles import click_pick, picture, pixel_scales, span
from pages._widgets import signed_bars, vega

TOP = 16  # contributions drawn as bars (the largest by size)


def _clicked(key: str, lm: LoadedModel, layer: str, channel: int) -> None:
    points = st.session_state[key]["selection"].get("cell") or []
    if points:
        pos = (int(points[0]["y"]), int(points[0]["x"]))
        st.session_state["unit_at"] = (lm.key, layer, channel, pos)


def _map_spec(
    m: np.ndarray, raw: np.ndarray, size: int, picked: tuple[int, int] | None, axes: tuple[str, str]
) -> dict:
    """m: (H, W) the map as drawn; raw: (H, W, 2) each drawn cell's position in the layer's own
    (row, column) order, which a click selects (a drawn picture may be turned, e.g. audio)."""
    h, w = m.shape
    img = channel_image(m, size=size)
    ch, cw = img.shape[0] / h, img.shape[1] / w
    ys, xs = np.mgrid[0:h, 0:w]
    ry, rx = raw[..., 0].ravel(), raw[..., 1].ravel()
    cells = pd.DataFrame(
        {
            "y": ry,
            "x": rx,
            "x0": xs.ravel() * cw,
            "x1": (xs.ravel() + 1) * cw,
            "y0": ys.ravel() * ch,
            "y1": (ys.ravel() + 1) * ch,
            "value": m.ravel().astype(float),
            "picked": [(int(a), int(b)) == picked for a, b in zip(ry, rx)],
            "desc": [f"{axes[0]} {a}, {axes[1]} {b}" for a, b in zip(ry, rx)],
        }
    )
    q = "quantitative"
    xs_, ys_ = pixel_scales(img.shape[1], img.shape[0])
    picture_, picture_data = picture(img)
    return {
        "width": img.shape[1],
        "height": img.shape[0],
        "padding": 0,
        "config": {"view": {"stroke": None}},
        "datasets": {"cells": arrow_bytes(cells), **picture_data},
        "data": {"name": "cells"},
        "layer": [
            picture_,
            {
                "mark": {
                    "type": "rect",
                    "fill": "#ffffff",
                    "fillOpacity": 0.01,
                    "cursor": "crosshair",
                },
                "params": [click_pick("cell", ["y", "x"])],
                "encoding": {
                    **span(xs_, ys_),
                    "stroke": {
                        "condition": {"test": "datum.picked", "value": "#e45756"},
                        "value": None,
                    },
                    "strokeWidth": {"value": 2},
                    "description": {"field": "desc", "type": "nominal"},
                    "tooltip": [
                        {"field": "y", "type": q, "title": axes[0]},
                        {"field": "x", "type": q, "title": axes[1]},
                        {"field": "value", "type": q, "format": ".4g", "title": "activation"},
                    ],
                },
            },
        ],
    }


def position_map(
    lm: LoadedModel,
    layer: str,
    channel: int,
    m: np.ndarray,
    *,
    size: int = 240,
    turn: Callable[[np.ndarray], np.ndarray] | None = None,
    axes: tuple[str, str] = ("row", "column"),
) -> None:
    """One channel's (H, W) map; a click on a position shows that unit's arithmetic. turn:
    how the page draws a layer's (H, W, C) maps (e.g. audio's time left to right), applied to
    the picture and, so a click lands on the right unit, to the positions."""
    at = st.session_state.get("unit_at")
    picked = at[3] if at and at[:3] == (lm.key, layer, channel) and len(at[3]) == 2 else None

    def make() -> dict:
        raw = np.stack(np.indices(m.shape), axis=-1)  # (H, W, 2) each unit's own position
        if turn is None:
            return _map_spec(m, raw, size, picked, axes)
        return _map_spec(turn(m[..., None])[..., 0], turn(raw), size, picked, axes)

    spec = remember(
        ("unit_map", *digest(m), size, picked, turn is None),
        make,
        size=lambda v: sum(map(len, v["datasets"].values())),
    )
    key = f"unit_map_{layer}_{channel}"
    st.vega_lite_chart(
        spec,
        width="content",
        key=key,
        on_select=partial(_clicked, key, lm, layer, channel),
        selection_mode="cell",
    )


def _go(lm: LoadedModel, ref, spatial: list[str], picker: str) -> None:
    st.session_state["unit_at"] = (lm.key, ref.layer, ref.channel, ref.position)
    if ref.layer in spatial:  # the large map follows the walk
        st.session_state[f"{picker}_layer"] = ref.layer
        st.session_state[f"{picker}_channel_{ref.layer}"] = ref.channel


def _small(a: np.ndarray, caption: str, *, cmap: str = "viridis") -> None:
    a = np.asarray(a, np.float32)
    a2 = a if a.ndim == 2 else a[None] if a.ndim == 1 else a.reshape(a.shape[0], -1)
    st.image(png(channel_image(a2, size=96, cmap=cmap)), caption=caption, width=96)


def unit_panel(
    lm: LoadedModel,
    sample: Sample,
    *,
    spatial: list[str],
    frozen: bool,
    picker: str = "big",
    hint: bool = True,
) -> None:
    """How the value of the unit in "unit_at" came about, and the walk upstream (of the model
    as trained: frozen filters are not applied here). picker: the key prefix of the page's
    layer and channel widgets ("<picker>_layer", "<picker>_channel_<layer>"), which follow the
    walk. hint: say how to pick a unit while none is (False: the caller's caption says it)."""
    at = st.session_state.get("unit_at")
    if not at or at[0] != lm.key:
        if hint:
            st.caption("Click a position on the large map above to see how its value is computed.")
        return
    _, layer, channel, pos = at
    try:
        u = cache.unit(lm, sample, layer, channel, tuple(pos))
    except LayerLabError as e:
        st.info(str(e), icon=":material/calculate:")
        return
    where = f"at ({', '.join(map(str, u.position))})" if u.position else ""
    st.markdown(f"**{u.layer}** · {u.kind} · channel {u.channel} {where}")
    c = st.columns(5)
    c[0].metric("Σ contributions", f"{u.contributions.sum():.5g}")
    c[1].metric("bias", f"{u.bias:.5g}")
    c[2].metric("pre-activation", f"{u.pre_activation:.5g}")
    c[3].metric(f"{u.activation_name}(pre-activation)", f"{u.activation:.5g}")
    c[4].metric("traced value", f"{u.traced:.5g}", help=f"|recomputed − traced| = {u.error:.2g}")
    st.caption(u.note)
    if frozen:
        st.caption(
            "This is the arithmetic of the model without freezing: the maps above are frozen."
        )
    order = np.argsort(-np.abs(u.contributions))[:TOP]
    bars = pd.DataFrame(
        {
            "part": [u.parts[i] for i in order],
            "contribution": u.contributions[order],
            "rank": range(len(order)),
        }
    )
    if len(u.contributions) > 1:
        st.markdown(
            f"**Contributions** ({len(order)} largest of {len(u.contributions)})"
            if len(u.contributions) > TOP
            else "**Contributions**"
        )
        vega(
            bars,
            {
                "mark": "bar",
                "height": max(120, 18 * len(bars)),
                "encoding": {
                    "y": {
                        "field": "part",
                        "type": "nominal",
                        "sort": {"field": "rank"},
                        "title": None,
                        "axis": {"labelLimit": 220, "labelOverlap": False},
                    },
                    "x": {"field": "contribution", "type": "quantitative"},
                    **signed_bars("contribution", "part", ".5g"),
                },
            },
            key="unit_contributions",
        )
    if u.patch is not None and u.patch.ndim >= 2:
        st.markdown(
            "**Window, kernel and products** of the strongest input channels (0 where padding)"
        )
        for j in (
            order[:4] if u.channels is not None and len(u.channels) == len(u.contributions) else [0]
        ):
            cols = st.columns(4)
            with cols[0]:
                _small(u.patch[..., j], f"{u.input_layer} ch {int(u.channels[j])}: window")
            if u.kernel is not None:
                with cols[1]:
                    _small(u.kernel[..., j], "kernel", cmap="diverging")
                with cols[2]:
                    _small(u.products[..., j], "products", cmap="diverging")
            if u.kernel is not None:
                cols[3].caption(f"sum of products: {float(u.contributions[j]):.5g}")
    up = u.upstream
    if up is None:
        return
    if up.layer == "input":
        st.success(
            f"The strongest contribution comes from the model input itself: channel {up.channel} "
            f"at {up.position}.",
            icon=":material/image:",
        )
        return
    st.button(
        f"Walk upstream: {up.layer} channel {up.channel}"
        + (f" at {up.position}" if up.position else ""),
        key="unit_upstream",
        icon=":material/arrow_upward:",
        on_click=_go,
        args=(lm, up, spatial, picker),
        help="The input unit that contributed most to this one; its own arithmetic.",
    )


def unit_section(
    lm: LoadedModel, sample: Sample, tr: dict[str, np.ndarray], *, timefreq: list[str]
) -> None:
    """The Audio page's unit arithmetic: a layer and channel picker, its clickable map (the
    time-frequency layers drawn as the page draws them: time left to right, low frequencies at
    the bottom) and the panel. Trace opens its channel large above and calls position_map and
    unit_panel itself."""
    spatial = [n for n in tr if n != "input" and np.ndim(tr[n]) == 3]  # (H, W, C) maps
    if not spatial:
        st.caption("This model has no layer with 2-D maps whose units can be clicked.")
        return
    types = lm.tracer.plan.layer_types()
    first = next((i for i, n in enumerate(spatial) if "Conv" in types.get(n, "")), 0)
    row = st.container(horizontal=True)  # side by side (no column each)
    layer = row.selectbox("Layer", spatial, index=first, key="unit_layer")
    n_ch = int(tr[layer].shape[-1])
    ch = int(row.number_input("Channel", 0, n_ch - 1, key=f"unit_channel_{layer}"))
    turned = layer in timefreq
    position_map(
        lm,
        layer,
        ch,
        tr[layer][..., ch],
        size=640 if turned else 320,  # audio maps are wide (~126 frames): 5 px a unit
        turn=display_maps if turned else None,
        axes=("frame", "bin") if turned else ("row", "column"),
    )
    st.caption(
        f"{layer} channel {ch}"
        + (": time runs left to right, low frequencies at the bottom" if turned else "")
        + ". Click a position to see how its value is computed."
    )
    unit_panel(lm, sample, spatial=spatial, frozen=False, picker="unit", hint=False)
