"""Exemplar index and feature visualisation: what one scan of the probe set costs.

    python -m bench.exemplars [--repeats 3] [--models lenet_mnist,vgg_cifar10]

For each built-in model, on its whole probe set (already converted to model inputs):
  forward   the same number of batched forward passes (chunks of core.analysis.exemplars.CHUNK, the
            model inside one tf.function, warm): the floor any scan must pay
  scan      core.analysis.exemplars.scan: the index of every channel of every layer (one compiled
            multi-output pass per chunk, reduced in the graph), its step compiled beforehand
  first     the first scan of a model, as the app runs it: compiling the step included
  query     api.top_inputs for one channel with the index (receptive fields included)
  visualize api.visualize, 256 steps, one channel of the last convolution
  index     bytes held by the index
forward and scan: best of --repeats, run alternately (the machine may be shared). Ratios are
against `forward` measured in the same run (target: scan / forward <= 1.5).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import Row, Table, best_of, parser  # noqa: E402
from bench.trace import median_ms  # noqa: E402
from core import api  # noqa: E402
from core.analysis.exemplars import CHUNK, compile_scan, scan  # noqa: E402


def main(argv: list[str] | None = None) -> list[Row]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    args = parser(__doc__, repeats=3, models="lenet_mnist,vgg_cifar10").parse_args(argv)
    rows: list[Row] = []
    table = Table(
        "model 14 | inputs 6d | forward s 9.2f | scan s 9.2f | scan/fwd 8.2f | first s 9.2f"
        " | query ms 9.2f | visualize s 11.2f | index MB 9.2f | layers, channels >16"
    )
    table.header()
    for name in args.models.split(","):
        m = api.load(name)
        raws, labels = api.probe_set(m)
        x = np.stack([api.prepare(m, r)[0] for r in raws])
        fwd = tf.function(lambda t: m.model(t, training=False), reduce_retracing=True)

        def forward():
            for i in range(0, len(x), CHUNK):
                fwd(x[i : i + CHUNK]).numpy()

        forward()  # warm-up: trace the graph
        t0 = time.perf_counter()
        step = compile_scan(m.tracer)
        ix = scan(m.tracer, x, labels=labels, n_classes=len(m.labels), compiled=step)
        t_first = time.perf_counter() - t0
        t_fwd, t_scan = best_of(
            [
                forward,
                lambda: scan(m.tracer, x, labels=labels, n_classes=len(m.labels), compiled=step),
            ],
            args.repeats,
        )
        types = m.tracer.plan.layer_types()
        conv = [n for n in ix.layers if "Conv" in types.get(n, "")][-1]
        t_query = median_ms(lambda: api.top_inputs(m, conv, 1, k=9, index=ix), 20)
        t_vis = api.visualize(m, conv, 1, steps=256).seconds
        n_ch = sum(li.channels for li in ix.layers.values())
        mb = ix.nbytes / 2**20
        counts = f"{len(ix.layers)}, {n_ch}"
        table.row(name, len(x), t_fwd, t_scan, t_scan / t_fwd, t_first, t_query, t_vis, mb, counts)
        rows += [
            (
                "exemplars",
                f"{name} scan ({len(x)} inputs)",
                "scan / batched forward",
                t_scan / t_fwd,
            ),
            (
                "exemplars",
                f"{name} first scan, compiling included",
                "first / forward",
                t_first / t_fwd,
            ),
            ("exemplars", f"{name} query one channel", "ms", t_query),
            ("exemplars", f"{name} visualize 256 steps ({conv})", "s", t_vis),
            ("exemplars", f"{name} index", "MB", ix.nbytes / 2**20),
        ]
    return rows


if __name__ == "__main__":
    main()
