"""Widgets and displays shared by the pages: charts, legends, layer outputs, the export button."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from html import escape
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.graph.interventions import Freeze
from core.model.load import LoadedModel
from core.show.render import (
    apply_colormap,
    as_maps,
    channel_image,
    png_url,
)
from pages._images import arrow_bytes, dataset, digest, frame_key, grid_png, png, remember
from pages._state import freeze_kinds
from pages._tiles import draw_tiles, fit_cell, shrink_to_column, tile_spec

# Chart data reaches the browser as Arrow bytes (altair() below), never as inline JSON, so
# Altair's 5,000-row guard against huge notebook outputs does not apply here: a ResNet50 x VGG
# CKA map has 6,903 cells. (Process-wide library setting, made once on import.)
alt.data_transformers.disable_max_rows()

LAYERS_PER_PAGE = 8  # every_layer: layers drawn at once (the rest a page at a time)


def export_button(lm: LoadedModel, page: str, build, *, key: str) -> None:
    """One download per page: a ZIP (core.share.export) built only when clicked.

    build() returns the keyword arguments of core.share.export.export_zip except page/model.
    """
    from core.share.export import export_zip

    stamp = f"layerlab_{page.lower()}_{lm.name}.zip".replace(" ", "_")
    st.download_button(
        "Export (ZIP)",
        data=lambda: export_zip(page=page, model=lm, **build()),
        file_name=stamp,
        mime="application/zip",
        key=key,
        on_click="ignore",
        icon=":material/folder_zip:",
        help="Settings, model identity (name, file hash), predictions, and the "
        "pictures (PNG), sounds (WAV) and tables (CSV) shown here.",
    )


def label_of(lm: LoadedModel, probs: np.ndarray) -> str:
    return lm.labels[int(np.argmax(probs))]


def prediction(
    lm: LoadedModel,
    probs: np.ndarray,
    *,
    key: str,
    title: str = "Prediction",
    true_label: str | None = None,
    height: int = 180,
) -> None:
    """The Prediction metric and a bar chart of class probabilities."""
    top = int(np.argmax(probs))
    st.metric(title, lm.labels[top], help="The class with the highest probability.")
    st.caption(
        f"confidence {probs[top]:.1%}"
        + (f" · true label {true_label}" if true_label is not None else "")
    )
    df = pd.DataFrame({"class": lm.labels, "probability": probs.astype(float)})
    order = lm.labels
    if len(df) > 20:  # many classes: the 10 most probable, highest first
        df = df.nlargest(10, "probability")
        order = list(df["class"])
        st.caption(f"The 10 most probable of {len(lm.labels)} classes.")
    # Horizontal bars: every class name gets its own row, never dropped for lack of room
    # (rotated column labels lost half of CIFAR-10's). height is a minimum.
    vega(
        df,
        {
            "mark": "bar",
            "height": max(height, 20 * len(order) + 40),
            "encoding": {
                "y": {
                    "field": "class",
                    "type": "nominal",
                    "sort": order,
                    "title": None,
                    "axis": {
                        "labelOverlap": False,
                        "labelLimit": 160,
                        "labelPadding": 4,
                        "labelFlush": False,
                    },
                },
                "x": {
                    "field": "probability",
                    "type": "quantitative",
                    "scale": {"domain": [0, 1]},
                    "title": "probability",
                    "axis": {"format": "%", "values": [0, 0.25, 0.5, 0.75, 1], "labelFlush": False},
                },
                "color": {
                    "condition": {
                        "test": {"field": "class", "equal": lm.labels[top]},
                        "value": "#e45756",
                    },
                    "value": "#4c78a8",
                },
                "tooltip": [
                    {"field": "class", "type": "nominal"},
                    {"field": "probability", "type": "quantitative", "format": ".2%"},
                ],
            },
        },
        key=key,
    )


def vega(
    df: pd.DataFrame,
    spec: dict,
    *,
    key: str,
    content: Hashable = None,
    width: int | Literal["stretch", "content"] = "stretch",
) -> None:
    """A chart from a Vega-Lite spec (what Altair produces), drawn at the container's width
    (or `width`).

    The shared charts are written as specs: building them with Altair costs its schema
    validation on every rerun (about 100 ms a chart on this machine), a spec nothing. The
    frame goes as a dataset of Arrow bytes memoised by content (pages._images.dataset; content:
    the caller's key for the frame's content)."""
    st.vega_lite_chart(
        {**spec, "datasets": {"table": dataset(df, content)}, "data": {"name": "table"}},
        width=width,
        key=key,
    )


def _dep(v: Any) -> Hashable:
    """A hashable stand-in for what a chart depends on (frames and arrays by content)."""
    if isinstance(v, pd.DataFrame):
        return frame_key(v)
    if isinstance(v, np.ndarray):
        return digest(v)
    if isinstance(v, (list, tuple)):
        return tuple(_dep(x) for x in v)
    return v


def altair(build: Callable[[], Any], *, key: str, deps: tuple, where: Any = None, **kwargs) -> None:
    """An Altair chart, built by build() once per deps in this session: Altair validates a
    chart against its schema when it is built and again when it is converted (50-250 ms a
    chart here), so a rerun that changed nothing reuses the spec. deps: everything build()
    reads (frames and arrays are keyed by content). where: the container (default st)."""

    def make() -> dict:
        spec = build().to_dict()
        # Its datasets (records) as Arrow bytes, which Streamlit sends without converting.
        for name, rows in spec.get("datasets", {}).items():
            spec["datasets"][name] = arrow_bytes(pd.DataFrame(rows))
        return spec

    spec = remember(("altair", key, _dep(deps)), make, size=lambda v: len(str(v)))
    (where or st).vega_lite_chart(spec, key=key, **kwargs)


def legend_inline(vmin: float, vmax: float, cmap: str, *, title: str = "activation") -> str:
    """A colour-scale legend to sit in a line of text: low value, gradient, high value, title."""
    return (
        f"<span style='white-space:nowrap'>{title} {vmin:.3g} <img src='{_gradient(cmap)}' "
        "width='120' height='10' alt='' style='vertical-align:middle;border-radius:0.3rem'> "
        f"{vmax:.3g}</span>"
    )


def _gradient(cmap: str) -> str:
    return remember(
        ("legend", cmap),
        lambda: png_url(apply_colormap(np.linspace(0, 1, 240)[None].repeat(14, axis=0), cmap)),
    )


def legend(vmin: float, vmax: float, cmap: str, *, key: str, title: str = "activation") -> None:
    """A colour-scale legend: the gradient with its end and middle values, in one element."""
    mid = (vmin + vmax) / 2
    st.markdown(
        f"<div><img src='{_gradient(cmap)}' width='240' height='14' alt=''"
        " style='display:block;border-radius:0.5rem'>"
        f"<div style='display:flex;justify-content:space-between;width:240px;"
        f"font-size:0.8rem;opacity:0.8;margin-top:0.4rem'><span>{vmin:.3g}</span>"
        f"<span>{mid:.3g}</span><span>{vmax:.3g}</span></div>"
        f"<div style='font-size:0.8rem;opacity:0.65;width:240px;text-align:center'>{title}</div>"
        "</div>",
        unsafe_allow_html=True,
    )


def shape_text(a: np.ndarray) -> str:
    return "×".join(str(d) for d in np.shape(a)) or "scalar"


def csv_button(
    df: pd.DataFrame, label: str, *, file_name: str, key: str, where: Any = st, **kwargs: Any
) -> None:
    """A download button for a table as CSV (no index column); kwargs: download_button's."""
    where.download_button(
        label,
        df.to_csv(index=False).encode(),
        file_name=file_name,
        mime="text/csv",
        key=key,
        **kwargs,
    )


def signed_bars(field: str, name: str, fmt: str) -> dict:
    """Vega-Lite encoding of bars of `field`: blue where >= 0, orange below; the tooltip names
    the bar (`name` field) and gives the value (d3 format `fmt`)."""
    return {
        "color": {
            "condition": {"test": f"datum.{field} >= 0", "value": "#4c78a8"},
            "value": "#f58518",
        },
        "tooltip": [
            {"field": name, "type": "nominal"},
            {"field": field, "type": "quantitative", "format": fmt},
        ],
    }


def vector_chart(
    v: np.ndarray,
    *,
    key: str,
    labels: list[str] | None = None,
    height: int = 140,
    difference: bool = False,
) -> None:
    """A dense layer's output: a bar chart (few units) or a heat strip (many). difference: v
    is a difference (A − B, after − before): the strip is diverging, centred on zero, so "no
    change" is neutral (a sequential map drew it as its brightest colour)."""
    v = np.ravel(v).astype(float)
    if v.size <= 128:
        named = labels is not None and len(labels) == v.size
        idx = labels if named else [str(i) for i in range(v.size)]
        df = pd.DataFrame({"unit": idx, "value": v, "order": range(v.size)})
        unit = {
            "field": "unit",
            "type": "nominal",
            "sort": {"field": "order"},
            "title": "class" if named else "unit",
        }
        value = {"field": "value", "type": "quantitative", "title": "activation"}
        enc = signed_bars("value", "unit", ".4g")
        if named:  # class names: one row each, every name shown (as in prediction())
            spec = {
                "height": max(height, 20 * v.size + 40),
                "encoding": {
                    **enc,
                    "x": value,
                    "y": {
                        **unit,
                        "axis": {"labelOverlap": False, "labelLimit": 160, "labelFlush": False},
                    },
                },
            }
        else:  # unit numbers: columns, thinned where they would overlap
            spec = {
                "height": height,
                "encoding": {
                    **enc,
                    "y": value,
                    "x": {**unit, "axis": {"labelAngle": 0, "labelOverlap": True}},
                },
            }
        vega(df, {"mark": "bar", **spec}, key=key)
    else:
        cols = int(np.ceil(np.sqrt(v.size * 8)))
        grid = np.full(int(np.ceil(v.size / cols)) * cols, np.nan)
        grid[: v.size] = v
        grid = grid.reshape(-1, cols)
        if difference:
            top = float(np.abs(v).max()) or 1.0
            img, vmin, vmax = grid_png(
                np.nan_to_num(grid, nan=0.0)[..., None],
                cell=max(cols * 4, 200),
                cmap="diverging",
                vrange=(-top, top),
            )
            what = "red +, blue −, white 0"
        else:
            img, vmin, vmax = grid_png(
                np.nan_to_num(grid, nan=np.nanmin(v))[..., None], cell=max(cols * 4, 200)
            )
            what = "range"
        st.image(
            img,
            caption=f"{v.size} units as a heat strip, row by row ({what} {vmin:.3g} … {vmax:.3g})",
        )


def layer_page(names: list[str], *, key: str, size: int = LAYERS_PER_PAGE) -> list[tuple[int, str]]:
    """(number, name) of the layers to draw: all of them, or with more than `size` a picker
    of pages of `size` (every layer drawn at once costs a long page and a slow rerun: a big
    layer's tile picture costs the browser ~6 ms on every rerun)."""
    pages = (len(names) + size - 1) // size
    start = 0
    if pages > 1:
        page = st.selectbox(
            "Layers",
            range(pages),
            key=key,
            format_func=lambda p: (
                f"{p * size + 1}–{min((p + 1) * size, len(names))} of {len(names)}"
            ),
        )
        start = page * size
    return list(enumerate(names[start : start + size], start=start + 1))


def every_layer(
    lm: LoadedModel,
    tr: dict[str, np.ndarray],
    names: list[str],
    *,
    scale: str,
    key: str,
    maps: Callable[[str, np.ndarray], np.ndarray | None] | None = None,
    on_pick: Callable[[str], Callable[[int], None] | None] | None = None,
) -> None:
    """The layers of a trace, a page at a time: each one's number, name, type and shape, then
    its output (layer_output). maps(name, output): its channels as oriented pictures (audio);
    on_pick(name): what a click on one of its tiles also does, or None."""
    types = lm.tracer.plan.layer_types()
    shown = layer_page(names, key=f"{key}_page")
    shrink_to_column(*(f"{key}_{name}_tiles" for _, name in shown))  # one element for all
    for i, name in shown:
        a = tr[name]
        layer_output(
            name,
            a,
            scale=scale,
            key=f"{key}_{name}",
            title=f"**{i}. {name}** · {types.get(name, '')} · output {shape_text(a)}",
            labels=lm.labels if name == lm.tracer.plan.output_name else None,
            maps=None if maps is None else maps(name, a),
            on_pick=None if on_pick is None else on_pick(name),
            shrink=False,
        )


def layer_output(
    name: str,
    a: np.ndarray,
    *,
    scale: str,
    key: str,
    title: str = "",
    labels: list[str] | None = None,
    maps: np.ndarray | None = None,
    on_pick=None,
    shrink: bool = True,
) -> None:
    """One layer's output: a head (title, its numbers, the colour scale), then numbered tiles
    of all channels (a click opens one large beside them) or a vector chart.

    Two elements a layer (three with one opened): each element is a message and ~1 ms of the
    browser's time on every rerun, and a page draws LAYERS_PER_PAGE layers (issue 35 item 14).
    title: markdown that leads the head (the layer's number, name and shape).
    maps: the channels as pictures, when the caller orients them (audio: time left to right).
    on_pick(channel): also told when a tile is clicked (e.g. to sync a page's own picker).
    shrink: False when the caller gave the tiles' shrink_to_column style (key + "_tiles").
    """
    maps = as_maps(a) if maps is None else maps
    numbers = (
        f"min {a.min():.3g} · max {a.max():.3g} · mean {a.mean():.3g} · "
        f"{float(np.mean(a == 0)):.0%} of values are exactly 0"
    )
    if maps is None:
        head_note(title, numbers)
        vector_chart(a, key=key, labels=labels)
        return
    n = maps.shape[-1]
    # Few channels (a spectrogram): draw them large; many: small tiles, all on one grid.
    cell = fit_cell(n) if n > 2 else 280
    open_key = f"{key}_open"
    opened = st.session_state.get(open_key)
    opened = opened if opened is not None and opened < n else None

    def pick(ch: int) -> None:
        st.session_state[open_key] = ch
        if on_pick is not None:
            on_pick(ch)

    spec, vmin, vmax = tile_spec(maps, picked=opened, scale=scale, cell=cell)
    colours = (
        legend_inline(vmin, vmax, "viridis")
        if scale == "shared"
        else "each channel stretched to its own min…max (dark: its minimum, yellow: its maximum)"
    )
    head_note(
        title,
        f"{n} channel{'s' * (n != 1)}, {maps.shape[0]}×{maps.shape[1]} each"
        + (" · click one to open it large" if n > 1 else "")
        + f" · {numbers}",
        colours,
    )
    if opened is None or n == 1:
        draw_tiles(spec, key=f"{key}_tiles", on_pick=pick, shrink=shrink)
        return
    left, right = st.columns([3, 1])
    with left:
        draw_tiles(spec, key=f"{key}_tiles", on_pick=pick, shrink=shrink)
    with right:
        ch = maps[..., opened]
        st.image(
            png(channel_image(ch, size=200, vrange=(vmin, vmax) if scale == "shared" else None)),
            caption=f"{name} channel {opened}: min {ch.min():.3g}, max {ch.max():.3g}, "
            f"mean {ch.mean():.3g}",
            width=200,
        )


def head_note(
    title: str,
    small: str,
    tail: str = "",
    *,
    width: int | Literal["stretch", "content"] = "stretch",
) -> None:
    """A title line, smaller and quieter lines under it, then `tail` (a legend: its colours at
    full strength), in one element. title is markdown and is HTML-escaped (it can hold an
    uploaded model's layer names or a user's sample name); small and tail are our own HTML."""
    st.markdown(
        (f"{escape(title, quote=False)}  \n" if title else "")
        + f"<span style='font-size:0.875rem;opacity:0.65'>{small}</span>"
        + (f"  \n<span style='font-size:0.875rem'>{tail}</span>" if tail else ""),
        unsafe_allow_html=True,
        width=width,
    )


def distance_chart(
    df: pd.DataFrame, *, key: str, highlight: str | None = None, height: int = 320
) -> None:
    """Cosine distance per layer, in graph order: where two inputs part ways."""
    long = df.rename(
        columns={"cosine_distance": "cosine distance", "relative_l2": "relative L2"}
    ).melt(
        id_vars=["step", "layer"],
        value_vars=["cosine distance", "relative L2"],
        var_name="measure",
        value_name="distance",
    )
    order = list(df["layer"])
    x = {
        "field": "layer",
        "type": "nominal",
        "sort": order,
        "title": "layer (graph order)",
        "axis": {"labelAngle": -40, "labelOverlap": False, "labelLimit": 110, "labelFlush": False},
    }
    enc = {
        "x": x,
        "y": {"field": "distance", "type": "quantitative", "title": "distance"},
        "color": {
            "field": "measure",
            "type": "nominal",
            "title": None,
            "legend": {"orient": "top"},
            "scale": {"range": ["#4c78a8", "#f58518"]},
        },
        "tooltip": [
            {"field": "layer", "type": "nominal"},
            {"field": "measure", "type": "nominal"},
            {"field": "distance", "type": "quantitative", "format": ".3f"},
        ],
    }
    layers: list[dict] = [
        {"mark": "line", "encoding": enc},
        {"mark": {"type": "point", "filled": True, "size": 45}, "encoding": enc},
    ]
    if highlight is not None:
        layers.append(
            {
                "data": {"values": [{"layer": highlight}]},
                "mark": {"type": "rule", "color": "#e45756", "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "layer", "type": "nominal", "sort": order}},
            }
        )
    vega(long, {"height": height, "layer": layers}, key=key)


def freeze_note(lm: LoadedModel, *, applies: bool, key: str, what: str = "this page") -> tuple:
    """Say whether the Freeze page's configuration acts here; returns the cache.frozen_key to
    trace with (empty: none, or the "Without freezing" toggle is on, or it does not apply).

    applies: whether the page can use it (Trace and Compare do; Attack attacks the plain model).
    """
    config = st.session_state.get("frozen", {}).get(lm.sha256, {})
    if not config:
        return ()
    kinds = freeze_kinds(lm)
    parts = [
        f"**{layer}** {', '.join(map(str, chans))}"
        + (f" ({kinds[layer]['kind']})" if layer in kinds else "")
        for layer, chans in config.items()
    ]
    n = sum(map(len, config.values()))
    frozen = f"{n} frozen filter{'s' * (n != 1)}: " + "; ".join(parts)
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        if not applies:
            st.caption(
                f":material/ac_unit: {frozen}. Not applied on {what}: it runs on the "
                "unmodified model."
            )
            st.page_link("pages/freeze.py", label="Freeze page", icon=":material/ac_unit:")
            return ()
        off = st.toggle(
            "Without freezing",
            key=f"{key}_unfrozen",
            help="Show the unmodified model; the configuration stays as it is.",
        )
        st.caption(
            f":material/ac_unit: {frozen}. "
            + (
                "**Not applied now** (toggle off to apply it)."
                if off
                else f"Applied on {what}: every layer after them uses the frozen output."
            )
        )
        st.page_link("pages/freeze.py", label="Change", icon=":material/tune:")
    return Freeze() if off else cache.frozen_key(config, kinds)
