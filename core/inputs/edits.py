"""Audio edits (d-DeVIS' six, done right, plus noise/speed/pitch) as pure functions.

Every edit takes a mono float32 waveform and its sample rate, keyword-only parameters, and
returns a new float32 waveform at the same sample rate (the input is never modified). Each
validates its parameters and raises `InputError` naming the valid range. Values are not
clipped: a +12 dB gain really makes the waveform 4x larger, which is what the model sees;
`core.analysis.hearing.to_wav_bytes` clips only for playback.

The page keeps a stack of `Edit`s (undo = drop the last, reset = empty list) and calls
`apply_edits`; `EDITS` describes each edit's parameters so the page can build widgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.errors import InputError, number
from core.settings import MAX_CLIP_SECONDS

# ---------------------------------------------------------------- validation helpers


def _wave(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or int(sr) <= 0:
        raise InputError(f"The sample rate must be a positive integer (Hz); got {sr!r}.")
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size == 0:
        raise InputError(
            f"Edits work on a mono waveform shaped (samples,); got shape {y.shape}. "
            "Use core.inputs.audio.to_mono first."
        )
    if not np.isfinite(y).all():
        raise InputError("The waveform contains NaN or infinite samples; expected finite numbers.")
    return y, int(sr)


def _duration(y: np.ndarray, sr: int) -> float:
    return y.size / sr


# ---------------------------------------------------------------- the edits


def slice_clip(y: np.ndarray, sr: int, *, start: float, end: float) -> np.ndarray:
    """Keep [start, end) seconds."""
    y, sr = _wave(y, sr)
    dur = _duration(y, sr)
    start = number("start", start, 0.0, dur, unit="s", error=InputError)
    end = number("end", end, 0.0, dur, unit="s", error=InputError)
    a, b = int(round(start * sr)), int(round(end * sr))
    if b <= a:
        raise InputError(
            f"slice needs start < end (0 <= start < end <= {dur:.3f} s); got "
            f"start={start:g} s, end={end:g} s."
        )
    return y[a:b].copy()


def crossfade_cut(y: np.ndarray, sr: int, *, start: float, end: float, fade: float) -> np.ndarray:
    """Remove [start, end) seconds and blend the join with an equal-power cross-fade.

    The last `fade` seconds before the cut overlap the first `fade` seconds after it: the
    outgoing side is weighted cos(pi/2 t), the incoming sin(pi/2 t) (t: 0 -> 1), so
    uncorrelated audio keeps its power through the join. The result is
    len(y) - (cut samples) - (fade samples) long.
    """
    y, sr = _wave(y, sr)
    dur = _duration(y, sr)
    start = number("start", start, 0.0, dur, unit="s", error=InputError)
    end = number("end", end, 0.0, dur, unit="s", error=InputError)
    fade = number("fade", fade, 0.0, dur, unit="s", error=InputError)
    a, b, f = int(round(start * sr)), int(round(end * sr)), int(round(fade * sr))
    if b <= a:
        raise InputError(
            f"cross-fade cut needs start < end (0 <= start < end <= {dur:.3f} s); "
            f"got start={start:g} s, end={end:g} s."
        )
    head, tail = y[:a], y[b:]
    if f > min(head.size, tail.size):
        room = min(head.size, tail.size) / sr
        raise InputError(
            f"fade must be at most {room:.3f} s here (the audio before the cut is "
            f"{head.size / sr:.3f} s, after it {tail.size / sr:.3f} s); got {fade:g} s. "
            "Shorten the fade or move the cut away from the clip's ends."
        )
    if head.size + tail.size - f == 0:
        raise InputError(
            f"Cutting {start:g}-{end:g} s removes the whole {dur:.3f} s clip; keep some audio."
        )
    if f == 0:
        return np.concatenate([head, tail]).astype(np.float32)
    t = (np.arange(f, dtype=np.float64) + 0.5) / f
    blend = head[-f:] * np.cos(0.5 * np.pi * t) + tail[:f] * np.sin(0.5 * np.pi * t)
    return np.concatenate([head[:-f], blend.astype(np.float32), tail[f:]]).astype(np.float32)


def gain(y: np.ndarray, sr: int, *, db: float) -> np.ndarray:
    """Multiply by 10**(db/20): +6.02 dB doubles the amplitude."""
    y, sr = _wave(y, sr)
    db = number("db", db, -60.0, 40.0, unit="dB", error=InputError)
    return (y * np.float32(10.0 ** (db / 20.0))).astype(np.float32)


def ramp(y: np.ndarray, sr: int, *, start_db: float, end_db: float) -> np.ndarray:
    """Gain changing linearly in dB from start_db at the first sample to end_db at the last.

    start_db=+6, end_db=-6 is d-DeVIS' "louder start, quieter end".
    """
    y, sr = _wave(y, sr)
    start_db = number("start_db", start_db, -60.0, 40.0, unit="dB", error=InputError)
    end_db = number("end_db", end_db, -60.0, 40.0, unit="dB", error=InputError)
    curve_db = np.linspace(start_db, end_db, y.size)
    return (y * 10.0 ** (curve_db / 20.0)).astype(np.float32)


def repeat(y: np.ndarray, sr: int, *, times: int) -> np.ndarray:
    """The clip played `times` times in a row (times=1: unchanged). Done with pydub."""
    y, sr = _wave(y, sr)
    max_times = max(1, int(MAX_CLIP_SECONDS * sr // y.size))
    if (
        isinstance(times, bool)
        or not isinstance(times, (int, np.integer))
        or not 1 <= times <= min(10, max_times)
    ):
        raise InputError(
            f"times must be a whole number from 1 to {min(10, max_times)} (the result "
            f"may last at most {MAX_CLIP_SECONDS:.0f} s); got {times!r}."
        )
    if times == 1:
        return y.copy()
    seg, scale = _to_segment(y, sr)
    return _from_segment(seg * int(times), scale)


def reverse(y: np.ndarray, sr: int) -> np.ndarray:
    """Play the clip backwards."""
    y, sr = _wave(y, sr)
    return y[::-1].copy()


def fade(y: np.ndarray, sr: int, *, fade_in: float, fade_out: float) -> np.ndarray:
    """Linear fade in over the first `fade_in` s (from exactly 0) and out over the last `fade_out` s
    (to exactly 0)."""
    y, sr = _wave(y, sr)
    dur = _duration(y, sr)
    fade_in = number("fade_in", fade_in, 0.0, dur, unit="s", error=InputError)
    fade_out = number("fade_out", fade_out, 0.0, dur, unit="s", error=InputError)
    fi, fo = int(round(fade_in * sr)), int(round(fade_out * sr))
    if fi + fo > y.size:
        raise InputError(
            f"fade_in + fade_out must be at most the clip's {dur:.3f} s; got "
            f"{fade_in:g} + {fade_out:g} s."
        )
    g = np.ones(y.size, dtype=np.float64)
    if fi:
        g[:fi] = np.arange(fi) / fi  # 0, 1/fi, ... : first sample exactly 0
    if fo:
        g[y.size - fo :] *= np.arange(fo)[::-1] / fo  # ..., 1/fo, 0: last sample exactly 0
    return (y * g).astype(np.float32)


def add_noise(y: np.ndarray, sr: int, *, snr_db: float, seed: int = 0) -> np.ndarray:
    """Add white Gaussian noise at `snr_db` relative to the clip's mean power (whole clip)."""
    y, sr = _wave(y, sr)
    snr_db = number("snr_db", snr_db, -20.0, 80.0, unit="dB", error=InputError)
    power = float(np.mean(y.astype(np.float64) ** 2))
    if power == 0.0:
        raise InputError(
            "add_noise needs a signal to set the noise level from; the clip is "
            "all zeros. Use a clip with sound."
        )
    rng = np.random.default_rng(int(seed))
    noise = rng.standard_normal(y.size)
    noise -= noise.mean()
    # Scale the drawn noise to the exact target power, so the SNR is what was asked.
    noise *= math.sqrt(power / 10.0 ** (snr_db / 10.0) / np.mean(noise**2))
    return (y + noise).astype(np.float32)


def _faster(
    y: np.ndarray, sr: int, ratio: float, what: str, doing: str
) -> tuple[np.ndarray, int, float, int]:
    """(wave, rate, ratio, samples after) for playing `ratio` (the option `what`, 0.5 to 2)
    times faster; refused when the clip would grow past the clip cap."""
    y, sr = _wave(y, sr)
    ratio = number(what, ratio, 0.5, 2.0, unit="x", error=InputError)
    n_out = int(round(y.size / ratio))
    if n_out / sr > MAX_CLIP_SECONDS:
        raise InputError(
            f"{doing} by {ratio:g}x would make the clip {n_out / sr:.1f} s, over the "
            f"{MAX_CLIP_SECONDS:.0f} s cap; use a {what} closer to 1."
        )
    return y, sr, ratio, n_out


def change_speed(y: np.ndarray, sr: int, *, factor: float) -> np.ndarray:
    """Play `factor` times faster (tape-style): duration / factor, pitch * factor."""
    y, sr, factor, n_out = _faster(y, sr, factor, "factor", "Slowing down")
    if factor == 1.0:
        return y.copy()
    import librosa

    # Pretend the samples were taken at sr*factor and resample to sr: fewer samples, same rate.
    z = librosa.resample(y, orig_sr=sr * factor, target_sr=sr, res_type="soxr_hq")
    return librosa.util.fix_length(z, size=n_out).astype(np.float32)


def _n_fft(sr: int, size: int) -> int:
    # ~64 ms analysis frames at any rate (librosa's 2048 is 256 ms at 8 kHz: smeared, phasey),
    # at most the clip's length (a power of two, at least 16).
    return min(int(2 ** round(math.log2(0.064 * sr))), max(16, 2 ** int(math.log2(size))))


def change_pitch(y: np.ndarray, sr: int, *, semitones: float) -> np.ndarray:
    """Shift pitch by `semitones`, keeping the duration (librosa phase vocoder + resampling)."""
    y, sr = _wave(y, sr)
    semitones = number("semitones", semitones, -12.0, 12.0, unit="semitones", error=InputError)
    if semitones == 0.0:
        return y.copy()
    import librosa

    n_fft = _n_fft(sr, y.size)
    z = librosa.effects.pitch_shift(
        y, sr=sr, n_steps=semitones, res_type="soxr_hq", n_fft=n_fft, hop_length=n_fft // 4
    )
    return librosa.util.fix_length(z, size=y.size).astype(np.float32)


def time_stretch(y: np.ndarray, sr: int, *, rate: float) -> np.ndarray:
    """Play `rate` times faster keeping the pitch: duration / rate (phase vocoder)."""
    y, sr, rate, n_out = _faster(y, sr, rate, "rate", "Stretching")
    if rate == 1.0:
        return y.copy()
    import librosa

    n_fft = _n_fft(sr, y.size)
    z = librosa.effects.time_stretch(y, rate=rate, n_fft=n_fft, hop_length=n_fft // 4)
    return librosa.util.fix_length(z, size=n_out).astype(np.float32)


# ---------------------------------------------------------------- pydub bridge


def _to_segment(y: np.ndarray, sr: int) -> tuple[Any, float]:
    """float32 -> 32-bit pydub AudioSegment. The scale is a power of two with headroom for
    |y| > 1, so float32 -> int32 -> float32 is exact to ~1e-9 (no 16-bit quantisation)."""
    from pydub import AudioSegment

    peak = float(np.max(np.abs(y))) if y.size else 0.0
    scale = 2.0 ** (31 - max(0, math.ceil(math.log2(peak + 1e-30)) + 1)) if peak > 0 else 2.0**30
    ints = np.round(y.astype(np.float64) * scale).astype("<i4")
    return AudioSegment(ints.tobytes(), frame_rate=int(sr), sample_width=4, channels=1), scale


def _from_segment(seg: Any, scale: float) -> np.ndarray:
    ints = np.frombuffer(seg.raw_data, dtype="<i4")
    return (ints.astype(np.float64) / scale).astype(np.float32)


# ---------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Param:
    """One parameter of an edit, enough for the page to make a widget."""

    name: str
    label: str
    min: float
    max: float
    default: float
    unit: str = ""
    step: float = 0.01
    integer: bool = False
    # Time parameters cannot exceed the clip: the page caps max (and default) at its duration.
    up_to_duration: bool = False

    def for_duration(self, duration: float) -> Param:
        if not self.up_to_duration:
            return self
        top = min(self.max, round(duration, 3))
        return replace(self, max=top, default=min(self.default, top))


@dataclass(frozen=True)
class EditSpec:
    name: str
    label: str
    func: Callable[..., np.ndarray]
    params: tuple[Param, ...]
    help: str

    def params_for(self, duration: float) -> list[Param]:
        """The parameter specs with time limits capped at the clip's duration (s)."""
        out = [p.for_duration(duration) for p in self.params]
        if self.name in ("slice", "crossfade_cut"):  # sensible defaults inside the clip
            at = {"start": 0.25, "end": 0.75}  # of the duration
            out = [
                replace(p, default=round(duration * at[p.name], 3), up_to_duration=True)
                if p.name in at
                else p
                for p in out
            ]
        return out


def _t(name: str, label: str, default: float, maximum: float = MAX_CLIP_SECONDS) -> Param:
    return Param(name, label, 0.0, maximum, default, "s", 0.01, False, True)


EDITS: dict[str, EditSpec] = {
    s.name: s
    for s in [
        EditSpec(
            "slice",
            "Slice",
            slice_clip,
            (_t("start", "Start", 0.0), _t("end", "End", 1.0)),
            "Keep only the part between start and end.",
        ),
        EditSpec(
            "crossfade_cut",
            "Cut with cross-fade",
            crossfade_cut,
            (
                _t("start", "Cut from", 0.25),
                _t("end", "Cut to", 0.5),
                _t("fade", "Cross-fade", 0.02, 0.5),
            ),
            "Remove a span and blend the two sides with an equal-power cross-fade.",
        ),
        EditSpec(
            "gain",
            "Loudness",
            gain,
            (Param("db", "Gain", -30.0, 30.0, 6.0, "dB", 0.5),),
            "Louder or quieter: +6 dB doubles the amplitude.",
        ),
        EditSpec(
            "ramp",
            "Louder start, quieter end",
            ramp,
            (
                Param("start_db", "Gain at start", -30.0, 30.0, 6.0, "dB", 0.5),
                Param("end_db", "Gain at end", -30.0, 30.0, -6.0, "dB", 0.5),
            ),
            "Gain changing linearly in dB from the first to the last sample.",
        ),
        EditSpec(
            "repeat",
            "Repeat",
            repeat,
            (Param("times", "Times", 1, 10, 2, "x", 1, True),),
            "Play the clip several times in a row.",
        ),
        EditSpec("reverse", "Reverse", reverse, (), "Play the clip backwards."),
        EditSpec(
            "fade",
            "Fade in/out",
            fade,
            (_t("fade_in", "Fade in", 0.1, 5.0), _t("fade_out", "Fade out", 0.1, 5.0)),
            "Linear fade from silence at the start and to silence at the end.",
        ),
        EditSpec(
            "add_noise",
            "Add noise",
            add_noise,
            (Param("snr_db", "Signal-to-noise", -10.0, 60.0, 20.0, "dB", 1.0),),
            "White noise at this signal-to-noise ratio (lower = noisier).",
        ),
        EditSpec(
            "change_speed",
            "Speed",
            change_speed,
            (Param("factor", "Speed", 0.5, 2.0, 1.15, "x", 0.05),),
            "Faster and higher, or slower and lower, like a tape.",
        ),
        EditSpec(
            "change_pitch",
            "Pitch",
            change_pitch,
            (Param("semitones", "Pitch shift", -12.0, 12.0, 2.0, "semitones", 0.5),),
            "Higher or lower voice, same duration.",
        ),
        EditSpec(
            "time_stretch",
            "Tempo",
            time_stretch,
            (Param("rate", "Tempo", 0.5, 2.0, 1.15, "x", 0.05),),
            "Faster or slower speech, same pitch.",
        ),
    ]
}


@dataclass(frozen=True)
class Edit:
    """One step of the page's edit stack: an EDITS name and its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        spec = EDITS.get(self.name)
        if spec is None:
            return self.name
        units = {p.name: p.unit for p in spec.params}
        parts = [
            f"{k} {v:g}{' ' + units[k] if units.get(k) else ''}"
            if isinstance(v, (int, float))
            else f"{k} {v}"
            for k, v in self.params.items()
        ]
        return spec.label + (f" ({', '.join(parts)})" if parts else "")


def apply_edits(y: np.ndarray, sr: int, edits: list[Edit]) -> np.ndarray:
    """Apply the stack in order to a copy of y; [] returns the clip unchanged."""
    out, sr = _wave(y, sr)
    out = out.copy()
    for i, e in enumerate(edits):
        spec = EDITS.get(getattr(e, "name", ""))
        if spec is None:
            raise InputError(
                f"Edit {i + 1} is {e!r}; expected an Edit whose name is one of {', '.join(EDITS)}."
            )
        known = {p.name for p in spec.params} | ({"seed"} if spec.name == "add_noise" else set())
        unknown = set(e.params) - known
        if unknown:
            raise InputError(
                f"Edit {i + 1} ({e.name}) got unknown parameters "
                f"{sorted(unknown)}; expected {sorted(known) or 'none'}."
            )
        try:
            out = spec.func(out, sr, **e.params)
        except TypeError as err:  # a missing parameter
            raise InputError(
                f"Edit {i + 1} ({e.name}): {err}. Expected parameters {sorted(known) or 'none'}."
            ) from None
    return out
