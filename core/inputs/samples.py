"""Samples: named inputs shared by every page (drawn, uploaded, gallery, later adversarial/edited)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"


@dataclass(frozen=True, eq=False)
class Sample:
    """A raw input with a name. raw: uint8 image array, or (waveform, sample_rate) for audio."""

    name: str
    kind: str  # "image" | "audio"
    raw: Any
    source: str  # "gallery" | "drawn" | "upload" | "mnist-test" | ...
    label: str | None = None  # the true class, where it is known
    note: str = ""

    @functools.cached_property
    def key(self) -> str:
        """Content hash: a cache key that changes when the input does, not when it is renamed.
        Computed once (every cached call hashes its samples; raw is never changed in place)."""
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
        out.append(
            Sample(
                name=f"digit {digit} (style {int(variant) + 1})",
                kind="image",
                raw=raw,
                source="gallery",
                label=digit,
            )
        )
    return out


CIFAR10_LABELS = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def gallery_kind(card: dict) -> str:
    """Which built-in gallery suits a model: "digits", "scenes" (colour) or "speech"."""
    spec = card["input"]
    if spec["kind"] == "audio":
        return "speech"
    if (
        spec.get("digit_style") == "mnist"
        or spec.get("color") == "grayscale"
        or (len(spec["shape"]) == 3 and spec["shape"][-1] == 1)
        or len(spec["shape"]) == 2
    ):
        return "digits"
    return "scenes"


def colour_scenes() -> list[Sample]:
    """Colour scenes the project drew itself (scripts/make_colour_samples.py), 32×32 RGB: one
    per CIFAR-10 class theme; the label is the theme it was drawn as."""
    out = []
    for p in sorted((SAMPLES / "scenes").glob("*.png"), key=lambda p: int(p.stem.split("_")[0])):
        theme = p.stem.split("_", 1)[1]
        out.append(
            Sample(
                name=f"drawn {theme}",
                kind="image",
                raw=np.asarray(Image.open(p).convert("RGB")),
                source="gallery",
                label=theme,
                note="a scene drawn by this project (not a photo)",
            )
        )
    return out


def _test_split(
    dataset: str, title: str, labels: list[str], offline: str, n: int, seed: int
) -> list[Sample]:
    """n random test images of a keras.datasets dataset (needs internet; OSError without)."""
    import keras

    try:
        (_, _), (x, y) = getattr(keras.datasets, dataset).load_data()
    except Exception as e:  # noqa: BLE001 - any download failure means "not available here"
        raise OSError(
            f"{title} test images could not be downloaded ({type(e).__name__}). They "
            f"need internet access; {offline}"
        ) from None
    y = np.asarray(y).reshape(-1)  # CIFAR's labels are (N, 1)
    idx = np.random.default_rng(seed).choice(len(x), size=n, replace=False)
    return [
        Sample(
            name=f"{title} test #{i} ({labels[int(y[i])]})",
            kind="image",
            raw=x[i],
            source=f"{dataset}-test",
            label=labels[int(y[i])],
        )
        for i in idx
    ]


def cifar10_test_images(n: int = 30, seed: int = 0) -> list[Sample]:
    """Real CIFAR-10 test images through keras.datasets (needs internet; OSError without)."""
    return _test_split(
        "cifar10",
        "CIFAR-10",
        CIFAR10_LABELS,
        "the drawn scenes work offline, and you can upload any photo.",
        n,
        seed,
    )


WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def speech_clips() -> list[Sample]:
    """Spoken digits the project synthesized itself (scripts/make_speech_samples.py, espeak-ng):
    assets/samples/speech/{digit}_{voice}.wav, 8 kHz mono."""
    import soundfile as sf

    out = []
    for p in sorted(
        (SAMPLES / "speech").glob("*.wav"), key=lambda p: (p.stem.split("_")[1], p.stem)
    ):
        digit, voice = p.stem.split("_", 1)
        y, sr = sf.read(p, dtype="float32")
        out.append(
            Sample(
                name=f'"{WORDS[int(digit)]}" ({voice})',
                kind="audio",
                raw=(y, int(sr)),
                source="gallery",
                label=digit,
                note=f"synthesized with espeak-ng, voice {voice}",
            )
        )
    return out


def mnist_test_digits(n: int = 30, seed: int = 0) -> list[Sample]:
    """Real MNIST test digits through keras.datasets (needs internet; raises OSError without)."""
    return _test_split(
        "mnist", "MNIST", [str(i) for i in range(10)], "the built-in digits work offline.", n, seed
    )


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
            img[mid - half : mid + half + 1, i] = 255
        return img
    a = np.asarray(sample.raw)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    im = Image.fromarray(a)
    im.thumbnail(
        (size, size), Image.Resampling.NEAREST if max(a.shape[:2]) < size else Image.Resampling.BOX
    )
    return np.asarray(
        im.resize((size, size), Image.Resampling.NEAREST) if max(a.shape[:2]) < size else im
    )
