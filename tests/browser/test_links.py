"""Shared links in a real browser: opening one reproduces the view; damaged ones say so."""

from __future__ import annotations

import re
from urllib.parse import quote

from core.inputs.samples import gallery_digits
from core.share.permalink import encode_digit

from ._helpers import expect, metric_value, open_app, shot, wait_for_app


def test_a_freeze_link_reproduces_the_view_and_the_share_box_gives_it_back(page):
    open_app(
        page,
        "freeze?model=lenet_mnist&sample="
        + quote("digit 3 (style 1)")
        + "&frozen="
        + quote("conv2:1.5")
        + "&layer=conv2",
    )
    expect(
        page.get_by_role("heading", name="1 · Choose filters · input: digit 3 (style 1)")
    ).to_be_visible()
    expect(page.get_by_role("combobox", name="Layer").first).to_have_value("conv2")
    expect(page.get_by_role("checkbox", name="freeze filter 5", exact=True)).to_be_checked()
    expect(metric_value(page, "Prediction with frozen filters")).to_have_text(re.compile(r"^\d$"))
    page.get_by_role("button", name="Share this view").click()
    code = page.locator('[data-testid="stCode"]').filter(has_text="frozen=")
    expect(code).to_contain_text("frozen=conv2%3A1.5")
    expect(code).to_contain_text("sample=digit+3+%28style+1%29")
    shot(page, "link_freeze")
    # The address bar holds the same view.
    assert "frozen=conv2%3A1.5" in page.url and "layer=conv2" in page.url


def test_a_drawn_digit_travels_in_the_link(page):
    raw = next(s for s in gallery_digits() if s.name == "digit 4 (style 2)").raw
    open_app(page, "?model=lenet_mnist&digit=" + encode_digit(raw))
    expect(page.get_by_role("heading", name="Linked drawing", exact=True)).to_be_visible()
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text("4")


def test_a_damaged_link_says_so_and_opens_the_plain_view(page):
    open_app(page, "?model=no_such_model&digit=garbage!!")
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text(re.compile("not built in"))).to_be_visible()
    expect(sidebar.get_by_text(re.compile("Part of the link could not be used"))).to_be_visible()
    expect(metric_value(page, "Prediction")).to_have_text("0")


def test_export_zip_from_trace_and_audio(page, tmp_path):
    import io
    import json
    import zipfile

    from .test_audio import open_audio_lab

    open_app(page, "?model=lenet_mnist&sample=" + quote("digit 5 (style 1)"))
    wait_for_app(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Export (ZIP)").click()
    z = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
    man = json.loads(z.read("manifest.json"))
    assert man["page"] == "Trace" and man["predictions"]["digit 5 (style 1)"]["label"] == "5"
    assert man["model"]["name"] == "lenet_mnist" and len(man["model"]["sha256"]) == 64
    assert "images/00_input.png" in z.namelist() and "images/01_conv1.png" in z.namelist()
    # The exact arrays of every layer, as the scripting API traces them.
    import numpy as np

    from core import api

    m = api.load("lenet_mnist")
    raw = next(s for s in gallery_digits() if s.name == "digit 5 (style 1)").raw
    want = api.trace(m, raw)
    got = np.load(io.BytesIO(z.read("activations.npz")))
    assert sorted(got.files) == sorted(want)
    for k in want:
        assert np.array_equal(got[k], want[k]), k

    open_audio_lab(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Export (ZIP)").click()
    z = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
    names = z.namelist()
    assert "audio/original.wav" in names and "audio/model_window.wav" in names
    assert any(n.startswith("audio/block1_relu_filter0") for n in names)
    assert json.loads(z.read("manifest.json"))["predictions"]["clip"]["label"] == "0"


def test_a_deep_link_to_trace_opens_the_trace_page_with_its_link(page):
    # The default page lives at /; /trace, its name, must not say "Page not found". (The app
    # runs once first: a fresh server routes its very first page through the legacy pages/
    # folder, where trace.py exists.)
    open_app(page)
    open_app(page, "trace?model=lenet_mnist&sample=" + quote("digit 6 (style 2)"))
    expect(page.get_by_role("heading", name="Trace", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="digit 6 (style 2)", exact=True)).to_be_visible()
    wait_for_app(page)
    expect(metric_value(page, "Prediction")).to_have_text("6")
    expect(page.get_by_role("dialog")).to_have_count(0)  # "Page not found" is a dialog
    expect(page.get_by_text(re.compile("Page not found", re.I))).to_have_count(0)
    assert "sample=digit+6" in page.url or "sample=digit%206" in page.url, page.url
