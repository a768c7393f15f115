"""ONNX models: the trace of a converted resnet18 against onnxruntime's own forward pass, and
what converting each zoo model costs.

    python -m bench.onnx [--repeats 20] [--model PATH.onnx]

trace      api's engine: every converted layer's output for one input (batch 1), as Trace runs
forward    the converted Keras model's forward pass alone (the tracer's compiled forward)
ort        onnxruntime's forward pass of the same .onnx file on the same input: the baseline,
           measured in the same run, in turns with the others (the faster of its default
           options and one thread per usable core without spinning)
Conversion (tests/data/onnx_zoo and --model): parse + convert, then the check against
onnxruntime; seconds, median of 3. The default model is the zoo's narrow resnet18 (64x64);
give a full-size export with --model (scripts/export_onnx_zoo.py --full DIR).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from core import api  # noqa: E402
from core.model.onnx import check, convert, parse  # noqa: E402
from core.model.onnx.check import to_keras_layout  # noqa: E402
from core.settings import limits  # noqa: E402

ZOO = Path(__file__).resolve().parents[1] / "tests" / "data" / "onnx_zoo"


def _sessions(path: Path) -> list[ort.InferenceSession]:
    """onnxruntime as it comes, and with one thread per usable core without spinning (faster
    on a shared machine): the baseline is whichever is faster in this run."""
    tuned = ort.SessionOptions()
    tuned.intra_op_num_threads = len(os.sched_getaffinity(0))
    tuned.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return [
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]),
        ort.InferenceSession(str(path), tuned, providers=["CPUExecutionProvider"]),
    ]


def trace_ratio(path: Path, repeats: int) -> tuple[float, float, float]:
    """(trace ms, forward ms, onnxruntime ms) on one random input, batch 1: medians of calls
    taken in turns, so that all three see the same load."""
    m = api.load(path)
    sessions = _sessions(path)
    inp = sessions[0].get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([1, *inp.shape[1:]]).astype(np.float32)
    xk = to_keras_layout(x, x.ndim)
    calls = [lambda s=s: s.run(None, {inp.name: x}) for s in sessions]
    calls += [lambda: m.tracer(xk), lambda: m.tracer.forward(xk)]
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(3):  # warm-up: compiled graphs, arenas
        for fn in calls:
            fn()
    for _ in range(repeats):
        for fn, ts in zip(calls, times):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    ms = [statistics.median(ts) * 1e3 for ts in times]
    return ms[2], ms[3], min(ms[0], ms[1])


def conversion_seconds(path: Path) -> tuple[float, float]:
    """(parse + convert, check against onnxruntime) in seconds, median of 3."""
    lim = limits()
    data = path.read_bytes()
    conv_t, check_t = [], []
    for _ in range(3):
        t = time.perf_counter()
        parsed = parse(data, path.name, lim)
        conv = convert(parsed, max_elements=lim.params)
        conv_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        check(conv, parsed.proto, path.name)
        check_t.append(time.perf_counter() - t)
    return statistics.median(conv_t), statistics.median(check_t)


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the tables; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--model", type=Path, help="an .onnx file to time besides the zoo")
    args = ap.parse_args(argv)
    rows = []
    targets = [ZOO / "resnet18_narrow.onnx", *([args.model] if args.model else [])]
    print(
        f"{'model':34} {'trace ms':>9} {'fwd ms':>8} {'ort ms':>8} {'trace/ort':>10} {'fwd/ort':>8}"
    )
    for path in targets:
        tr, fwd, o = trace_ratio(path, args.repeats)
        print(f"{path.stem:34} {tr:9.2f} {fwd:8.2f} {o:8.2f} {tr / o:10.2f} {fwd / o:8.2f}")
        rows.append(("onnx", path.stem, "trace / onnxruntime forward", tr / o))
        rows.append(("onnx", path.stem, "keras forward / onnxruntime forward", fwd / o))
    print(f"\n{'conversion':34} {'convert s':>10} {'check s':>8} {'nodes':>6}")
    for path in sorted(ZOO.glob("*.onnx")) + ([args.model] if args.model else []):
        c, k = conversion_seconds(path)
        parsed = parse(path.read_bytes(), path.name, limits())
        print(f"{path.stem:34} {c:10.2f} {k:8.2f} {len(parsed.proto.graph.node):6}")
        rows.append(("onnx", f"convert {path.stem}", "seconds (parse + convert)", c))
    return rows


if __name__ == "__main__":
    main()
