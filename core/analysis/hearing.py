"""Hear what a filter hears: a feature map used as a time-frequency mask on the input's STFT.

Orientation assumption: a map is (time, frequency): rows are time frames (earliest first),
columns are frequency bins (lowest first). That is what a Keras model built on
`STFTSpectrogram` / `MelSpectrogram` gives in channels_last: (time, freq, channels) after the
spectrogram (pick one channel). Pass the map un-flipped (a display that puts low frequencies at
the bottom flips only the picture). Pooling makes maps coarser; any resolution is accepted and
resized (bilinear) onto the input's STFT grid.

Column frequencies: by default the columns are taken to split 0..sr/2 evenly (linear STFT
bins). For a mel front end, pass `freq_axis_hz` (the centre frequency of each column, e.g.
from `mel_axis_hz`) so mel columns land on the right linear bins.

The STFT here is librosa's (hann window, center=True), inverted with the same settings, so
masking with all ones gives back the input exactly. Keras' "valid" framing starts half a frame
later; at a map's resolution (several frames per row after pooling) that offset is invisible.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from core.errors import InputError

TARGET_RMS = 0.1  # about -20 dBFS: comfortably audible
PEAK_LIMIT = 0.9  # never clip, whatever the RMS target asks
_QUIET = 1e-8  # below this peak the output is silence: do not amplify rounding noise


def _resize_axis(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Linear resize along one axis with half-pixel centres (as tf.image.resize bilinear)."""
    n_in = a.shape[axis]
    if n_in == n_out:
        return a
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = pos - i0
    shape = [1] * a.ndim
    shape[axis] = n_out
    w = w.reshape(shape)
    return np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i1, axis=axis) * w


def resize_map(
    fmap: np.ndarray,
    n_frames: int,
    n_bins: int,
    *,
    sr: int | None = None,
    freq_axis_hz: np.ndarray | None = None,
) -> np.ndarray:
    """(T', F') -> (n_frames, n_bins): bilinear, or along frequency by `freq_axis_hz` if given."""
    m = _resize_axis(np.asarray(fmap, dtype=np.float64), n_frames, 0)
    if freq_axis_hz is None:
        return _resize_axis(m, n_bins, 1)
    f = np.asarray(freq_axis_hz, dtype=np.float64).reshape(-1)
    if f.size != m.shape[1] or not np.isfinite(f).all() or np.any(np.diff(f) <= 0):
        raise InputError(
            f"freq_axis_hz must give one increasing frequency (Hz) per map column: "
            f"{m.shape[1]} values; got {f.size} values"
            f"{'' if f.size < 2 or np.all(np.diff(f) > 0) else ' that do not increase'}."
        )
    if sr is None:
        raise InputError("resize_map needs sr when freq_axis_hz is given.")
    bins_hz = np.linspace(0.0, sr / 2.0, n_bins)
    # np.interp holds the edge values beyond the first/last column centre.
    return np.stack([np.interp(bins_hz, f, row) for row in m])


def mel_axis_hz(n_columns: int, *, n_mels: int, min_freq: float, max_freq: float) -> np.ndarray:
    """Centre frequency (Hz) of each of `n_columns` map columns covering `n_mels` mel bins.

    For keras.layers.MelSpectrogram (HTK mel scale, bins evenly spaced in mel between min_freq
    and max_freq); a map pooled from n_mels to n_columns columns averages groups of bins.
    """
    if not (isinstance(n_columns, (int, np.integer)) and 1 <= n_columns <= n_mels):
        raise InputError(f"n_columns must be between 1 and n_mels={n_mels}; got {n_columns!r}.")
    if not 0 <= min_freq < max_freq:
        raise InputError(f"Need 0 <= min_freq < max_freq; got {min_freq!r}, {max_freq!r}.")
    lo, hi = (1127.0 * math.log1p(f / 700.0) for f in (min_freq, max_freq))
    step = (hi - lo) / (n_mels + 1)
    centre_bin = (np.arange(n_columns) + 0.5) * (n_mels / n_columns) - 0.5
    mel = lo + (centre_bin + 1.0) * step
    return 700.0 * np.expm1(mel / 1127.0)


def _normalise_loudness(z: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(z))) if z.size else 0.0
    if not math.isfinite(peak) or peak < _QUIET:
        return np.zeros_like(z, dtype=np.float32)
    rms = float(np.sqrt(np.mean(z.astype(np.float64) ** 2)))
    g = min(TARGET_RMS / rms, PEAK_LIMIT / peak)  # as loud as asked, but the peak stays <= 0.9
    return (z * g).astype(np.float32)


def filter_to_audio(
    fmap: np.ndarray,
    y: np.ndarray,
    sr: int,
    *,
    frame_length: int,
    frame_step: int,
    fft_length: int,
    method: str = "phase",
    freq_axis_hz: np.ndarray | None = None,
    n_iter: int = 32,
) -> np.ndarray:
    """What one filter "hears": float32 audio as long as `y`, peak <= 0.9, finite.

    fmap: the filter's (time, freq) map (see the module note). It is resized onto the STFT grid
    of y, shifted to be non-negative (only if it has negative values), scaled to [0, 1] and
    multiplied with |STFT(y)|. method="phase" inverts with y's own phase (ISTFT: faithful,
    fast); method="griffinlim" estimates a phase from the masked magnitude alone (n_iter
    iterations; what the map alone implies). The result is loudness-normalised (RMS about
    -20 dBFS, peak at most 0.9) so quiet filters are audible; a map with no activation
    (all zeros) gives silence.
    """
    import librosa

    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"The sample rate must be a positive integer (Hz); got {sr!r}.")
    if method not in ("phase", "griffinlim"):
        raise InputError(
            f"method must be 'phase' (the input's phase, ISTFT) or 'griffinlim'; got {method!r}."
        )
    for name, v in (
        ("frame_length", frame_length),
        ("frame_step", frame_step),
        ("fft_length", fft_length),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise InputError(f"{name} must be a positive integer (samples); got {v!r}.")
    if frame_length > fft_length:
        raise InputError(
            f"frame_length ({frame_length}) must be at most fft_length "
            f"({fft_length}), as in the model's spectrogram layer."
        )
    if frame_step > frame_length:
        raise InputError(
            f"frame_step ({frame_step}) larger than frame_length ({frame_length}) "
            "leaves gaps between frames; the audio cannot be rebuilt. Use the "
            "model's spectrogram settings."
        )
    m = np.asarray(fmap, dtype=np.float64)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2 or m.size == 0:
        raise InputError(
            f"Expected one filter's 2-D map (time, frequency); got shape "
            f"{np.shape(fmap)}. Select a single channel, e.g. maps[..., k]."
        )
    if not np.isfinite(m).all():
        raise InputError(
            "The feature map contains NaN or infinite values; expected finite activations."
        )
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise InputError(
            f"Expected the model's input as a finite mono waveform (samples,); got shape {y.shape}."
        )
    if y.size < frame_length:
        raise InputError(
            f"The waveform has {y.size} samples, fewer than one frame "
            f"({frame_length}); expected the clip the map was computed from."
        )
    if not (isinstance(n_iter, (int, np.integer)) and 1 <= n_iter <= 500):
        raise InputError(f"n_iter must be a whole number from 1 to 500; got {n_iter!r}.")

    stft_kw: dict[str, Any] = dict(
        n_fft=int(fft_length),
        hop_length=int(frame_step),
        win_length=int(frame_length),
        window="hann",
        center=True,
    )
    spec = librosa.stft(y, **stft_kw)  # (bins, frames)
    mask = resize_map(m, spec.shape[1], spec.shape[0], sr=int(sr), freq_axis_hz=freq_axis_hz).T
    if mask.min() < 0:
        mask = mask - mask.min()  # e.g. BatchNorm outputs: the least active cell becomes 0
    top = mask.max()
    if top <= 0:
        return np.zeros(y.size, dtype=np.float32)  # a filter that never fires hears nothing
    mask = mask / top
    if method == "phase":
        z = librosa.istft(spec * mask, length=y.size, **stft_kw)
    else:
        z = librosa.griffinlim(
            np.abs(spec) * mask, n_iter=int(n_iter), length=y.size, random_state=0, **stft_kw
        )
    return _normalise_loudness(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0))


def to_wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes for st.audio / st.download_button. Samples beyond [-1, 1] are
    clipped (edits may legitimately make the waveform louder than full scale)."""
    import soundfile as sf

    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"The sample rate must be a positive integer (Hz); got {sr!r}.")
    a = np.asarray(y, dtype=np.float32)
    if a.ndim not in (1, 2) or a.size == 0:
        raise InputError(
            f"Expected a waveform (samples,) or (samples, channels); got shape {a.shape}."
        )
    if not np.isfinite(a).all():
        raise InputError("The waveform contains NaN or infinite samples; cannot write a WAV.")
    buf = io.BytesIO()
    sf.write(buf, np.clip(a, -1.0, 1.0), int(sr), format="WAV", subtype="PCM_16")
    return buf.getvalue()
