"""The app in a real browser: draw digits, upload an image, open Structure and Compare.

Each test gets a fresh browser context, so a fresh Streamlit session: the sample list starts
with the ten built-in gallery digits and "digit 0 (style 1)" selected.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.inputs.samples import CIFAR10_LABELS

from ._helpers import expect, metric_value, open_app, open_tab, shot, tab_panel, wait_for_app

ROOT = Path(__file__).resolve().parents[2]
STROKES = json.loads((ROOT / "assets" / "samples" / "digit_strokes.json").read_text())
# streamlit-drawable-canvas 0.13 is a components-v2 component: no iframe, its fabric.js canvases
# sit (in an isolated shadow root, which Playwright's CSS engine pierces) in the page itself.
# Mouse events go to fabric's top canvas.
CANVAS = '[data-testid="stBidiComponentIsolated"] canvas.upper-canvas'
DIGIT = re.compile(r"^\s*[0-9]\s*$")


def draw(page, strokes: list[list[list[float]]]) -> None:
    """Draw strokes (unit-box [x, y] points) onto the sketchpad with real mouse moves."""
    canvas = page.locator(CANVAS)
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] >= 200 and box["height"] >= 200, box
    for stroke in strokes:
        pts = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*pts[0])
        page.mouse.down()
        for x, y in pts[1:]:
            page.mouse.move(x, y, steps=6)
        page.mouse.up()


@pytest.mark.parametrize("digit", ["3", "7"])
def test_draw_a_digit(page, digit):
    open_app(page)  # the Trace page is the default
    expect(page.get_by_role("heading", name="Trace", exact=True)).to_be_visible()
    expect(page.get_by_text("The pad is empty.")).to_be_visible()

    draw(page, STROKES[digit][0])

    # The drawing becomes the sample "Sketch", selected and traced at once.
    expect(page.get_by_role("heading", name="Sketch", exact=True)).to_be_visible()
    expect(page.get_by_text("model's view, 28×28")).to_be_visible()
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text(digit)
    expect(page.get_by_role("combobox", name="Current sample")).to_have_value("Sketch")
    shot(page, f"trace_drawn_{digit}")


def test_upload_an_image(page, tmp_path):
    from PIL import Image, ImageDraw

    # A project-made "7": dark strokes on a light 120×120 image (so it must be inverted).
    img = Image.new("RGB", (120, 120), "white")
    ImageDraw.Draw(img).line(
        [(30, 25), (92, 25), (55, 100)], fill=(20, 20, 20), width=11, joint="curve"
    )
    path = tmp_path / "seven.png"
    img.save(path)

    open_app(page)
    panel = open_tab(page, "Upload image")
    expect(panel.get_by_text("PNG or JPEG image")).to_be_visible()
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(path)

    expect(page.get_by_role("heading", name="seven.png", exact=True)).to_be_visible()
    note = page.locator('[data-testid="stAlert"]').filter(has_text="Converted")
    expect(note).to_be_visible()
    expect(note).to_contain_text("inverted")
    expect(panel.get_by_text("Uploaded seven.png: 120×120")).to_be_visible()
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text(DIGIT)
    expect(metric_value(page, "Prediction")).to_have_text("7")
    shot(page, "trace_uploaded_7")


def test_open_structure(page):
    if not (ROOT / "pages" / "structure.py").exists():
        pytest.skip(
            "pages/structure.py is not in this checkout (app.py then leaves it out "
            "of the navigation)"
        )
    open_app(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Structure").click()
    expect(page).to_have_url(re.compile(r"/structure(\?|$)"))
    expect(page.get_by_role("heading", name="Structure", exact=True)).to_be_visible()
    wait_for_app(page)

    # The Layers tab (selected): a table of the built-in LeNet's layers. st.dataframe draws its
    # cells on a canvas; their text is only in glide's hidden accessibility grid, so the cells
    # are checked attached, the table itself visible.
    layers = tab_panel(page, "Layers")
    table = layers.locator('[data-testid="stDataFrame"]')
    expect(table).to_be_visible()
    for name in ("conv1", "conv2", "fc1"):
        expect(table.locator("td").get_by_text(name, exact=True).first).to_be_attached()
    shot(page, "structure")

    # The Graph tab: one box per layer, conv1 among them; a click on a box opens that layer.
    panel = open_tab(page, "Graph")
    graph = panel.locator(".st-key-structure_graph")
    expect(graph.locator("svg text").get_by_text("conv1", exact=True)).to_be_visible()
    node = graph.locator('path[aria-label="layer conv2"]')
    node.click()
    wait_for_app(page)
    expect(panel.get_by_role("heading", name=re.compile(r"^\d+\. conv2 · Conv2D$"))).to_be_visible()
    expect(panel.get_by_text("kernel 5×5×32×64", exact=False)).to_be_visible()
    expect(panel.get_by_text(re.compile("^Output for the current sample"))).to_be_visible()
    expect(panel.locator(".st-key-node_maps_conv2_tiles svg.marks")).to_be_visible()
    # Scrolling over the graph zooms it: the box grows.
    before = node.bounding_box()
    graph.locator("svg.marks").hover()
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(500)
    after = node.bounding_box()
    assert after["height"] > before["height"] * 1.2, (before, after)
    shot(page, "structure_graph")
    # The Graphviz picture is still there, in its expander.
    panel.get_by_text("The Graphviz picture", exact=False).click()
    drawing = panel.locator('[data-testid="stGraphVizChart"]')
    expect(drawing.locator("svg text").get_by_text("conv1", exact=True).first).to_be_visible()


def test_open_compare(page):
    open_app(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role(
        "link", name="Compare", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/compare(\?|$)"))
    expect(page.get_by_role("heading", name="Compare two inputs", exact=True)).to_be_visible()
    # A fresh session: A is the current sample (digit 0), B the next one in the list (digit 1).
    expect(page.get_by_text("A: digit 0 (style 1)").first).to_be_visible()
    b_box = page.get_by_role("combobox", name=re.compile("compare with"))
    expect(b_box).to_have_value("digit 1 (style 1)")
    for label in ("Prediction A", "Prediction B"):
        expect(metric_value(page, label)).to_have_text(DIGIT)
    expect(page.get_by_role("heading", name="Where the two inputs part ways")).to_be_visible()
    # The distance chart: the Vega-Lite chart whose x axis is "layer (graph order)".
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="layer (graph order)")
    expect(chart).to_have_count(1)
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg, canvas").first).to_be_visible()
    expect(chart).to_contain_text("cosine distance")
    expect(chart).to_contain_text("conv1")
    box = chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100, box
    wait_for_app(page)
    shot(page, "compare")
    shot(chart, "compare_distance_chart")


def test_upload_a_colour_image_to_the_colour_model(page, tmp_path):
    import importlib.util

    from PIL import Image, ImageDraw

    # A project-drawn ship (scripts/make_colour_samples.py), as a 200×150 colour upload.
    spec = importlib.util.spec_from_file_location(
        "make_colour_samples", ROOT / "scripts" / "make_colour_samples.py"
    )
    scenes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scenes)
    im = Image.new("RGB", (scenes.S, scenes.S))
    scenes.ship(ImageDraw.Draw(im))
    path = tmp_path / "my_ship.png"
    im.resize((200, 150), Image.Resampling.LANCZOS).save(path)

    open_app(page)
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="VGG-style CNN on CIFAR-10").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="drawn airplane", exact=True)).to_be_visible()
    panel = open_tab(page, "Upload image")
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(path)
    expect(page.get_by_role("heading", name="my_ship.png", exact=True)).to_be_visible()
    note = page.locator('[data-testid="stAlert"]').filter(has_text="Converted")
    expect(note).to_contain_text("resized from 200×150 to 32×32")
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text(
        re.compile("^(" + "|".join(CIFAR10_LABELS) + ")$")
    )
    expect(metric_value(page, "Prediction")).to_have_text("ship")
    shot(page, "trace_colour_upload")
