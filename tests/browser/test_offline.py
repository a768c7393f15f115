"""An offline lab server: no page asks the network for anything (issue 35 item 13: every page
logged ERR_NAME_NOT_RESOLVED; the favicon, a Material icon, came from fonts.gstatic.com)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bench.pages import PAGES as BENCH_PAGES

from ._helpers import open_app

PAGES = ["" if name == "trace" else name for name in BENCH_PAGES]  # every page


@pytest.mark.parametrize("model", ["lenet_mnist", "vgg_cifar10", "spoken_digits"])
def test_no_page_requests_anything_but_the_app_server(page, model):
    own = urlsplit(page.app_url).netloc
    foreign: list[str] = []
    failed: list[str] = []
    page.on(
        "request",
        lambda r: (
            foreign.append(r.url[:160])
            if urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(r.url).netloc != own
            else None
        ),
    )
    # Requests to the app a page change cancels (net::ERR_ABORTED: a media file still loading)
    # are the browser's doing; any other failure is not.
    page.on(
        "requestfailed",
        lambda r: (
            failed.append(f"{r.url[:160]}: {r.failure}")
            if "ERR_ABORTED" not in (r.failure or "")
            else None
        ),
    )
    for path in PAGES:
        open_app(page, f"{path}?model={model}")
        page.wait_for_timeout(500)  # late requests (favicon, fonts) after the run
        assert not foreign, (path, foreign)
        assert not failed, (path, failed)
    icon = page.locator('link[rel~="icon"]').first.get_attribute("href") or ""
    assert not urlsplit(icon).netloc or urlsplit(icon).netloc == own, icon
