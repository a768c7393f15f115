"""The Filters view in a real browser: a conv layer's exemplar patches load and can be shared."""

from __future__ import annotations

import re

from ._helpers import expect, open_app, shot, wait_for_app, wait_for_images

_LOADED = """els => els.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"""


def test_filters_view_shows_exemplar_images_of_a_conv_layer(page):
    open_app(page, "filters?model=lenet_mnist&layer=conv1")
    expect(page.get_by_role("heading", name="Filters", exact=True)).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"^2000 held-out inputs indexed · the scan itself took"))
    ).to_be_visible()
    expect(page.get_by_role("combobox", name="Layer").first).to_have_value("conv1 · Conv2D")
    expect(page.get_by_text("Channel 0", exact=True)).to_be_visible()
    # Exemplar patches: captions "activation · class" under real, decoded images.
    patches = page.locator('[data-testid="stImage"]').filter(
        has=page.get_by_text(re.compile(r"^\d+\.\d\d · \d$"))
    )
    expect(patches.first).to_be_visible()
    assert patches.locator("img").count() >= 8 * 9  # one image element per channel's row
    wait_for_images(page)
    sizes = patches.locator("img").evaluate_all(_LOADED)
    assert all(ok and w > 0 and h > 0 for ok, w, h in sizes[:9]), sizes[:9]
    # conv1 is 5×5 'same': a unit sees at most 5×5 pixels, drawn as a small square patch.
    expect(
        page.get_by_text(re.compile(r"unit sees rows \d+–\d+, cols \d+–\d+")).first
    ).to_be_visible()
    shot(page, "filters_conv1")
    # The address bar holds the view.
    assert "layer=conv1" in page.url and "model=lenet_mnist" in page.url


def test_filters_view_sorted_by_selectivity(page):
    open_app(page, "filters?model=lenet_mnist")
    page.get_by_text("selectivity", exact=True).click()
    wait_for_app(page)
    heads = page.get_by_text(re.compile(r"^Channel \d+$"))
    expect(heads.first).to_be_visible()
    assert heads.count() == 8
