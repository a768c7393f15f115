"""Share through the lab store in a real browser: session A uploads a model and an input,
freezes two filters and shares; the server restarts; session B opens the link and sees the
same page, model, input, freeze and prediction. On SQLite, and on PostgreSQL when configured.
Hostile ids give a message and no exception box; the HTML download works offline."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

from core.inputs.samples import gallery_digits
from core.model.load import ASSETS
from tests.postgres import fresh_database

from ._helpers import TIMEOUT_MS, expect, metric_value, open_app, open_tab, shot, wait_for_app
from .conftest import free_port, start_server, stop_server


class Server:
    """The app on one port, which a test stops and starts again (its store persists)."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env, self.port = logs, env, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = start_server(logs, port=self.port, env=env)

    def restart(self) -> None:
        stop_server(self.proc)
        self.proc = start_server(self.logs, port=self.port, env=self.env)

    def stop(self) -> None:
        stop_server(self.proc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request, tmp_path):
    """The server's store: a SQLite file in a temp data folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield {"LAYERLAB_DATA_DIR": str(tmp_path / "data"), "LAYERLAB_STORE_URL": ""}
        return
    with fresh_database() as url:
        yield {"LAYERLAB_DATA_DIR": str(tmp_path / "unused"), "LAYERLAB_STORE_URL": url}


def _session(browser, url: str, **options):
    ctx = browser.new_context(viewport={"width": 1400, "height": 2200}, **options)
    ctx.set_default_timeout(TIMEOUT_MS)
    pg = ctx.new_page()
    pg.app_url = url
    return ctx, pg


def _choose_model(page, title: str) -> None:
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name=title).click()
    wait_for_app(page)


def _my_digit(tmp_path: Path) -> Path:
    """A digit of our own: the gallery's 7 with a stroke across it, as a PNG file."""
    raw = np.asarray(next(s for s in gallery_digits() if s.name == "digit 7 (style 2)").raw)
    raw = raw.copy()
    raw[20:23, 4:24] = 255
    path = tmp_path / "my seven.png"
    buf = io.BytesIO()
    Image.fromarray(raw).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def _share(page, title: str) -> tuple[str, str]:
    """Click Share in the page's Share popover; (link, delete link)."""
    page.get_by_role("button", name="Share this view").click()
    pop = page.locator('[data-testid="stPopoverBody"]')
    pop.get_by_label("Title (optional)").fill(title)
    pop.get_by_role("button", name="Share", exact=True).click()
    wait_for_app(page)
    codes = pop.locator('[data-testid="stCode"]').filter(has_text="?share=")
    expect(codes.nth(1)).to_contain_text("&delete=")
    link, delete = codes.nth(0).inner_text().strip(), codes.nth(1).inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?share=[0-9a-f]{32}", link), link
    return link, delete


@pytest.mark.slow
def test_a_shared_upload_survives_a_restart_and_opens_in_a_new_session(
    browser, tmp_path, store_env
):
    server = Server(tmp_path, store_env)
    try:
        ctx_a, a = _session(browser, server.url)
        # Session A: an uploaded model (LeNet's file, under its own name) and an own input.
        open_app(a)
        _choose_model(a, "Upload a Keras model…")
        model = tmp_path / "our_lenet.keras"
        model.write_bytes((ASSETS / "lenet_mnist.keras").read_bytes())
        sidebar = a.locator('[data-testid="stSidebar"]')
        up = sidebar.locator('[data-testid="stFileUploader"]').filter(has_text="Keras model")
        up.locator('input[type="file"]').set_input_files(model)
        wait_for_app(a, TIMEOUT_MS * 3)  # the sandboxed first load
        expect(
            sidebar.get_by_text("First load and trace ran in a sandbox", exact=False)
        ).to_be_visible()
        open_tab(a, "Upload image")
        wait_for_app(a)
        digit = _my_digit(tmp_path)
        a.locator('[data-testid="stFileUploader"]').filter(has_text="PNG or JPEG").locator(
            'input[type="file"]'
        ).set_input_files(digit)
        wait_for_app(a)
        expect(a.get_by_role("combobox", name="Current sample")).to_have_value(digit.name)
        # Freeze two filters of conv2 on the Freeze page.
        a.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Freeze").click()
        wait_for_app(a)
        expect(
            a.get_by_role("heading", name=f"1 · Choose filters · input: {digit.name}")
        ).to_be_visible()
        for ch in (3, 11):
            tile = a.get_by_role("checkbox", name=f"freeze filter {ch}", exact=True)
            tile.scroll_into_view_if_needed()
            tile.click()
            wait_for_app(a)
            expect(tile).to_be_checked()
        frozen_pred = metric_value(a, "Prediction with frozen filters").inner_text().strip()
        probs = a.get_by_text(re.compile(r"^Probability of class \d: ")).first.inner_text()
        link, delete = _share(a, "two conv2 filters off")
        shot(a, "share_a_shared")
        ctx_a.close()

        server.restart()

        # Session B: a fresh browser context opens the link.
        ctx_b, b = _session(browser, server.url)
        b.goto(link)
        wait_for_app(b, TIMEOUT_MS * 3)  # the shared model goes through the sandbox again
        expect(
            b.get_by_role("heading", name=f"1 · Choose filters · input: {digit.name}")
        ).to_be_visible()
        assert "/freeze" in b.url
        expect(b.get_by_role("combobox", name="Model")).to_have_value("Model from a shared link")
        expect(b.get_by_role("combobox", name="Current sample")).to_have_value(digit.name)
        sb = b.locator('[data-testid="stSidebar"]')
        expect(sb.get_by_text("two conv2 filters off")).to_be_visible()
        expect(sb.get_by_text("our_lenet.keras", exact=False).first).to_be_visible()
        for ch in (3, 11):
            expect(
                b.get_by_role("checkbox", name=f"freeze filter {ch}", exact=True)
            ).to_be_checked()
        assert (
            b.get_by_role("checkbox", name=re.compile(r"^freeze filter \d+$"), checked=True).count()
            == 2
        )
        expect(metric_value(b, "Prediction with frozen filters")).to_have_text(frozen_pred)
        expect(b.get_by_text(probs, exact=True).first).to_be_visible()
        expect(b.locator('[data-testid="stException"]')).to_have_count(0)
        shot(b, "share_b_opened")
        # The delete link asks, deletes, and the link then says so.
        b.goto(delete)
        wait_for_app(b, TIMEOUT_MS * 3)
        b.locator('[data-testid="stSidebar"]').get_by_role("button", name="Delete").click()
        wait_for_app(b)
        expect(sb.get_by_text("Deleted.")).to_be_visible()
        ctx_b.close()
        ctx_c, c = _session(browser, server.url)
        c.goto(link)
        wait_for_app(c)
        expect(
            c.locator('[data-testid="stSidebar"]').get_by_text(
                re.compile("was deleted by its creator")
            )
        ).to_be_visible()
        ctx_c.close()
    except Exception:
        for pg in browser.contexts:  # what each open session showed, for a human to look at
            for i, p in enumerate(pg.pages):
                shot(p, f"share_failure_{store_env.get('LAYERLAB_STORE_URL') and 'pg'}_{i}")
        raise
    finally:
        server.stop()


HOSTILE = ["../../etc/passwd", "' OR 1=1 --", "x" * 10_000, "ü" * 32, "0" * 32]


def test_hostile_share_ids_give_a_message_and_no_exception(page):
    for bad in HOSTILE:
        open_app(page, "?share=" + quote(bad))
        sidebar = page.locator('[data-testid="stSidebar"]')
        want = "No share 0{32}" if bad == "0" * 32 else "is not a share id"
        expect(
            sidebar.get_by_text(re.compile("The shared link could not be opened: .*" + want))
        ).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(metric_value(page, "Prediction")).to_have_text(re.compile(r"^\d$"))
    shot(page, "share_hostile_id")


def test_the_store_down_says_so_at_share_time_and_the_app_works(browser, tmp_path):
    """The store's folder is a file: Share says the store is unavailable and why."""
    blocked = tmp_path / "not a folder"
    blocked.write_text("x")
    server = Server(tmp_path, {"LAYERLAB_DATA_DIR": str(blocked), "LAYERLAB_STORE_URL": ""})
    try:
        ctx, pg = _session(browser, server.url)
        open_app(pg, "?model=lenet_mnist&sample=" + quote("digit 3 (style 1)"))
        pg.get_by_role("button", name="Share this view").click()
        pop = pg.locator('[data-testid="stPopoverBody"]')
        pop.get_by_role("button", name="Share", exact=True).click()
        wait_for_app(pg)
        expect(
            pop.get_by_text(re.compile("The lab store is unavailable, so nothing was shared: .*"))
        ).to_be_visible()
        expect(pg.locator('[data-testid="stException"]')).to_have_count(0)
        expect(metric_value(pg, "Prediction")).to_have_text("3")
        shot(pg, "share_store_down")
        ctx.close()
    finally:
        server.stop()


def test_the_html_download_opens_offline_with_pictures_and_the_prediction(browser, page, tmp_path):
    open_app(
        page,
        "freeze?model=lenet_mnist&sample="
        + quote("digit 3 (style 1)")
        + "&frozen=conv2%3A1.5&layer=conv2",
    )
    want = metric_value(page, "Prediction with frozen filters").inner_text().strip()
    page.get_by_role("button", name="Share this view").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download as HTML").click()
    path = tmp_path / "view.html"
    info.value.save_as(path)
    # A browser with the network off, and every request that is not the file refused.
    ctx = browser.new_context(offline=True, viewport={"width": 1100, "height": 1800})
    asked: list[str] = []

    def refuse(route):
        asked.append(route.request.url)
        route.abort()

    ctx.route(re.compile(r"^(?!file:|data:).*"), refuse)
    try:
        pg = ctx.new_page()
        pg.goto(path.as_uri())
        imgs = pg.locator("img")
        expect(imgs).to_have_count(2)  # the input and conv2's channels
        pg.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )
        expect(pg.locator("[data-prediction]").nth(1)).to_have_text(want)
        expect(
            pg.locator("div.muted").filter(has_text="Prediction with frozen filters")
        ).to_be_visible()
        expect(pg.locator("svg")).to_have_count(2)
        shot(pg, "share_html_offline")
        assert asked == []
    finally:
        ctx.close()


@pytest.mark.slow
def test_the_lab_shelf_lists_shares_only_when_turned_on(browser, page, tmp_path):
    from core import api

    nav = page.locator('[data-testid="stSidebarNav"]')
    open_app(page)
    expect(nav.get_by_role("link", name="Trace")).to_be_visible()
    expect(nav.get_by_role("link", name="Lab shelf")).to_have_count(0)  # a public app: nothing
    data = tmp_path / "data"
    raw = np.asarray(gallery_digits()[2].raw)
    r = api.share(
        api.load("lenet_mnist"),
        samples=[raw],
        title="shelf test",
        store=f"sqlite:///{data / 'shares.sqlite3'}",
    )
    server = Server(tmp_path, {"LAYERLAB_DATA_DIR": str(data), "LAYERLAB_SHELF": "1"})
    try:
        ctx, pg = _session(browser, server.url)
        open_app(pg)
        pg.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Lab shelf").click()
        wait_for_app(pg)
        table = pg.locator('[data-testid="stDataFrame"]')
        expect(table).to_contain_text("shelf test")
        expect(table).to_contain_text("LeNet-5 on MNIST")
        shot(pg, "share_shelf")
        pg.get_by_label("Delete link").fill(f"{server.url}/?share={r.id}&delete={r.delete_token}")
        pg.get_by_role("button", name="Delete").click()
        wait_for_app(pg)
        expect(pg.get_by_text("Deleted.")).to_be_visible()
        pg.reload()
        wait_for_app(pg)
        expect(pg.get_by_text(re.compile("Nothing shared yet"))).to_be_visible()
        ctx.close()
    finally:
        server.stop()
