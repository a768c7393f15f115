"""A heavy call on a Dask cluster (a dask.distributed.Client): split, scattered, gathered.

Uploaded models' checked bytes are scattered to every worker once per call (a cluster on other
machines cannot read the server's disk); built-ins load by name (the workers have the project
installed). Each Dask worker process keeps the models it loaded warm (core.work.refs), so a
model loads once per worker. Results come back in the order of the pieces; the call's shard
(core.work.shards) folds them into the local run's result. Dask does the scheduling, retries
and data movement; nothing here is a scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.model.load import LoadedModel
from core.work.refs import to_refs


def _models(value: Any) -> list[LoadedModel]:
    if isinstance(value, LoadedModel):
        return [value]
    if isinstance(value, (tuple, list)):
        return [m for v in value for m in _models(v)]
    if isinstance(value, dict):
        return [m for v in value.values() for m in _models(v)]
    return []


def run_on_cluster(
    client: Any,
    fn: Callable,
    args: tuple,
    kwargs: dict,
    shard: Any,
    progress: str | None,
    on_progress: Callable | None,
) -> Any:
    from core.work.run import remote

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    tasks = shard.split(args, kwargs, workers) if shard is not None else [(fn, args, kwargs)]
    files = {
        m.sha256: m.file.read_bytes()
        for m in _models((args, kwargs))
        if m.source != "builtin" and m.file is not None
    }
    data = client.scatter(files, broadcast=True) if files else {}
    futures = [
        client.submit(remote, f, to_refs(a), to_refs(k), data, pure=False) for f, a, k in tasks
    ]
    try:
        results = []
        for i, fut in enumerate(futures):
            results.append(fut.result())
            if on_progress is not None and progress == "on_progress":
                on_progress(i + 1, len(futures))
    finally:
        client.cancel([f for f in futures if not f.done()])
    return shard.fold(results, args, kwargs) if shard is not None else results[0]
