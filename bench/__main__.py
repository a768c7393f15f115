"""Run every benchmark in one go and print one table of ratios: python -m bench.

Each benchmark prints its own detailed table first (times and ratios, measured in the same
run), then the summary gathers the ratios. bench.memory (browser sessions) runs on its own.
"""

from __future__ import annotations

import sys

from bench import (
    attack,
    audio,
    breakdown,
    dataset,
    engine,
    exemplars,
    explain,
    freeze,
    onnx,
    trace,
)

if __name__ == "__main__":
    rows = []
    for mod in (engine, breakdown, trace, freeze, audio, attack, explain, exemplars, dataset, onnx):
        print(f"\n== {mod.__name__}: {mod.__doc__.splitlines()[0]}")
        sys.stdout.flush()
        rows += mod.main([])
    print("\n== summary: ratios measured in this run")
    print(f"{'benchmark':10} {'case':40} {'ratio':36} {'value':>9}")
    for bench_name, case, ratio, value in rows:
        print(f"{bench_name:10} {case:40} {ratio:36} {value:9.2f}")
