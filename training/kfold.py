"""Scoring a held-out set: folds by speaker, accuracy with its Wilson interval, the confusion.

A spoken-digit model must be judged on voices it never heard. With few real speakers, k-fold by
speaker gives every real clip one held-out prediction: each fold model trains without one k-th
of the speakers (all clips of a speaker in one fold) and scores theirs.
"""

from __future__ import annotations

import math

import numpy as np


def speaker_folds(speakers: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n_clips,) fold 0..k-1 of each clip; all clips of a speaker share a fold. Speakers in a
    seeded random order, biggest first, each to the fold with the fewest clips so far."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(speakers, return_counts=True)
    order = sorted(rng.permutation(len(names)), key=lambda i: -counts[i])
    size, fold_of = np.zeros(k, int), {}
    for i in order:
        f = int(np.argmin(size))
        fold_of[names[i]] = f
        size[f] += counts[i]
    return np.array([fold_of[s] for s in speakers], int)


def wilson(correct: int, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a proportion correct/n (sound for p near 1 and small n)."""
    p = correct / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [round(mid - half, 4), round(mid + half, 4)]


def scores(y: np.ndarray, pred: np.ndarray, n_classes: int = 10) -> dict:
    """Accuracy, its Wilson interval, per-class accuracy (keys "0".."9") and the confusion
    matrix (rows: true class, columns: predicted) of predictions pred (N,) for labels y (N,)."""
    correct = int((pred == y).sum())
    conf = np.zeros((n_classes, n_classes), int)
    np.add.at(conf, (y, pred), 1)
    return {
        "accuracy": round(correct / len(y), 4),
        "n": int(len(y)),
        "correct": correct,
        "wilson_95": wilson(correct, len(y)),
        "per_class": {
            str(c): round(float(conf[c, c] / conf[c].sum()), 4)
            for c in range(n_classes)
            if conf[c].sum()
        },
        "confusion": conf.tolist(),
    }
