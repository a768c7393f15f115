"""Raw audio -> model input: mono, the card's sample rate, the card's clip length."""
from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import InputError


def prepare_audio(raw: Any, card: dict) -> tuple[np.ndarray, list[str]]:
    """(waveform, sample_rate) -> float32 waveform shaped like the model input, and notes."""
    spec = card["input"]
    if not (isinstance(raw, tuple) and len(raw) == 2):
        raise InputError(f"Audio input must be a tuple (waveform, sample_rate); got "
                         f"{type(raw).__name__}.")
    wave, sr = raw
    y = np.asarray(wave, dtype=np.float32)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"Sample rate must be a positive integer; got {sr!r}.")
    if y.ndim == 2:  # (samples, channels) or (channels, samples): mix down
        y = y.mean(axis=1 if y.shape[1] < y.shape[0] else 0)
    if y.ndim != 1 or y.size == 0:
        raise InputError(f"Expected a 1-D waveform; got shape {np.shape(wave)}.")
    if not np.isfinite(y).all():
        raise InputError("The waveform contains NaN or infinite samples.")
    notes: list[str] = []
    target_sr = int(spec.get("sample_rate", 8000))
    if sr != target_sr:
        import librosa

        y = librosa.resample(y, orig_sr=int(sr), target_sr=target_sr, res_type="soxr_hq")
        notes.append(f"resampled {sr} Hz to {target_sr} Hz")
    n = int(spec["shape"][0])
    if y.size > n:
        notes.append(f"cropped {y.size / target_sr:.2f} s to {n / target_sr:.2f} s")
        y = y[:n]
    elif y.size < n:
        notes.append(f"padded {y.size / target_sr:.2f} s to {n / target_sr:.2f} s")
        y = np.pad(y, (0, n - y.size))
    return y.reshape(spec["shape"]).astype(np.float32), notes
