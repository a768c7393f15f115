"""The shipped spoken-digit model on recordings like the browser's: 44.1/48 kHz, room noise, a
quiet speaker, the word early or late in a longer recording. Clips: espeak-ng voices the model
never trained on (tests/core/data/heldout_voices, see its README), run through core.api.predict
exactly as the app would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core import api

CLIPS = sorted((Path(__file__).resolve().parents[1] / "data" / "heldout_voices").glob("*.flac"))
RECORDING_S = 3.0


@pytest.fixture(scope="module")
def model():
    return api.load("spoken_digits")


def room_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink (1/f power) noise, unit RMS: a closer stand-in for a room than white noise."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / x.std()


def recording(
    word: np.ndarray, sr: int, *, at: float, snr_db: float, gain_db: float, seed: int
) -> np.ndarray:
    """word (8 kHz) resampled to sr and put at `at` seconds of a 3 s recording with room noise
    snr_db below the word's power, then scaled by gain_db -> float32 (3 * sr,)."""
    w = soxr.resample(word.astype(np.float64), 8000, sr, quality="HQ")
    y = np.zeros(int(RECORDING_S * sr))
    a = int(at * sr)
    y[a : a + w.size] = w[: y.size - a]
    rng = np.random.default_rng(seed)
    y += room_noise(rng, y.size) * np.sqrt(np.mean(w**2) / 10 ** (snr_db / 10))
    return (y * 10 ** (gain_db / 20)).astype(np.float32)


# In room noise the shipped model changes the digit of two of the 20 unheard voices (a "six" of
# en-gb-x-gbclan heard as "eight", an "eight" of en-gb-x-gbcwmd, already "five" when clean, as
# "three"): issue 18, still open. Strict, so the mark must go when a model gets them right.
ROOM_NOISE = pytest.mark.xfail(
    strict=True, reason="issue 18: two unheard voices change digit in 20-30 dB room noise"
)
# (name, sample rate, where the word starts, SNR dB, gain dB); a word lasts 0.6-1.05 s.
CONDITIONS = [
    pytest.param("48 kHz, room noise 20 dB SNR", 48000, 1.0, 20.0, 0.0, marks=ROOM_NOISE),
    pytest.param("44.1 kHz, quiet speaker (-30 dB)", 44100, 1.0, 30.0, -30.0, marks=ROOM_NOISE),
    pytest.param("48 kHz, word at the very start", 48000, 0.03, 25.0, -6.0),
    pytest.param("44.1 kHz, word at the very end", 44100, RECORDING_S - 1.08, 25.0, -6.0),
]


def clips() -> tuple[list[np.ndarray], list[int]]:
    words, labels = [], []
    for path in CLIPS:
        word, word_sr = sf.read(path, dtype="float32")
        assert word_sr == 8000
        words.append(word)
        labels.append(int(path.name[0]))
    return words, labels


def test_clean_held_out_voices(model):
    """The clips as they are (8 kHz, no noise): at least 18 of 20 right. The shipped model is
    97.4 % right on all unheard synthetic voices but 82 % on their "eight" (card per_class), and
    says "five" for an eight of the unheard voice en-gb-x-gbcwmd here."""
    words, labels = clips()
    assert sorted(labels) == sorted(list(range(10)) * 2)
    pred = api.predict(model, [(w, 8000) for w in words]).argmax(1)
    assert (pred == labels).sum() >= 18, list(zip(labels, pred.tolist()))


@pytest.mark.parametrize(
    "name,sr,at,snr_db,gain_db", CONDITIONS, ids=[c.values[0] for c in CONDITIONS]
)
def test_browser_like_recordings_get_the_clean_clips_digit(model, name, sr, at, snr_db, gain_db):
    """What the browser adds (another rate, room noise, level, where the word is) must not change
    the answer: the same digit as for the clean clip for at least 19 of the 20 voices."""
    words, labels = clips()
    clean = api.predict(model, [(w, 8000) for w in words]).argmax(1)
    raws = [
        (recording(w, sr, at=at, snr_db=snr_db, gain_db=gain_db, seed=i), sr)
        for i, w in enumerate(words)
    ]
    pred = api.predict(model, raws).argmax(1)
    changed = [(CLIPS[i].stem, int(clean[i]), int(p)) for i, p in enumerate(pred) if p != clean[i]]
    assert len(changed) <= 1, f"{name}: (clip, clean, now) {changed}"


def test_quiet_recording_is_not_louder_than_it_was(model):
    """The level must not decide: the same clip at 0 and -30 dB gives the same digit with
    nearly the same probabilities (per-clip normalisation in the model)."""
    word, _ = sf.read(CLIPS[0], dtype="float32")
    loud = recording(word, 48000, at=1.0, snr_db=30.0, gain_db=0.0, seed=0)
    p = api.predict(model, [(loud, 48000), (loud * 10 ** (-30 / 20), 48000)])
    assert p[0].argmax() == p[1].argmax() == int(CLIPS[0].name[0])
    np.testing.assert_allclose(p[0], p[1], atol=0.02)
