"""A PyTorch model in a real browser: upload its .onnx export, see its layers, named after its
ONNX nodes, on Trace."""

from __future__ import annotations

import re
from pathlib import Path

from ._helpers import TIMEOUT_MS, expect, metric_value, open_app, wait_for_app

ZOO = Path(__file__).resolve().parents[1] / "data" / "onnx_zoo"


def test_upload_an_onnx_export_and_see_its_layers_on_trace(page):
    path = ZOO / "resnet18_narrow_torchscript.onnx"  # node names by module path
    open_app(page)
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Upload a Keras model…").click()
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    uploader = sidebar.locator('[data-testid="stFileUploader"]').filter(has_text="ONNX")
    uploader.locator('input[type="file"]').set_input_files(path)
    expect(uploader.get_by_role("button", name=f"Remove {path.name}")).to_be_visible()
    wait_for_app(page, TIMEOUT_MS * 4)  # the sandbox starts, converts, checks, traces
    expect(sidebar.get_by_text(re.compile(r"Converted from ONNX \(opset \d+"))).to_be_visible(
        timeout=TIMEOUT_MS * 4
    )
    expect(sidebar.get_by_text(re.compile(r"matches onnxruntime"))).to_be_visible()
    expect(metric_value(page, "Prediction")).to_have_text(re.compile(r"^\d$"))
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text(re.compile(r"maxpool\.MaxPool\*?\*? · MaxPooling2D"))).to_be_visible()
    # '/layer1/layer1.0/conv1/Conv' in the ONNX file: its layer, with its Keras type, on the
    # next page of layers (Every layer draws them a page at a time)
    main.get_by_role("combobox", name="Layers", exact=True).click()
    page.keyboard.type("9–16")  # the list does not open on a click below a tall page
    page.keyboard.press("Enter")
    wait_for_app(page)
    expect(
        main.get_by_text(re.compile(r"layer1\.layer1\.0\.conv1\.Conv\*?\*? · Conv2D"))
    ).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
