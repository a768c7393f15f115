"""Freeze a filter by clicking, in a real browser, and see the later layers change."""

from __future__ import annotations

import re

from ._helpers import expect, metric_value, open_app, shot, wait_for_app, wait_for_images


def _image_with_caption(page, caption: str):
    return (
        page.locator('[data-testid="stImage"]')
        .filter(has=page.get_by_text(caption, exact=True))
        .locator("img")
    )


def test_freeze_a_filter_by_clicking(page):
    open_app(page, "freeze")
    expect(page.get_by_role("heading", name="Freeze filters", exact=True)).to_be_visible()
    expect(page.get_by_text("Freeze some filters above to see their effect.")).to_be_visible()
    # The default layer is the last convolution (conv2, 64 filters); the tile is the control.
    expect(page.get_by_role("combobox", name="Layer").first).to_have_value("conv2")
    tile = page.get_by_role("checkbox", name="freeze filter 30", exact=True)
    expect(tile).to_have_text("30")  # its number is on it
    expect(tile).not_to_be_checked()
    tile.scroll_into_view_if_needed()
    tile.click()
    wait_for_app(page)
    expect(tile).to_be_checked()
    # The configuration table says filter 30 of conv2, nothing else.
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_contain_text("conv2")
    assert (
        page.get_by_role("checkbox", name=re.compile(r"^freeze filter \d+$"), checked=True).count()
        == 1
    )
    expect(page.get_by_text("Freeze some filters above to see their effect.")).to_have_count(0)
    expect(metric_value(page, "Prediction with frozen filters")).to_have_text(
        re.compile(r"^\s*[0-9]\s*$")
    )
    expect(page.get_by_text(re.compile(r"^Probability of class 0: "))).to_be_visible()
    before = _image_with_caption(page, "before")
    after = _image_with_caption(page, "after (frozen filters grey)")
    after.scroll_into_view_if_needed()
    expect(after).to_be_visible()
    wait_for_images(page)
    # The after-maps differ from the before-maps (filter 5 is zero, drawn grey).
    assert before.screenshot() != after.screenshot()
    shot(page, "freeze_after_click")


def test_filter_tiles_wrap_several_to_a_row_at_phone_width(page):
    page.set_viewport_size({"width": 390, "height": 2400})
    open_app(page, "freeze")
    tiles = page.get_by_role("checkbox", name=re.compile(r"^freeze filter \d+$"))
    expect(tiles).to_have_count(64)
    first, second = tiles.nth(0).bounding_box(), tiles.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"] + first["width"] - 1
    tiles.nth(5).click()
    wait_for_app(page)
    expect(tiles.nth(5)).to_be_checked()
    shot(page, "freeze_phone")


def test_the_export_holds_pictures_when_a_dense_layer_is_inspected(page):
    """Issue 35 item 13: with a dense layer inspected, the Freeze export had no images."""
    import io
    import zipfile
    from urllib.parse import quote

    import numpy as np
    from PIL import Image

    open_app(
        page, "freeze?model=lenet_mnist&sample=" + quote("digit 3 (style 1)") + "&frozen=conv2:1.5"
    )
    page.get_by_role("combobox", name=re.compile("^Layer to inspect")).click()
    page.keyboard.type("fc1")
    page.keyboard.press("Enter")
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"^fc1: output"))).to_be_visible()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export (ZIP)").click()
    z = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
    names = z.namelist()
    for what in ("before", "after", "after_minus_before"):
        assert f"images/{what}_fc1.png" in names, names
    before = np.asarray(Image.open(io.BytesIO(z.read("images/before_fc1.png"))))
    after = np.asarray(Image.open(io.BytesIO(z.read("images/after_fc1.png"))))
    assert before.shape == after.shape and before.ndim == 3 and not np.array_equal(before, after)
