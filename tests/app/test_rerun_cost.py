"""What a warm rerun sends (issue 35 item 14): every element is a message the server hands to
its event loop and the browser renders, so a page sends no element twice where one does."""

from __future__ import annotations

import pytest

from tests.app._app import open_app

pytestmark = pytest.mark.slow  # AppTest runs of pages with the real models


def _styles(at) -> list[str]:
    """The bodies of the page's st.html elements that style charts."""
    return [h.proto.body for h in at.get("html") if "vega-embed" in h.proto.body]


def test_every_layer_styles_all_its_tile_grids_in_one_element():
    at = open_app("pages/trace.py")
    names = [n for n in at.session_state["model"].tracer.names if n != "input"]
    styles = _styles(at)
    assert len(styles) == 1, styles  # one per layer before
    shown = [n for n in names if f".st-key-layer_{n}_tiles " in styles[0]]
    assert shown and len(shown) == min(len(names), 12), (shown, names)  # every drawn grid


def test_a_colour_legend_is_one_element_with_its_gradient():
    at = open_app("pages/trace.py")
    legends = [m.value for m in at.markdown if "activation</div>" in m.value]
    assert legends and all("<img src='data:image/png;base64," in v for v in legends), legends
    # The gradient is no element of its own (a 240-px-wide st.image before).
    assert not [i for i in at.get("imgs") if i.proto.width == 240]
