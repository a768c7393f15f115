"""A layer's channels as numbered tiles: one Vega-Lite chart, and a click on a tile picks it.

The maps are one picture (core.show.render.feature_grid, enlarged nearest-neighbour in NumPy and
drawn 1:1, so nothing is smoothed); the chart lays a transparent box over every tile (its
click target, tooltip and aria-label "channel N") and writes the channel number above it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from core.show.render import feature_grid, grid_layout, grid_shape, png_url
from pages._images import arrow_bytes, digest, remember

BAND = 14  # px above each row of tiles for the channel numbers


def dark_theme() -> bool:
    """Whether the viewer's page is dark (Streamlit's theme setting or the browser's)."""
    return getattr(st.context.theme, "type", None) == "dark"


def fit_cell(c: int, cell: int = 56, width: int = 860) -> int:
    """A tile size at which the grid of c channels is at most `width` pixels wide."""
    cols = grid_shape(c)[1]
    return max(12, min(cell, width // cols - 2))


def shrink_to_column(*keys: str) -> None:
    """Let the fixed-size charts with these keys shrink as a whole in a narrower column (a
    phone) instead of being clipped; clicks still land where they should (the SVG has a
    viewBox). One style element for all of them: each element is a message to the browser."""
    rules = ", ".join(f".st-key-{k} .vega-embed, .st-key-{k} svg.marks" for k in keys)
    st.html(f"<style>{rules} {{max-width: 100% !important; height: auto !important}}</style>")


def picture(img: np.ndarray) -> tuple[dict, dict[str, bytes]]:
    """A Vega-Lite layer that draws a picture 1:1 from the top left (pixel coordinates; its
    clickable boxes go on layers above it), and the dataset it reads: the picture's PNG data
    URL as Arrow bytes, which Streamlit sends as they are. (Inline in the spec, the URL, tens
    of KB, was JSON-encoded, decoded and encoded again on every run: ~1 ms a chart.)"""
    layer = {
        "data": {"name": "picture"},
        "mark": {
            "type": "image",
            "width": img.shape[1],
            "height": img.shape[0],
            "align": "left",
            "baseline": "top",
            "smooth": False,
            "aspect": False,
        },
        "encoding": {
            "x": {"value": 0},
            "y": {"value": 0},
            "url": {"field": "url", "type": "nominal"},
        },
    }
    return layer, {"picture": arrow_bytes(pd.DataFrame({"url": [png_url(img)]}))}


def pixel_scales(width: int, height: int) -> tuple[dict, dict]:
    """Vega-Lite x and y scales in a picture's pixels: one unit is one pixel, y runs down."""
    return (
        {"domain": [0, width], "range": [0, width], "nice": False, "zero": False},
        {"domain": [0, height], "range": [0, height], "nice": False, "zero": False},
    )


def span(xs: dict, ys: dict) -> dict:
    """The encoding of a mark from each datum's (x0, y0) to (x1, y1) on these scales, no axes."""
    q = "quantitative"
    return {
        "x": {"field": "x0", "type": q, "scale": xs, "axis": None},
        "x2": {"field": "x1"},
        "y": {"field": "y0", "type": q, "scale": ys, "axis": None},
        "y2": {"field": "y1"},
    }


def click_pick(name: str, fields: list[str]) -> dict:
    """A Vega-Lite selection `name`: a click picks one datum by `fields` (a click elsewhere
    keeps it; a second click on it does not unpick it)."""
    return {
        "name": name,
        "select": {
            "type": "point",
            "fields": fields,
            "on": "click",
            "clear": False,
            "toggle": False,
        },
    }


def _picked(key: str, on_pick: Callable[[int], None]) -> None:
    """on_select callback (runs before the rerun): hand the clicked channel to on_pick."""
    points = st.session_state[key]["selection"].get("tile") or []
    if points:
        on_pick(int(points[0]["channel"]))


def _spec(
    maps: np.ndarray,
    scale: str,
    cmap: str,
    vrange: tuple[float, float] | None,
    dim: frozenset[int],
    cell: int,
    picked: int | None,
    value: str,
) -> tuple[dict, float, float]:
    """The tile grid's Vega-Lite spec (the picture as a PNG data URL, one box per tile) and
    the value range of its colours."""
    h, w, c = maps.shape
    img, lo, hi = feature_grid(
        maps, scale=scale, cmap=cmap, vrange=vrange, dim=dim, cell=cell, band=BAND, background=None
    )
    height, width, _, boxes = grid_layout(h, w, c, cell=cell, band=BAND)
    flat = maps.reshape(-1, c)
    mins, maxs, means = (f(axis=0).astype(float).tolist() for f in (flat.min, flat.max, flat.mean))
    tiles = [
        {
            "channel": k,
            "x0": b[1],
            "x1": b[3],
            "y0": b[0],
            "y1": b[2],
            "ty": b[0] - 2,
            "min": mins[k],
            "max": maxs[k],
            "mean": means[k],
            "desc": f"channel {k}" + (" (frozen)" if k in dim else ""),
            "picked": k == picked,
        }
        for k, b in enumerate(boxes)
    ]
    # Pixel coordinates of the picture: y runs down, one unit is one pixel. A Vega-Lite spec,
    # not Altair objects: building those costs their schema validation on every rerun
    # (~0.4 s for a page of layers on this machine).
    q = "quantitative"
    xs, ys = pixel_scales(width, height)
    ink = "#e6e6e6" if dark_theme() else "#31333f"
    picture_, picture_data = picture(img)
    boxes_layer = {
        "mark": {"type": "rect", "fill": "#ffffff", "fillOpacity": 0.01, "cursor": "pointer"},
        "params": [click_pick("tile", ["channel"])],
        "encoding": {
            **span(xs, ys),
            "stroke": {"condition": {"test": "datum.picked", "value": "#e45756"}, "value": None},
            "strokeWidth": {"value": 3},
            "description": {"field": "desc", "type": "nominal"},
            "tooltip": [{"field": "channel", "type": q, "title": "channel"}]
            + [
                {"field": f, "type": q, "format": ".3g", "title": f"{f} {value}"}
                for f in ("min", "max", "mean")
            ],
        },
    }
    numbers = {
        "mark": {
            "type": "text",
            "align": "left",
            "baseline": "bottom",
            "fontSize": 10,
            "color": ink,
        },
        "encoding": {
            "x": span(xs, ys)["x"],
            "y": {"field": "ty", "type": q, "scale": ys, "axis": None},
            "text": {"field": "channel", "type": "nominal"},
        },
    }
    spec = {
        "width": width,
        "height": height,
        "padding": 0,
        "config": {"view": {"stroke": None}},
        # The tiles as Arrow bytes: Streamlit sends them as they are (values inline in a spec
        # are converted to Arrow on every run).
        "datasets": {"tiles": arrow_bytes(pd.DataFrame(tiles)), **picture_data},
        "data": {"name": "tiles"},
        "layer": [picture_, boxes_layer, numbers],
    }
    return spec, lo, hi


def tile_spec(
    maps: np.ndarray,
    *,
    picked: int | None = None,
    scale: str = "shared",
    cmap: str = "viridis",
    vrange: tuple[float, float] | None = None,
    dim: set[int] | frozenset[int] = frozenset(),
    cell: int = 56,
    value: str = "activation",
) -> tuple[dict, float, float]:
    """The tile grid of (H, W, C) maps as a Vega-Lite spec, with the value range of its
    colours (a legend drawn before the grid needs it). Built once per picture, choice and
    theme, and kept in the session (pages._images): a rerun that changed nothing only sends it."""
    key_ = ("tiles", *digest(maps), scale, cmap, vrange, tuple(sorted(dim)), cell, picked, value)
    return remember(
        (*key_, dark_theme()),
        lambda: _spec(maps, scale, cmap, vrange, frozenset(dim), cell, picked, value),
        size=lambda v: sum(map(len, v[0]["datasets"].values())),
    )


def draw_tiles(
    spec: dict, *, key: str, on_pick: Callable[[int], None] | None = None, shrink: bool = True
) -> None:
    """Draw a tile_spec; on_pick(channel) runs when a tile is clicked (before the page reruns).
    shrink: its own shrink_to_column style (False: the caller gave one for several grids)."""
    if shrink:
        shrink_to_column(key)
    st.vega_lite_chart(
        spec,
        width="content",
        key=key,
        on_select=partial(_picked, key, on_pick) if on_pick else "ignore",
        selection_mode="tile" if on_pick else None,
    )


def tile_grid(
    maps: np.ndarray,
    *,
    key: str,
    on_pick: Callable[[int], None] | None = None,
    shrink: bool = True,
    **look: Any,
) -> tuple[float, float]:
    """Draw (H, W, C) maps as numbered tiles (tile_spec with the options in `look`, then
    draw_tiles); returns the value range of the colours."""
    spec, lo, hi = tile_spec(maps, **look)
    draw_tiles(spec, key=key, on_pick=on_pick, shrink=shrink)
    return lo, hi
