"""A dark theme (the browser's colour scheme, which Streamlit follows): every chart's words
stay readable, on the pages with the most charts."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from ._helpers import expect, open_app, open_tab, shot, wait_for_app
from .conftest import _session_page

# Per text of every Vega chart: its fill as rendered, and whether it is a guide (axis, legend,
# title) or a tile's channel number; the structure graph's names sit on light boxes, not on the
# page, so they are left out.
_TEXTS = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"] svg text'))
  .filter(t => t.textContent.trim() && t.getClientRects().length)
  .map(t => ({text: t.textContent, fill: getComputedStyle(t).fill,
              guide: !!t.closest('.role-axis, .role-legend, .role-title'),
              tile: !!t.closest('[class*="_tiles"]')}))"""


def _luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.fixture
def dark_page(browser, app_url, request):
    yield from _session_page(browser, app_url, request, color_scheme="dark")


def _check_page(page, name: str) -> int:
    wait_for_app(page)
    bg = page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
    )
    assert _luminance(bg) < 0.25, f"the page is not dark: {bg}"
    texts = [t for t in page.evaluate(_TEXTS) if t["guide"] or t["tile"]]
    dark = [t for t in texts if _luminance(t["fill"]) < 0.45]
    assert not dark, f"{name}: unreadable on a dark page: {dark[:8]}"
    shot(page, f"dark_{name}")
    return len(texts)


def test_charts_are_readable_in_the_dark(dark_page):
    page = dark_page
    open_app(page, "?model=lenet_mnist&sample=" + quote("digit 3 (style 1)"))
    expect(page.locator(".st-key-layer_conv1_tiles svg.marks")).to_be_visible()
    assert _check_page(page, "trace") > 20  # axis labels and tile numbers were checked
    # The colour legend's numbers follow the theme's text colour.
    legend = page.get_by_text("activation", exact=True).first
    assert _luminance(legend.evaluate("e => getComputedStyle(e).color")) > 0.45

    open_app(
        page,
        "compare?model=lenet_mnist&sample="
        + quote("digit 3 (style 1)")
        + "&b="
        + quote("digit 8 (style 1)")
        + "&layer=conv1",
    )
    expect(page.locator(".st-key-compare_tiles_A svg.marks")).to_be_visible()
    page.locator(".st-key-compare_tiles_d").scroll_into_view_if_needed()
    assert _check_page(page, "compare") > 20

    open_app(page, "structure?model=vgg_cifar10")
    expect(page.get_by_text("Training history", exact=False)).to_be_visible()
    open_tab(page, "Graph")
    expect(page.locator(".st-key-structure_graph svg.marks")).to_be_visible()
    assert _check_page(page, "structure") > 10
