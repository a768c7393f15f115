"""Freezing re-runs only what is downstream of the earliest frozen layer: what it saves.

    python -m bench.freeze [--repeats 20]

For each model, with the unfrozen trace already computed (as the Freeze page has it):
  trace     a full trace (Tracer, one compiled multi-output model), batch 1
  freeze    run_frozen with one filter frozen in the last convolutional layer: only the steps
            from that layer on, as one compiled graph (what the Freeze page does)
  freeze@1  the same with a filter frozen in the first convolutional layer (nearly everything
            downstream: the worst case)
  eager     the last-conv case without compiling (what api.trace(frozen=...) does once)
  compile   one-off cost of building the compiled graph for a set of frozen layers
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
from core.analysis.importance import filter_importance  # noqa: E402
from core.graph.engine import Tracer  # noqa: E402
from core.graph.interventions import compile_frozen, run_frozen  # noqa: E402
from core.model.card import infer_card  # noqa: E402

_CONV = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    summary = []
    print(
        f"{'model':22} {'trace':>9} {'freeze':>9} {'freeze@1':>9} {'eager':>9} {'compile':>9} "
        f"{'scan':>8} {'freeze/trace':>12} {'freeze@1/trace':>14} {'eager/trace':>11}  "
        "last conv layer"
    )
    for name, model in models().items():
        tracer = Tracer(model)
        plan = tracer.plan
        convs = [s.name for s in plan.steps_by_name().values() if isinstance(s.op, _CONV)]
        first, last = convs[0], convs[-1]
        x = np.random.default_rng(0).random((1, *model.inputs[0].shape[1:]), dtype=np.float32)
        base = {k: v[0] for k, v in tracer(x).items()}
        t_trace = median_ms(lambda: tracer(x), args.repeats)
        t0 = time.perf_counter()
        fn_last = compile_frozen(plan, (last,))
        run_frozen(plan, x, base, {last: (0,)}, compiled=fn_last)
        t_compile = (time.perf_counter() - t0) * 1e3
        fn_first = compile_frozen(plan, (first,))
        t_last = median_ms(
            lambda: run_frozen(plan, x, base, {last: (1,)}, compiled=fn_last), args.repeats
        )
        t_first = median_ms(
            lambda: run_frozen(plan, x, base, {first: (1,)}, compiled=fn_first), args.repeats
        )
        t_eager = median_ms(
            lambda: run_frozen(plan, x, base, {last: (0,)}), max(3, args.repeats // 4)
        )
        xb = np.random.default_rng(1).random((30, *model.inputs[0].shape[1:]), dtype=np.float32)
        t0 = time.perf_counter()
        filter_importance(tracer, xb, last, card=infer_card(model, "bench"))
        t_scan = (time.perf_counter() - t0) * 1e3
        n = int(base[last].shape[-1])
        print(
            f"{name:22} {t_trace:7.2f}ms {t_last:7.2f}ms {t_first:7.2f}ms {t_eager:7.2f}ms "
            f"{t_compile:7.0f}ms {t_scan / 1e3:7.2f}s {t_last / t_trace:12.2f} "
            f"{t_first / t_trace:14.2f} {t_eager / t_trace:11.2f}  {last} ({n} filters)"
        )
        summary += [
            ("freeze", name, "freeze in last conv / trace", t_last / t_trace),
            ("freeze", name, "freeze in first conv / trace", t_first / t_trace),
        ]
    return summary


if __name__ == "__main__":
    main()
