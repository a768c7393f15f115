"""One process-wide limiter for heavy jobs (attacks, sweeps, importance scans, uploads' first
loads, Griffin-Lim batches): at most `slots` run at once, the rest wait in arrival order.

Light work (a trace, a page rerun) never goes through it, so it is never queued behind a heavy
job. The app holds one instance for the whole process (core.cache.job_limiter); scripts need
none. A waiting caller is told its place through `on_wait(ahead, running)`; raising there (a
Streamlit rerun when the user cancels) leaves the queue cleanly.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class JobLimiter:
    def __init__(self, slots: int):
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be a whole number >= 1; got {slots!r}.")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._running = 0

    def state(self) -> tuple[int, int]:
        """(running, waiting) now."""
        with self._cond:
            return self._running, len(self._waiting)

    @contextmanager
    def slot(
        self, *, on_wait: Callable[[int, int], None] | None = None, poll_s: float = 0.25
    ) -> Iterator[None]:
        """Hold one slot for the duration of the block; wait (FIFO) while all are taken."""
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
        acquired = False
        try:
            while True:
                with self._cond:
                    if self._waiting[0] is ticket and self._running < self.slots:
                        self._waiting.popleft()
                        self._running += 1
                        acquired = True
                        self._cond.notify_all()
                        break
                    ahead = self._waiting.index(ticket)
                    running = self._running
                if on_wait is not None:
                    on_wait(ahead, running)
                with self._cond:
                    self._cond.wait(poll_s)
            yield
        finally:
            with self._cond:
                if acquired:
                    self._running -= 1
                elif ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._cond.notify_all()
