"""The server's memory as one budget: a pool job is granted what is left of LAYERLAB_SERVER_MB
(the process tree, measured as the job starts, less what loading its models will take), streams
within it, and is refused with the numbers when nothing is left; the next job is unaffected."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core import api
from core.errors import JobBudgetError
from core.safety.proc import tree_bytes
from core.settings import MB, limits
from core.work import budget
from core.work.pool import HEADROOM, WorkerPool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(slots=1, idle_s=60.0)
    p.submit(os.getpid).result()  # a warm worker: its first job's runtime start is behind it
    yield p
    p.shutdown()


def _server_mb(extra_mb: float) -> str:
    """A server limit that leaves jobs `extra_mb` over what this process tree uses now (past
    the pages' headroom)."""
    used = tree_bytes(os.getpid(), proportional=True) / MB
    return str(int((used + extra_mb) / (1 - HEADROOM)))


def test_without_a_server_limit_a_job_gets_the_job_limit(pool, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SERVER_MB", "0")
    assert pool.submit(budget.limit).result() == limits().job_bytes


def test_a_job_gets_what_is_left_of_the_server(pool, monkeypatch):
    monkeypatch.setenv("LAYERLAB_SERVER_MB", _server_mb(5000))
    assert pool.submit(budget.limit).result() == limits().job_bytes  # room to spare
    monkeypatch.setenv("LAYERLAB_SERVER_MB", _server_mb(150))
    grant = pool.submit(budget.limit).result()
    assert 50 * MB < grant < 250 * MB  # ~150 MB, give or take what the tree moved meanwhile


def test_a_job_with_nothing_left_is_refused_with_the_numbers_and_the_next_one_runs(
    pool, monkeypatch
):
    vgg = api.load("vgg_cifar10")
    inputs = [np.full((32, 32, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    monkeypatch.setenv("LAYERLAB_SERVER_MB", _server_mb(-100))
    with pytest.raises(JobBudgetError) as e:
        api.attribution(vgg, inputs[1], method="integrated_gradients", executor=pool)
    message = str(e.value)
    assert "LAYERLAB_SERVER_MB" in message and "uses" in message
    assert "LAYERLAB_JOB_MB" not in message  # raising it would not help: the server binds
    assert "loading this job's model takes about" in message  # the VGG is not warm there yet
    assert pool.worker_pids() == []  # the server is short: the worker gave its memory back
    monkeypatch.setenv("LAYERLAB_SERVER_MB", "0")
    result = api.cka(vgg, vgg, inputs, executor=pool)
    np.testing.assert_allclose(np.diag(result.matrix)[1:], 1.0, atol=1e-5)  # a layer vs itself
