"""One interface for where a heavy api call runs: `@heavy` and the executors it dispatches to.

    @heavy(progress="on_progress", shard=shards.SCAN)
    def filter_index(m, *, inputs=None, ..., executor=None, on_progress=None): ...

The body always runs where it is called with an in-process executor. Otherwise `where(executor)`
decides: None means the cluster at LAYERLAB_DASK_SCHEDULER if set, else the local pool
(core.work.pool.default_pool), or in process where LAYERLAB_WORK=inline. The call then goes,
with its models as references (core.work.refs), to
- the local pool: one job in one worker; its progress comes back to the caller's callback,
  called from the caller's thread (a Streamlit page may stop there: the job is then cancelled
  and its place freed);
- a dask.distributed Client: the call split into shards (core.work.shards; one task when the
  call has no split), each model's bytes scattered once, results gathered in order and folded
  into what the local run returns;
- any other concurrent.futures.Executor: one task (a thread pool gets the models themselves).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from core.settings import dask_scheduler, work_mode
from core.work.refs import from_refs, to_refs

P = ParamSpec("P")
R = TypeVar("R")


class InProcess(Executor):
    """Runs every call here and now, in the calling thread (executor=INLINE)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - delivered through the future
            f.set_exception(e)
        return f

    def __reduce__(self) -> str:
        return "INLINE"  # pickled by reference: a worker's INLINE is its own


INLINE = InProcess()
_WATCH = threading.local()  # this thread's watcher of pool waits (see watching)
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def is_dask(executor: Any) -> bool:
    return type(executor).__module__.startswith("distributed") and hasattr(executor, "scatter")


def where(executor: Any = None) -> Any:
    """The executor a heavy call with `executor` runs on (None: the default, see above)."""
    if executor is not None:
        return executor
    address = dask_scheduler()
    if address is not None:
        with _CLIENTS_LOCK:
            if address not in _CLIENTS:
                from distributed import Client

                _CLIENTS[address] = Client(address, set_as_default=False)
            return _CLIENTS[address]
    if work_mode() == "inline":
        return INLINE
    from core.work.pool import default_pool

    return default_pool()


def heavy(
    *, progress: str | None = "on_progress", shard: Any = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make an api function take `executor=` (see the module docstring). progress: the name of
    its progress callback keyword; shard: how a cluster splits and folds it (core.work.shards)."""

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            ex = where(kwargs.pop("executor", None))
            if isinstance(ex, InProcess):
                return fn(*args, **kwargs)
            on_progress = kwargs.pop(progress, None) if progress else None
            kwargs["executor"] = INLINE  # where it lands, the body runs there
            if is_dask(ex):
                from core.work.cluster import run_on_cluster

                return run_on_cluster(ex, call, args, kwargs, shard, progress, on_progress)
            if isinstance(ex, ThreadPoolExecutor):
                return ex.submit(call, *args, **kwargs).result()
            from core.work.pool import WorkerPool

            if isinstance(ex, WorkerPool):
                return _on_pool(ex, call, args, kwargs, progress, on_progress)
            return ex.submit(remote, call, to_refs(args), to_refs(kwargs)).result()

        return call

    return deco


def remote(fn: Callable, args: tuple, kwargs: dict, data: dict[str, bytes] | None = None) -> Any:
    """fn with its model references loaded (in a worker of any executor)."""
    return fn(*from_refs(args, data), **from_refs(kwargs, data))


@contextmanager
def watching(on_wait: Callable[[int | None, int], None]) -> Iterator[None]:
    """Within the block, each heavy call this thread makes on the local pool calls
    on_wait(ahead, running) at every poll (10/s): ahead, the jobs waiting before it (None once
    it runs); running, the jobs running now. A page shows the job's place there, and a page that
    stops there (a rerun) cancels the job and frees its place."""
    before = getattr(_WATCH, "fn", None)
    _WATCH.fn = on_wait
    try:
        yield
    finally:
        _WATCH.fn = before


def _on_pool(pool, fn, args, kwargs, progress, on_progress) -> Any:
    fut = pool.submit_call(
        fn, to_refs(args), to_refs(kwargs), progress_kw=progress if on_progress else None
    )
    watch = getattr(_WATCH, "fn", None)
    try:
        while True:
            try:
                result = fut.result(timeout=0.1)
            except FutureTimeout:
                result = fut
            if watch is not None and result is fut:
                watch(*pool.place(fut))
            while fut.progress and on_progress is not None:
                on_progress(*fut.progress.popleft())
            if result is not fut:
                return result
    finally:
        if not fut.done():  # the caller left (a page rerun, an interrupt): free the place
            pool.cancel(fut)
