"""Where heavy work runs: the local pool and a real Dask LocalCluster give the in-process
results; a killed or oversized worker fails only its job; cancel frees the place; workers and
the zygote end with the server, even killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import types

import numpy as np
import pytest

from core import api
from core.errors import JobError
from core.work import INLINE
from core.work.pool import WorkerPool

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(slots=1, idle_s=60.0)
    yield p
    p.shutdown()


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    # A spawned Dask worker re-runs __main__ from its path: an AppTest earlier in the run
    # (tests/core/test_cache.py) leaves its temporary script there, which fails outside it.
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    finally:
        sys.modules["__main__"] = saved


def _same_index(a, b) -> None:
    assert list(a.layers) == list(b.layers)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    for name in a.layers:
        x, y = a.layers[name], b.layers[name]
        for f in ("top_value", "top_input", "top_pos", "fire_rate", "best_mean"):
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f"{name}.{f}")
        # Class sums add shard by shard on a cluster: the same up to float64 rounding.
        np.testing.assert_allclose(x.class_mean, y.class_mean, rtol=1e-6)


@pytest.mark.parametrize("where", ["pool", "dask"])
def test_results_equal_the_in_process_run(where, lenet, lenet_probe, request):
    ex = request.getfixturevalue("pool" if where == "pool" else "dask_client")
    raws, labels = lenet_probe
    a = api.attack(lenet, raws[3], method="FGSM", epsilon=0.15, executor=ex)
    b = api.attack(lenet, raws[3], method="FGSM", epsilon=0.15, executor=INLINE)
    np.testing.assert_array_equal(a.adversarial, b.adversarial)
    assert (a.success, a.adversarial_label) == (b.success, b.adversarial_label)

    kw = dict(method="FGSM", epsilons=[0.02, 0.1, 0.3])
    sa, _ = api.sweep(lenet, raws[:45], executor=ex, **kw)
    sb, _ = api.sweep(lenet, raws[:45], executor=INLINE, **kw)
    assert sa.equals(sb) and sb["success_rate"].iloc[-1] > 0

    layer = lenet.tracer.names[1]
    ia = api.importance(lenet, raws[:30], layer, labels=list(labels[:30]), executor=ex)
    ib = api.importance(lenet, raws[:30], layer, labels=list(labels[:30]), executor=INLINE)
    assert ia.equals(ib) and len(ib) > 1

    xa = api.filter_index(lenet, inputs=raws, labels=labels, executor=ex)
    xb = api.filter_index(lenet, inputs=raws, labels=labels, executor=INLINE)
    _same_index(xa, xb)

    # Evaluation: 300 rows are 2 blocks (one task each on the cluster); no disk cache.
    ea = api.evaluate(lenet, (raws, labels), executor=ex, cache=False)
    eb = api.evaluate(lenet, (raws, labels), executor=INLINE, cache=False)
    np.testing.assert_array_equal(ea.probabilities, eb.probabilities)
    np.testing.assert_array_equal(ea.confusion, eb.confusion)
    sa = api.layer_summaries(lenet, raws[:50], executor=ex)
    sb = api.layer_summaries(lenet, raws[:50], executor=INLINE)
    assert list(sa) == list(sb)
    for name in sb:
        np.testing.assert_array_equal(sa[name], sb[name], err_msg=name)


def test_pool_reports_progress_in_the_callers_thread(lenet, lenet_probe, pool):
    import threading

    raws, labels = lenet_probe
    seen: list[tuple[int, int, bool]] = []
    me = threading.get_ident()
    api.filter_index(
        lenet,
        inputs=raws,
        labels=labels,
        executor=pool,
        on_progress=lambda i, n: seen.append((i, n, threading.get_ident() == me)),
    )
    assert seen and seen[-1][:2] == (300, 300) and all(s[2] for s in seen)


def _slow(seconds: float) -> int:
    """A job that runs until killed (or `seconds`): reports its pid first."""
    time.sleep(seconds)
    return os.getpid()


def _allocate(mb: int) -> int:
    return int(np.ones(mb * 2**20 // 8).sum())


def _wait_running(pool: WorkerPool, fut) -> int:
    for _ in range(600):
        if fut.running() and fut.pid is not None:
            return fut.pid
        time.sleep(0.1)
    raise AssertionError("the job never started")


def test_a_killed_worker_fails_only_its_job_and_the_next_succeeds(pool):
    fut = pool.submit(_slow, 600)
    queued = pool.submit(_slow, 0)
    pid = _wait_running(pool, fut)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(JobError, match="ended unexpectedly") as e:
        fut.result(timeout=60)
    assert "Other jobs were not affected" in str(e.value)
    assert queued.result(timeout=120) != pid  # the job behind it ran, in a fresh worker


def _temporary_file() -> str:
    with tempfile.NamedTemporaryFile(prefix="__autograph_generated_file", delete=False) as f:
        return f.name  # left behind, as TensorFlow's autograph leaves its sources to atexit


def test_a_workers_temporary_files_leave_with_it():
    """A worker ends by os._exit or a kill, so atexit never removes what TensorFlow's
    autograph wrote (2,317 sources had piled up in /tmp on this machine)."""
    p = WorkerPool(slots=1)
    try:
        left = p.submit(_temporary_file).result(timeout=120)
        assert os.path.dirname(left) != tempfile.gettempdir() and os.path.exists(left)
    finally:
        p.shutdown()
    assert not os.path.exists(left)


def test_a_job_past_its_memory_fails_with_the_reason_and_the_pool_goes_on():
    small = WorkerPool(slots=1, memory=256 * 2**20)
    try:
        with pytest.raises(JobError, match="more memory than a worker may use|past its"):
            small.submit(_allocate, 2048).result(timeout=120)
        assert small.submit(_allocate, 16).result(timeout=120) == 16 * 2**20 // 8
    finally:
        small.shutdown()


def test_cancel_frees_the_place(pool):
    running = pool.submit(_slow, 600)
    waiting = pool.submit(_slow, 600)
    _wait_running(pool, running)
    assert pool.state() == (1, 1)
    pool.cancel(waiting)
    assert waiting.cancelled() and pool.state() == (1, 0)
    pool.cancel(running)
    with pytest.raises(JobError, match="cancelled"):
        running.result(timeout=60)
    assert pool.submit(_slow, 0).result(timeout=120) > 0
    assert pool.state() == (0, 0)


def test_a_watched_call_sees_its_place_then_runs_and_a_watcher_that_stops_cancels(
    lenet, lenet_probe, pool
):
    from core.work import watching

    raws, labels = lenet_probe
    ahead = pool.submit(_slow, 3)
    _wait_running(pool, ahead)
    seen: list[tuple[int | None, int]] = []
    with watching(lambda a, r: seen.append((a, r))):
        api.filter_index(lenet, inputs=raws[:50], labels=labels[:50], executor=pool)
    assert seen[0] == (0, 1)  # first in line behind the one running job
    assert any(a is None for a, _ in seen)  # then its own turn
    assert seen.index(next(x for x in seen if x[0] is None)) > 0

    class Left(Exception):  # what a Streamlit rerun raises in the page's thread
        pass

    def leave(a: int | None, r: int) -> None:
        raise Left

    blocker = pool.submit(_slow, 600)
    _wait_running(pool, blocker)
    with pytest.raises(Left), watching(leave):
        api.filter_index(lenet, inputs=raws[:50], labels=labels[:50], executor=pool)
    assert pool.state() == (1, 0)  # the watched job left the queue with its caller
    pool.cancel(blocker)
    with pytest.raises(JobError):
        blocker.result(timeout=60)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_and_zygote_end_when_the_server_is_killed(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        from core.work.pool import WorkerPool
        from core.safety import spawn
        p = WorkerPool(slots=1)
        p.submit(time.sleep, 0).result()
        print(spawn.shared().pid, *p.worker_pids(), flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        if not any(_alive(p) for p in pids):
            break
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
