"""The Attack lab in a real browser: FGSM on a digit, add the adversarial, compare it."""

from __future__ import annotations

import re

from ._helpers import expect, metric_value, open_app, shot, wait_for_app


def test_fgsm_then_compare_the_adversarial(page):
    open_app(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Attack").click()
    expect(page).to_have_url(re.compile(r"/attack(\?|$)"))
    expect(page.get_by_role("heading", name="Attack lab", exact=True)).to_be_visible()
    wait_for_app(page)
    # digit 0 (style 1), the session's first sample; FGSM at 64 levels of 255 flips LeNet.
    eps = page.get_by_label("ε: largest change per pixel, in levels of 255")
    eps.fill("64")
    eps.press("Enter")
    wait_for_app(page)
    # The server has the new ε once the page states it in the attacked scale.
    expect(
        page.get_by_text(re.compile(r"^ε = 0\.251 \(Linf\) in the \[0, 1\] image"))
    ).to_be_visible()
    page.get_by_role("button", name="Run attack").click()
    wait_for_app(page)
    expect(metric_value(page, "Prediction before")).to_have_text("0")
    expect(metric_value(page, "Prediction after")).to_have_text(re.compile(r"^[1-9]$"))
    after = metric_value(page, "Prediction after").inner_text().strip()
    expect(page.get_by_text(re.compile("FGSM changed the prediction from 0 to"))).to_be_visible()
    shot(page, "attack_fgsm")

    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("All samples (10)")).to_be_visible()
    page.get_by_role("button", name="Add to samples").click()
    expect(page.get_by_text("Added 'digit 0 (style 1) · FGSM 64' to the samples.")).to_be_visible()
    wait_for_app(page)
    # The sidebar counts it at once (it lagged one rerun when the page added it after the
    # sidebar was drawn).
    expect(sidebar.get_by_text("All samples (11)")).to_be_visible()
    page.locator('[data-testid="stSidebarNav"]').get_by_role(
        "link", name="Compare", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/compare(\?|$)"))
    wait_for_app(page)
    b = page.get_by_role("combobox", name="B: compare with")
    b.click()
    page.get_by_role("option", name="digit 0 (style 1) · FGSM 64").click()
    wait_for_app(page)
    expect(metric_value(page, "Prediction A")).to_have_text("0")
    expect(metric_value(page, "Prediction B")).to_have_text(after)
    shot(page, "attack_compare")


def test_the_result_keeps_its_controls_and_the_zip_can_rerun_it(page, tmp_path):
    import io
    import json
    import zipfile

    import numpy as np
    import pandas as pd

    open_app(page, "attack")
    expect(page.get_by_role("heading", name="Attack lab", exact=True)).to_be_visible()
    method = page.get_by_role("combobox", name="Method").first
    method.click()
    page.get_by_role("option", name="LinfPGD", exact=True).click()
    wait_for_app(page)
    eps = page.get_by_role(
        "spinbutton", name="ε: largest change per pixel, in levels of 255", exact=True
    )
    eps.fill("64")
    eps.press("Enter")
    wait_for_app(page)
    expect(page.get_by_text(re.compile(r"^ε = 0\.251 \(Linf\)"))).to_be_visible()
    page.get_by_role("button", name="Run attack").click()
    wait_for_app(page)
    expect(page.get_by_text(re.compile("LinfPGD changed the prediction from 0 to"))).to_be_visible()
    # Away and back: the selector still says what made the result on screen, and so does
    # the address (a shared link).
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_role("link", name="Trace").click()
    wait_for_app(page)
    nav.get_by_role("link", name="Attack").click()
    wait_for_app(page)
    expect(page.get_by_text(re.compile("LinfPGD changed the prediction from 0 to"))).to_be_visible()
    expect(page.get_by_role("combobox", name="Method").first).to_have_value("LinfPGD")
    expect(eps).to_have_value("64.00")
    assert "attack=LinfPGD%2C64%2C" in page.url

    with page.expect_download() as dl:
        page.get_by_role("button", name="Export (ZIP)").click()
    z = zipfile.ZipFile(io.BytesIO(open(dl.value.path(), "rb").read()))
    names = set(z.namelist())
    assert {
        "arrays/original.npy",
        "arrays/adversarial.npy",
        "arrays/perturbation.npy",
        "images/perturbation_red_plus_blue_minus.png",
        "rerun.json",
        "tables/distances_original_vs_adversarial.csv",
    } <= names
    arr = {
        k: np.load(io.BytesIO(z.read(f"arrays/{k}.npy")))
        for k in ("original", "adversarial", "perturbation")
    }
    np.testing.assert_allclose(arr["original"] + arr["perturbation"], arr["adversarial"], atol=1e-6)
    assert 0 < np.abs(arr["perturbation"]).max() <= 64 / 255 + 1e-5
    rerun = json.loads(z.read("rerun.json"))
    assert rerun["method"] == "LinfPGD" and rerun["epsilon_page_units"] == 64
    assert rerun["model"] == "lenet_mnist" and "attack=LinfPGD%2C64%2C" in rerun["permalink"]
    dist = pd.read_csv(io.BytesIO(z.read("tables/distances_original_vs_adversarial.csv")))
    assert list(dist["layer"])[-1] == "probabilities" and dist["cosine_distance"].iloc[-1] > 0
