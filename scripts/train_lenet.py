#!/usr/bin/env python
"""Train the built-in LeNet-5 on MNIST and write its model card (recipe: training/lenet.py).

Run from the repository root:

    python scripts/train_lenet.py --data ../shared/data/mnist

Writes ``<out>/lenet_mnist.keras`` and ``<out>/lenet_mnist.json``. ``--data``: the MNIST IDX
``.gz`` files; if that folder does not exist, ``keras.datasets.mnist`` downloads them (needs the
internet), and the real MNIST test set is scored too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.cli import image_args, image_options  # noqa: E402
from training.cli import main as cli  # noqa: E402
from training.data import DATA  # noqa: E402


def options(ap: argparse.ArgumentParser) -> None:
    image_options(ap, data=str(DATA / "mnist"), what="MNIST IDX files", epochs=20)


def run(args: argparse.Namespace) -> None:
    from training import lenet  # TensorFlow loads here, after the options are read

    lenet.train(**image_args(args), data_arg=args.data)


if __name__ == "__main__":
    sys.exit(cli(__doc__, None, options, run))
