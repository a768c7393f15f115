"""Heavy jobs share the server fairly: N sessions attack at once while one more opens Trace.

    python -m bench.load [--sessions 8]

Starts `streamlit run app.py` (heavy work in the local worker pool: LAYERLAB_WORK=pool); N
browser sessions (one Chromium, a context each) open the Attack page on the built-in VGG with
LinfPGD and click "Run attack" at the same moment; right after, one more session opens the
Trace page three times. Reports each heavy session's time to its result (and whether it saw its
place in the queue), the light page's median of three visits under load over its median of
three on the idle server (measured first, same run), and the server's peak memory with its
zygote and workers (process tree, sampled from /proc every 0.2 s): the sum of RSS (shared pages
counted in every process that maps them) and of PSS (each shared page split between them).
Goal: light page <= 2x idle (bar 3x), every heavy session ends with its result, peak <= 2 GB.
The machine should be quiet: the bench prints `uptime` before and after.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time

from bench.memory import ARGS, CHROMIUM, rss_mb, serving
from core.safety.proc import tree_bytes

T = 600_000  # ms: eight PGD attacks in a row on two cores
ATTACK_URL = "attack?model=vgg_cifar10&attack=LinfPGD,8,40,"
TRACE_URL = "?model=vgg_cifar10"


def _idle(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=T
    )


def _trace_time(page, url: str) -> float:
    """Seconds from navigation to the Trace page's Prediction metric."""
    from playwright.sync_api import expect

    t = time.monotonic()
    page.goto(f"{url}/{TRACE_URL}")
    expect(
        page.locator('[data-testid="stMetricLabel"]').get_by_text("Prediction", exact=True)
    ).to_be_visible(timeout=T)
    _idle(page)
    return time.monotonic() - t


def pss_mb(pid: int) -> float:
    """Proportional memory of a process and all its descendants, in MB (/proc smaps_rollup)."""
    return tree_bytes(pid, proportional=True) / 2**20


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    args = ap.parse_args(argv)
    print("before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with serving(env={"LAYERLAB_WORK": "pool"}) as srv:
        url = srv.url
        peak = [0.0, 0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mb(srv.pid))
                peak[1] = max(peak[1], pss_mb(srv.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                ctx = lambda: browser.new_context(viewport={"width": 1300, "height": 900})  # noqa
                warm = ctx().new_page()
                warm.set_default_timeout(T)
                _trace_time(warm, url)  # first run: loads the model
                light = ctx().new_page()
                light.set_default_timeout(T)
                idle_s = statistics.median(_trace_time(light, url) for _ in range(3))
                heavy = []
                for _ in range(args.sessions):
                    p = ctx().new_page()
                    p.set_default_timeout(T)
                    p.goto(f"{url}/{ATTACK_URL}")
                    p.get_by_role("button", name="Run attack").wait_for(timeout=T)
                    _idle(p)
                    heavy.append(p)
                t0 = time.monotonic()
                for p in heavy:
                    p.get_by_role("button", name="Run attack").click(no_wait_after=True)
                load_s = statistics.median(_trace_time(light, url) for _ in range(3))
                queued = [False] * len(heavy)
                finished: list[float | None] = [None] * len(heavy)
                outcome = [""] * len(heavy)
                while None in finished and time.monotonic() - t0 < T / 1000:
                    for i, p in enumerate(heavy):
                        if finished[i] is not None:
                            continue
                        if p.get_by_text("Queued:").count():
                            queued[i] = True
                        result = p.locator('[data-testid="stMetricLabel"]').get_by_text(
                            "Prediction after", exact=True
                        )
                        error = p.locator('[data-testid="stException"]')
                        if result.count() or error.count():
                            finished[i] = time.monotonic() - t0
                            outcome[i] = "exception" if error.count() else "result"
                    time.sleep(0.5)
                browser.close()
        finally:
            done.set()
            sampler.join(2)
    print(f"{'heavy session':14} {'saw its queue place':>20} {'time to result':>15} outcome")
    for i, (q, f, o) in enumerate(zip(queued, finished, outcome)):
        print(
            f"{i + 1:<14} {'yes' if q else 'no':>20} "
            f"{f'{f:.1f} s' if f is not None else 'timed out':>15} {o or '-'}"
        )
    ratio = load_s / idle_s
    clean = all(o == "result" for o in outcome)
    verdict = "goal met" if ratio <= 2 else "bar met" if ratio <= 3 else "NOT met"
    print(
        f"light page (Trace, VGG, median of 3): idle {idle_s:.2f} s, under load {load_s:.2f} s, "
        f"ratio {ratio:.2f} (goal <= 2, bar <= 3): {verdict}"
    )
    print(f"every heavy session ended with its result: {'yes' if clean else 'NO'}")
    print(
        f"server peak with zygote and workers: PSS {peak[1]:.0f} MB, RSS sum {peak[0]:.0f} MB "
        f"(target <= 2048): {'met' if peak[1] <= 2048 else 'NOT met'} by PSS, "
        f"{'met' if peak[0] <= 2048 else 'NOT met'} by RSS sum"
    )
    print("after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
