"""The arithmetic of one unit and the Concepts page in a real browser: a click on a position of
a channel's map shows how its value is computed, and the walk upstream follows it; TCAV runs on
LeNet with a class of held-out digits as the concept."""

from __future__ import annotations

import io
import json
import zipfile
from urllib.parse import quote

from ._helpers import expect, metric_value, open_app, shot, wait_for_app

LINK = "?model=lenet_mnist&sample=" + quote("digit 3 (style 1)") + "&layer=conv2"


def test_a_click_on_a_map_position_shows_its_arithmetic_and_walks_upstream(page):
    from core import api
    from core.inputs.prepare import gallery

    page.set_viewport_size({"width": 1400, "height": 2200})  # the whole panel in one picture
    open_app(page, LINK)
    chart = page.locator(".st-key-unit_map_conv2_0")
    chart.scroll_into_view_if_needed()
    chart.locator('path[aria-label="row 4, column 6"]').click()
    wait_for_app(page)
    m = api.load("lenet_mnist")
    raw = next(s for s in gallery(m) if s.name == "digit 3 (style 1)").raw
    u = api.unit(m, raw, "conv2", 0, (4, 6))
    expect(metric_value(page, "traced value")).to_have_text(f"{u.traced:.5g}")
    expect(metric_value(page, "pre-activation")).to_have_text(f"{u.pre_activation:.5g}")
    expect(page.get_by_text("Conv2D: a 5×5 kernel", exact=False)).to_be_visible()
    expect(page.get_by_text("Window, kernel and products", exact=False)).to_be_visible()
    shot(page, "unit_conv2")
    up = u.upstream
    page.get_by_role("button", name="Walk upstream").click()
    wait_for_app(page)
    expect(
        page.get_by_text(f"pool1 · MaxPooling2D · channel {up.channel}", exact=False)
    ).to_be_visible()
    expect(page.get_by_text("the largest of 4 inputs wins", exact=False)).to_be_visible()
    shot(page, "unit_pool1")


def test_the_concepts_page_runs_tcav_on_lenet_with_a_probe_class(page):
    page.set_viewport_size({"width": 1400, "height": 1800})
    open_app(page, "concepts?model=lenet_mnist")
    expect(page.get_by_role("heading", name="Concepts")).to_be_visible()
    page.get_by_role("button", name="Test the concept").click()
    wait_for_app(page)
    table = page.locator('[data-testid="stDataFrame"]')
    expect(table).to_be_visible()
    expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    expect(page.get_by_text("TCAV on 4 layers × 10 runs: done in", exact=False)).to_be_visible()
    expect(page.get_by_text("(Bonferroni)", exact=False)).to_be_visible()
    shot(page, "concepts_lenet")
    with page.expect_download() as dl:  # the results, exported
        page.get_by_role("button", name="Export (ZIP)").click()
    z = zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read()))
    man = json.loads(z.read("manifest.json"))
    assert man["page"] == "Concepts" and man["settings"]["class"] == "0"
    assert man["settings"]["layers"] == ["conv1", "conv2", "fc1", "fc2"]
    table = z.read("tables/tcav.csv").decode()
    assert table.startswith("layer,TCAV score") and table.count("\n") == 5
    assert z.read("tables/runs.csv").decode().count("\n") == 41  # 4 layers × 10 runs
