"""scripts/train_audio.py helpers: speaker folds, the Wilson interval, scores, per-epoch draws and
the training-only SpecAugment masks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.stats import binomtest

_spec = importlib.util.spec_from_file_location(
    "train_audio", Path(__file__).resolve().parents[2] / "scripts" / "train_audio.py"
)
ta = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ta)


def test_speaker_folds_keep_each_speaker_in_one_fold_and_balance_clips():
    rng = np.random.default_rng(0)
    speakers = np.array([f"s{i}" for i in rng.integers(0, 120, 366)])
    folds = ta.speaker_folds(speakers, 5, seed=1)
    for s in set(speakers):
        assert len(set(folds[speakers == s])) == 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= np.unique(speakers, return_counts=True)[1].max()
    np.testing.assert_array_equal(folds, ta.speaker_folds(speakers, 5, seed=1))


@pytest.mark.parametrize("k,n", [(349, 366), (30, 30), (27, 30), (0, 12)])
def test_wilson_interval_agrees_with_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(ta.wilson(k, n), [ci.low, ci.high], atol=1e-4)


def test_scores_give_confusion_rows_by_true_digit():
    y = np.array([0, 0, 1, 8, 8, 8])
    pred = np.array([0, 1, 1, 8, 5, 8])
    s = ta.scores(y, pred)
    assert s["correct"] == 4 and s["n"] == 6 and s["accuracy"] == round(4 / 6, 4)
    assert s["confusion"][0][1] == 1 and s["confusion"][8][5] == 1 and s["confusion"][8][8] == 2
    assert s["per_class"] == {"0": 0.5, "1": 1.0, "8": round(2 / 3, 4)}


def test_draw_repeats_every_item_k_times():
    idx = ta.draw(np.random.default_rng(0), 7, 21)
    np.testing.assert_array_equal(np.bincount(idx), [3] * 7)
    assert len(ta.draw(np.random.default_rng(0), 7, 10)) == 10


def test_spec_mask_masks_bands_in_training_only():
    x = np.ones((4, 126, 64, 1), np.float32)
    layer = ta.spec_mask_layer(keras, 2, 12, 2, 8)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    m = np.asarray(layer(x, training=True))[..., 0]
    assert m.shape == (4, 126, 64) and set(np.unique(m)) <= {0.0, 1.0}
    for clip in m:
        frames = (clip == 0).all(axis=1).sum()  # whole frames masked: time bands
        mels = (clip == 0).all(axis=0).sum()  # whole mel bins masked: frequency bands
        assert frames <= 24 and mels <= 16
        assert ((clip == 0) == ((clip == 0).all(axis=1)[:, None] | (clip == 0).all(axis=0))).all()


def test_a_bad_spec_mask_is_refused():
    with pytest.raises(SystemExit, match="expected 4 integers"):
        ta.main(["--spec-mask", "2,12"])
