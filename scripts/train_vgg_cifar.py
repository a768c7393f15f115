#!/usr/bin/env python
"""Train the built-in VGG-style CNN on CIFAR-10 and write its card (recipe: training/vgg.py).

Run from the repository root:

    python scripts/train_vgg_cifar.py --data ../shared/data/cifar10

(about 46 min on a 2-core CPU with the defaults: width 48, 30 epochs, mixed_bfloat16; add
``--max-minutes N`` to cap the wall time, ``--no-mixed`` on CPUs without bf16 support.) Writes
``<out>/vgg_cifar10.keras`` and ``<out>/vgg_cifar10.json``. ``--data``: ``train_images_{1..5}.npy``
and ``train_labels.npy``; if that folder does not exist, ``keras.datasets.cifar10`` downloads
CIFAR-10 (needs the internet), and the real test set is scored too.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.cli import image_args, image_options  # noqa: E402
from training.cli import main as cli  # noqa: E402
from training.data import DATA  # noqa: E402


def options(ap: argparse.ArgumentParser) -> None:
    what = "train_images_{1..5}.npy and train_labels.npy"
    image_options(ap, data=str(DATA / "cifar10"), what=what, epochs=30)
    ap.add_argument("--width", type=int, default=48, help="filters of block 1 (doubled per block)")
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="wall-clock budget for training (0 = none); the schedule is shortened to fit",
    )
    ap.add_argument(
        "--mixed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train with mixed_bfloat16 (the saved model is float32)",
    )


def run(args: argparse.Namespace) -> None:
    from training import vgg  # TensorFlow loads here, after the options are read

    vgg.train(
        **image_args(args),
        width=args.width,
        max_minutes=args.max_minutes,
        mixed=args.mixed,
        command=shlex.join(["python", "scripts/train_vgg_cifar.py", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    sys.exit(cli(__doc__, None, options, run))
