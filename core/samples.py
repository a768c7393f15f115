"""Samples: named inputs shared by every page (drawn, uploaded, gallery, later adversarial/edited)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[1] / "assets" / "samples"


@dataclass(frozen=True, eq=False)
class Sample:
    """A raw input with a name. raw: uint8 image array, or (waveform, sample_rate) for audio."""

    name: str
    kind: str                 # "image" | "audio"
    raw: Any
    source: str               # "gallery" | "drawn" | "upload" | "mnist-test" | ...
    label: str | None = None  # the true class, where it is known
    note: str = ""

    @property
    def key(self) -> str:
        """Content hash: a cache key that changes when the input does, not when it is renamed."""
        h = hashlib.sha256(self.kind.encode())
        if self.kind == "audio":
            wave, sr = self.raw
            h.update(np.ascontiguousarray(wave, np.float32).tobytes())
            h.update(str(sr).encode())
        else:
            a = np.ascontiguousarray(self.raw)
            h.update(str((a.shape, a.dtype)).encode())
            h.update(a.tobytes())
        return h.hexdigest()[:16]


def gallery_digits() -> list[Sample]:
    """Digits the project drew itself (scripts/make_digit_samples.py): assets/samples/digits."""
    out = []
    for p in sorted((SAMPLES / "digits").glob("*.png")):
        digit, variant = p.stem.split("_")
        raw = np.asarray(Image.open(p).convert("L"))
        out.append(Sample(name=f"digit {digit} (style {int(variant) + 1})", kind="image", raw=raw,
                          source="gallery", label=digit))
    return out


WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def speech_clips() -> list[Sample]:
    """Spoken digits the project synthesized itself (scripts/make_speech_samples.py, espeak-ng):
    assets/samples/speech/{digit}_{voice}.wav, 8 kHz mono."""
    import soundfile as sf

    out = []
    for p in sorted((SAMPLES / "speech").glob("*.wav"), key=lambda p: (p.stem.split("_")[1],
                                                                        p.stem)):
        digit, voice = p.stem.split("_", 1)
        y, sr = sf.read(p, dtype="float32")
        out.append(Sample(name=f'"{WORDS[int(digit)]}" ({voice})', kind="audio",
                          raw=(y, int(sr)), source="gallery", label=digit,
                          note=f"synthesized with espeak-ng, voice {voice}"))
    return out


def mnist_test_digits(n: int = 30, seed: int = 0) -> list[Sample]:
    """Real MNIST test digits through keras.datasets (needs internet; raises OSError without)."""
    import keras

    try:
        (_, _), (x, y) = keras.datasets.mnist.load_data()
    except Exception as e:  # noqa: BLE001 - any download failure means "not available here"
        raise OSError(f"MNIST test digits could not be downloaded ({type(e).__name__}). They "
                      "need internet access; the built-in digits work offline.") from None
    idx = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
    return [Sample(name=f"MNIST test #{i} ({y[i]})", kind="image", raw=x[i], source="mnist-test",
                   label=str(y[i])) for i in idx]


def thumbnail(sample: Sample, size: int = 56) -> np.ndarray:
    """A small uint8 picture of a sample (images: the image; audio: its waveform envelope)."""
    if sample.kind == "audio":
        wave = np.asarray(sample.raw[0], np.float32)
        cols = np.array_split(np.abs(wave), size) if wave.size >= size else [np.abs(wave)] * size
        env = np.array([c.max() if c.size else 0.0 for c in cols])
        env = env / (env.max() + 1e-9)
        img = np.zeros((size, size), np.uint8)
        mid = size // 2
        for i, e in enumerate(env):
            half = int(e * (mid - 1))
            img[mid - half:mid + half + 1, i] = 255
        return img
    a = np.asarray(sample.raw)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    im = Image.fromarray(a)
    im.thumbnail((size, size), Image.Resampling.NEAREST if max(a.shape[:2]) < size
                 else Image.Resampling.BOX)
    return np.asarray(im.resize((size, size), Image.Resampling.NEAREST) if max(a.shape[:2]) < size
                      else im)
