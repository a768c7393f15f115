"""Heavy work on a shared server: every attack, sweep, importance scan and upload check waits
for a slot of the process-wide limiter (core.cache.job_limiter), showing its place in line;
the work itself then runs in a worker process of the local pool (core.work), whose progress
comes back to this page's thread.

    with heavy_job("LinfPGD on the current sample") as job:
        r = run_attack(..., on_step=job.step)

Any click while it waits or runs (the Cancel button, or another widget) makes Streamlit rerun
the page, which stops this run at its next status update; the slot is released on the way out
and a running job's worker is stopped (core.work.run), so its place and memory are freed.
Lighter work that runs in the page's own process (a cached trace, a saliency map) shows
`spinner`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from core import cache, work
from core.errors import LayerLabError


def spinner(what: str, *, frozen: object = False) -> Any:
    """A spinner saying what runs, and that frozen filters apply when `frozen` is truthy (a
    Freeze, a configuration); Streamlit shows it only after 0.5 s, so a cached result never
    flashes one, and then with its running time."""
    return st.spinner(what + (" (with frozen filters)" if frozen else "") + "…", show_time=True)


class Progress:
    """A progress bar that appears at its first update: a cached result shows none (a bar made
    up front and emptied stayed on the page as an element, and each costs every rerun)."""

    def __init__(self, text: str):
        self._text, self._bar = text, None

    def progress(self, value: float, *, text: str | None = None) -> None:
        if self._bar is None:
            self._bar = st.progress(value, text=text or self._text)
        else:
            self._bar.progress(value, text=text or self._text)

    def empty(self) -> None:
        if self._bar is not None:
            self._bar.empty()


class Job:
    """Progress of a running heavy job, shown in its st.status label (at most 4 updates/s)."""

    def __init__(self, status, label: str):
        self._status, self._label = status, label
        self._calls, self._shown = 0, 0.0
        self._t0 = time.monotonic()

    def step(self) -> None:
        """One model evaluation done (attacks call this for every batch they evaluate)."""
        self._calls += 1
        self._update(f"{self._label} · {self._calls} model calls")

    def progress(self, done: int, total: int) -> None:
        self._update(f"{self._label} · {done} of {total}")

    def _update(self, label: str) -> None:
        now = time.monotonic()
        if now - self._shown >= 0.25:
            self._shown = now
            self._status.update(label=f"{label} · {now - self._t0:.0f} s")


@contextmanager
def heavy_job(label: str, *, where=None) -> Iterator[Job]:
    """Wait for a heavy-job slot (FIFO, with the queue shown), then run the block in it."""
    limiter = cache.job_limiter()
    box = where if where is not None else st
    with box.status(f"{label}…", expanded=False) as status:
        cancel = box.empty()
        shown: list[bool] = []

        def waiting(ahead: int, running: int) -> None:
            if not shown:  # one button per wait: a click reruns the page, which cancels
                cancel.button("Cancel", key=f"cancel_{label}", icon=":material/close:")
                shown.append(True)
            status.update(
                label=f"Queued: {ahead + running} job{'s' if ahead + running != 1 else ''}"
                f" ahead ({running} running) · {label}",
                state="running",
            )

        with limiter.slot(on_wait=waiting):
            cancel.empty()
            status.update(label=f"{label}…")
            job = Job(status, label)
            try:
                yield job
            except Exception:
                status.update(label=f"{label}: failed", state="error")
                raise
        status.update(
            label=f"{label}: done in {time.monotonic() - job._t0:.1f} s", state="complete"
        )


@contextmanager
def watched(label: str, *, bar: Any = None) -> Iterator[None]:
    """Heavy work a page runs by itself (CKA, scans, explanations): while the block waits on the
    worker pool, its place in line and its time are shown, with a Cancel button; a result from
    the cache shows nothing. Cancel keeps this job stopped (the page would otherwise start it
    again on its rerun) until "Run it again" or other settings (another label). A refusal or
    failure with a message for its user (a LayerLabError, e.g. over the job's memory budget) is
    shown in its place and stops the page there, as nothing below can be drawn without it; the
    caller's progress `bar` goes first (once the page is stopping, nothing more can be drawn)."""
    stopped = st.session_state.setdefault("jobs_cancelled", set())
    if label in stopped:
        st.info(f"{label}: cancelled.", icon=":material/block:")
        if st.button("Run it again", key=f"again_{label}", icon=":material/refresh:"):
            stopped.discard(label)
            st.rerun()
        st.stop()
    # [status, cancel holder], made at the first wait (in this thread: core.work.run.watching),
    # where the block is: a cached result adds no element to the page (each costs every rerun).
    ui: list = []
    t0, shown = time.monotonic(), [0.0]

    def on_wait(ahead: int | None, running: int) -> None:
        now = time.monotonic()
        if ui and now - shown[0] < 0.25:  # at most 4 updates a second
            return
        shown[0] = now
        if not ui:
            holder = st.container()
            ui.extend([holder.status(f"{label}…", expanded=False), holder.empty()])
            ui[1].button(
                "Cancel",
                key=f"cancel_{label}",
                icon=":material/close:",
                on_click=stopped.add,
                args=(label,),
            )
        if ahead is None:
            ui[0].update(label=f"{label} · {now - t0:.0f} s", state="running")
        else:
            n = ahead + running
            ui[0].update(
                label=f"Queued: {n} job{'s' if n != 1 else ''} ahead ({running} running) · {label}",
                state="running",
            )

    try:
        with work.watching(on_wait):
            yield
    except LayerLabError as e:  # refused (over its budget) or failed, with the reason: say it
        if bar is not None:
            bar.empty()
        if ui:
            ui[1].empty()
            ui[0].update(label=f"{label}: not done", state="error")
        st.error(str(e), icon=":material/block:")
        st.stop()
    except Exception:
        if ui:
            ui[1].empty()
            ui[0].update(label=f"{label}: failed", state="error")
        raise
    if ui:
        ui[1].empty()
        ui[0].update(label=f"{label}: done in {time.monotonic() - t0:.1f} s", state="complete")
