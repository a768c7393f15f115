"""core.analysis.hearing: a filter's map as an STFT mask, inverted to audio; WAV bytes."""

from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf

from core.analysis.hearing import PEAK_LIMIT, filter_to_audio, mel_axis_hz, resize_map, to_wav_bytes
from core.errors import InputError

SR = 8000
STFT = dict(frame_length=256, frame_step=128, fft_length=256)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """A rising chirp in noise: energy everywhere in time and frequency."""
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    y = 0.3 * np.sin(2 * np.pi * (150 + 1700 * t) * t) + 0.05 * rng.standard_normal(SR)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def fmap() -> np.ndarray:
    """A coarse (pooled) map: a few active time-frequency blobs, zeros elsewhere."""
    m = np.zeros((8, 10))
    m[1:3, 2:4] = 1.0
    m[4:7, 5:9] = 0.6
    m[6:8, 0:2] = 0.3
    return m


def magnitude(y: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(y, n_fft=256, hop_length=128, win_length=256, center=True))


@pytest.mark.parametrize("method", ["phase", "griffinlim"])
def test_reconstruction_matches_masked_spectrogram(clip, fmap, method):
    out = filter_to_audio(fmap, clip, SR, method=method, **STFT)
    assert out.shape == clip.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and np.max(np.abs(out)) <= PEAK_LIMIT + 1e-6
    mag = magnitude(clip)
    mask = resize_map(fmap, mag.shape[1], mag.shape[0]).T
    target = mask / mask.max() * mag
    heard = magnitude(out)
    r = np.corrcoef(target.ravel(), heard.ravel())[0, 1]
    assert r > 0.8, r
    # and it is not just the input again: the masked-out regions are quiet
    assert np.corrcoef(mag.ravel(), heard.ravel())[0, 1] < r


def test_full_mask_with_phase_gives_back_the_input(clip):
    out = filter_to_audio(np.ones((4, 4)), clip, SR, **STFT)
    assert np.corrcoef(out, clip)[0, 1] > 0.9999


def test_negative_maps_are_shifted(clip, fmap):
    a = filter_to_audio(fmap, clip, SR, **STFT)
    b = filter_to_audio(fmap * 2 - 1, clip, SR, **STFT)  # BatchNorm-like: negatives
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("method", ["phase", "griffinlim"])
def test_zero_map_is_silence(clip, method):
    out = filter_to_audio(np.zeros((8, 10)), clip, SR, method=method, **STFT)
    assert out.shape == clip.shape and np.all(out == 0)
    silent = filter_to_audio(np.ones((8, 10)), np.zeros(SR, np.float32), SR, method=method, **STFT)
    assert np.all(silent == 0)


def test_quiet_filter_is_made_audible(clip):
    fmap = np.zeros((8, 10))
    fmap[3, 9] = 1e-3  # a faint activation at the top of the band
    out = filter_to_audio(fmap, clip, SR, **STFT)
    assert 0.05 < np.sqrt(np.mean(out**2)) and np.max(np.abs(out)) <= PEAK_LIMIT + 1e-6


def test_mel_columns_land_on_the_right_frequencies():
    y = (0.2 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    hz = mel_axis_hz(16, n_mels=64, min_freq=20.0, max_freq=4000.0)
    assert np.all(np.diff(hz) > 0) and 20 < hz[0] < hz[-1] < 4000
    col = int(np.argmin(np.abs(hz - 1000)))
    fmap = np.zeros((8, 16))
    fmap[:, col] = 1.0
    out = filter_to_audio(fmap, y, SR, freq_axis_hz=hz, **STFT)
    spectrum = np.abs(np.fft.rfft(out)) ** 2
    freqs = np.fft.rfftfreq(out.size, 1 / SR)
    centroid = np.sum(freqs * spectrum) / np.sum(spectrum)
    assert 700 < centroid < 1400, centroid
    # Read as linear columns instead, the same map would sit near 16 columns' col/16 of 4 kHz.
    linear = filter_to_audio(fmap, y, SR, **STFT)
    lin_spec = np.abs(np.fft.rfft(linear)) ** 2
    assert abs(np.sum(freqs * lin_spec) / np.sum(lin_spec) - centroid) > 300


@pytest.mark.parametrize(
    "fmap,kw,match",
    [
        (np.zeros((4, 4, 3)), {}, "single channel"),
        (np.full((4, 4), np.nan), {}, "NaN"),
        (np.zeros((4, 4)), {"method": "magic"}, "griffinlim"),
        (np.zeros((4, 4)), {"frame_length": 512}, "at most fft_length"),
        (np.zeros((4, 4)), {"freq_axis_hz": np.array([1.0, 2.0])}, "one increasing frequency"),
    ],
)
def test_refusals(clip, fmap, kw, match):
    with pytest.raises(InputError, match=match):
        filter_to_audio(fmap, clip, SR, **{**STFT, **kw})


def test_to_wav_bytes_round_trip():
    y = np.array([0.0, 0.5, -0.5, 1.5, -2.0], np.float32)
    data = to_wav_bytes(y, SR)
    back, sr = sf.read(io.BytesIO(data), dtype="float32")
    assert sr == SR and sf.info(io.BytesIO(data)).subtype == "PCM_16"
    np.testing.assert_allclose(back, [0.0, 0.5, -0.5, 1.0, -1.0], atol=1e-4)  # clipped
    with pytest.raises(InputError, match="NaN"):
        to_wav_bytes(np.array([np.nan], np.float32), SR)
