"""While a run is under way, the last run's elements stay drawn as they are (pages._widgets.
steady_reruns): Streamlit's fade of each one repainted the whole page on every rerun."""

from __future__ import annotations

import os
import time

import pytest

from ._helpers import expect, wait_for_app
from ._server import free_port, healthy, launch

APP = "tests/browser/apps/slow_run.py"


@pytest.fixture(scope="module")
def slow_url():
    port = free_port()
    proc = launch(APP, port)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if healthy(url):
                break
            proc.poll()
            assert proc.returncode is None, "the test page's server stopped"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)


def _opacity_while_working(page, url: str) -> float:
    page.goto(url)
    wait_for_app(page)
    below = page.get_by_text("drawn below the work")
    expect(below).to_be_visible()
    page.get_by_role("button", name="Work").click()
    page.wait_for_timeout(2500)  # Streamlit's fade starts after 0.5 s and takes 1 s
    box = page.locator("[data-testid=stElementContainer]").filter(has=below)
    assert box.get_attribute("data-stale") == "true"  # still the last run's: the run goes on
    return float(box.evaluate("e => getComputedStyle(e).opacity"))


def test_the_last_run_stays_drawn_as_it_is_while_a_run_goes_on(page, slow_url):
    assert _opacity_while_working(page, f"{slow_url}/?steady=1") == 1.0
    # Without it Streamlit fades the element: what the check above would see on the old code.
    assert _opacity_while_working(page, f"{slow_url}/?steady=0") < 0.5
