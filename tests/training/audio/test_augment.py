"""training.audio.augment: every augmented clip is a placed 1 s window; epochs draw per group."""

from __future__ import annotations

import numpy as np

from training.audio.augment import Augmented, augment, draw
from training.audio.recipe import SR, N


def _word(at: float, length: float, total: float = 1.0) -> np.ndarray:
    """A 300 Hz 'word' (Hann-shaped) at `at` s in `total` s of faint noise, 8 kHz."""
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1e-3, int(total * SR)).astype(np.float32)
    n, a = int(length * SR), int(at * SR)
    t = np.arange(n) / SR
    y[a : a + n] += (0.5 * np.sin(2 * np.pi * 300 * t) * np.hanning(n)).astype(np.float32)
    return y


def test_draw_repeats_every_item_k_times():
    idx = draw(np.random.default_rng(0), 7, 21)
    np.testing.assert_array_equal(np.bincount(idx), [3] * 7)
    assert len(draw(np.random.default_rng(0), 7, 10)) == 10


def test_augment_gives_a_placed_window_that_varies_with_the_seed_and_repeats_with_it():
    y = _word(0.2, 0.4, total=0.9)
    outs = [augment(y, np.random.default_rng(s)) for s in range(30)]
    for x in outs:
        assert x.shape == (N,) and x.dtype == np.float32 and np.all(np.abs(x) <= 1.0)
    assert len({x.tobytes() for x in outs}) == 30
    np.testing.assert_array_equal(outs[4], augment(y, np.random.default_rng(4)))


def test_augment_places_short_bursts_noise_and_clicks_on_every_seed():
    # The hard clips of a run: a word of 34 ms (sped up below what place_word needs to stand
    # out on its own), noise alone, a click mid-clip. A training run must never stop on one.
    burst, click = np.zeros(SR, np.float32), np.zeros(SR, np.float32)
    burst[: int(0.034 * SR)] = 0.5
    click[4000:4300] = 0.5
    noise = np.random.default_rng(1).normal(0, 0.05, SR).astype(np.float32)
    for y in (burst, noise, click):
        for seed in range(100):
            x = augment(y, np.random.default_rng(seed))
            assert x.shape == (N,) and np.all(np.isfinite(x))


def test_an_epoch_draws_each_group_its_count_and_batches_carry_their_labels():
    clips = [_word(0.1 + 0.01 * i, 0.3) for i in range(12)]
    labels = np.arange(12) % 10
    groups = [(0, 4, 8), (4, 6, 6), (6, 12, 2)]  # 4 clips x2, 2 real clips x3, 2 of 6 drawn
    seq = Augmented(clips, labels, groups, batch=4, seed=1)
    assert len(seq) == 4  # 16 clips an epoch
    for _ in range(2):  # two epochs
        counts = np.bincount(seq.order[:16], minlength=12)
        assert counts[:4].tolist() == [2] * 4 and counts[4:6].tolist() == [3, 3]
        assert counts[6:].sum() == 2 and counts[6:].max() == 1
        seq.on_epoch_end()
    x, y = seq[0]
    assert x.shape == (4, N) and y.dtype == np.int32
    np.testing.assert_array_equal(y, labels[seq.order[:4]])
