"""Helpers for the browser tests: wait for Streamlit, find metrics, take screenshots."""

from __future__ import annotations

from pathlib import Path

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or, in CI, fails) the tests
    expect = None

SHOT_DIR = Path("/tmp/layerlab-shots")
# TensorFlow on a 2-core CPU is slow the first time a model runs: be generous.
TIMEOUT_MS = 60_000
if expect is not None:
    expect.set_options(timeout=TIMEOUT_MS)


def wait_for_app(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until the Streamlit script has finished its run and nothing on the page is stale.

    A run may start a moment after the action that triggers it (a component sends its value
    asynchronously), so pair this with an expectation on the element the run should produce.
    """
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)
    expect(page.locator('[data-testid="stStatusWidget"]').get_by_text("Running")).to_have_count(
        0, timeout=timeout_ms
    )
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=timeout_ms)


def open_app(page, path: str = "") -> None:
    page.goto(f"{page.app_url}/{path}")
    wait_for_app(page)


def tab_panel(page, name: str):
    """Where the open lazy tab `name` draws (pages._controls.lazy_tabs keys it by its name)."""
    from pages._controls import tab_slug

    return page.locator(f"[class*='__{tab_slug(name)}__tab']")


def open_tab(page, name: str):
    """Open one of a page's lazy tabs (a row of choices), wait for the page to draw it and
    return where it draws."""
    page.get_by_role("radio", name=name, exact=True).click()
    wait_for_app(page)
    return tab_panel(page, name)


def metric(page, label: str):
    """The st.metric whose label is exactly `label`."""
    return page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )


def metric_value(page, label: str):
    return metric(page, label).locator('[data-testid="stMetricValue"]')


_IMAGES_LOADED = """() => Array.from(document.querySelectorAll('img')).filter(i => {
    const r = i.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
        && r.top < window.innerHeight && r.left < window.innerWidth;
}).every(i => i.complete && i.naturalWidth > 0)"""


def wait_for_images(page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until every image in the viewport has loaded (and none is broken).

    st.image serves its pixels by URL, fetched after the run's delta arrives: right after a
    rerun an <img> can still be empty, or still show the previous run's picture.
    """
    page.wait_for_function(_IMAGES_LOADED, timeout=timeout_ms)


def shot(target, name: str) -> Path:
    """A screenshot of a page's viewport (or of one locator) for a human to look at."""
    wait_for_images(getattr(target, "page", target))
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SHOT_DIR / f"{name}.png"
    target.screenshot(path=str(path))
    return path
