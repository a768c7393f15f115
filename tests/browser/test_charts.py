"""Class charts in a real browser: every class name is drawn (Vega drops overlapping labels)."""

from __future__ import annotations

import json

from core.model.load import ASSETS

from ._helpers import expect, open_app, wait_for_app

CIFAR = json.loads((ASSETS / "vgg_cifar10.json").read_text())["labels"]


def _chart_texts(chart) -> list[str]:
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg text").first).to_be_attached()
    return [t.strip() for t in chart.locator("svg text").all_text_contents()]


def test_every_cifar_class_label_is_in_the_prediction_charts(page):
    open_app(page, "?model=vgg_cifar10")
    wait_for_app(page)
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    texts = _chart_texts(chart)
    assert set(CIFAR) <= set(texts), sorted(set(CIFAR) - set(texts))

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Freeze").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Freeze filters", exact=True)).to_be_visible()
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts.nth(1)).to_be_visible()
    for i in (0, 1):  # before and after freezing
        texts = _chart_texts(charts.nth(i))
        assert set(CIFAR) <= set(texts), (i, sorted(set(CIFAR) - set(texts)))


_LABELS = """(el) => Array.from(el.querySelectorAll('g.role-axis-label text')).map(t => {
  const r = t.getBoundingClientRect(); return [t.textContent.trim(), r.top + r.height / 2]; })"""


def test_class_labels_are_evenly_spaced_and_the_axis_reaches_100_percent(page):
    """Issue 35 item 7: the first two class labels were squashed together ("0"/"1",
    "airplane"/"automobile": Vega's labelFlush pulls the first label inside the axis)."""
    for model, first in (("lenet_mnist", "0"), ("vgg_cifar10", "airplane")):
        open_app(page, f"?model={model}")
        chart = page.locator('[data-testid="stVegaLiteChart"]').first
        chart.scroll_into_view_if_needed()
        expect(chart.locator("svg text").first).to_be_attached()
        labels = dict(chart.evaluate(_LABELS))
        assert "100%" in labels, labels
        ys = [y for t, y in chart.evaluate(_LABELS) if not t.endswith("%")]
        gaps = [b - a for a, b in zip(ys, ys[1:])]
        assert first in labels and len(gaps) == 9, labels
        assert min(gaps) > 0.9 * max(gaps), (model, gaps)
