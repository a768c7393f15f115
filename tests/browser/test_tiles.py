"""Channel tiles in a real browser: every tile carries its channel number, a click opens it."""

from __future__ import annotations

from urllib.parse import quote

from ._helpers import expect, open_app, shot, wait_for_app

LINK = "?model=lenet_mnist&sample=" + quote("digit 3 (style 1)")


def tile(page, chart_key: str, channel: int):
    """Channel `channel`'s click target in the tile chart with this widget key."""
    return page.locator(f".st-key-{chart_key}").locator(f'path[aria-label="channel {channel}"]')


def test_clicking_a_trace_tile_opens_that_channel(page):
    open_app(page, LINK)
    chart = page.locator(".st-key-layer_conv2_tiles")
    chart.scroll_into_view_if_needed()
    # The numbers are drawn on the chart, one per channel (conv2 has 64).
    expect(chart.locator("svg text").get_by_text("30", exact=True)).to_have_count(1)
    tile(page, "layer_conv2_tiles", 30).click()
    wait_for_app(page)
    expect(page.get_by_text("conv2 channel 30: min", exact=False).first).to_be_visible()
    # The picker at the top followed the click (and with it the share link's layer).
    expect(page.get_by_role("combobox", name="Layer").first).to_have_value("conv2")
    expect(page.get_by_role("spinbutton", name="Channel")).to_have_value("30")
    shot(page, "trace_tile_30")


def test_clicking_a_compare_tile_opens_it_for_both_inputs(page):
    open_app(page, "compare" + LINK + "&b=" + quote("digit 8 (style 1)") + "&layer=conv1")
    expect(page.get_by_role("heading", name="Side by side")).to_be_visible()
    tile(page, "compare_tiles_B", 7).click()
    wait_for_app(page)
    for who in ("A: digit 3 (style 1)", "B: digit 8 (style 1)", "A − B"):
        expect(page.get_by_text(f"conv1 channel 7 · {who}", exact=False)).to_be_visible()
    shot(page, "compare_tile_7")
