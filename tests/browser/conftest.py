"""Real-browser fixtures: the app as a real `streamlit run` server, driven by Debian's Chromium.

Chromium comes from the system (`apt-get install chromium`), never from `playwright install`.
Without it (or without the playwright package) these tests are skipped locally and fail in CI
(the CI environment variable set), where `.ci/run` installs it. LAYERLAB_CHROMIUM points at
another Chromium binary.

On a failing test a screenshot of its page goes to /tmp/layerlab-browser-failures/<test>.png.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ._helpers import TIMEOUT_MS
from ._server import CHROMIUM, CHROMIUM_ARGS, free_port, healthy, launch, streamlit_command

try:
    from playwright.sync_api import sync_playwright
except ImportError as e:  # checked in the browser fixture: skip locally, fail in CI
    sync_playwright = None
    _PLAYWRIGHT_ERROR: str | None = str(e)
else:
    _PLAYWRIGHT_ERROR = None

FAILURE_DIR = Path("/tmp/layerlab-browser-failures")
STARTUP_S = 120


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip locally; in CI a missing browser is a broken setup, so fail."""
    msg = (
        f"{reason}. The browser tests need Debian's Chromium: `apt-get install chromium` "
        "(or set LAYERLAB_CHROMIUM to a Chromium binary) and `pip install -r "
        "requirements-dev.txt`. Never `playwright install`."
    )
    if _in_ci():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


# ---- the app as a real server ------------------------------------------------------------------
def start_server(logs: Path, *, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`streamlit run app.py` on `port` with `env` over the environment; returns once it
    answers its health check (its output in logs/)."""
    out_path, err_path = logs / "stdout.log", logs / "stderr.log"
    # An upload cap below Streamlit's own (128 MB) so the 64 MB+ file meets ours, in a test
    # that need not push 128 MB through the browser.
    full_env = {"LAYERLAB_MAX_UPLOAD_MB": "64", **(env or {})}
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        proc = launch("app.py", port, full_env, stdout=out, stderr=err)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_S
    while not healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            why = (
                f"exited with code {proc.returncode}"
                if proc.poll() is not None
                else f"did not answer {url}/_stcore/health within {STARTUP_S} s"
            )
            stop_server(proc)
            pytest.fail(
                f"Streamlit server {why}.\ncommand: {' '.join(streamlit_command('app.py', port))}\n"
                f"--- stderr ---\n{err_path.read_text(errors='replace')[-6000:]}\n"
                f"--- stdout ---\n{out_path.read_text(errors='replace')[-2000:]}",
                pytrace=False,
            )
        time.sleep(0.5)
    return proc


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """`streamlit run app.py` on a free port; yields its base URL, stops its process group.
    Its lab store is a SQLite file in a temp data folder (never the user's own)."""
    port = free_port()
    data = tmp_path_factory.mktemp("layerlab-data")
    proc = start_server(
        tmp_path_factory.mktemp("streamlit-server"),
        port=port,
        env={"LAYERLAB_DATA_DIR": str(data), "LAYERLAB_STORE_URL": ""},
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# ---- the browser --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole run (a second sync one cannot start beside it)."""
    if _PLAYWRIGHT_ERROR is not None:
        _unavailable(f"the playwright package cannot be imported ({_PLAYWRIGHT_ERROR})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the page fixture knows if the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _session_page(browser, app_url, request, **context_options):
    """A fresh browser context (a new Streamlit session); a screenshot if the test failed."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.app_url = app_url  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            FAILURE_DIR.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            try:
                pg.screenshot(path=str(FAILURE_DIR / f"{name}.png"))
            except Exception as e:  # never hide the test's own failure
                print(f"failure screenshot not saved: {e}")
        context.close()


@pytest.fixture
def page(browser, app_url, request):
    """A fresh browser context per test: each test is its own Streamlit session."""
    yield from _session_page(browser, app_url, request)


# ---- a browser whose microphone plays a spoken digit ---------------------------------------------
MIC_DIGIT = "3"


def spoken_digit_wav(
    path: Path, digit: str, *, sr: int = 48000, lead_s: float = 0.6, tail_s: float = 4.0
) -> Path:
    """A built-in clip of `digit` as a microphone would give it: 48 kHz, faint room noise
    (never exact digital silence, which the recorder takes for a dead microphone), the word,
    then enough quiet for the recorder's pause detection to stop it."""
    import numpy as np
    import soundfile as sf
    import soxr

    from core.inputs.samples import speech_clips

    y, clip_sr = next(c.raw for c in speech_clips() if c.label == digit and "en-gb" in c.name)
    word = soxr.resample(np.asarray(y, np.float64), clip_sr, sr)
    rng = np.random.default_rng(0)
    pad = lambda s: rng.normal(0, 1e-3, int(s * sr))  # noqa: E731
    sf.write(
        path,
        np.concatenate([pad(lead_s), word, pad(tail_s)]).astype(np.float32),
        sr,
        subtype="PCM_16",
    )
    return path


@pytest.fixture(scope="session")
def mic_browser(playwright, tmp_path_factory):
    """Chromium with a fake microphone that plays a spoken digit (MIC_DIGIT) on a loop."""
    wav = spoken_digit_wav(tmp_path_factory.mktemp("mic") / "digit.wav", MIC_DIGIT)
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS
        + [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
        ],
    )
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def mic_page(mic_browser, app_url, request):
    """A fresh session in the fake-microphone browser (microphone permission granted)."""
    yield from _session_page(mic_browser, app_url, request, permissions=["microphone"])


def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser is a browser test (`pytest -m "not browser"` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
