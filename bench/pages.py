"""Warm page reruns: server time of each page with each built-in model, against an empty page.

    python -m bench.pages [--reruns 5] [--models lenet_mnist,vgg_cifar10,spoken_digits]

A real server (streamlit run app.py) with LAYERLAB_TIMING set: app.py appends each run's
server time (from the top of app.py to the end of the page, sidebar included) to a file.
Chromium opens each page with each model, waits for the first run, then presses "r" (rerun,
nothing changed: what touching a widget costs before the widget's own work) --reruns times;
the median of those is the page's warm rerun. The baseline is bench/empty_page.py on its own
server, rerun the same way. Target (issue 14): warm rerun - empty page < 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from bench.memory import ARGS, CHROMIUM, serving

PAGES = [
    "trace",
    "compare",
    "dataset",
    "freeze",
    "attack",
    "explain",
    "compare_models",
    "filters",
    "concepts",
    "audio",
    "structure",
]
TARGET_MS = 150.0


def _runs(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _warm(page, url: str, log: str, reruns: int) -> list[float]:
    from tests.browser._helpers import wait_for_app

    page.goto(url)
    wait_for_app(page, 300_000)
    times = []
    for _ in range(reruns):
        n = len(_runs(log))
        page.locator("body").press("r")
        for _ in range(600):  # the run's line appears when it ends
            if len(_runs(log)) > n:
                break
            time.sleep(0.05)
        wait_for_app(page, 300_000)
        times.append(_runs(log)[-1]["ms"])
    return times


def options(argv: list[str] | None, doc: str, *, rounds: bool = False) -> argparse.Namespace:
    """The page benchmarks' options: --reruns, --models, --pages (and --rounds where asked)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=5)
    ap.add_argument("--models", default="lenet_mnist,vgg_cifar10,spoken_digits")
    ap.add_argument("--pages", default=",".join(PAGES))
    if rounds:
        ap.add_argument(
            "--rounds", type=int, default=1, help="whole passes, each with its own baseline"
        )
    return ap.parse_args(argv)


def each_page(args: argparse.Namespace, base: str) -> Iterator[tuple[str, str, str]]:
    """(model, page, the page's URL opening that model) for each model and page asked for."""
    for model in args.models.split(","):
        for name in args.pages.split(","):
            yield model, name, f"{base}/{'' if name == 'trace' else name}?model={model}"


def bench_page(pw: Any) -> tuple[Any, Any]:
    """(Chromium, one page of a desktop-sized window) for the page benchmarks."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    return browser, browser.new_context(viewport={"width": 1440, "height": 1600}).new_page()


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    from playwright.sync_api import sync_playwright

    args = options(argv, __doc__)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser, page = bench_page(pw)
        empty_log = os.path.join(tmp, "empty.jsonl")
        with serving("bench/empty_page.py", {"LAYERLAB_TIMING": empty_log}) as srv:
            empty = statistics.median(_warm(page, srv.url, empty_log, args.reruns * 2))
        log = os.path.join(tmp, "app.jsonl")
        with serving("app.py", {"LAYERLAB_TIMING": log}) as srv:
            print(f"empty page: {empty:.1f} ms (median of {args.reruns * 2} reruns)")
            print(f"{'model':15} {'page':15} {'warm ms':>8} {'- empty':>8}  target < {TARGET_MS:g}")
            for model, name, url in each_page(args, srv.url):
                t = statistics.median(_warm(page, url, log, args.reruns))
                mark = "ok" if t - empty < TARGET_MS else "OVER"
                print(f"{model:15} {name:15} {t:8.1f} {t - empty:8.1f}  {mark}", flush=True)
                rows.append(("pages", f"{model} {name}", "warm rerun - empty page (ms)", t - empty))
        browser.close()
    return rows


if __name__ == "__main__":
    main()
