"""The Freeze page's filter picker: every filter's map as a numbered tile; a click on a tile
toggles that filter.

One st.components.v2 element (inline HTML/JS, no iframe, no build step) for the whole layer:
the tiles wrap to the width there is (a phone gets several per row), each keeps its number, and
a layer of 512 filters is still one element. The tile itself is the control (role "checkbox",
aria-label "freeze filter N", keyboard: Tab then Space), so nothing sits between two tiles.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from core.show.render import feature_grid, png_url
from pages._images import digest, remember

_JS = """
export default function(component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector('.ll-grid');
  if (!root) {
    root = document.createElement('div');
    root.className = 'll-grid';
    parentElement.appendChild(root);
  }
  root.style.setProperty('--tile', data.size + 'px');
  root.replaceChildren(...data.tiles.map((t) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'll-tile';
    b.setAttribute('role', 'checkbox');
    b.setAttribute('aria-checked', t.on ? 'true' : 'false');
    b.setAttribute('aria-label', data.label + ' ' + t.n);
    b.title = data.label + ' ' + t.n + (t.on ? ' (chosen: click to release)' : '');
    const img = document.createElement('img');
    img.src = t.src;
    img.alt = '';
    const num = document.createElement('span');
    num.textContent = String(t.n);
    b.append(img, num);
    b.onclick = () => setTriggerValue('toggled', t.n);
    return b;
  }));
}
"""

_CSS = """
.ll-grid {
  display: flex; flex-wrap: wrap; gap: 6px;
  font-family: var(--st-font, sans-serif);
}
.ll-tile {
  display: flex; flex-direction: column; align-items: center; gap: 2px;
  padding: 3px; margin: 0; cursor: pointer;
  background: transparent; color: var(--st-text-color, inherit);
  border: 2px solid transparent; border-radius: 6px;
}
.ll-tile:hover { border-color: var(--st-border-color, #bbb); }
.ll-tile:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); }
.ll-tile img {
  width: var(--tile); height: var(--tile); object-fit: contain;
  image-rendering: pixelated; display: block;
}
.ll-tile span { font-size: 12px; line-height: 14px; font-variant-numeric: tabular-nums; }
.ll-tile[aria-checked="true"] {
  border-color: var(--st-primary-color, #ff4b4b);
  background: var(--st-secondary-background-color, #f0f2f6);
}
.ll-tile[aria-checked="true"] span { font-weight: 700; color: var(--st-primary-color, #ff4b4b); }
"""

_grid = st.components.v2.component("layerlab_filter_grid", html="<div></div>", css=_CSS, js=_JS)


def _clicked(key: str, on_toggle: Callable[[int], None]) -> None:
    """Runs before the rerun a click starts, so that run already draws the new choice."""
    value = (st.session_state.get(key) or {}).get("toggled")
    if value is not None:
        on_toggle(int(value))


def filter_picker(
    maps: np.ndarray,
    chosen: set[int],
    *,
    key: str,
    on_toggle: Callable[[int], None],
    label: str = "freeze filter",
    size: int = 44,
) -> None:
    """Draw (H, W, C) maps as C numbered tiles on one colour scale; chosen ones are greyed and
    outlined. on_toggle(channel) runs when a tile is clicked."""
    srcs = tile_srcs(maps, frozenset(chosen))
    tiles = [{"n": c, "on": c in chosen, "src": src} for c, src in enumerate(srcs)]
    _grid(
        key=key,
        data={"tiles": tiles, "size": size, "label": label},
        on_toggled_change=lambda: _clicked(key, on_toggle),
    )


def _tile(maps: np.ndarray, c: int, vrange: tuple[float, float], dim: bool) -> str:
    """Channel c as a PNG data URL on the colour scale vrange (greyed where dim). Each map at
    its own size (the browser enlarges it, pixelated): a small payload. [2:-2] drops
    feature_grid's white frame around a one-channel grid."""
    grid = feature_grid(
        maps[..., c : c + 1], vrange=vrange, cell=1, dim={0} if dim else frozenset()
    )[0]
    return png_url(grid[2:-2, 2:-2])


def tile_srcs(maps: np.ndarray, chosen: frozenset[int]) -> list[str]:
    """Every channel's tile, memoised in the session by the maps' content (pages._images): a
    rerun re-encoded every tile (a VGG layer: ~160 ms), a toggle encodes only its own."""
    key = digest(maps)
    vrange = float(maps.min()), float(maps.max())  # one colour scale for the layer
    plain = remember(
        ("filter_tiles", *key),
        lambda: [_tile(maps, c, vrange, False) for c in range(maps.shape[-1])],
        size=lambda v: sum(map(len, v)),
    )
    return [
        remember(("filter_tile_dim", *key, c), lambda c=c: _tile(maps, c, vrange, True))
        if c in chosen
        else src
        for c, src in enumerate(plain)
    ]
