"""training.audio.recipe and .card: the shipped card says what the recipe does, and its retrain
runs from a fresh clone (no machine paths, no old commit)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from training.audio import card as cards
from training.audio.recipe import BASE, BASE_OUT, FINETUNE, RETRAIN, STAGES, command
from training.audio.train import run

ROOT = Path(__file__).resolve().parents[3]
CARD = json.loads((ROOT / "assets" / "models" / "spoken_digits.json").read_text())


def test_the_shipped_card_gives_the_recipes_retrain_chain_from_a_fresh_clone():
    assert CARD["retrain"] == RETRAIN
    steps = RETRAIN.split(" && ")
    assert steps[0] == "python scripts/synth_voices.py"
    base, finetune = (shlex.split(s) for s in steps[1:])
    assert base[:4] == ["python", "scripts/train_audio.py", "--stage", "base"]
    assert finetune[:4] == ["python", "scripts/train_audio.py", "--stage", "finetune"]
    # the fine-tune starts from what the base step wrote
    out = base[base.index("--out") + 1]
    assert (
        finetune[finetune.index("--init") + 1]
        == f"{out}/spoken_digits.keras"
        == (f"{BASE_OUT}/spoken_digits.keras")
    )
    for step in steps:  # every path relative to the clone, every script in it
        assert "git " not in step and "/work/" not in step and " /" not in step
        assert (ROOT / shlex.split(step)[1]).is_file()
    assert command(BASE, out=BASE_OUT) in CARD["training"]["init"]


def test_the_shipped_card_describes_the_finetune_stage_of_the_recipe():
    t = CARD["training"]
    assert t["augmentation"] == cards.augmentation_text(FINETUNE)
    assert t["optimizer"] == cards.optimizer_text(FINETUNE)
    assert t["epochs"] == FINETUNE.epochs and t["held_out_speaker"] == "theo"
    real = CARD["metrics"]["held_out_real_speakers"]
    assert (
        t["validation_sets"]["real_speakers_kfold"]
        == real["method"]
        == cards.kfold_text(FINETUNE.folds, 366, 235)
    )
    assert [f["fold"] for f in real["per_fold"]] == list(range(1, FINETUNE.folds + 1))
    assert sum(f["real_speakers"]["correct"] for f in real["per_fold"]) == real["correct"]
    # clips per epoch: FSDD drawn + each of the 366 real clips x8 + synthetic drawn
    assert t["clips_per_epoch"] == FINETUNE.fsdd_per_epoch + 8 * 366 + FINETUNE.synth_per_epoch
    assert CARD["description"] == cards.DESCRIPTION and CARD["title"] == cards.TITLE
    assert CARD["preprocessing"] == cards.PREPROCESSING


def test_the_stages_differ_where_the_two_shipped_models_did():
    assert STAGES == {"base": BASE, "finetune": FINETUNE}
    assert not BASE.needs_init and BASE.select_best and BASE.real == () and BASE.folds == 0
    assert FINETUNE.needs_init and not FINETUNE.select_best and FINETUNE.spec_mask == (2, 12, 2, 8)
    assert "best mean accuracy" in cards.optimizer_text(BASE)
    assert cards.augmentation_text(BASE) == cards.AUGMENTATION_TEXT  # no masks in the base


@pytest.mark.parametrize(
    "stage, init, match",
    [(FINETUNE, "", "expected the base model to start from"), (BASE, "x.keras", "no --init")],
)
def test_a_stage_without_its_start_or_with_one_it_does_not_take_is_refused(
    tmp_path, stage, init, match
):
    with pytest.raises(ValueError, match=match):
        run(stage, out=tmp_path, init=init, synth_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # refused before any work
