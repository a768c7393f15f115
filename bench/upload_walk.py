"""A lab member uploads ResNet50 and opens the heavy pages: the server's memory, with its zygote
and workers, through a real browser session (issue 34).

    python -m bench.upload_walk [--server-mb 2560] [--model resnet50.keras]

Starts `streamlit run app.py` (heavy work in the local pool) with LAYERLAB_SERVER_MB; one
Chromium session uploads `keras.applications.ResNet50(weights=None)` (saved once to a temporary
file unless --model is given: 98 MB), shows Trace, then opens Compare models (CKA against the
VGG over 27 inputs), Filters, Explain and Dataset. The process tree's proportional set size is
sampled every 0.5 s: after each page, the peak so far, and a minute after the browser closed.
What each heavy view did (ran, or was refused with its numbers) is printed from the page. Goal:
the peak stays under the server limit; every view either ran or says why not.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.memory import ARGS, CHROMIUM, serving
from core.safety.proc import tree_bytes

T = 600_000  # ms: a 224 px model on two cores
PAGES = ("Compare models", "Filters", "Explain", "Dataset")


def resnet50_file(folder: str) -> Path:
    """ResNet50 (random weights: the memory is the same) saved as .keras, in a fresh process."""
    path = Path(folder) / "resnet50.keras"
    code = f"import keras; keras.applications.ResNet50(weights=None).save({str(path)!r})"
    subprocess.run([sys.executable, "-c", code], check=True)
    return path


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser._helpers import wait_for_app

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-mb", type=int, default=2560, help="LAYERLAB_SERVER_MB")
    ap.add_argument("--model", help="a .keras file to upload (default: ResNet50, saved now)")
    ap.add_argument("--shots", help="a folder for a full-page screenshot of each view")
    args = ap.parse_args()
    print("before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else resnet50_file(tmp)
        env = {"LAYERLAB_WORK": "pool", "LAYERLAB_SERVER_MB": str(args.server_mb)}
        with serving(env=env) as srv:
            peak, stop = [0], threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], tree_bytes(srv.pid, proportional=True))
                    time.sleep(0.5)

            def note(what: str, outcome: str = "") -> None:
                now = tree_bytes(srv.pid, proportional=True)
                print(
                    f"{what:<32} {now / 2**20:7.0f} MB   peak {peak[0] / 2**20:7.0f} MB  {outcome}"
                )

            threading.Thread(target=sample, daemon=True).start()
            print(f"{'after':<32} {'PSS':>10}   {'peak so far':>15}")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
                page.set_default_timeout(T)
                page.goto(srv.url)
                wait_for_app(page, T)
                page.get_by_role("combobox", name="Model").click()
                page.get_by_role("option", name="Upload a Keras model…").click()
                sidebar = page.locator('[data-testid="stSidebar"]')
                up = sidebar.locator('[data-testid="stFileUploader"]').filter(
                    has_text="Keras model"
                )
                up.locator('input[type="file"]').set_input_files(str(model))
                # The sidebar's line for the loaded upload: "resnet50.keras · input … · 1000 classes".
                done = re.compile(re.escape(model.name) + r" · .*\d+ classes")
                expect(sidebar.get_by_text(done)).to_be_visible(timeout=T)
                wait_for_app(page, T)
                note("upload, Trace")
                shot = lambda n: page.screenshot(path=f"{args.shots}/{n}.png", full_page=True)
                if args.shots:
                    Path(args.shots).mkdir(parents=True, exist_ok=True)
                    shot("Trace")
                for name in PAGES:
                    nav = page.locator('[data-testid="stSidebarNav"]')
                    nav.get_by_role("link", name=name, exact=True).click()
                    time.sleep(2)
                    wait_for_app(page, T)
                    refused = page.locator(
                        '[data-testid="stAlertContentError"] [data-testid="stMarkdownContainer"]'
                    )
                    said = (
                        "refused: " + refused.first.inner_text()[:150] if refused.count() else "ran"
                    )
                    note(name, said.replace("\n", " "))
                    if args.shots:
                        shot(name)
                browser.close()
            note("browser closed")
            time.sleep(60)
            note("a minute later")
            stop.set()
            print(f"peak {peak[0] / 2**20:.0f} MB of LAYERLAB_SERVER_MB={args.server_mb}")
    print("after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
