"""training.kfold: folds by speaker, the Wilson interval, scores with their confusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from training.kfold import scores, speaker_folds, wilson


def test_speaker_folds_keep_each_speaker_in_one_fold_and_balance_clips():
    rng = np.random.default_rng(0)
    speakers = np.array([f"s{i}" for i in rng.integers(0, 120, 366)])
    folds = speaker_folds(speakers, 5, seed=1)
    for s in set(speakers):
        assert len(set(folds[speakers == s])) == 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= np.unique(speakers, return_counts=True)[1].max()
    np.testing.assert_array_equal(folds, speaker_folds(speakers, 5, seed=1))


@pytest.mark.parametrize("k,n", [(349, 366), (30, 30), (27, 30), (0, 12)])
def test_wilson_interval_agrees_with_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(wilson(k, n), [ci.low, ci.high], atol=1e-4)


def test_scores_give_confusion_rows_by_true_digit():
    y = np.array([0, 0, 1, 8, 8, 8])
    pred = np.array([0, 1, 1, 8, 5, 8])
    s = scores(y, pred)
    assert s["correct"] == 4 and s["n"] == 6 and s["accuracy"] == round(4 / 6, 4)
    assert s["confusion"][0][1] == 1 and s["confusion"][8][5] == 1 and s["confusion"][8][8] == 2
    assert s["per_class"] == {"0": 0.5, "1": 1.0, "8": round(2 / 3, 4)}
