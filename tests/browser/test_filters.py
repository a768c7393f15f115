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
        page.get_by_text(re.compile(r"best sees\s*rows \d+–\d+, cols \d+–\d+")).first
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


def _brightness(png: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), np.float32)


def test_exemplar_patches_stand_apart_on_lenet(page):
    """Issue 35 item 12: LeNet's black digit patches touched, one dark strip per row. Each
    patch sits in a margin of page background: between two patches, columns of background."""
    open_app(page, "filters?model=lenet_mnist&layer=conv2")
    patches = page.locator('[data-testid="stImage"]').filter(
        has=page.get_by_text(re.compile(r"^\d+\.\d\d · \d$"))
    )
    expect(patches.first).to_be_visible()
    wait_for_images(page)
    row = patches.first
    # The row may start below the fold: its own screenshot scrolls it into view, and the two
    # patches are cut out of it by their offsets within the row.
    row.scroll_into_view_if_needed()
    box = row.bounding_box()
    imgs = row.locator("img")
    a, b = imgs.nth(0).bounding_box(), imgs.nth(1).bounding_box()
    picture = _brightness(row.screenshot())
    # From the middle of the first patch to the middle of the second, their whole height.
    left, right = (
        round(a["x"] + a["width"] / 2 - box["x"]),
        round(b["x"] + b["width"] / 2 - box["x"]),
    )
    top = round(a["y"] - box["y"])
    strip = picture[top : top + round(a["height"]), left:right]
    assert strip.size, (box, a, b)
    # A column of page background is light from top to bottom; a patch column (white ink on
    # black) has dark pixels somewhere.
    light = strip.min(axis=0) > 200
    runs = [len(r) for r in "".join("1" if v else "0" for v in light).split("0") if r]
    assert max(runs, default=0) >= 4, light.astype(int).tolist()


def test_the_synthesised_waveforms_player_is_full_size(page):
    """Issue 35 item 12: the synthesised waveform's player sat in a ~150 px column (only its
    buttons showed); it is under the exemplars, at their width."""
    open_app(page, "filters?model=spoken_digits")
    page.get_by_text("Feature visualisation", exact=True).click()
    wait_for_app(page, 300_000)
    label = page.get_by_text("The waveform synthesised for channel 0", exact=True)
    expect(label).to_be_visible(timeout=300_000)
    players = page.locator('[data-testid="stAudio"]')
    expect(players.first).to_be_visible()
    widths = [players.nth(i).bounding_box()["width"] for i in range(players.count())]
    assert min(widths) >= 300, widths
