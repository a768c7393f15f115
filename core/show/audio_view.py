"""What the audio pages show: spectrograms with real axes, time-frequency maps, filter audio.

Pure Python (no Streamlit). A model card of an audio model names its spectrogram layer and
STFT settings (see training/audio/model.py); maps of that layer and every later rank-3 layer
are (time, frequency, channels), rows earliest first and columns lowest frequency first.

    spectrogram_db(y, sr)              -> (dB (freqs, frames), times s, freqs Hz)
    time_freq_layers(lm)               -> layers whose outputs are (time, freq, channels)
    map_axes(lm, shape)                -> (row times s, column frequencies Hz) of such a map
    display_maps(a)                    -> (freq, time, C) with low frequencies at the bottom
    hear_filter(lm, tr, layer, k, ...) -> what filter k of a layer hears, float32 audio
    hear_map(lm, wave, fmap)           -> what any (time, freq) map keeps of a clip
    filter_owner(card, n, k)           -> (network, its filter, per network) in a packed ensemble
    ensemble_note(card, n)             -> which filters of an n-channel layer are whose, or None
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from core.analysis.hearing import filter_to_audio, mel_axis_hz
from core.errors import InputError, LayerNameError
from core.model.load import LoadedModel


def spectrogram_db(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = 256,
    hop: int | None = None,
    top_db: float = 80.0,
    max_frames: int = 240,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-magnitude STFT of a clip for display: dB re the clip's peak, floored at -top_db.

    Returns db (n_fft//2+1, frames), frame centre times (s), bin frequencies (Hz). The hop
    grows with the clip so a long recording still gives at most `max_frames` columns.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0 or not np.isfinite(y).all():
        raise InputError(
            f"Expected a finite, non-empty mono waveform; got {y.size} samples"
            f"{'' if y.size == 0 else ' with NaN or infinite values'}."
        )
    if hop is None:
        hop = max(n_fft // 4, int(np.ceil(y.size / max_frames)))
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann", center=True))
    ref = float(mag.max())
    db = librosa.amplitude_to_db(mag, ref=ref if ref > 0 else 1.0, top_db=top_db)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sr, hop_length=hop)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    return db.astype(np.float32), times.astype(np.float32), freqs.astype(np.float32)


def time_freq_layers(lm_or_plan: Any, spec: str | None = None) -> list[str]:
    """The spectrogram layer and every later layer whose output is (time, freq, channels).

    lm_or_plan: a LoadedModel (its card names the spectrogram layer), or a Plan and `spec`."""
    if isinstance(lm_or_plan, LoadedModel):
        plan, spec = lm_or_plan.tracer.plan, lm_or_plan.card.get("spectrogram_layer")
    else:
        plan = lm_or_plan
    if spec is None or spec not in plan.names:
        return []
    steps = plan.steps_by_name()
    # Symbolic output shapes include the batch axis: (None, T, F, C).
    return [n for n in plan.names[plan.index(spec) :] if len(steps[n].node.outputs[0].shape) == 4]


def map_axes(lm: LoadedModel, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Centre time (s) of each row and centre frequency (Hz) of each column of a (T', F', ...)
    map of this model, pooling taken into account (rows/columns evenly cover the clip/band)."""
    card = lm.card
    sr = int(card["input"]["sample_rate"])
    seconds = float(card["input"]["shape"][0]) / sr
    t_rows, f_cols = int(shape[0]), int(shape[1])
    times = (np.arange(t_rows) + 0.5) * seconds / t_rows
    mel = (card.get("stft") or {}).get("mel")
    if mel:
        freqs = mel_axis_hz(
            f_cols,
            n_mels=int(mel["num_mel_bins"]),
            min_freq=float(mel["min_freq"]),
            max_freq=float(mel["max_freq"]),
        )
    else:
        freqs = (np.arange(f_cols) + 0.5) * (sr / 2) / f_cols
    return times.astype(np.float32), freqs.astype(np.float32)


def display_maps(a: np.ndarray) -> np.ndarray:
    """(T, F, C) maps -> (F, T, C) pictures: time left to right, low frequencies at the bottom."""
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[..., None]
    return np.ascontiguousarray(np.flip(np.swapaxes(a, 0, 1), axis=0))


def hear_filter(
    lm: LoadedModel, tr: dict[str, np.ndarray], layer: str, channel: int, *, method: str = "phase"
) -> np.ndarray:
    """What filter `channel` of `layer` hears in the traced clip (core.analysis.hearing).

    tr: a trace of this model (plain or frozen: a frozen filter hears silence, and later
    layers hear the mutated network). Returns float32 audio as long as the model's input.
    """
    layers = time_freq_layers(lm)
    if layer not in layers:
        raise LayerNameError(
            f"Layer {layer!r} has no time-frequency maps to play. Layers that do: "
            f"{', '.join(layers) if layers else 'none (the card names no spectrogram layer)'}."
        )
    maps = np.asarray(tr[layer])
    n = maps.shape[-1]
    if (
        isinstance(channel, bool)
        or not isinstance(channel, (int, np.integer))
        or not 0 <= channel < n
    ):
        raise InputError(f"Layer {layer!r} has filters 0..{n - 1}; got {channel!r}.")
    return hear_map(lm, np.asarray(tr["input"]), maps[..., int(channel)], method=method)


def hear_map(
    lm: LoadedModel, wave: np.ndarray, fmap: np.ndarray, *, method: str = "phase"
) -> np.ndarray:
    """A (time, freq) map of this model (a filter's, or a mask of attributed cells) laid on the
    clip's STFT and inverted (core.analysis.hearing): what the map keeps of the clip."""
    stft = lm.card.get("stft") or {}
    sr = int(lm.card["input"]["sample_rate"])
    freq_axis = map_axes(lm, np.shape(fmap))[1] if stft.get("mel") else None
    return filter_to_audio(
        fmap,
        np.asarray(wave).reshape(-1),
        sr,
        frame_length=int(stft.get("frame_length", 256)),
        frame_step=int(stft.get("frame_step", 64)),
        fft_length=int(stft.get("fft_length", 256)),
        method=method,
        freq_axis_hz=freq_axis,
    )


def _members(card: Mapping[str, Any], n_channels: int) -> int | None:
    """K of a model packed from K networks (card["ensemble"]["members"], as the packs of the
    experiments in training/EXPERIMENTS.md wrote it) when an n_channels layer splits into K equal groups; None
    otherwise. An uploaded card may say anything here: it only labels filters, never fails."""
    ens = card.get("ensemble")
    k = ens.get("members") if isinstance(ens, Mapping) else None
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= n_channels:
        return None
    return k if n_channels % k == 0 else None


def filter_owner(
    card: Mapping[str, Any], n_channels: int, channel: int
) -> tuple[int, int, int] | None:
    """(network 1..K, that network's own filter, filters per network) of filter `channel` of a
    layer of a packed ensemble, whose channels are the networks' in turn; None for one model
    or a layer the networks share (the spectrogram: one channel)."""
    k = _members(card, n_channels)
    if k is None or not 0 <= channel < n_channels:
        return None
    per = n_channels // k
    return channel // per + 1, channel % per, per


def ensemble_note(card: Mapping[str, Any], n_channels: int) -> str | None:
    """Which filters of an n_channels layer belong to which network of a packed ensemble."""
    k = _members(card, n_channels)
    if k is None:
        return None
    per = n_channels // k
    # One channel per network (a pack whose networks each normalise the spectrogram their way)
    # is a single filter, not a span.
    spans = ", ".join(
        (f"{i}" if per == 1 else f"{i * per}–{(i + 1) * per - 1}") + f" network {i + 1}'s"
        for i in range(k)
    )
    fronts = card["ensemble"].get("frontends")  # an uploaded card's may be anything
    ok = isinstance(fronts, list) and len(fronts) == k
    cmn = [str(i + 1) for i, f in enumerate(fronts) if f == "mel-cmn"] if ok else []
    own = (
        (f" Network {cmn[0]} reads" if len(cmn) == 1 else f" Networks {', '.join(cmn)} read")
        + " the spectrogram with each frequency bin's mean over the clip subtracted (a fixed "
        "microphone response cancels)."
        if cmn
        else ""
    )
    return (
        f"This model is {k} networks packed side by side (an ensemble: the logits are their "
        f"mean); each hears only its own filters. Filters {spans}.{own}"
    )


def time_profile(
    sal: np.ndarray, wave: np.ndarray, sr: int, *, points: int = 800
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A waveform model's saliency (T,) or (T, C) and its input (T,) as at most ~`points`
    bins over time (max per bin, so a short peak survives): (bin start times in s,
    (saliency, |waveform|), each normalised to a maximum of 1)."""
    profile = np.abs(np.asarray(sal, np.float64)).reshape(len(sal), -1).max(axis=1)
    step = max(1, len(profile) // points)
    binned = profile[: len(profile) // step * step].reshape(-1, step).max(axis=1)
    w = np.abs(np.asarray(wave, np.float64).reshape(-1))
    wave_b = w[: len(w) // step * step].reshape(-1, step).max(axis=1)
    times = np.arange(len(binned)) * step / sr
    return times, (binned / (binned.max() or 1.0), wave_b / (wave_b.max() or 1.0))
