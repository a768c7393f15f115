"""The retrain chain of the shipped card, end to end in smoke mode on the real data."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import api

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"


@pytest.mark.slow
def test_the_retrain_chain_runs_from_the_repository_root_and_makes_a_model_the_app_loads(
    tmp_path,
):
    if not (DATA / "fsdd").is_dir():
        pytest.skip("shared/data is not here")
    card = json.loads((ROOT / "assets" / "models" / "spoken_digits.json").read_text())
    synth = tmp_path / "synth"  # espeak-ng may be missing here: then the runs train without it
    base_out, final_out = tmp_path / "base", tmp_path / "final"
    for step in card["retrain"].split(" && ")[1:]:  # the card's own commands, outputs moved
        words = shlex.split(step)
        words[words.index("--out") + 1] = str(base_out if "base" in words else final_out)
        if "--init" in words:
            words[words.index("--init") + 1] = str(base_out / "spoken_digits.keras")
        cmd = [sys.executable, *words[1:], "--smoke", "--synth", str(synth)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    made = json.loads((final_out / "spoken_digits.json").read_text())
    assert made["training"]["smoke"] is True
    chain = made["retrain"].split(" && ")
    assert "--stage base" in chain[1] and "--stage finetune" in chain[2]
    real = made["metrics"]["held_out_real_speakers"]
    assert real["n"] == 60 and len(real["per_fold"]) == 2  # smoke: 60 real clips, 2 folds
    assert sum(f["real_speakers"]["n"] for f in real["per_fold"]) == 60
    assert set(made["metrics"]["before"]) >= {"fsdd_theo", "real_speakers"}
    m = api.load(str(final_out / "spoken_digits.keras"))
    assert m.card["retrain"] == made["retrain"]
    p = api.predict(m, (np.sin(np.arange(8000) / 5).astype(np.float32) * 0.3, 8000))
    assert p.shape == (10,) and abs(float(p.sum()) - 1) < 1e-4
