"""Heavy work a page starts by itself (the Filters index, CKA) waits its turn in the worker pool
with its place shown, and can be cancelled there; a cancelled view stays stopped until the user
runs it again."""

from __future__ import annotations

import re

import pytest

from ._helpers import TIMEOUT_MS, expect, wait_for_app
from .conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool_url(tmp_path_factory):
    """A server whose heavy work runs in its worker pool, one job at a time."""
    port = free_port()
    proc = start_server(
        tmp_path_factory.mktemp("queue-server"),
        port=port,
        env={
            "LAYERLAB_WORK": "pool",
            "LAYERLAB_HEAVY_JOBS": "1",
            "LAYERLAB_DATA_DIR": str(tmp_path_factory.mktemp("queue-data")),
            "LAYERLAB_STORE_URL": "",
        },
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def test_a_view_waits_its_turn_shows_its_place_and_can_be_cancelled(browser, pool_url):
    first = browser.new_context(viewport={"width": 1400, "height": 1600})
    second = browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        a, b = first.new_page(), second.new_page()
        a.goto(f"{pool_url}/filters?model=vgg_cifar10")  # indexes 2,000 inputs in the worker
        expect(
            a.get_by_text(re.compile(r"Indexing \d+ held-out inputs \(once per model\) · \d+ s"))
        ).to_be_visible(timeout=TIMEOUT_MS * 3)
        b.goto(f"{pool_url}/compare_models?model=vgg_cifar10")
        queued = b.get_by_text(re.compile(r"Queued: 1 job ahead \(1 running\) · Tracing"))
        expect(queued).to_be_visible(timeout=TIMEOUT_MS * 3)
        b.get_by_role("button", name="Cancel").click()
        expect(b.get_by_text(re.compile(r"\(CKA\): cancelled"))).to_be_visible()
        wait_for_app(b)
        expect(b.get_by_text("CKA between every layer")).to_have_count(0)
        # The first user's scan was not held up by the cancelled one.
        expect(a.get_by_text(re.compile(r"held-out inputs indexed · the scan"))).to_be_visible(
            timeout=TIMEOUT_MS * 10
        )
        b.get_by_role("button", name="Run it again").click()
        expect(b.get_by_text(re.compile(r"CKA between every layer"))).to_be_visible(
            timeout=TIMEOUT_MS * 5
        )
    finally:
        first.close()
        second.close()
