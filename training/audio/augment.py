"""What the spoken-digit model hears in training: each clip augmented afresh every epoch.

In NumPy, per clip, before the word is placed in its 1 s window as the app places a recording:
speed/pitch by resampling, reverberation, band-limiting, silence or room tone around the word
with noise, gain, then a random time shift. Nothing of this is in the saved model. The batches
come from a keras PyDataset that draws each epoch's clips per group (the few real voices
oversampled, the many synthetic ones subsampled).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import scipy.signal as ss
import soxr

from core.errors import InputError
from core.inputs.audio import place_word
from training.audio.recipe import SECONDS, SR, N

P_SPEED, SPEED = 0.85, 0.15
P_REVERB, RT60 = 0.5, (0.1, 0.6)
P_BAND = 0.25
P_NOISE, SNR_DB = 0.8, (5.0, 40.0)
GAIN_DB = 12.0
CONTEXT_S = 0.5  # up to this much silence/room tone on each side before placement
SHIFT_S = 0.15
P_SHIFT = 0.75

AUGMENTATION_TEXT = (
    f"NumPy, per clip and epoch, not in the model, before core.inputs.audio.place_word: speed/pitch "
    f"x(1 +- {SPEED:g}) by resampling (p={P_SPEED:g}); reverberation with an exponentially decaying "
    f"noise impulse response, RT60 {RT60[0]:g}-{RT60[1]:g} s, direct-to-reverberant -3..15 dB "
    f"(p={P_REVERB:g}); band-limiting (Butterworth high-pass 80-400 Hz and/or low-pass 1.8-3.6 kHz, "
    f"p={P_BAND:g}); 0-{CONTEXT_S:g} s of context on each side with white/pink/brown noise at SNR "
    f"{SNR_DB[0]:g}-{SNR_DB[1]:g} dB (p={P_NOISE:g}, else digital silence); gain +-{GAIN_DB:g} dB "
    f"(peaks over 1 either clipped or limited); then placed in a 1.3 s window and cropped to 1 s "
    f"with a shift of up to +-{SHIFT_S:g} s (p={P_SHIFT:g}; else the app's exact 1 s placement)"
)


def place(y: np.ndarray, seconds: float = SECONDS) -> np.ndarray:
    """A mono 8 kHz clip (any length) -> its word placed in a window of `seconds`, as the app."""
    return place_word(y, SR, seconds=seconds)[0]


_SOS: dict[tuple[str, int], np.ndarray] = {}


def _sos(kind: str, fc: int) -> np.ndarray:
    """Butterworth (order 4) sections, cached per 20 Hz cutoff step (design costs ~1 ms)."""
    if (kind, fc) not in _SOS:
        _SOS[kind, fc] = ss.butter(4, fc, kind, fs=SR, output="sos")
    return _SOS[kind, fc]


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) white, pink (1/f power) or brown (1/f^2) noise at unit standard deviation."""
    kind = rng.integers(3)
    if kind == 0:
        return rng.standard_normal(n)
    m = 1 << int(math.ceil(math.log2(max(n, 2))))  # power-of-two FFT, then cut
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec = spec / (np.sqrt(f) if kind == 1 else f)
    spec[0] = 0.0
    x = np.fft.irfft(spec, m)[:n]
    return x / (x.std() + 1e-12)


def augment(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raw mono 8 kHz clip (any length) -> an augmented (8000,) window, placed like the app."""
    y = y.astype(np.float64)
    if rng.random() < P_SPEED:
        r = rng.uniform(1 - SPEED, 1 + SPEED)  # r > 1: faster and higher
        y = soxr.resample(y, SR * r, SR, quality="LQ")
    if rng.random() < P_REVERB:
        rt60 = rng.uniform(*RT60)
        n_ir = int(rt60 * SR)
        t = np.arange(n_ir) / SR
        ir = rng.standard_normal(n_ir) * np.exp(-math.log(1000.0) * t / rt60)
        ir[: int(0.002 * SR)] = 0.0  # early gap before the reflections
        ir *= 10 ** (-rng.uniform(-3, 15) / 20) / (np.sqrt(np.sum(ir**2)) + 1e-12)
        ir[0] = 1.0  # the direct sound
        peak = np.max(np.abs(y)) + 1e-12
        y = ss.fftconvolve(y, ir)[: y.size + n_ir]
        y *= peak / (np.max(np.abs(y)) + 1e-12)
    if rng.random() < P_BAND:
        choice = rng.integers(3)
        if choice in (0, 2):
            y = ss.sosfilt(_sos("highpass", 20 * int(rng.integers(4, 21))), y)
        if choice in (1, 2):
            y = ss.sosfilt(_sos("lowpass", 20 * int(rng.integers(90, 181))), y)
    # Context around the word, then noise over everything (a recording, not a cut-out word).
    pre = int(rng.integers(0, int(CONTEXT_S * SR) + 1))
    post = int(rng.integers(0, int(CONTEXT_S * SR) + 1))
    sig_power = float(np.mean(y**2)) + 1e-12
    buf = np.zeros(pre + y.size + post)
    buf[pre : pre + y.size] = y
    if rng.random() < P_NOISE:
        snr = rng.uniform(*SNR_DB)
        buf += _noise(rng, buf.size) * math.sqrt(sig_power / 10 ** (snr / 10))
    buf *= 10 ** (rng.uniform(-GAIN_DB, GAIN_DB) / 20)
    peak = np.max(np.abs(buf))
    if peak > 1.0:
        buf = np.clip(buf, -1, 1) if rng.random() < 0.3 else buf * (0.99 / peak)
    buf = buf.astype(np.float32)
    try:
        if rng.random() < P_SHIFT:
            wide = place(buf, SECONDS + 2 * SHIFT_S)
            off = int(rng.integers(0, int(2 * SHIFT_S * SR) + 1))
            return wide[off : off + N]
        return place(buf)
    except InputError:  # e.g. a word drowned by noise: the clip without noise and context
        return place(y.astype(np.float32))


def draw(rng: np.random.Generator, n_items: int, n: int) -> np.ndarray:
    """n indices into range(n_items): whole shuffled passes, then a random part of one more, so
    n = k * n_items repeats every item exactly k times."""
    reps = -(-n // n_items)
    return np.concatenate([rng.permutation(n_items) for _ in range(reps)])[:n]


class Augmented(keras.utils.PyDataset):
    """Batches (x (batch, 8000) float32, digits (batch,) int32) of augmented clips. groups:
    [(first index, end index, clips per epoch), ...] into clips; each epoch draws that many from
    each group afresh and shuffles them together. steps: batches per epoch (default: all)."""

    def __init__(
        self,
        clips: list[np.ndarray],
        labels: np.ndarray,
        groups: list[tuple[int, int, int]],
        *,
        batch: int,
        seed: int,
        steps: int | None = None,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
        self.clips, self.labels, self.groups = clips, labels, groups
        self.batch, self.seed, self.epoch = batch, seed, 0
        self.n_steps = steps or math.ceil(sum(n for _, _, n in groups) / batch)
        self._order()

    def _order(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch, 0])
        order: list[int] = []
        while len(order) < self.n_steps * self.batch:
            part = np.concatenate([a + draw(rng, b - a, n) for a, b, n in self.groups if n])
            order.extend(rng.permutation(part).tolist())
        self.order = np.array(order)

    def __len__(self) -> int:
        return self.n_steps

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, i + 1])
        idx = self.order[i * self.batch : (i + 1) * self.batch]
        x = np.stack([augment(self.clips[j], rng) for j in idx])
        return x, self.labels[idx].astype(np.int32)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order()
