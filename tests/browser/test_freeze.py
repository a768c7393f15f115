"""Freeze a filter by clicking, in a real browser, and see the later layers change."""
from __future__ import annotations

import re

from ._helpers import expect, metric_value, open_app, shot, wait_for_app, wait_for_images


def _image_with_caption(page, caption: str):
    return page.locator('[data-testid="stImage"]').filter(
        has=page.get_by_text(caption, exact=True)).locator("img")


def test_freeze_a_filter_by_clicking(page):
    open_app(page, "freeze")
    expect(page.get_by_role("heading", name="Freeze filters", exact=True)).to_be_visible()
    expect(page.get_by_text("Freeze some filters above to see their effect.")).to_be_visible()
    # The default layer is the last convolutional/pooling one (pool2, 64 filters).
    box = page.get_by_role("checkbox", name="freeze filter 5", exact=True)
    box.scroll_into_view_if_needed()
    box.click(force=True)  # the visible box is a styled sibling of the real input
    wait_for_app(page)
    expect(page.get_by_text("Freeze some filters above to see their effect.")).to_have_count(0)
    expect(metric_value(page, "Prediction with frozen filters")).to_have_text(
        re.compile(r"^\s*[0-9]\s*$"))
    expect(page.get_by_text(re.compile(r"^Probability of class 0: "))).to_be_visible()
    before = _image_with_caption(page, "before")
    after = _image_with_caption(page, "after (frozen filters grey)")
    after.scroll_into_view_if_needed()
    expect(after).to_be_visible()
    wait_for_images(page)
    # The after-maps differ from the before-maps (filter 5 is zero, drawn grey).
    assert before.screenshot() != after.screenshot()
    shot(page, "freeze_after_click")
