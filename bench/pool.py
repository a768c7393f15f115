"""The price of leaving the server, and a scan on a Dask cluster.

    python -m bench.pool [--repeats 5] [--scan 10000]

1. An attack (LinfPGD, 40 steps, on the CIFAR-10 VGG) in this process against the same attack
   through the local worker pool (warm: the worker already holds the model): median of
   --repeats each, as a ratio (goal <= 1.15x: the pickling, the socket and the niced worker).
2. An exemplar scan (api.filter_index) of --scan inputs (the LeNet probe set, repeated) through a
   dask.distributed LocalCluster with two worker processes against the same scan through the
   local pool (one worker); the cluster's time includes loading the model on its workers once.
   On two cores it will not be faster; on a cluster of machines the shards run side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from core import api  # noqa: E402
from core.work import INLINE  # noqa: E402
from core.work.pool import WorkerPool  # noqa: E402


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    from distributed import Client, LocalCluster

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scan", type=int, default=10_000)
    args = ap.parse_args(argv)
    vgg = api.load("vgg_cifar10")
    raw = api.probe_set(vgg)[0][0]
    pool = WorkerPool(slots=1)
    rows = []
    try:
        attack = dict(method="LinfPGD", epsilon=8 / 255, steps=40)
        api.attack(vgg, raw, executor=INLINE, **attack)  # compiled once in each place
        api.attack(vgg, raw, executor=pool, **attack)
        inline_s = _median(lambda: api.attack(vgg, raw, executor=INLINE, **attack), args.repeats)
        pool_s = _median(lambda: api.attack(vgg, raw, executor=pool, **attack), args.repeats)
        ratio = pool_s / inline_s
        print(
            f"LinfPGD-40 on the VGG: in process {inline_s:.3f} s, through the pool {pool_s:.3f} s"
        )
        print(f"  ratio {ratio:.2f} (goal <= 1.15): {'met' if ratio <= 1.15 else 'NOT met'}")
        rows.append(("pool", "attack through the pool", "pool / in process", ratio))

        lenet = api.load("lenet_mnist")
        raws, labels = api.probe_set(lenet)
        reps = -(-args.scan // len(raws))
        inputs = (list(raws) * reps)[: args.scan]
        labs = (list(labels) * reps)[: args.scan]
        api.filter_index(lenet, inputs=inputs[:256], labels=labs[:256], executor=pool)
        t = time.perf_counter()
        api.filter_index(lenet, inputs=inputs, labels=labs, executor=pool)
        local_s = time.perf_counter() - t
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            t = time.perf_counter()
            api.filter_index(lenet, inputs=inputs, labels=labs, executor=client)
            dask_s = time.perf_counter() - t
        ratio = dask_s / local_s
        print(
            f"scan of {args.scan} inputs (LeNet): local pool {local_s:.2f} s, Dask LocalCluster "
            f"(2 workers) {dask_s:.2f} s, ratio {ratio:.2f} (reported)"
        )
        rows.append(("pool", f"{args.scan}-input scan on Dask", "Dask / local pool", ratio))
    finally:
        pool.shutdown()
    return rows


if __name__ == "__main__":
    main()
