#!/usr/bin/env python
"""Train the built-in spoken-digit model (raw 8 kHz waveform in, digit out) and write its card.

Run from the repository root, with ../shared/data beside it (see training/audio/recipe.py); the
shipped model is the second stage started from the first:

    python scripts/synth_voices.py        # espeak-ng voices, once (into ~/.cache/layerlab/synth)
    python scripts/train_audio.py --stage base --out runs/spoken_digits_base
    python scripts/train_audio.py --stage finetune \\
        --init runs/spoken_digits_base/spoken_digits.keras --out assets/models

Each writes ``<out>/spoken_digits.keras`` and its card ``<out>/spoken_digits.json``. ``--smoke``
runs the same code on small subsets, one 8-batch epoch per run and 2 folds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.audio.recipe import STAGES, SYNTH  # noqa: E402
from training.cli import main as cli  # noqa: E402
from training.data import DATA  # noqa: E402


def options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--stage", choices=list(STAGES), required=True, help="base, then finetune")
    ap.add_argument("--init", default="", help="finetune: the base stage's .keras model")
    ap.add_argument("--out", required=True, help="folder for the model and its card")
    ap.add_argument("--data", default="", help=f"the training data (default: {DATA})")
    ap.add_argument("--synth", default="", help=f"synth_voices.py's output (default: {SYNTH})")
    ap.add_argument(
        "--folds", type=int, default=-1, help="k-fold by speaker (default: the stage's)"
    )
    ap.add_argument("--smoke", action="store_true", help="tiny subsets, 1 short epoch per run")


def run(args: argparse.Namespace) -> None:
    from training.audio import train  # TensorFlow loads here, after the options are read

    train.run(
        STAGES[args.stage],
        out=Path(args.out),
        init=args.init,
        root=Path(args.data or DATA),
        synth_dir=Path(args.synth or SYNTH).expanduser(),
        folds=args.folds,
        smoke=args.smoke,
        data_arg=args.data,
        synth_arg=args.synth,
    )


if __name__ == "__main__":
    sys.exit(cli(__doc__, None, options, run))
