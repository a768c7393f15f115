"""Every node of an .onnx file against onnxruntime, after conversion (what api.load builds):

    python scripts/onnx_compare.py model.onnx [--seed 0] [--all]

One line per converted node: its ONNX name and operator, the Keras layer named after it, the
output shape (ONNX order) and the relative error of the layer's output (moved back to ONNX's
axis order) against onnxruntime's value of that node on one random input. Only the nodes over
the 1e-4 tolerance are listed unless --all; the exit status is 1 if any is.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import api  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="list every node, not only failures")
    args = ap.parse_args(argv)
    checks = api.compare_onnx(args.model, seed=args.seed)
    bad = [c for c in checks if not c.ok]
    for c in checks if args.all else bad:
        mark = "ok " if c.ok else "BAD"
        print(f"{mark} {c.node:50} {c.op:20} {c.layer:50} {str(c.shape):20} {c.relative:.1e}")
    print(f"{len(checks)} nodes converted, {len(bad)} over the tolerance")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
