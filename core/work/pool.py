"""The local worker pool: heavy jobs in processes forked from the zygote, never in the server.

`WorkerPool` is a concurrent.futures.Executor. Jobs wait in one FIFO queue; each of `slots`
threads takes the next job and runs it in its worker (forked on demand through
core.safety.spawn, so a fresh worker costs a fork, not a TensorFlow import), forwarding the
job's progress into its future. A worker that dies (killed, out of its address space) fails
only the job it ran, with a JobError saying so; the next job gets a fresh worker. A worker is
retired after `idle_s` without work, after `max_jobs` jobs, when its memory grew `keep`
bytes past its start, or after a job granted less than LAYERLAB_JOB_MB (see below), so memory
returns to the system.

The server's memory is one budget (LAYERLAB_SERVER_MB: the server, its zygote and workers,
proportional set size): as a job starts, the pool measures the process tree, sets aside what
loading the job's models into that worker will take and what other running jobs were granted,
and grants the job the rest (at most LAYERLAB_JOB_MB). The job streams in chunks that fit its
grant (a sixteenth of the limit stays for the pages' own work), or is refused saying what
holds the memory (core.work.budget.allowance), so no job
takes the server past its limit, whatever the pages hold. `default_pool()` is the process's pool
(the app's and a notebook's), with LAYERLAB_HEAVY_JOBS slots.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection
from typing import Any

from core.errors import JobError
from core.safety import spawn
from core.safety.proc import tree_bytes
from core.settings import MB, human_bytes, limits
from core.work.refs import WARM, models_in

START_S = 60.0  # a fork and a connect; generous on a busy machine
# A model a worker loads costs about twice its weights (ResNet50: 98 MB of weights, 166 MB
# loaded, 10 MB more compiled); a fresh worker's first job starts TensorFlow's runtime in it
# (about 120 MB for a LeNet attack).
LOAD_FACTOR = 2
FIRST_JOB = 128 * MB
# Kept for the pages' own work while jobs run (a ResNet50 trace of a new input: 141 MB).
HEADROOM = 1 / 16


class PoolFuture(Future):
    """A job's future, with the progress its worker reported (drained by the caller's thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: deque[tuple] = deque()
        self.pid: int | None = None  # the worker running it
        self.cancelled_running = False


class _Worker:
    def __init__(self, pid: int, conn: Connection, rss: int, tmp: str) -> None:
        self.pid, self.conn, self.start_rss, self.rss, self.jobs = pid, conn, rss, rss, 0
        self.warm: list[str] = []  # model keys it holds, least recent first (as refs.WARM)
        self.tmp = tmp  # its temporary files' folder

    def stop(self) -> None:
        self.conn.close()  # its lifeline sees the socket close and it exits
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class _Job:
    def __init__(self, fn: Callable, args: tuple, kwargs: dict, progress_kw: str | None):
        self.fn, self.args, self.kwargs, self.progress_kw = fn, args, kwargs, progress_kw
        self.models = models_in((args, kwargs))  # {model key: weight bytes}
        self.future = PoolFuture()


class WorkerPool(Executor):
    def __init__(
        self,
        *,
        slots: int | None = None,
        zygote: spawn.Zygote | None = None,
        memory: int | None = None,
        threads: int | None = None,
        nice: int = 10,
        idle_s: float = 30.0,
        max_jobs: int = 100,
        keep: int = 512 * MB,
    ) -> None:
        lim = limits()
        self.slots = slots if slots is not None else lim.heavy_jobs
        self.zygote = zygote if zygote is not None else spawn.shared()
        self.memory = memory if memory is not None else lim.worker_bytes
        # TensorFlow threads per worker: the server keeps a core for pages.
        self.threads = threads if threads is not None else max(1, (os.cpu_count() or 2) - 1)
        self.nice, self.idle_s, self.max_jobs, self.keep = nice, idle_s, max_jobs, keep
        self._dir = tempfile.mkdtemp(prefix="layerlab_pool_")  # 0700: only this user connects
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._threads: list[threading.Thread] = []
        self._workers: dict[int, _Worker] = {}  # slot -> its live worker
        self._spawned = 0
        self._spawn_lock = threading.Lock()
        self._closed = False
        self._running = 0
        self._granted: dict[int, int] = {}  # slot -> bytes its running job was granted

    # ---- the Executor interface ---------------------------------------------------------------
    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> PoolFuture:
        return self.submit_call(fn, args, kwargs)

    def submit_call(
        self, fn: Callable, args: tuple, kwargs: dict, *, progress_kw: str | None = None
    ) -> PoolFuture:
        """Queue fn(*args, **kwargs) (fn and its arguments picklable; models as refs). With
        progress_kw, the worker passes a callback under that name whose calls land in
        future.progress."""
        job = _Job(fn, args, kwargs, progress_kw)
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.append(job)
            while len(self._threads) < self.slots:
                t = threading.Thread(target=self._slot, args=(len(self._threads),), daemon=True)
                self._threads.append(t)
                t.start()
            self._cond.notify()
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._closed = True
            if cancel_futures:
                while self._queue:
                    self._queue.popleft().future.cancel()
            self._cond.notify_all()
        for w in list(self._workers.values()):
            w.stop()  # a running job fails (JobError) instead of holding the shutdown
        if wait:
            for t in self._threads:
                t.join()
        shutil.rmtree(self._dir, ignore_errors=True)

    # ---- what the pages and tests see ----------------------------------------------------------
    def cancel(self, future: PoolFuture) -> None:
        """Drop a queued job, or end a running one (its worker is killed and replaced)."""
        with self._cond:
            queued = [j for j in self._queue if j.future is future]
            for j in queued:
                self._queue.remove(j)
        if future.cancel():
            return
        pid = future.pid
        if pid is not None and not future.done():
            future.cancelled_running = True
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def state(self) -> tuple[int, int]:
        """(running, waiting) jobs now."""
        with self._cond:
            return self._running, len(self._queue)

    def place(self, future: PoolFuture) -> tuple[int | None, int]:
        """(jobs waiting before this one, None once it left the queue; jobs running now)."""
        with self._cond:
            ahead = next((i for i, j in enumerate(self._queue) if j.future is future), None)
            return ahead, self._running

    def worker_pids(self) -> list[int]:
        return [w.pid for w in list(self._workers.values())]

    # ---- inside ------------------------------------------------------------------------------
    def _slot(self, slot: int) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    if not self._cond.wait(self.idle_s) and not self._queue:
                        w = self._workers.pop(slot, None)  # idle: give its memory back
                        if w is not None:
                            w.stop()
                if not self._queue:
                    return
                job = self._queue.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue
                self._running += 1
            try:
                w = self._workers.get(slot) or self._spawn(slot)
                self._run(slot, w, job, self._grant(slot, w, job))
            except Exception as e:  # noqa: BLE001 - no worker: this job fails, saying why
                if not job.future.done():
                    job.future.set_exception(JobError(f"No worker process could start ({e})."))
            finally:
                with self._cond:
                    self._running -= 1
                    self._granted.pop(slot, None)

    def _grant(self, slot: int, w: _Worker, job: _Job) -> tuple[int, str] | None:
        """(bytes, why) the job may use of the server's memory; None: no server limit."""
        server = limits().server_bytes
        if not server:
            return None
        load = LOAD_FACTOR * sum(b for k, b in job.models.items() if k not in w.warm)
        load += FIRST_JOB if w.jobs == 0 else 0
        with self._cond:
            others = sum(self._granted.values())
        used = tree_bytes(os.getpid(), proportional=True)
        free = int(server * (1 - HEADROOM)) - used - others - load
        grant = max(0, min(limits().job_bytes, free))
        with self._cond:
            self._granted[slot] = grant + load
        why = (
            f"the server with its workers uses {human_bytes(used)} of its "
            f"{human_bytes(server)} (LAYERLAB_SERVER_MB, {HEADROOM:.0%} of it kept for pages)"
            + (f", other running jobs were granted {human_bytes(others)}" if others else "")
            + (f", and loading this job's model takes about {human_bytes(load)}." if load else ".")
        )
        return grant, why

    def _spawn(self, slot: int) -> _Worker:
        with self._spawn_lock:
            self._spawned += 1
            address = os.path.join(self._dir, f"w{self._spawned}.sock")
            tmp = os.path.join(self._dir, f"w{self._spawned}.tmp")
            os.mkdir(tmp, 0o700)
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.bind(address)
                server.listen(1)
                server.settimeout(START_S)
                req = {
                    "op": "worker",
                    "address": address,
                    "memory": self.memory,
                    "threads": self.threads,
                    "nice": self.nice,
                    "tmp": tmp,
                }
                if self.zygote.request(req, START_S) is None:
                    raise JobError("the zygote did not answer")
                sock, _ = server.accept()
            finally:
                server.close()
                if os.path.exists(address):
                    os.unlink(address)
            sock.settimeout(None)
            conn = Connection(sock.detach())
            if not conn.poll(START_S):
                conn.close()
                raise JobError("the new worker did not report ready")
            _, pid, rss = conn.recv()
            w = self._workers[slot] = _Worker(pid, conn, rss, tmp)
            return w

    def _run(self, slot: int, w: _Worker, job: _Job, grant: tuple[int, str] | None) -> None:
        fut = job.future
        fut.pid = w.pid
        try:
            w.conn.send((job.fn, job.args, job.kwargs, job.progress_kw, grant))
            while True:
                kind, *rest = w.conn.recv()
                if kind == "progress":
                    fut.progress.append(rest[0])
                    continue
                break
        except (EOFError, OSError):
            self._workers.pop(slot, None)
            w.stop()
            fut.set_exception(
                JobError("The job was cancelled; its worker was stopped.")
                if fut.cancelled_running
                else JobError(
                    f"The worker process running this job ended unexpectedly (killed, or past "
                    f"its {human_bytes(self.memory)} address space, LAYERLAB_WORKER_MEMORY_MB); "
                    "the job did not finish. Other jobs were not affected, and the next one "
                    "gets a fresh worker: try again, with fewer inputs if it happens again."
                )
            )
            return
        except BaseException as e:  # noqa: BLE001 - e.g. an argument that does not pickle
            fut.set_exception(e)
            return
        result, w.rss = rest
        w.jobs += 1
        for key in job.models:  # the worker's refs.resolve keeps the same WARM, in this order
            if key in w.warm:
                w.warm.remove(key)
            w.warm.append(key)
        del w.warm[:-WARM]
        if kind == "memory":
            self._workers.pop(slot, None)
            w.stop()
            fut.set_exception(
                JobError(
                    f"This job needed more memory than a worker may use "
                    f"({human_bytes(self.memory)}, LAYERLAB_WORKER_MEMORY_MB): use fewer "
                    "inputs or fewer layers. Other jobs were not affected."
                )
            )
            return
        tight = grant is not None and grant[0] < limits().job_bytes  # the server is short
        if w.jobs >= self.max_jobs or w.rss > w.start_rss + self.keep or tight:
            self._workers.pop(slot, None)  # recycled: its memory goes back to the system
            w.stop()
        if kind == "done":
            fut.set_result(result)
        else:
            fut.set_exception(result)


@spawn.process_wide
def default_pool() -> WorkerPool:
    """The process's pool (created on first use; its workers fork from the shared zygote)."""
    return WorkerPool()
