"""Uploaded audio -> one spoken word, mono, at the model's rate, centred in a fixed window.

Pure Python (no Streamlit). Every step returns human-readable notes of what it did, so the
page can show "resampled 44100 Hz to 8000 Hz", "trimmed 1.20 s of silence", ... next to
the clip. Bad input raises `InputError` saying what was received, what was expected and
how to fix it.

    decode_audio(bytes, filename=)  -> (float32 (n,) or (n, ch), sample_rate, notes)
    to_mono(y, sr, target_sr=)      -> (float32 (n,), notes)
    place_word(y, sr, seconds=)     -> (float32 (round(seconds*sr),), notes)
    prepare_clip(bytes, filename=)  -> the three chained
"""

from __future__ import annotations

import io
import os

import numpy as np

from core.errors import InputError, upload_size
from core.settings import MAX_CLIP_SECONDS

# The duration cap is checked from the header; this only stops absurd uploads before parsing.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
ACCEPTED = "WAV, FLAC, OGG (Vorbis/Opus) or MP3"
# Containers libsndfile reads that we are happy to take (AIFF/CAF/W64/RF64 are WAV cousins).
_SOUNDFILE_FORMATS = {"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "AIFF", "CAF", "MP3"}
SILENCE_PEAK = 1e-4  # below this the clip is digital silence or a muted microphone
MIN_WORD_SECONDS = 0.05  # shorter than any spoken digit
DEFAULT_TOP_DB = 35.0  # frames this far below the loudest are silence/background
WORD_GAP_SECONDS = 0.25  # quiet this long between two sounds: two words, not one


# ---------------------------------------------------------------- decoding


def _looks_like_mp3(data: bytes, filename: str) -> bool:
    if data[:4] in (b"RIFF", b"RF64", b"fLaC", b"OggS", b"FORM"):
        return False  # the bytes say otherwise, whatever the name says
    if data[:3] == b"ID3":
        return True
    if len(data) > 1 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0:
        return True  # an MPEG frame sync without ID3 tag
    return os.path.splitext(filename)[1].lower() in (".mp3", ".mpga", ".mpeg")


def _decode_with_soundfile(data: bytes, filename: str) -> tuple[np.ndarray, int, list[str]]:
    import soundfile as sf

    try:
        info = sf.info(io.BytesIO(data))
    except Exception as e:  # LibsndfileError, RuntimeError, TypeError on odd inputs
        raise InputError(
            f"{filename!r} is not a readable audio file ({_first_line(e)}). Expected {ACCEPTED}; "
            "export or convert the recording to one of these (e.g. WAV) and upload again."
        ) from None
    if info.format not in _SOUNDFILE_FORMATS:
        raise InputError(
            f"{filename!r} is a {info.format_info or info.format} file; expected {ACCEPTED}. "
            "Convert it (e.g. to WAV) and upload again."
        )
    sr = int(info.samplerate)
    if sr <= 0 or info.channels <= 0:
        raise InputError(
            f"{filename!r} declares {sr} Hz and {info.channels} channels; "
            "the header is broken. Export the recording again."
        )
    # Refuse from the header, before decoding: a 1-hour file never reaches memory as floats.
    if info.frames > MAX_CLIP_SECONDS * sr:
        raise InputError(
            f"{filename!r} is {info.frames / sr:.1f} s long; at most {MAX_CLIP_SECONDS:.0f} s are "
            "accepted (one spoken word is about 1 s). Cut the part with the word and upload that."
        )
    try:
        # frames= caps the read even if the header under-declares its length.
        y, sr = sf.read(
            io.BytesIO(data),
            dtype="float32",
            always_2d=False,
            frames=int(MAX_CLIP_SECONDS * sr) + 1,
        )
    except Exception as e:
        raise InputError(
            f"{filename!r} has a valid {info.format} header but its audio could not be decoded "
            f"({_first_line(e)}); the file may be truncated. Export it again."
        ) from None
    if len(y) > MAX_CLIP_SECONDS * sr:
        raise InputError(
            f"{filename!r} is longer than {MAX_CLIP_SECONDS:.0f} s (the cap). "
            "Cut the part with the word and upload that."
        )
    kind = info.format if info.format != "WAVEX" else "WAV"
    sub = info.subtype_info or info.subtype
    notes = [f"decoded {kind} ({sub}, {sr} Hz, {_channels(info.channels)}, {len(y) / sr:.2f} s)"]
    return y, int(sr), notes


def _decode_with_pydub(data: bytes, filename: str) -> tuple[np.ndarray, int, list[str]]:
    from pydub import AudioSegment
    from pydub.utils import which

    if which("ffmpeg") is None:
        # libsndfile >= 1.1 reads MP3 too; use it rather than fail when ffmpeg is missing.
        try:
            return _decode_with_soundfile(data, filename)
        except InputError:
            raise InputError(
                f"{filename!r} looks like an MP3, but ffmpeg is not installed, so MP3 cannot be "
                "decoded here. Upload WAV or FLAC instead (or install ffmpeg)."
            ) from None
    try:
        # codec= skips pydub's ffprobe call (one process, not two); duration= passes -t to
        # ffmpeg so a long file is never decoded past the cap.
        seg = AudioSegment.from_file(
            io.BytesIO(data), format="mp3", codec="mp3", duration=MAX_CLIP_SECONDS + 0.5
        )
    except Exception as e:  # CouldntDecodeError, IndexError on garbage, OSError
        raise InputError(
            f"{filename!r} could not be decoded as MP3 ({_ffmpeg_reason(e)}). The file may be "
            f"corrupt or not an MP3. Expected {ACCEPTED}; export it again and upload."
        ) from None
    if len(seg) == 0 or seg.frame_count() == 0:
        raise InputError(
            f"{filename!r} decoded to no audio at all; the MP3 is empty or corrupt. "
            "Export it again."
        )
    if seg.duration_seconds > MAX_CLIP_SECONDS:
        raise InputError(
            f"{filename!r} is longer than {MAX_CLIP_SECONDS:.0f} s (the cap); one spoken "
            "word is about 1 s. Cut the part with the word and upload that."
        )
    width = seg.sample_width
    ints = np.frombuffer(seg.raw_data, dtype={1: np.uint8, 2: np.int16, 4: np.int32}[width])
    if width == 1:  # WAV 8-bit is unsigned
        y = (ints.astype(np.float32) - 128.0) / 128.0
    else:
        y = ints.astype(np.float32) / float(2 ** (8 * width - 1))
    if seg.channels > 1:
        y = y.reshape(-1, seg.channels)
    sr = int(seg.frame_rate)
    return y, sr, [f"decoded MP3 ({sr} Hz, {_channels(seg.channels)}, {len(y) / sr:.2f} s)"]


def decode_audio(data: bytes, *, filename: str) -> tuple[np.ndarray, int, list[str]]:
    """Bytes of an uploaded/recorded file -> (float32 samples (n,) or (n, ch), sample rate, notes).

    WAV/FLAC/OGG go through soundfile (libsndfile); MP3 through pydub + ffmpeg. Refuses empty,
    unknown or corrupt files, files longer than MAX_CLIP_SECONDS (checked from the header before
    decoding) and non-finite samples.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(
            f"Expected the file's bytes; got {type(data).__name__}. Pass "
            "uploaded_file.getvalue() (or open(path, 'rb').read())."
        )
    data = bytes(data)
    upload_size(
        data,
        filename,
        limit=MAX_UPLOAD_BYTES,
        what="recordings",
        empty=f"Upload a {ACCEPTED} recording.",
        big=f"Upload a short clip (at most {MAX_CLIP_SECONDS:.0f} s) with the word.",
    )
    if _looks_like_mp3(data, filename):
        y, sr, notes = _decode_with_pydub(data, filename)
    else:
        y, sr, notes = _decode_with_soundfile(data, filename)
    if y.size == 0:
        raise InputError(
            f"{filename!r} holds no samples (0 s of audio). Record or export the clip again."
        )
    if not np.isfinite(y).all():
        bad = int(np.size(y) - np.isfinite(y).sum())
        raise InputError(
            f"{filename!r} contains {bad} NaN or infinite samples; audio must be finite numbers. "
            "The file was written by a broken tool; export it again (e.g. as 16-bit WAV)."
        )
    full = np.abs(y) >= 0.999
    if full.mean() > 0.001:  # more than 0.1 % of samples at full scale
        notes.append(
            f"the recording clips ({100 * full.mean():.1f} % of samples at full scale); "
            "record a little quieter if the prediction looks wrong"
        )
    return y, sr, notes


# ---------------------------------------------------------------- mono + resampling


def _check_rate(sr: object, what: str = "sample rate") -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or int(sr) <= 0:
        raise InputError(f"The {what} must be a positive integer (Hz); got {sr!r}.")
    return int(sr)


def to_mono(y: np.ndarray, sr: int, *, target_sr: int = 8000) -> tuple[np.ndarray, list[str]]:
    """Average all channels and resample (soxr_hq) -> float32 (n,) at target_sr, plus notes.

    y is (n,) or (n, channels) as decode_audio returns it; (channels, n) is also recognised
    when the channel axis is clearly the short one.
    """
    sr = _check_rate(sr)
    target_sr = _check_rate(target_sr, "target sample rate")
    y = np.asarray(y, dtype=np.float32)
    notes: list[str] = []
    if y.ndim == 2:
        if y.shape[1] <= y.shape[0]:
            channels = y.shape[1]
            axis = 1
        else:  # (channels, n): librosa's own convention
            channels = y.shape[0]
            axis = 0
        if channels > 64:
            raise InputError(
                f"Got audio shaped {y.shape}: {channels} channels? Expected "
                "(samples,) or (samples, channels) with at most 64 channels."
            )
        if channels > 1:
            y = y.mean(axis=axis)
            notes.append(f"mixed {channels} channels to mono")
        else:
            y = y.reshape(-1)
    if y.ndim != 1:
        raise InputError(
            f"Expected a waveform shaped (samples,) or (samples, channels); got shape {y.shape}."
        )
    if y.size == 0:
        raise InputError("The waveform is empty (0 samples). Record or upload the clip again.")
    if not np.isfinite(y).all():
        raise InputError(
            "The waveform contains NaN or infinite samples; expected finite numbers. "
            "Export the audio again."
        )
    if sr != target_sr:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=target_sr, res_type="soxr_hq")
        notes.append(f"resampled {sr} Hz to {target_sr} Hz")
        if sr < target_sr:
            notes.append(
                f"the recording has nothing above {sr // 2} Hz (it was sampled at "
                f"{sr} Hz); the model expects content up to {target_sr // 2} Hz"
            )
    return np.ascontiguousarray(y, dtype=np.float32), notes


# ---------------------------------------------------------------- word placement


def _frame_rms(y: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """librosa.feature.rms(y=y, frame_length=frame, hop_length=hop, center=True)[0], from a
    running sum of squares: (n,) -> (1 + n // hop,), in about half of librosa's time (it
    runs on every prepared clip, so on every api.predict of a waveform)."""
    # c[i] = sum of squares of the first i samples of y zero-padded by frame // 2 each side.
    c = np.zeros(y.size + 2 * (frame // 2) + 1)
    np.cumsum(y.astype(np.float64) ** 2, out=c[frame // 2 + 1 : frame // 2 + 1 + y.size])
    c[frame // 2 + 1 + y.size :] = c[frame // 2 + y.size]
    starts = np.arange(0, c.size - frame, hop)  # the zero-padded frames, as center=True
    return np.sqrt((c[starts + frame] - c[starts]) / frame).astype(np.float32)


def _percentile(a: np.ndarray, q: float) -> float:
    """np.percentile(a, q) (linear interpolation) of a small 1-d array without its overhead."""
    s = np.sort(a)
    k = q / 100.0 * (s.size - 1)
    lo = int(k)
    hi = min(lo + 1, s.size - 1)
    return float(s[lo] + (s[hi] - s[lo]) * (k - lo))


def _word_spans(y: np.ndarray, sr: int, top_db: float) -> list[tuple[int, int, float]]:
    """The separate sounds of a clip: [(start, end, peak dB)] in samples, in time order.

    A frame counts as sound if it is within top_db of the loudest frame (librosa.effects.trim's
    rule) and, in a noisy recording, also 10 dB above the noise floor (the 10th percentile
    frame): otherwise steady hiss at -25 dB would make the whole clip "the word". The floor rule
    never drops frames within 20 dB of the peak, so a clip that is all word stays whole. Runs of
    sound less than WORD_GAP_SECONDS apart are one word (the closure in "six" or "eight").
    """
    # ~32 ms frames, 8 ms hop: fine enough to time a word, coarse enough to ignore clicks.
    frame = max(16, int(2 ** round(np.log2(0.032 * sr))))
    hop = max(4, frame // 4)
    db = 20.0 * np.log10(np.maximum(_frame_rms(y, frame, hop), 1e-10))  # (frames,)
    peak = float(db.max())
    floor = _percentile(db, 10.0)
    threshold = max(peak - top_db, min(floor + 10.0, peak - 20.0))
    loud = np.flatnonzero(db > threshold)  # never empty: threshold <= peak - 20 dB
    breaks = np.flatnonzero(np.diff(loud) * hop > WORD_GAP_SECONDS * sr)
    runs = np.split(loud, breaks + 1)
    return [
        (int(r[0] * hop), int(min(y.size, (r[-1] + 1) * hop)), float(db[r].max())) for r in runs
    ]


def noise_floor(y: np.ndarray, sr: int) -> float:
    """The RMS of a clip's background: its quietest tenth of ~32 ms frames (0.0 when that is
    digital silence, below SILENCE_PEAK)."""
    frame = max(16, int(2 ** round(np.log2(0.032 * sr))))
    hop = max(4, frame // 4)
    rms = _frame_rms(np.asarray(y, np.float32), frame, hop)
    edge = frame // (2 * hop) + 1  # frames that reach past the clip's ends (half zeros)
    inner = rms[edge:-edge]
    level = _percentile(inner if inner.size else rms, 10.0)
    return level if level >= SILENCE_PEAK else 0.0


def pad_noise(length: int, rms: float) -> np.ndarray:
    """(length,) float32 white noise at `rms` (zeros for 0): what padding continues a clip with.
    A fixed seed: the same clip is always padded the same way (same input, same prediction)."""
    if rms <= 0.0:
        return np.zeros(length, np.float32)
    noise = np.random.default_rng(0).standard_normal(length)
    return (noise * (rms / max(float(np.sqrt(np.mean(noise**2))), 1e-12))).astype(np.float32)


def _mute_others(
    y: np.ndarray, sr: int, words: list[tuple[int, int, float]], keep: tuple[int, int]
) -> np.ndarray:
    """y with every word but `keep` faded out (10 ms ramps), so the part of another word that
    falls inside the window is not heard by the model."""
    mask = np.ones(y.size, np.float32)
    for a, b, _ in words:
        if (a, b) != keep:
            mask[a:b] = 0.0
    ramp = max(1, int(0.01 * sr))
    smooth = np.convolve(mask, np.ones(ramp, np.float32) / ramp, mode="same")
    smooth[keep[0] : keep[1]] = 1.0
    return y * smooth


def place_word(
    y: np.ndarray,
    sr: int,
    *,
    seconds: float = 1.0,
    top_db: float = DEFAULT_TOP_DB,
    pad: str = "silence",
) -> tuple[np.ndarray, list[str]]:
    """Find the spoken word and put it in a window of round(seconds*sr) samples.

    The word is the span from the first to the last frame within `top_db` of the loudest frame;
    a take with several words (sounds WORD_GAP_SECONDS apart or more) uses the loudest of them
    and says so in the notes. The window is centred on the word's energy centroid; if the word fits, the window is shifted
    just enough to keep all of it. The recording around the word (room tone) is kept; where the
    window runs past the clip's ends it is padded with zeros (pad="silence": what the shipped
    model was trained on, so its held-out numbers hold) or with the clip's own noise floor
    (pad="floor", for an edited clip: digital silence beside added noise is a step the model
    hears; zeros for a clean clip). A word longer than the window is
    cut around its energy centre.
    """
    sr = _check_rate(sr)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise InputError(
            f"place_word expects a mono waveform (samples,); got shape {y.shape}. "
            "Call to_mono first."
        )
    if not (isinstance(seconds, (int, float)) and 0 < seconds <= MAX_CLIP_SECONDS):
        raise InputError(f"seconds must be in (0, {MAX_CLIP_SECONDS:.0f}]; got {seconds!r}.")
    if not (isinstance(top_db, (int, float)) and 5 <= top_db <= 100):
        raise InputError(f"top_db must be between 5 and 100 dB; got {top_db!r}.")
    if not np.isfinite(y).all():
        raise InputError("The waveform contains NaN or infinite samples; expected finite numbers.")
    n = y.size
    if n < MIN_WORD_SECONDS * sr:
        raise InputError(
            f"The clip is too short: {n / sr * 1000:.0f} ms; at least "
            f"{MIN_WORD_SECONDS * 1000:.0f} ms are needed to hold a spoken word. Record the "
            "whole word (about 1 s)."
        )
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK:
        raise InputError(
            f"The clip is silent (peak amplitude {peak:.1e}, below {SILENCE_PEAK:.0e}). Check that "
            "the microphone is not muted and speak a digit, then record again."
        )
    spans = _word_spans(y, sr, float(top_db))
    words = [w for w in spans if w[1] - w[0] >= MIN_WORD_SECONDS * sr] or spans
    # Two words in one take: the loudest one, not the silence between them.
    start, end, _ = max(words, key=lambda w: w[2])
    notes: list[str] = []
    if len(words) > 1:
        where = ", ".join(f"{a / sr:.2f}–{b / sr:.2f} s" for a, b, _ in words)
        notes.append(
            f"the take holds {len(words)} separate words or sounds ({where}): the "
            f"loudest, at {start / sr:.2f}–{end / sr:.2f} s, is used; record one digit "
            "per take to choose yourself"
        )
    if end - start < MIN_WORD_SECONDS * sr:
        raise InputError(
            f"The sound is too short: only {(end - start) / sr * 1000:.0f} ms of the clip stand "
            f"out from the silence; at least {MIN_WORD_SECONDS * 1000:.0f} ms are needed for a "
            "spoken word. It may be a click or a cough: record the digit again, a little louder."
        )
    if len(words) > 1:
        y = _mute_others(y, sr, words, (start, end))
    length = int(round(seconds * sr))
    energy = y[start:end].astype(np.float64) ** 2
    # The centroid, not the midpoint: a trailing breath or a soft consonant does not drag it.
    centre = start + float(np.sum(np.arange(end - start) * energy) / np.sum(energy))
    left = int(round(centre - length / 2))
    word_s = (end - start) / sr
    if end - start <= length:
        left = min(max(left, end - length), start)  # keep the whole word in the window
    else:
        notes.append(
            f"the word is {word_s:.2f} s long: cut to {seconds:.2f} s around its energy centre"
        )
    right = left + length
    a, b = max(left, 0), min(right, n)
    if pad not in ("silence", "floor"):
        raise InputError(f"pad must be 'silence' or 'floor'; got {pad!r}.")
    floor = noise_floor(y, sr) if pad == "floor" else 0.0
    out = pad_noise(length, floor)
    out[a - left : b - left] = y[a:b]
    dropped = (a - 0) + (n - b)
    if dropped > 0 and end - start <= length:
        notes.append(
            f"trimmed {dropped / sr:.2f} s "
            + ("of silence" if len(words) == 1 else "around it")
            + f" (the word is {word_s:.2f} s)"
        )
    padded = (a - left) + (right - b)
    if padded > 0:
        notes.append(
            f"padded {padded / sr:.2f} s "
            + (f"with the clip's own noise floor (RMS {floor:.2g})" if floor else "of silence")
            + f" to {seconds:.2f} s"
        )
    return out, notes


def prepare_clip(
    data: bytes, *, filename: str, sr: int = 8000, seconds: float = 1.0
) -> tuple[np.ndarray, list[str]]:
    """File bytes -> float32 (round(seconds*sr),) mono clip at `sr` with the word centred, notes."""
    y, file_sr, notes = decode_audio(data, filename=filename)
    y, more = to_mono(y, file_sr, target_sr=sr)
    notes += more
    y, more = place_word(y, sr, seconds=seconds)
    return y, notes + more


# ---------------------------------------------------------------- helpers


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1][:160] if text else type(e).__name__


def _ffmpeg_reason(e: BaseException) -> str:
    """ffmpeg's stderr is long; keep its last meaningful line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "cache hits" not in ln and "pipe:0" not in ln]
    return (useful or lines or [type(e).__name__])[-1][:160]


def prepare_audio(raw: object, card: dict) -> tuple[np.ndarray, list[str]]:
    """(waveform, sample_rate) -> model input shaped like the card's input, and notes.

    Mono at the card's rate, the word placed in the model's window (what api.predict/trace
    and the pages all do, so a clip means the same thing everywhere). A clip at the card's
    rate that is exactly the window's length is taken as the window, unmoved: trace(m, (
    trace(m, raw)["input"], sr)) is the same trace, and an adversarial keeps its original's
    window. Samples past the card's range (a resampling overshoot) are clipped, with a note.
    """
    spec = card["input"]
    if not (isinstance(raw, tuple) and len(raw) == 2):
        raise InputError(
            f"Audio input must be a tuple (waveform, sample_rate); got {type(raw).__name__}."
        )
    target_sr = int(spec.get("sample_rate", 8000))
    n = int(spec["shape"][0])
    y, notes = to_mono(raw[0], raw[1], target_sr=target_sr)
    if _check_rate(raw[1]) == target_sr and y.size == n and np.abs(y).max() >= SILENCE_PEAK:
        # Already the model's window (an attacked, edited or exported model input comes back
        # this way): placing it again would move the word, and a comparison with the clip it
        # came from would compare shifted windows.
        more: list[str] = []
    else:
        y, more = place_word(y, target_sr, seconds=n / target_sr)
    y = y[:n]
    lo, hi = (float(v) for v in spec.get("range", [-1.0, 1.0]))
    over = int(np.count_nonzero((y < lo) | (y > hi)))
    if over:
        # Resampling a full-scale recording overshoots a little (Gibbs ringing): the model's
        # range holds, and the user did not make the overshoot, so clip rather than refuse.
        more.append(
            f"clipped {over} sample{'s' if over > 1 else ''} that resampling carried past "
            f"the model's range [{lo:g}, {hi:g}] (peak {float(np.abs(y).max()):.3g})"
        )
        y = np.clip(y, lo, hi)
    return y.reshape(spec["shape"]).astype(np.float32), notes + more
