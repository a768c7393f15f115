"""The Explain page in a real browser: two attribution methods, their maps and their curves."""

from __future__ import annotations

import re

from ._helpers import expect, open_app, shot, wait_for_app


def test_two_methods_show_maps_and_deletion_insertion_curves(page):
    # The link picks the methods (what "Share this view" writes).
    open_app(
        page, "explain?model=lenet_mnist&sample=digit+7+%28style+1%29&methods=gradient,smoothgrad"
    )
    expect(page.get_by_role("heading", name="Explain a prediction", exact=True)).to_be_visible()
    for title in ("Gradient", "SmoothGrad"):
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    # One picture per method (the overlays), each with its two AUCs.
    expect(page.get_by_text(re.compile(r"^deletion AUC [0-9.]+ \(random [0-9.]+\)"))).to_have_count(
        2
    )
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(
        has_text="share of cells changed"
    )
    expect(chart).to_have_count(1)
    chart.scroll_into_view_if_needed()
    wait_for_app(page)
    expect(chart.locator("svg, canvas").first).to_be_visible()
    for text in ("Gradient", "SmoothGrad", "deletion", "insertion", "random"):
        expect(chart).to_contain_text(text)
    box = chart.bounding_box()
    assert box and box["width"] > 400 and box["height"] > 150, box
    table = page.locator('[data-testid="stDataFrame"]').first
    for name in ("Gradient", "SmoothGrad"):
        expect(table.locator("td").get_by_text(name, exact=True).first).to_be_attached()
    shot(page, "explain_two_methods")


def test_the_audio_spectrogram_strip_is_not_squashed(page):
    """Issue 35 item 13: the full-width spectrogram strip was 200 px tall in all (title, axis
    and legend included): about 90 px of plot for 64 mel bands."""
    open_app(page, "explain?model=spoken_digits")
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts.first).to_be_visible()
    strip = charts.first.bounding_box()
    assert strip["height"] >= 0.3 * strip["width"], strip
    half = charts.nth(1).bounding_box()  # the first method's map, half width
    assert half["height"] >= 0.5 * half["width"], half
