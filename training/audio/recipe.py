"""The settings that made the shipped spoken-digit model, in two stages, and their commands.

`base` trains from scratch on FSDD and espeak-ng voices (the model shipped first, commit
c5f3466); `finetune` starts from it and adds the real recordings, with SpecAugment masks and
5-fold cross-validation by speaker before the final model (the model shipped in 0b5fd71, today's).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

SR = 8000
SECONDS = 1.0
N = int(SR * SECONDS)  # samples of the model's input window
SEED = 1234
BATCH = 64
LABELS = [str(i) for i in range(10)]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
VAL_SPEAKER = "theo"  # the FSDD speaker never trained on
SYNTH = (
    "~/.cache/layerlab/synth"  # scripts/synth_voices.py's default output (generated, not shipped)
)
BASE_OUT = "runs/spoken_digits_base"  # where the retrain chain keeps the base model (git-ignored)


@dataclass(frozen=True)
class Stage:
    """One training stage: its data mix per epoch, schedule, masks and how the model is kept."""

    name: str
    epochs: int
    lr: float  # peak learning rate (Adam)
    fsdd_per_epoch: int  # FSDD training clips drawn per epoch (7500 = each of 2500 three times)
    synth_per_epoch: int  # synthetic clips drawn afresh per epoch
    real: tuple[str, ...]  # folders of real recordings trained on (k-fold by speaker over them)
    real_repeat: int  # each real training clip this many times per epoch
    real_val: tuple[str, ...]  # folders of real recordings only validated on
    spec_mask: tuple[int, int, int, int] | None  # n_time, max_frames, n_freq, max_mels
    folds: int  # k-fold by speaker over the real clips before the final model (0: none)
    select_best: bool  # keep the epoch of best mean validation accuracy (else the last epoch)
    needs_init: bool  # starts from the weights of an earlier model (--init)


BASE = Stage(
    name="base",
    epochs=40,
    lr=2e-3,
    fsdd_per_epoch=7500,
    synth_per_epoch=8000,
    real=(),
    real_repeat=0,
    real_val=("sc09_mini",),
    spec_mask=None,
    folds=0,
    select_best=True,
    needs_init=False,
)
FINETUNE = Stage(
    name="finetune",
    epochs=10,
    lr=1e-3,
    fsdd_per_epoch=1500,
    synth_per_epoch=3000,
    real=("sc09_more", "sc09_mini"),
    real_repeat=8,
    real_val=(),
    spec_mask=(2, 12, 2, 8),
    folds=5,
    select_best=False,
    needs_init=True,
)
STAGES = {s.name: s for s in (BASE, FINETUNE)}


def command(
    stage: Stage,
    *,
    out: str,
    init: str = "",
    data: str = "",
    synth: str = "",
    folds: int = -1,
    smoke: bool = False,
) -> str:
    """The scripts/train_audio.py command line of a run (options at their default left out:
    data "", synth "" and folds -1 mean the recipe's)."""
    words = ["python", "scripts/train_audio.py", "--stage", stage.name]
    for flag, value in (("--init", init), ("--data", data), ("--synth", synth)):
        if value:
            words += [flag, value]
    if folds >= 0 and folds != stage.folds:
        words += ["--folds", str(folds)]
    return shlex.join([*words, *(["--smoke"] if smoke else []), "--out", out])


def synth_command(synth: str = "") -> str:
    """The scripts/synth_voices.py command that writes the voices a run reads (synth "": the
    default folder)."""
    return shlex.join(["python", "scripts/synth_voices.py", *(["--out", synth] if synth else [])])


def retrain(init_retrain: str | None, this_command: str) -> str:
    """The chain of commands that rebuilds a model from a fresh clone: its start's (from the
    start's card, when it has one) and then its own."""
    return " && ".join(c for c in (init_retrain, this_command) if c)


RETRAIN = retrain(
    retrain(synth_command(), command(BASE, out=BASE_OUT)),
    command(FINETUNE, init=str(Path(BASE_OUT) / "spoken_digits.keras"), out="assets/models"),
)  # the shipped model's chain, as its card gives it
