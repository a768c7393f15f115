"""A refused upload says so on the page (issue 35, item 8): not a red icon with a tooltip, and
the refused file does not stay listed as if it had been taken."""

from __future__ import annotations

from ._helpers import TIMEOUT_MS, expect, open_app, shot, wait_for_app


def _choose_upload(page) -> None:
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name="Upload a Keras model…").click()
    wait_for_app(page)


def _give(page, label: str, path) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    uploader = sidebar.locator('[data-testid="stFileUploader"]').filter(has_text=label)
    uploader.locator('input[type="file"]').set_input_files(path)
    wait_for_app(page, TIMEOUT_MS * 2)


def test_a_pytorch_upload_is_refused_with_a_visible_way_forward(page, tmp_path):
    pt = tmp_path / "resnet18.pt"
    pt.write_bytes(b"PK\x03\x04archive/data.pkl")  # a torch.save file starts as a ZIP
    open_app(page)
    _choose_upload(page)
    _give(page, "Keras model", pt)
    sidebar = page.locator('[data-testid="stSidebar"]')
    alert = sidebar.locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text(
        "'resnet18.pt' has extension '.pt'; expected .keras, .h5 or .onnx"
    )
    expect(alert).to_contain_text("torch.onnx.export")
    # The refused file is not listed in the uploader any more (it would look taken).
    expect(sidebar.locator('[data-testid="stFileUploaderFileName"]')).to_have_count(0)
    shot(page, "refused_pytorch")


def test_a_card_of_the_wrong_type_is_refused_visibly(page, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((28, 28, 1))
    y = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(x))
    model_path = tmp_path / "tiny.keras"
    keras.Model(x, keras.layers.Dense(10, activation="softmax")(y)).save(model_path)
    card = tmp_path / "labels.png"
    card.write_bytes(b"\x89PNG\r\n\x1a\n")
    open_app(page)
    _choose_upload(page)
    _give(page, "its card", card)
    _give(page, "Keras model", model_path)
    alert = page.locator('[data-testid="stSidebar"]').locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text("'labels.png' is neither .json nor .txt")
