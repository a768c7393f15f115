"""Server memory with every built-in model loaded and several users who traced, attacked, froze.

    python -m bench.memory [--sessions 5]

Starts `streamlit run app.py`, then drives N browser sessions (Debian's Chromium through
Playwright), each: Trace on LeNet, an FGSM attack, a frozen filter on the Freeze page; then the
VGG model (Trace + attack) and the spoken-digit model (Audio page, a filter's audio). The
sessions stay open. Reports the server's resident memory (RSS of the process and its children,
from /proc) at start, after the first session and after all of them, and the ratio to the
first-session figure. Target on Community Cloud: under 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from core.safety.proc import tree_bytes
from tests.browser._server import CHROMIUM, free_port, healthy, launch
from tests.browser._server import CHROMIUM_ARGS as ARGS

T = 180_000  # ms; two cores and many sessions


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    return tree_bytes(pid) / 2**20


def _wait(page) -> None:
    from playwright.sync_api import expect

    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=T)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=T)


def _metric(page, label: str):
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )


def one_user(page, url: str) -> None:
    from playwright.sync_api import expect

    nav = page.locator('[data-testid="stSidebarNav"]')
    page.goto(url)
    _wait(page)
    expect(_metric(page, "Prediction")).to_be_visible(timeout=T)
    for model in ("LeNet-5 on MNIST", "VGG-style CNN on CIFAR-10"):
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name=model).click()
        _wait(page)
        nav.get_by_role("link", name="Attack").click()
        _wait(page)
        page.get_by_role("button", name="Run attack").click()
        _wait(page)
        expect(_metric(page, "Prediction after")).to_be_visible(timeout=T)
        nav.get_by_role("link", name="Freeze").click()
        _wait(page)
        picker = page.locator('[data-testid="stCheckbox"], [data-testid="stMultiSelect"]')
        expect(picker.first).to_be_visible(timeout=T)
        box = page.get_by_role("checkbox", name="freeze filter 1", exact=True)
        if box.count():  # a tick grid (<= 128 filters) ...
            box.scroll_into_view_if_needed(timeout=T)
            box.click(force=True, timeout=T)  # the visible box is a styled sibling of the input
        else:  # ... or a multiselect
            page.locator('[data-testid="stMultiSelect"]').first.click()
            page.get_by_role("option").first.click()
            page.keyboard.press("Escape")
        _wait(page)
        expect(_metric(page, "Prediction with frozen filters")).to_be_visible(timeout=T)
        nav.get_by_role("link", name="Trace").click()
        _wait(page)
    nav.get_by_role("link", name="Audio").click()
    _wait(page)
    page.get_by_role("button", name=re.compile("^Switch to")).click()
    _wait(page)
    page.get_by_role("tab", name="Hear a filter").click()
    _wait(page)
    expect(page.get_by_text("What filter 0 hears")).to_be_visible(timeout=T)


class Server(NamedTuple):
    pid: int  # its process group: the server and everything it forked
    url: str  # base URL


@contextmanager
def serving(script: str = "app.py", env: dict[str, str] | None = None) -> Iterator[Server]:
    """`streamlit run <script>` on a free port, answering; its process group ends on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = launch(script, port, env)
    try:
        for _ in range(480):
            if healthy(url):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("the Streamlit server did not start")
        yield Server(proc.pid, url)
    finally:
        os.killpg(proc.pid, 15)


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=5)
    args = ap.parse_args()
    with serving() as srv:
        start = rss_mb(srv.pid)
        rows = [("server started", start)]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            contexts = []
            for i in range(args.sessions):
                t = time.time()
                ctx = browser.new_context(viewport={"width": 1300, "height": 900})
                ctx.set_default_timeout(T)
                contexts.append(ctx)
                one_user(ctx.new_page(), srv.url)
                rows.append((f"after session {i + 1} ({time.time() - t:.0f} s)", rss_mb(srv.pid)))
            time.sleep(5)
            rows.append((f"{args.sessions} sessions open, 5 s later", rss_mb(srv.pid)))
            browser.close()
        first = rows[1][1]
        print(f"{'moment':36} {'server RSS':>11} {'/ after session 1':>18}")
        for name, mb in rows:
            print(f"{name:36} {mb:8.0f} MB {mb / first:18.2f}")
        peak = max(mb for _, mb in rows)
        print(f"peak {peak:.0f} MB: {'under' if peak < 1536 else 'OVER'} the 1.5 GB target")


if __name__ == "__main__":
    main()
