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

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import Row, Table, parser  # noqa: E402
from bench.trace import median_ms, models  # noqa: E402
from core.analysis.importance import filter_importance  # noqa: E402
from core.graph.engine import Tracer  # noqa: E402
from core.graph.interventions import compile_frozen, run_frozen  # noqa: E402
from core.model.card import infer_card  # noqa: E402

_CONV = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def main(argv: list[str] | None = None) -> list[Row]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    args = parser(__doc__, repeats=20).parse_args(argv)
    summary: list[Row] = []
    table = Table(
        "model 22 | trace ms 9.2f | freeze ms 9.2f | freeze@1 ms 11.2f | eager ms 9.2f"
        " | compile ms 10.0f | scan s 8.2f | freeze/trace 12.2f | freeze@1/trace 14.2f"
        " | eager/trace 11.2f | last conv layer >24"
    )
    table.header()
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
        ratios = (t_last / t_trace, t_first / t_trace, t_eager / t_trace)
        conv = f"{last} ({n} filters)"
        table.row(name, t_trace, t_last, t_first, t_eager, t_compile, t_scan / 1e3, *ratios, conv)
        summary += [
            ("freeze", name, "freeze in last conv / trace", t_last / t_trace),
            ("freeze", name, "freeze in first conv / trace", t_first / t_trace),
        ]
    return summary


if __name__ == "__main__":
    main()
