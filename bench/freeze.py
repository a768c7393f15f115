"""Freezing re-runs only what is downstream of the earliest frozen layer: what it saves.

    python -m bench.freeze [--repeats 20]

For each model, with the unfrozen trace already computed (as the Freeze page has it):
  trace     a full trace (Tracer, one compiled multi-output model), batch 1
  freeze    run_frozen with one filter frozen in the last convolutional layer (eager, only the
            steps from that layer on)
  freeze@1  the same with a filter frozen in the first convolutional layer (nearly everything
            downstream: the worst case)
  scan      filter_importance over every filter of the last conv layer on 30 inputs
Ratios are against `trace` measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.trace import median_ms, models  # noqa: E402
from core.engine import Tracer  # noqa: E402
from core.freeze import run_frozen  # noqa: E402
from core.importance import filter_importance  # noqa: E402

_CONV = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    print(f"{'model':22} {'trace':>9} {'freeze':>9} {'freeze@1':>9} {'scan':>10} "
          f"{'freeze/trace':>12} {'freeze@1/trace':>14}  scanned layer")
    for name, model in models().items():
        tracer = Tracer(model)
        plan = tracer.plan
        convs = [s.name for s in plan.steps_by_name().values() if isinstance(s.op, _CONV)]
        first, last = convs[0], convs[-1]
        x = np.random.default_rng(0).random((1, *model.inputs[0].shape[1:]), dtype=np.float32)
        base = {k: v[0] for k, v in tracer(x).items()}
        t_trace = median_ms(lambda: tracer(x), args.repeats)
        t_last = median_ms(lambda: run_frozen(plan, x, base, {last: (0,)}), args.repeats)
        t_first = median_ms(lambda: run_frozen(plan, x, base, {first: (0,)}),
                            max(3, args.repeats // 4))
        xb = np.random.default_rng(1).random((30, *model.inputs[0].shape[1:]), dtype=np.float32)
        t0 = time.perf_counter()
        filter_importance(tracer, xb, last)
        t_scan = (time.perf_counter() - t0) * 1e3
        n = int(base[last].shape[-1])
        print(f"{name:22} {t_trace:8.2f}ms {t_last:8.2f}ms {t_first:8.2f}ms {t_scan / 1e3:9.2f}s "
              f"{t_last / t_trace:12.2f} {t_first / t_trace:14.2f}  {last} ({n} filters)")


if __name__ == "__main__":
    main()
