"""The command line every training script shares: its options, then the recipe, with a bad path
or value reported in one line (exit status 1) instead of a traceback.

TensorFlow loads only when the recipe runs (`run` imports it), so --help is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def image_options(ap: argparse.ArgumentParser, *, data: str, what: str, epochs: int) -> None:
    """The options both image recipes take: --data (`what`, default `data`), --epochs, --out,
    --smoke."""
    ap.add_argument("--data", default=data, help=f"{what} (default: {data})")
    ap.add_argument(
        "--epochs", type=int, default=epochs, help=f"training epochs (default: {epochs})"
    )
    ap.add_argument("--out", default="assets/models", help="output folder (default: assets/models)")
    ap.add_argument("--smoke", action="store_true", help="one epoch of a few batches")


def image_args(args: argparse.Namespace) -> dict[str, Any]:
    """The image_options as the image recipes' train() takes them."""
    return {
        "data": Path(args.data),
        "out": Path(args.out),
        "epochs": args.epochs,
        "smoke": args.smoke,
    }


def main(
    doc: str,
    argv: list[str] | None,
    options: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], Any],
) -> int:
    """Parse argv (None: sys.argv[1:]) with the options a script adds, then run(args)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    options(ap)
    args = ap.parse_args(argv)
    try:
        run(args)
    except (OSError, ValueError) as e:
        sys.exit(f"error: {e}")
    return 0
