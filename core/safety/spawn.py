"""The zygote process seen from the server: started once, shared by the upload sandbox and the
heavy-job pool, ended with the server.

`Zygote.request(req, seconds)` sends one request (core.safety.zygote lists them) and waits for
its reply; requests from several threads are in flight at once (a reader thread routes each
reply by its id), so a slow upload check never delays a new worker. The zygote watches its
stdin: when this process ends, even killed, the kernel closes the pipe and the zygote kills
everything it started. `shared()` is the process's one zygote (the app's sandbox and pool use
it; a script that never uploads nor uses the pool never starts it).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from core.errors import ModelRefusedError
from core.settings import ROOT

T = TypeVar("T")

START_S = 180.0  # a zygote importing TensorFlow on a busy 2-core machine


class Zygote:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ids = itertools.count()
        self._waiting: dict[int, tuple[threading.Event, list[dict]]] = {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": str(ROOT),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.safety.zygote"],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed as one
        )
        out = _pipes(proc)[1]
        ready, _, _ = select.select([out], [], [], START_S)
        if not ready or out.readline().strip() != b"ready":
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise ModelRefusedError("could not be checked: the zygote process did not start")
        self._proc = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()
        return proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        for line in _pipes(proc)[1]:
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                slot = self._waiting.get(reply.get("id"))
            if slot is not None:
                slot[1].append(reply)
                slot[0].set()
        with self._lock:  # the zygote died: nobody gets a reply from it
            for event, _ in self._waiting.values():
                event.set()

    def request(self, req: dict[str, Any], seconds: float) -> dict[str, Any] | None:
        """The zygote's reply to one request, or None if none came within `seconds` (or the
        zygote died: the next request starts a new one)."""
        event: threading.Event = threading.Event()
        box: list[dict] = []
        with self._lock:
            rid = next(self._ids)
            self._waiting[rid] = (event, box)
            proc = None
        try:
            with self._lock:
                proc = self._start()
                stdin = _pipes(proc)[0]
                stdin.write((json.dumps({**req, "id": rid}) + "\n").encode())
                stdin.flush()
            event.wait(seconds)
            return box[0] if box else None
        finally:
            with self._lock:
                self._waiting.pop(rid, None)

    def close(self) -> None:
        """Kill the zygote and everything it started."""
        with self._lock:
            if self._proc is not None:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait()
                self._proc = None


def _pipes(proc: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    """The zygote's (stdin, stdout): never None, _start opens both as pipes."""
    assert proc.stdin is not None and proc.stdout is not None
    return proc.stdin, proc.stdout


def process_wide(make: Callable[[], T]) -> Callable[[], T]:
    """A function that returns one value per process, made by the first call (under a lock:
    two threads never make two). For what every session shares and no user's state lives in:
    the zygote, the worker pool."""
    made: list[T] = []
    lock = threading.Lock()

    def get() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    get.__doc__ = make.__doc__
    return get


@process_wide
def shared() -> Zygote:
    """The process's zygote (process-wide like the limiter: no user's state lives in it)."""
    return Zygote()
