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

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.trace import median_ms  # noqa: E402
from core import api  # noqa: E402
from core.analysis.exemplars import CHUNK, compile_scan, scan  # noqa: E402


def _interleaved(a, b, repeats: int) -> tuple[float, float]:
    """Best-of-n seconds of a and of b, run alternately: on a shared machine the least
    disturbed run is the closest to the code's own cost, and alternating exposes both to
    the same load."""
    ta, tb = [], []
    for _ in range(repeats):
        for fn, ts in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return min(ta), min(tb)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="lenet_mnist,vgg_cifar10")
    args = ap.parse_args(argv)
    rows = []
    print(
        f"{'model':14} {'inputs':>6} {'forward':>9} {'scan':>9} {'scan/fwd':>8} {'first':>9} "
        f"{'query':>9} {'visualize':>9} {'index':>9}  layers, channels"
    )
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
        t_fwd, t_scan = _interleaved(
            forward,
            lambda: scan(m.tracer, x, labels=labels, n_classes=len(m.labels), compiled=step),
            args.repeats,
        )
        types = m.tracer.plan.layer_types()
        conv = [n for n in ix.layers if "Conv" in types.get(n, "")][-1]
        t_query = median_ms(lambda: api.top_inputs(m, conv, 1, k=9, index=ix), 20)
        t_vis = api.visualize(m, conv, 1, steps=256).seconds
        n_ch = sum(li.channels for li in ix.layers.values())
        print(
            f"{name:14} {len(x):6d} {t_fwd:8.2f}s {t_scan:8.2f}s {t_scan / t_fwd:8.2f} "
            f"{t_first:8.2f}s {t_query:7.2f}ms {t_vis:8.2f}s {ix.nbytes / 2**20:7.2f}MB  "
            f"{len(ix.layers)}, {n_ch}"
        )
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
