#!/usr/bin/env python
"""Train the built-in spoken-digit model (raw 8 kHz waveform in, digit out) and write its card.

Run from the repository root (synthesize the voices first, once):

    nice -n 10 python scripts/synth_voices.py
    python scripts/train_audio.py                          # from scratch, 5 folds + final model
    python scripts/train_audio.py --smoke                  # 1 short epoch per run, tiny subset, /tmp

The shipped model (issue 18) is the c5f3466 model (FSDD + synthetic voices, 40 epochs from
scratch) fine-tuned for 10 epochs with the 366 real clips in the mix (each x8 per epoch) and
SpecAugment masks; its card's ``retrain`` gives the exact commands (5 fold models with
``--cv-only``, then the final model with ``--cv-from``). Held-out real speakers (5-fold by
speaker): 93.2 % [90.1-95.3], against 90.2 % for the c5f3466 model on the same clips; FSDD theo
99.2 % (98.6 before); unheard synthetic voices 97.4 % (98.5 before: their "eight" lost most).
An earlier try with 1-epoch fold models gained nothing on real speakers.

Writes ``<out>/spoken_digits.keras`` and ``<out>/spoken_digits.json`` (the model card).

The model takes the raw waveform (8000,) float32, mono, 8 kHz, 1 s, in [-1, 1], and computes its
log-mel spectrogram inside the graph with ``keras.layers.MelSpectrogram`` (power in dB), or with
``--frontend stft`` a log-magnitude ``keras.layers.STFTSpectrogram`` (``--frontend mel-cmn``: the
log-mel with each bin's mean over the clip subtracted, built-in layers too); then a per-clip
``LayerNormalization`` over time x frequency, then d-DeVIS-style blocks (Conv2D 16 7x7, 16 5x5,
32 3x3, 64 3x3; each with BatchNorm, ReLU, 2x2 max pooling and dropout), a dense layer, the
``logits`` (Dense 10) and ``probabilities`` (softmax). Only built-in layers: it loads with
``keras.saving.load_model(path, safe_mode=True, compile=False)``.

Data (nothing is downloaded):
- ``--fsdd``: the Free Spoken Digit Dataset folder (``recordings/{digit}_{speaker}_{i}.wav``).
  One speaker (``--val-speaker``, default theo) is held out entirely for validation.
  Download: https://github.com/Jakobovski/free-spoken-digit-dataset (point --fsdd at the clone).
- ``--synth``: the folder written by scripts/synth_voices.py (its manifest.csv); rows with
  split=train are trained on, split=val (voices/variants never trained on) validate.
- ``--real``: folders of real recordings with a manifest.csv (path, digit, speaker), by default
  ``sc09_more`` and ``sc09_mini`` (366 Speech Commands / AudioMNIST clips, 235 speakers). Few
  clips, so each appears ``--real-repeat`` times per epoch. With ``--folds k`` (default 5) k fold
  models, each trained exactly like the final one but without one fifth of the speakers, score
  every real clip once (accuracy, Wilson interval, per class, confusion); then the final model
  trains on all of them. ``--fold-epochs`` gives the fold models a shorter schedule;
  ``--cv-only`` stops after the folds; their report is ``<out>/cv_report.json`` either way.

Every clip goes through core.inputs.audio.to_mono and core.inputs.audio.place_word, exactly as the app
prepares a recording. Augmentation happens in NumPy before word placement (not in the saved
model): speed/pitch +-15 % by resampling, reverberation (exponentially decaying noise impulse
response, RT60 0.1-0.6 s), band-limiting, silence/room tone around the word with additive noise
(white/pink/brown, SNR 5-40 dB), gain +-12 dB, then placement in a 1.3 s window and a random
1 s crop (time shift +-0.15 s). ``--spec-mask`` adds SpecAugment-style time and frequency masks
on the normalised spectrogram, in the training graph only (the saved model has no such layer).
``--mixup alpha`` mixes every clip with another of the batch (waveforms at one RMS, labels by the
same lambda ~ Beta(alpha, alpha)). ``--swa k`` runs the last k epochs at a constant rate and keeps
the average of their weights (stochastic weight averaging, BatchNorm statistics recomputed).
``--eq db`` gives half the clips a random smooth microphone response (peak up to db dB, level
kept); ``--cut p`` cuts a fraction p of the words mid-word with nothing after (before) the cut,
as in a take that stopped (started) too soon. ``--members n`` trains n models per run that
differ only in seed and keeps the average of their weights (a model soup); the k-fold report also
scores each member and their averaged probabilities (the ensemble the soup stands in for);
``--first-member k`` numbers (and seeds) the members from k, so a second run on the same folds
adds new members, and ``scripts/ensemble_cv.py`` scores the members of several runs together.
``--pack`` keeps the members packed side by side in one model (an ensemble whose logits are
their mean), whose members may each have their own front end (``--frontend mel,mel-cmn``:
members that hear the clip differently err on different clips); ``--members-from PACKED`` takes
the final model's first members from such a model (made by this command with fewer
``--members``) and trains only the rest, so an ensemble can grow a few members at a time: the
new members' folds with ``--first-member``, their reports merged by
``scripts/ensemble_cv.py --merge`` into the one ``--cv-from`` reads. ``scripts/cv_reports/``
keeps such k-fold reports (each real clip's held-out probabilities per member, a few hundred kB)
for the members still to come; the fold models themselves are not kept.
``--distill T`` (with ``--members`` >= 2) keeps instead a student trained on the members' averaged
probabilities softened at temperature T and the labels (knowledge distillation); the soup is
then context in the k-fold report.
``--widths`` sets the filters of the four blocks; a start (``--init``) narrower than that is
widened first without changing its function (Net2WiderNet: extra filters copy existing ones).
No epoch is selected on a held-out set: every run keeps its last epoch (or that average).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Unasked, TensorFlow 2.21 left its oneDNN kernels off on a 2-core AMD EPYC box, where a
# training step then took 12.8 ms per clip against 5.3 ms with them on.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SR = 8000
SECONDS = 1.0
N = int(SR * SECONDS)
SEED = 1234
BATCH = 64
SWA_BN_BATCHES = 40  # batches of training data for the averaged model's BatchNorm statistics
DEFAULT_EPOCHS = 40
LABELS = [str(i) for i in range(10)]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"

# Front end.
FRAME_LENGTH = 256  # 32 ms window
FRAME_STEP = 64  # 8 ms hop
FFT_LENGTH = 512  # zero-padded FFT (15.6 Hz bins) so the low mel bands are not empty
N_MELS = 64
MEL_FMIN, MEL_FMAX = 50.0, 4000.0
MIN_POWER = 1e-5  # dB floor ~ -75 dBFS noise: digital silence and 16-bit hiss look alike
TOP_DB = 1000.0  # MelSpectrogram clips at max(batch) - top_db: off, or the batch would matter

# Augmentation.
P_SPEED, SPEED = 0.85, 0.15
P_REVERB, RT60 = 0.5, (0.1, 0.6)
P_BAND = 0.25
P_NOISE, SNR_DB = 0.8, (5.0, 40.0)
GAIN_DB = 12.0
CONTEXT_S = 0.5  # up to this much silence/room tone on each side before placement
SHIFT_S = 0.15
P_SHIFT = 0.75
P_EQ = 0.5  # with --eq: a random smooth microphone response, up to +-eq dB
P_CUT_END = 0.75  # with --cut: of the cut clips, this many stop mid-word (the rest start mid-word)
CUT_DB = 15.0  # a real clip whose first or last 32 ms are this close to its loudest: cut mid-word

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


# ---------------------------------------------------------------------------- data


def prepare(y: np.ndarray, sr: int) -> np.ndarray:
    """What the app does to a recording: mono at 8 kHz (no window yet)."""
    from core.inputs.audio import to_mono

    y, _ = to_mono(y, sr, target_sr=SR)
    return y


def place(y: np.ndarray, seconds: float = SECONDS) -> np.ndarray:
    from core.inputs.audio import place_word

    return place_word(y, SR, seconds=seconds)[0]


def read_clip(path: Path) -> np.ndarray:
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return prepare(y, sr)


def load_fsdd(folder: Path):
    rec = folder / "recordings"
    if not rec.is_dir():
        rec = folder
    files = sorted(rec.glob("*.wav"))
    if not files:
        sys.exit(
            f"error: no FSDD recordings in {folder} (expected recordings/{{digit}}_{{speaker}}_"
            f"{{index}}.wav). Download the Free Spoken Digit Dataset from {FSDD_URL} "
            f"(git clone) and pass --fsdd <its folder>."
        )
    clips, digits, speakers = [], [], []
    for f in files:
        parts = f.stem.split("_")
        clips.append(read_clip(f))
        digits.append(int(parts[0]))
        speakers.append(parts[1])
    return clips, np.array(digits), np.array(speakers)


def load_real(folders: list[Path]):
    """Real recordings with a speaker column (sc09_more, sc09_mini manifests): clips, digits,
    speakers, names ("<folder>/<path>"). A speaker found in two folders is one speaker (their
    folds must agree)."""
    clips, digits, speakers, names = [], [], [], []
    for folder in folders:
        man = folder / "manifest.csv"
        if not man.is_file():
            sys.exit(f"error: no manifest.csv in {folder} (expected columns path, digit, speaker)")
        with open(man, newline="") as f:
            for row in csv.DictReader(f):
                clips.append(read_clip(folder / row["path"]))
                digits.append(int(row["digit"]))
                speakers.append(row["speaker"])
                names.append(f"{folder.name}/{row['path']}")
    return clips, np.array(digits), np.array(speakers), names


def speaker_folds(speakers: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n_clips,) fold 0..k-1 of each clip; all clips of a speaker share a fold. Speakers in a
    seeded random order, biggest first, each to the fold with the fewest clips so far."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(speakers, return_counts=True)
    order = sorted(rng.permutation(len(names)), key=lambda i: -counts[i])
    size, fold_of = np.zeros(k, int), {}
    for i in order:
        f = int(np.argmin(size))
        fold_of[names[i]] = f
        size[f] += counts[i]
    return np.array([fold_of[s] for s in speakers])


def wilson(correct: int, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a proportion correct/n (sound for p near 1 and small n)."""
    p = correct / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return [round(mid - half, 4), round(mid + half, 4)]


def scores(y: np.ndarray, pred: np.ndarray) -> dict:
    """Accuracy, its Wilson interval, per-class accuracy and the confusion matrix (rows: true
    digit, columns: predicted)."""
    correct = int((pred == y).sum())
    conf = np.zeros((10, 10), int)
    np.add.at(conf, (y, pred), 1)
    return {
        "accuracy": round(correct / len(y), 4),
        "n": int(len(y)),
        "correct": correct,
        "wilson_95": wilson(correct, len(y)),
        "per_class": {
            LABELS[c]: round(float(conf[c, c] / conf[c].sum()), 4)
            for c in range(10)
            if conf[c].sum()
        },
        "confusion": conf.tolist(),
    }


def load_synth(folder: Path, limit: int | None = None, seed: int = SEED):
    man = folder / "manifest.csv"
    if not man.is_file():
        return None
    rows = list(csv.DictReader(open(man, newline="")))
    if limit is not None:
        rng = np.random.default_rng(seed)
        rows = [rows[i] for i in rng.permutation(len(rows))[:limit]]
    out = {"train": ([], [], []), "val": ([], [], [])}
    for row in rows:
        p = folder / row["path"]
        if not p.is_file():
            continue
        c, d, v = out[row["split"]]
        c.append(read_clip(p))
        d.append(int(row["digit"]))
        v.append(f"{row['voice']}+{row['variant']}")
    return {k: (c, np.array(d), v) for k, (c, d, v) in out.items()}


# ---------------------------------------------------------------------------- augmentation

_SOS: dict = {}


def _sos(kind: str, fc: int):
    """Butterworth (order 4) sections, cached per 20 Hz cutoff step (design costs ~1 ms)."""
    import scipy.signal as ss

    key = (kind, fc)
    if key not in _SOS:
        _SOS[key] = ss.butter(4, fc, kind, fs=SR, output="sos")
    return _SOS[key]


def _noise(rng, n: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return rng.standard_normal(n)
    m = 1 << int(math.ceil(math.log2(max(n, 2))))  # power-of-two FFT, then cut
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec = spec / (np.sqrt(f) if kind == 1 else f)  # pink (1/f power) or brown (1/f^2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, m)[:n]
    return x / (x.std() + 1e-12)


def random_eq(y: np.ndarray, rng: np.random.Generator, max_db: float) -> np.ndarray:
    """y through a random smooth frequency response (another microphone, Speech Commands'
    many phones and laptops): the sum of 4 cosines over 0..4 kHz, lower ones stronger, scaled
    to a peak of 0..max_db dB. The level is kept (RMS), so only the spectral shape changes."""
    m = 1 << int(math.ceil(math.log2(max(y.size, 2))))
    spec = np.fft.rfft(y, m)  # (m/2 + 1,)
    f = np.linspace(0.0, 1.0, spec.size)  # 0..Nyquist
    k = np.arange(1, 5)[:, None]
    curve = (
        rng.standard_normal((4, 1)) / k * np.cos(np.pi * k * f + rng.uniform(0, 2 * np.pi, (4, 1)))
    ).sum(0)
    curve *= rng.uniform(0, max_db) / (np.abs(curve).max() + 1e-12)  # (m/2 + 1,) dB
    out = np.fft.irfft(spec * 10 ** (curve / 20), m)[: y.size]
    return out * (np.sqrt(np.mean(y**2)) / (np.sqrt(np.mean(out**2)) + 1e-12))


def cut_mid_word(y: np.ndarray) -> bool:
    """Whether a recording starts or stops in the middle of its word: its first or last 32 ms
    frame is within CUT_DB of its loudest (a 1 s Speech Commands take that cut the word, or
    noise as loud as the word throughout). The recording alone decides, never a model."""
    from core.inputs.audio import _frame_rms

    db = 20 * np.log10(np.maximum(_frame_rms(np.asarray(y, np.float32), 256, 64), 1e-10))
    return bool(max(db[0], db[-1]) >= db.max() - CUT_DB)


def cut_word(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """y cut where its cumulative energy reaches a random 40-90 % (the recording stopped
    mid-word, p=P_CUT_END), or from where it reaches 10-60 % on (it started mid-word): the
    fragment and which end was cut ("end" or "start"); at least 100 ms is kept (a speed-up
    after the cut must leave the 50 ms that place_word needs)."""
    e = np.cumsum(y.astype(np.float64) ** 2)
    e /= e[-1] + 1e-20
    keep = int(0.1 * SR)
    if rng.random() < P_CUT_END:
        return y[: max(keep, int(np.searchsorted(e, rng.uniform(0.4, 0.9))))], "end"
    return y[min(y.size - keep, int(np.searchsorted(e, rng.uniform(0.1, 0.6)))) :], "start"


def augment(
    y: np.ndarray, rng: np.random.Generator, *, eq_db: float = 0.0, cut: float = 0.0
) -> np.ndarray:
    """Raw mono 8 kHz clip (any length) -> an augmented (8000,) window, placed like the app.
    eq_db > 0: also a random microphone response (random_eq) with probability P_EQ; cut > 0:
    with that probability the word is cut (cut_word) and nothing follows (precedes) the cut,
    as in a take that stopped (started) mid-word."""
    import scipy.signal as ss
    import soxr

    from core.errors import InputError

    y0 = y
    y = y.astype(np.float64)
    cut_end = ""
    if cut > 0 and rng.random() < cut:
        y, cut_end = cut_word(y, rng)
    if rng.random() < P_SPEED:
        r = rng.uniform(1 - SPEED, 1 + SPEED)  # r > 1: faster and higher
        y = soxr.resample(y, SR * r, SR, quality="LQ")
    if rng.random() < P_REVERB:
        rt60 = rng.uniform(*RT60)
        L = int(rt60 * SR)
        t = np.arange(L) / SR
        tail = rng.standard_normal(L) * np.exp(-math.log(1000.0) * t / rt60)
        tail[: int(0.002 * SR)] = 0.0  # early gap before the reflections
        tail *= 10 ** (-rng.uniform(-3, 15) / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
        ir = tail
        ir[0] = 1.0
        peak = np.max(np.abs(y)) + 1e-12
        y = ss.fftconvolve(y, ir)[: y.size + L]
        y *= peak / (np.max(np.abs(y)) + 1e-12)
    if rng.random() < P_BAND:
        choice = rng.integers(3)
        if choice in (0, 2):
            y = ss.sosfilt(_sos("highpass", 20 * int(rng.integers(4, 21))), y)
        if choice in (1, 2):
            y = ss.sosfilt(_sos("lowpass", 20 * int(rng.integers(90, 181))), y)
    if eq_db > 0 and rng.random() < P_EQ:
        y = random_eq(y, rng, eq_db)
    # Context around the word, then noise over everything (a recording, not a cut-out word).
    pre = 0 if cut_end == "start" else int(rng.integers(0, int(CONTEXT_S * SR) + 1))
    post = 0 if cut_end == "end" else int(rng.integers(0, int(CONTEXT_S * SR) + 1))
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
    except InputError:  # e.g. a word drowned by noise: use the clean clip
        pass
    try:
        return place(y.astype(np.float32))
    except InputError:  # a cut fragment with too little standing out: the clip as given
        return place(y0.astype(np.float32))


def draw(rng: np.random.Generator, n_items: int, n: int) -> np.ndarray:
    """n indices into range(n_items): whole shuffled passes, then a random part of one more, so
    n = k * n_items repeats every item exactly k times."""
    reps = -(-n // n_items)
    return np.concatenate([rng.permutation(n_items) for _ in range(reps)])[:n]


def mix(x: np.ndarray, y: np.ndarray, alpha: float, rng: np.random.Generator):
    """Between-class mixing of waveforms (mixup, Zhang et al. 2018; for sound, Tokozume et al.
    2018). x (B, 8000) placed clips, y (B, 10) one-hot -> each clip mixed with a random other
    one, lambda ~ Beta(alpha, alpha), both at the same RMS first (the louder word would
    otherwise drown the quieter whatever lambda says), the result at the first clip's RMS;
    labels mixed by the same lambda."""
    lam = rng.beta(alpha, alpha, size=(len(x), 1))
    j = rng.permutation(len(x))
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1, keepdims=True)) + 1e-8
    unit = x / rms
    out = (lam * unit + (1 - lam) * unit[j]) * rms
    return np.clip(out, -1, 1).astype(np.float32), (lam * y + (1 - lam) * y[j]).astype(np.float32)


def make_sequence(
    keras,
    clips,
    labels,
    groups,
    batch: int,
    seed: int,
    steps: int | None = None,
    *,
    mixup: float = 0.0,
    eq_db: float = 0.0,
    cut: float = 0.0,
):
    """Batches of augmented clips and one-hot labels. groups: [(first index, end index, clips
    per epoch), ...] into clips; each epoch draws that many from each group (afresh) and
    shuffles them together, so a small group (the real voices) can be oversampled and a big one
    (the synthetic) subsampled. mixup > 0: every batch mixed by mix() with that alpha."""
    per_epoch = sum(n for _, _, n in groups)

    class Augmented(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=8)
            self.epoch = 0
            self.n_steps = steps or math.ceil(per_epoch / batch)
            self._order()

        def _order(self):
            rng = np.random.default_rng([seed, self.epoch, 0])
            order = []
            while len(order) < self.n_steps * batch:
                part = np.concatenate([a + draw(rng, b - a, n) for a, b, n in groups if n])
                order.extend(rng.permutation(part).tolist())
            self.order = np.array(order)

        def __len__(self):
            return self.n_steps

        def __getitem__(self, i):
            rng = np.random.default_rng([seed, self.epoch, i + 1])
            idx = self.order[i * batch : (i + 1) * batch]
            x = np.stack([augment(clips[j], rng, eq_db=eq_db, cut=cut) for j in idx])
            y = np.eye(10, dtype=np.float32)[labels[idx]]
            return mix(x, y, mixup, rng) if mixup > 0 else (x, y)

        def on_epoch_end(self):
            self.epoch += 1
            self._order()

    return Augmented()


# ---------------------------------------------------------------------------- model


BLOCKS = ((16, 7), (16, 5), (32, 3), (64, 3))  # d-DeVIS-style (filters, kernel size) per block
FC = 128  # units of the dense layer after the blocks


FRONTENDS = ("mel", "mel-cmn", "stft")


def member_frontends(frontend: str, members: int = 1) -> list[str]:
    """The front end of each of `members` models: one name for all of them, or one per member
    (comma-separated, e.g. 'mel,mel-cmn': a pack whose members read the one mel spectrogram
    normalised in different ways). Raises ValueError for anything else."""
    names = frontend.split(",")
    names = names * members if len(names) == 1 else names
    if (
        any(n not in FRONTENDS for n in names)
        or len(names) != members
        or ("stft" in names and len(set(names)) > 1)
    ):
        raise ValueError(
            f"--frontend {frontend!r} for {members} member(s): expected one of "
            f"{', '.join(FRONTENDS)}, or one mel front end per member, e.g. mel,mel-cmn"
        )
    return names


def build_model(frontend: str = "mel", dropout: float = 0.2, widths=None, members: int = 1):
    """The spoken-digit CNN. members > 1: room for that many models side by side (pack_members),
    each block `members` times as wide, its convolutions grouped so every member reads only its
    own channels (block 1 reads the one shared spectrogram, or with one front end per member
    (member_frontends) its member's channel of them), and the fc a convolution over the whole
    block-4 map, grouped the same way (a Dense on the flattened map would mix members)."""
    import keras
    from keras import layers

    fronts = member_frontends(frontend, members)
    inp = keras.Input(shape=(N,), dtype="float32", name="waveform")
    if fronts[0] != "stft":
        x = layers.MelSpectrogram(
            fft_length=FFT_LENGTH,
            sequence_stride=FRAME_STEP,
            sequence_length=FRAME_LENGTH,
            window="hann",
            sampling_rate=SR,
            num_mel_bins=N_MELS,
            min_freq=MEL_FMIN,
            max_freq=MEL_FMAX,
            power_to_db=True,
            top_db=TOP_DB,
            mag_exp=2.0,
            min_power=MIN_POWER,
            ref_power=1.0,
            name="mel_spectrogram",
        )(inp)  # (mels, frames)
        x = layers.Permute((2, 1), name="time_major")(x)  # (frames, mels)
        frames = x.shape[1]
        x = layers.Reshape((frames, N_MELS, 1), name="spectrogram")(x)
    else:
        x = layers.Reshape((N, 1), name="mono")(inp)
        x = layers.STFTSpectrogram(
            mode="log",
            frame_length=FRAME_LENGTH,
            frame_step=FRAME_STEP,
            fft_length=FRAME_LENGTH,
            window="hann",
            padding="same",
            expand_dims=True,
            trainable=False,
            name="spectrogram",
        )(x)  # (frames, bins, 1)
    spec, maps = x, {}
    for variant in dict.fromkeys(fronts):  # each front end once, in member order
        x = spec
        if variant == "mel-cmn":  # each bin's mean over the clip subtracted: a fixed mic
            # response (a dB offset per bin) cancels. (frames, bins, 1) -> (1, bins, 1) -> back
            frames = x.shape[1]
            m = layers.AveragePooling2D((frames, 1), name="bin_mean")(x)
            m = layers.UpSampling2D((frames, 1), name="bin_mean_frames")(m)
            x = layers.Subtract(name="cmn")([x, m])
        # Per-clip normalisation over time x frequency (no learned scale: block1_bn does that).
        name = "normalize_cmn" if variant == "mel-cmn" and len(set(fronts)) > 1 else "normalize"
        maps[variant] = layers.LayerNormalization(
            axis=[1, 2, 3], center=False, scale=False, name=name
        )(x)
    if len(maps) == 1:
        x, first_groups = maps[fronts[0]], 1
    else:  # (frames, bins, members): member i's block 1 reads channel i only
        x = layers.Concatenate(name="member_inputs")([maps[f] for f in fronts])
        first_groups = members
    widths = widths or [f for f, _ in BLOCKS]
    for i, (filters, (_, k)) in enumerate(zip(widths, BLOCKS), start=1):
        x = layers.Conv2D(
            filters * members,
            k,
            padding="same",
            use_bias=False,
            groups=first_groups if i == 1 else members,
            name=f"block{i}_conv",
        )(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = layers.Dropout(dropout * (0.5 if i < 3 else 1.0), name=f"block{i}_dropout")(x)
    if members == 1:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(FC, activation="relu", name="fc")(x)
    else:  # (7, 4, 64 K) -> (1, 1, 128 K) -> (128 K,)
        x = layers.Conv2D(FC * members, x.shape[1:3], groups=members, activation="relu", name="fc")(
            x
        )
        x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.4, name="fc_dropout")(x)
    logits = layers.Dense(10, name="logits")(x)
    probs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inp, probs, name="spoken_digits")


def pack_members(members: list, frontend: str = "mel", widths=None):
    """One model that is the ensemble of same-architecture members, their logits averaged (a
    geometric mean of their probabilities), built from the same blocks: build_model(members=K)
    with each member's weights in its own group of channels. Exact up to float rounding."""
    k = len(members)
    packed = build_model(frontend, widths=widths, members=k)
    by_layer = [{layer.name: layer.get_weights() for layer in m.layers} for m in members]
    for layer in packed.layers:
        if not layer.weights:  # e.g. a front end's normalisation, member_inputs
            continue
        ws = [b[layer.name] for b in by_layer]
        if layer.name == "logits":  # (128, 10) each -> (128 K, 10): the mean of their logits
            layer.set_weights(
                [np.concatenate([w[0] for w in ws]) / k, np.mean([w[1] for w in ws], 0)]
            )
        elif layer.name == "fc":  # Dense (7*4*64, 128) on the flattened map -> conv (7, 4, 64, 128)
            shape = layer.kernel.shape[:3] + (FC,)
            layer.set_weights(
                [
                    np.concatenate([w[0].reshape(shape) for w in ws], axis=3),
                    np.concatenate([w[1] for w in ws]),
                ]
            )
        elif layer.name.startswith("block"):  # conv (kh, kw, c_in, c_out), BN (c,): by channel
            layer.set_weights([np.concatenate(v, axis=-1) for v in zip(*ws)])
        else:  # the front end: no learned weights, the same in every member
            layer.set_weights(ws[0])
    return packed


def unpack_members(packed, frontend: str = "mel", widths=None) -> list:
    """The K members of a pack_members model, as K single models, such that packing them gives
    back the same model. Exact except each member's logits bias: a packed model keeps only the
    mean of its members' biases, so every member gets that mean (which keeps every later pack's
    mean exact: adding members to these averages the same biases)."""
    widths = widths or [f for f, _ in BLOCKS]
    k = packed.get_layer("block1_conv").filters // widths[0]
    members = [build_model(f, widths=widths) for f in member_frontends(frontend, k)]
    for layer in packed.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        for i, m in enumerate(members):
            target = m.get_layer(layer.name)
            if layer.name == "logits":  # (128 K, 10) holds kernel_i / K; the bias is the mean
                target.set_weights([k * ws[0][i * FC : (i + 1) * FC], ws[1]])
            elif layer.name == "fc":  # grouped conv (7, 4, 64, 128 K) -> Dense (7*4*64, 128)
                target.set_weights(
                    [
                        ws[0][..., i * FC : (i + 1) * FC].reshape(-1, FC),
                        ws[1][i * FC : (i + 1) * FC],
                    ]
                )
            elif layer.name.startswith("block"):  # conv (kh, kw, c_in, c_out K), BN (c K,)
                c = target.get_weights()[0].shape[-1]  # this member's channels
                target.set_weights([v[..., i * c : (i + 1) * c] for v in ws])
            else:  # the front end: the same in every member
                target.set_weights(ws)
    return members


def run_settings(words: list[str], drop: tuple[str, ...] = ()) -> list[str]:
    """A command's arguments (after the script) without those that do not change what its
    models learn (--out, --cv-from, --cv-only) and without the options in drop (with values)."""
    out, skip = [], False
    for w in words:
        name = w.split("=", 1)[0]
        if skip:
            skip = False
        elif name in ("--out", "--cv-from", "--members-from", *drop):
            skip = "=" not in w
        elif w != "--cv-only":
            out.append(w)
    return out


def command_settings(command: str, drop: tuple[str, ...] = ()) -> list[str]:
    """run_settings of a recorded command ("python scripts/train_audio.py ...", as a report's
    "command" or a card's "retrain" gives it, the latter perhaps followed by its fold command)."""
    return run_settings(shlex.split(command.split("  (its fold models:")[0])[2:], drop)


def load_members_from(keras, args, argv: list[str], widths: list[int]) -> list:
    """--members-from: the j members of an earlier packed run of this command with --members j,
    as (model, info) for train_members, once its card shows the same settings, widths and the
    seeds of members 1..j; otherwise exits saying what differs."""
    path = Path(args.members_from)
    card_path = path.with_suffix(".json")
    if not args.pack or args.first_member != 1:
        sys.exit(
            "error: --members-from needs --pack and --first-member 1 (its members are "
            "members 1.. of the new pack)"
        )
    if not (path.is_file() and card_path.is_file()):
        sys.exit(
            f"error: --members-from {path}: expected a packed .keras model with its card "
            f"{card_path.name} beside it"
        )
    card = json.loads(card_path.read_text())
    ens = card.get("ensemble") if isinstance(card.get("ensemble"), dict) else {}
    j = ens.get("members")
    if not isinstance(j, int) or not 2 <= j < args.members:
        sys.exit(
            f"error: --members-from {path}: its card gives {j!r} packed members; expected 2 to "
            f"{args.members - 1} (fewer than --members {args.members})"
        )
    seeds = [args.seed + 100 * i for i in range(j)]
    if ens.get("seeds") != seeds or ens.get("widths_per_member") != widths:
        sys.exit(
            f"error: --members-from {path}: its members have seeds {ens.get('seeds')} and "
            f"widths {ens.get('widths_per_member')}; expected seeds {seeds} and widths {widths} "
            "(this command's members 1..j)"
        )
    drop = ("--members", "--first-member")
    if command_settings(card.get("retrain", ""), drop) != run_settings(argv, drop):
        sys.exit(
            f"error: --members-from {path}: it was made by {card.get('retrain')!r}; expected "
            "this command's settings, --members aside"
        )
    packed = keras.saving.load_model(path, compile=False, safe_mode=True)
    training = card["training"]
    held = training.get("members_held_out") or [{}] * j
    info = {
        "seconds": round(training["seconds_final_model"] / j, 1),
        "epochs": training["epochs"],
        "stopped_by_time_limit": training["stopped_by_time_limit"],
        "clips_per_epoch": training["clips_per_epoch"],
        "history": [],
    }
    return [
        (m, {**info, "held_out": h})
        for m, h in zip(
            unpack_members(
                packed, ",".join(member_frontends(args.frontend, args.members)[:j]), widths
            ),
            held,
        )
    ]


def net2wider(narrow, wide, rng: np.random.Generator, noise: float = 0.0) -> None:
    """Give wide (build_model with more filters per block) narrow's function (Net2WiderNet,
    Chen et al. 2016): each block's extra filters copy randomly chosen ones of the narrow
    block (kernel and BatchNorm), and the next layer's weights from the copies of a filter are
    divided by its number of copies, so the sum it reads is unchanged. noise > 0 adds Gaussian
    noise of that fraction of the kernel's std to the extra copies (identical copies get
    identical gradients and would never part). Other layers' weights are copied as they are."""
    wide_names = {layer.name for layer in wide.layers}
    prev = None  # (wide channel -> narrow channel, copies of each narrow channel)
    for layer in narrow.layers:
        if layer.name not in wide_names or not layer.weights:
            continue
        target = wide.get_layer(layer.name)
        ws = [np.asarray(w) for w in layer.get_weights()]
        if layer.name.endswith("_conv"):
            k = ws[0]  # (kh, kw, c_in, c_out)
            if prev is not None:
                g_in, copies = prev
                k = k[:, :, g_in, :] / copies[g_in][None, None, :, None]
            n, q = k.shape[3], target.kernel.shape[3]
            g = np.concatenate([np.arange(n), rng.integers(0, n, q - n)])
            k = k[..., g]
            if noise and q > n:
                k[..., n:] += noise * k.std() * rng.standard_normal(k[..., n:].shape)
            prev = (g, np.bincount(g, minlength=n))
            ws = [k]
        elif layer.name.endswith("_bn") and prev is not None:
            ws = [w[prev[0]] for w in ws]  # gamma, beta, moving mean, moving variance
        elif layer.name == "fc" and prev is not None:
            g_in, copies = prev
            kern = ws[0].reshape(-1, len(copies), ws[0].shape[1])  # (positions, c, units)
            kern = kern[:, g_in, :] / copies[g_in][None, :, None]
            ws = [kern.reshape(-1, ws[0].shape[1]), ws[1]]
        target.set_weights(ws)


def spec_mask_layer(keras, n_time: int, max_time: int, n_freq: int, max_freq: int):
    """SpecAugment-style masking (Park et al. 2019) for the training graph only: per clip,
    n_time bands of 0..max_time frames and n_freq bands of 0..max_freq mel bins set to 0, the
    mean of the per-clip normalised spectrogram. (B, frames, mels, 1) -> same shape."""
    import tensorflow as tf

    def bands(b, size: int, n: int, width: int):
        w = tf.random.uniform((b, n, 1), 0, width + 1, dtype=tf.int32)
        start = tf.cast(tf.random.uniform((b, n, 1)) * tf.cast(size - w + 1, tf.float32), tf.int32)
        pos = tf.range(size)[None, None, :]
        return tf.reduce_any((pos >= start) & (pos < start + w), axis=1)  # (B, size)

    class SpecMask(keras.layers.Layer):
        def call(self, x, training=None):
            if not training:
                return x
            b = tf.shape(x)[0]
            masked = (
                bands(b, x.shape[1], n_time, max_time)[:, :, None]
                | bands(b, x.shape[2], n_freq, max_freq)[:, None, :]
            )  # (B, frames, mels)
            return x * tf.cast(~masked, x.dtype)[..., None]

    return SpecMask(name="spec_mask")


def training_graph(keras, model, spec_mask=None):
    """The saved model up to its logits (the loss takes logits), with spec_mask inserted after
    the per-clip normalisation when given. Layers are shared: training it trains model."""
    names = [layer.name for layer in model.layers]
    if spec_mask is None:
        return keras.Model(model.inputs, model.get_layer("logits").output, name="train_logits")
    x = spec_mask(model.get_layer("normalize").output)
    for layer in model.layers[names.index("normalize") + 1 : names.index("logits") + 1]:
        x = layer(x)
    return keras.Model(model.inputs, x, name="train_logits")


def distiller(keras, student, teachers: list, temperature: float, alpha: float):
    """Knowledge distillation (Hinton et al. 2015): a model whose fit trains `student` (a
    logits model: the training graph) on alpha * T^2 * KL(teachers' averaged softened
    probabilities || the student's softened probabilities) + (1 - alpha) * cross-entropy to
    the labels. The teachers (logits models, frozen, BatchNorm in inference) see the same
    augmented batch, without the student's training-only masks."""
    import tensorflow as tf

    class Distiller(keras.Model):
        def __init__(self):
            super().__init__(name="distiller")
            self.student = student
            self.teachers = teachers
            self.loss_mean = keras.metrics.Mean(name="loss")
            self.accuracy_mean = keras.metrics.Mean(name="accuracy")

        @property
        def metrics(self):
            return [self.loss_mean, self.accuracy_mean]  # reset at every epoch

        def call(self, x, training=False):
            return self.student(x, training=training)

        def train_step(self, data):
            x, y = data  # (batch, N) waveforms, (batch, 10) labels (soft under mixup)
            t = tf.add_n(
                [tf.nn.softmax(m(x, training=False) / temperature) for m in self.teachers]
            ) / len(self.teachers)  # (batch, 10)
            with tf.GradientTape() as tape:
                z = self.student(x, training=True)  # (batch, 10) logits
                kl = tf.reduce_sum(
                    t * (tf.math.log(t + 1e-8) - tf.nn.log_softmax(z / temperature)), -1
                )
                ce = tf.nn.softmax_cross_entropy_with_logits(y, z)
                loss = tf.reduce_mean(alpha * temperature**2 * kl + (1 - alpha) * ce)
            weights = self.student.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
            self.loss_mean.update_state(loss)
            self.accuracy_mean.update_state(
                tf.cast(tf.equal(tf.argmax(z, -1), tf.argmax(y, -1)), tf.float32)
            )
            return {m.name: m.result() for m in self.metrics}

    return Distiller()


def average_weights(snapshots: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Stochastic weight averaging (Izmailov et al. 2018): the element-wise mean of weight lists
    taken at the end of epochs of one run (same architecture, same order)."""
    return [np.mean(np.stack(ws), axis=0).astype(ws[0].dtype) for ws in zip(*snapshots)]


def refresh_batchnorm(keras, model, batches) -> None:
    """Recompute every BatchNormalization layer's moving mean and variance as the plain average
    over batches (x, y) of training data: averaged weights need their own statistics (those of
    the snapshots do not belong to the mean of their weights)."""
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in bns]
    for n, (x, _) in enumerate(batches):
        for layer in bns:
            layer.momentum = n / (n + 1)  # moving = (n * moving + batch) / (n + 1)
        model(x, training=True)
    for layer, m in zip(bns, saved):
        layer.momentum = m


def normalisation_text(fronts: list[str]) -> str:
    """How the model card describes what happens between spectrogram and block 1."""
    cmn = [str(i + 1) for i, f in enumerate(fronts) if f == "mel-cmn"]
    if not cmn:
        return "normalises it per clip"
    what = (
        "subtracting each frequency bin's mean over the clip, so a fixed microphone response "
        "cancels"
    )
    if len(cmn) == len(fronts):
        return f"normalises it per clip after {what}"
    who = ("member " if len(cmn) == 1 else "members ") + ", ".join(cmn)
    return f"normalises it per clip ({who}: after {what})"


def stft_card(frontend: str) -> dict:
    if "stft" not in frontend:
        return {
            "frame_length": FRAME_LENGTH,
            "frame_step": FRAME_STEP,
            "fft_length": FFT_LENGTH,
            "window": "hann",
            "center": True,
            "padding": "reflect",
            "mel": {
                "num_mel_bins": N_MELS,
                "min_freq": MEL_FMIN,
                "max_freq": MEL_FMAX,
                "scale": "htk",
                "power_to_db": True,
                "mag_exp": 2.0,
                "min_power": MIN_POWER,
                "ref_power": 1.0,
            },
        }
    return {
        "frame_length": FRAME_LENGTH,
        "frame_step": FRAME_STEP,
        "fft_length": FRAME_LENGTH,
        "window": "hann",
        "center": False,
        "padding": "same",
        "mode": "log",
    }


# ---------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fsdd", default="../shared/data/fsdd", help="FSDD folder")
    ap.add_argument("--val-speaker", default="theo", help="FSDD speaker held out (default: theo)")
    ap.add_argument(
        "--real",
        default="../shared/data/sc09_more,../shared/data/sc09_mini",
        help="comma-separated folders of real recordings with a manifest.csv "
        "(path, digit, speaker); '' to train without them",
    )
    ap.add_argument(
        "--real-repeat",
        type=int,
        default=4,
        help="each real training clip appears this many times per epoch (default: 4)",
    )
    ap.add_argument(
        "--folds",
        type=int,
        default=5,
        help="k-fold by speaker over the real clips before the final model (0: none)",
    )
    ap.add_argument(
        "--cv-only",
        action="store_true",
        help="only the k-fold runs: write <out>/cv_report.json, no model",
    )
    ap.add_argument(
        "--cv-from",
        default="",
        help="take the k-fold numbers from this cv_report.json of an earlier run "
        "with the same settings (instead of training the fold models again)",
    )
    ap.add_argument(
        "--synth",
        default=str(Path.home() / ".cache" / "layerlab" / "synth"),
        help="scripts/synth_voices.py output folder ('' to train without it)",
    )
    ap.add_argument(
        "--fsdd-per-epoch",
        type=int,
        default=7500,
        help="FSDD training clips drawn each epoch (default: 7500, each clip 3 times)",
    )
    ap.add_argument(
        "--synth-per-epoch",
        type=int,
        default=8000,
        help="synthetic clips drawn (fresh) each epoch (default: 8000)",
    )
    ap.add_argument(
        "--spec-mask",
        default="",
        help="SpecAugment masks in training, 'n_time,max_frames,n_freq,max_mels' "
        "(e.g. 2,12,2,8); '' for none",
    )
    ap.add_argument(
        "--mixup",
        type=float,
        default=0.0,
        help="between-class mixing of waveforms with lambda ~ Beta(alpha, alpha) (e.g. 0.2); "
        "0 for none",
    )
    ap.add_argument(
        "--eq",
        type=float,
        default=0.0,
        help="a random smooth microphone response of up to this many dB on half the clips "
        "(e.g. 8); 0 for none",
    )
    ap.add_argument(
        "--cut",
        type=float,
        default=0.0,
        help="this fraction of the clips cut mid-word (a take that stopped or started too "
        "soon, e.g. 0.1); 0 for none",
    )
    ap.add_argument(
        "--swa",
        type=int,
        default=0,
        help="the last this many epochs run at the constant --swa-lr and the model is the "
        "average of the weights after each of them, BatchNorm statistics recomputed (0: none)",
    )
    ap.add_argument(
        "--swa-lr",
        type=float,
        default=None,
        help="learning rate of the --swa epochs (default: --lr / 5)",
    )
    ap.add_argument(
        "--members",
        type=int,
        default=1,
        help="train this many models per run (seeds --seed, --seed+100, ...) and keep the "
        "average of their weights, BatchNorm statistics recomputed (a model soup); the k-fold "
        "report also scores each member and their averaged probabilities (1: one model)",
    )
    ap.add_argument(
        "--first-member",
        type=int,
        default=1,
        metavar="K",
        help="number the members from K (seeds --seed+100*(K-1), ...), so a second run adds "
        "new members on the same folds to ensemble with a first run's (default: 1)",
    )
    ap.add_argument(
        "--pack",
        action="store_true",
        help="with --members >= 2: the model is the members packed side by side into one "
        "(each block --members times as wide, convolutions grouped by member, their logits "
        "averaged: an ensemble, --members times the size) instead of their weight average",
    )
    ap.add_argument(
        "--members-from",
        default="",
        metavar="PACKED",
        help="with --pack: the final model's first members are the members of this packed "
        "model (and its card beside it), made by this command with fewer --members, instead of "
        "training them again; the fold models are not affected",
    )
    ap.add_argument(
        "--distill",
        type=float,
        default=0.0,
        metavar="T",
        help="with --members >= 2: the model is a student distilled from the members at "
        "temperature T (e.g. 2) instead of their weight average; 0: no distillation",
    )
    ap.add_argument(
        "--distill-alpha",
        type=float,
        default=0.5,
        help="weight of the distillation loss against the labels' cross-entropy (0..1)",
    )
    ap.add_argument(
        "--init",
        default="",
        help="start every run from this .keras model's weights (same architecture)",
    )
    ap.add_argument(
        "--widths",
        default=",".join(str(f) for f, _ in BLOCKS),
        help="filters of the four conv blocks (default: 16,16,32,64); wider than --init's: "
        "it is widened first, keeping its function (Net2WiderNet)",
    )
    ap.add_argument(
        "--frontend",
        default="mel",
        help="mel, mel-cmn or stft; mel-cmn: the log-mel spectrogram with each bin's mean over "
        "the clip subtracted (cepstral mean normalisation: a fixed microphone response "
        "cancels); with --members n --pack, n comma-separated mel front ends, one per member "
        "(e.g. mel,mel-cmn)",
    )
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument(
        "--fold-epochs",
        type=int,
        default=None,
        help="a shorter schedule for the fold models (default: --epochs)",
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop each training run after this many minutes (still anneals)",
    )
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--out", default=None, help="default: assets/models (--smoke: /tmp/layerlab_smoke)"
    )
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny subsets, 1 short epoch per run, writes to /tmp/layerlab_smoke",
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if args.smoke:
        args.swa = min(args.swa, 2)
        args.epochs, args.fold_epochs = 1 + args.swa, None
    args.out = args.out or ("/tmp/layerlab_smoke" if args.smoke else "assets/models")
    shortest = min(args.epochs, args.fold_epochs or args.epochs)
    if not 0 <= args.swa < shortest:
        sys.exit(
            f"error: --swa {args.swa}: expected 0 <= swa < the epochs of every run ({shortest})"
        )
    if args.swa and args.max_minutes:
        sys.exit(
            "error: --swa with --max-minutes: averaging needs the whole planned schedule; "
            "drop one of them"
        )
    swa_lr = args.swa_lr if args.swa_lr is not None else args.lr / 5
    if swa_lr <= 0 or args.mixup < 0:
        sys.exit(
            f"error: --swa-lr {swa_lr:g}, --mixup {args.mixup:g}: expected a rate > 0 and "
            "an alpha >= 0 (0: no mixup)"
        )
    if not 1 <= args.members <= 8:
        sys.exit(f"error: --members {args.members}: expected 1 to 8 models per run")
    if not 1 <= args.first_member <= 100:
        sys.exit(f"error: --first-member {args.first_member}: expected 1 to 100")
    if args.distill and (args.members < 2 or args.distill < 0 or not 0 < args.distill_alpha <= 1):
        sys.exit(
            f"error: --distill {args.distill:g} --distill-alpha {args.distill_alpha:g} "
            f"--members {args.members}: expected a temperature > 0, an alpha in (0, 1] and "
            "--members 2 or more (the teachers)"
        )
    if args.pack and (args.members < 2 or args.distill):
        sys.exit(
            f"error: --pack with --members {args.members}"
            + (f" and --distill {args.distill:g}" if args.distill else "")
            + ": expected --members 2 or more and no --distill (one kept model per run)"
        )
    if not 0 <= args.eq <= 20:
        sys.exit(f"error: --eq {args.eq:g}: expected 0 (none) to 20 dB")
    if not 0 <= args.cut <= 0.5:
        sys.exit(f"error: --cut {args.cut:g}: expected a fraction of the clips from 0 to 0.5")
    try:
        fronts = member_frontends(args.frontend, args.members)
    except ValueError as e:
        sys.exit(f"error: {e}")
    mixed = len(set(fronts)) > 1  # members with different front ends: packed, never averaged
    if mixed and not args.pack:
        sys.exit(
            f"error: --frontend {args.frontend}: members with different front ends can only be "
            "packed (--pack), not averaged or distilled"
        )
    try:
        widths = [int(v) for v in args.widths.split(",")]
    except ValueError:
        widths = []
    if len(widths) != 4 or min(widths) < 1:
        sys.exit(
            f"error: --widths {args.widths!r}: expected 4 positive integers, e.g. 16,16,64,128"
        )
    mask = [int(v) for v in args.spec_mask.split(",")] if args.spec_mask else None
    if mask is not None and len(mask) != 4:
        sys.exit(
            f"error: --spec-mask {args.spec_mask!r}: expected 4 integers "
            f"n_time,max_frames,n_freq,max_mels, e.g. 2,12,2,8"
        )

    t_start = time.time()
    import keras
    import tensorflow as tf

    # The cores this process may use (taskset); sched_getaffinity is Linux-only.
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(ncpu)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, ncpu))
    except RuntimeError:  # TensorFlow already started in this process (main() from a test)
        pass

    init_model = (
        keras.saving.load_model(args.init, compile=False, safe_mode=True) if args.init else None
    )
    if init_model is not None:
        init_widths = [init_model.get_layer(f"block{i}_conv").filters for i in (1, 2, 3, 4)]
        if any(w < n for w, n in zip(widths, init_widths)):
            sys.exit(
                f"error: --widths {args.widths}: --init {args.init} has widths "
                f"{','.join(map(str, init_widths))}; a run can only widen its start "
                "(each block at least as wide)"
            )
    reused = []  # --members-from: (model, what its earlier run said of it) per member
    if args.members_from:
        reused = load_members_from(keras, args, argv, widths)

    # ---- data
    fsdd_dir = Path(args.fsdd)
    if not fsdd_dir.exists():
        sys.exit(
            f"error: {fsdd_dir} not found. Download the Free Spoken Digit Dataset from "
            f"{FSDD_URL} (git clone) and pass --fsdd <its folder>."
        )
    f_clips, f_digits, f_spk = load_fsdd(fsdd_dir)
    if args.val_speaker not in set(f_spk):
        sys.exit(
            f"error: --val-speaker {args.val_speaker!r} is not in FSDD "
            f"(speakers: {sorted(set(f_spk))})"
        )
    tr_idx = np.flatnonzero(f_spk != args.val_speaker)
    va_idx = np.flatnonzero(f_spk == args.val_speaker)
    rng = np.random.default_rng(args.seed)
    if args.smoke:
        tr_idx, va_idx = rng.permutation(tr_idx)[:300], rng.permutation(va_idx)[:100]
    fsdd_train = ([f_clips[i] for i in tr_idx], f_digits[tr_idx])
    val_sets: dict[str, tuple[list, np.ndarray]] = {
        f"fsdd_{args.val_speaker}": ([f_clips[i] for i in va_idx], f_digits[va_idx])
    }
    synth_train = ([], np.zeros(0, int))
    if args.synth:
        synth = load_synth(
            Path(args.synth).expanduser(), limit=600 if args.smoke else None, seed=args.seed
        )
        if synth is None:
            print(
                f"warning: no synthetic voices in {args.synth} (run scripts/synth_voices.py); "
                "training on the real recordings only",
                flush=True,
            )
        else:
            synth_train = synth["train"][:2]
            n_synth_voices = len(set(synth["train"][2]))
            if synth["val"][0]:
                val_sets["synth_heldout"] = synth["val"][:2]
    real_dirs = [Path(d) for d in args.real.split(",") if d]
    r_clips, r_digits, r_spk, r_names = (
        load_real(real_dirs) if real_dirs else ([], np.zeros(0, int), np.zeros(0, str), [])
    )
    if args.smoke:
        keep = rng.permutation(len(r_clips))[:60]
        r_clips, r_digits, r_spk = [r_clips[i] for i in keep], r_digits[keep], r_spk[keep]
        r_names = [r_names[i] for i in keep]
    if args.folds and not r_clips:
        sys.exit("error: --folds needs real recordings (--real)")
    folds = speaker_folds(r_spk, args.folds, args.seed) if args.folds else None
    r_cut = np.array([cut_mid_word(c) for c in r_clips], bool)  # (n_real,)

    def not_cut_scores(pred: np.ndarray) -> dict:
        """Context for the k-fold score (never instead of it): the takes not cut mid-word."""
        return {
            **scores(r_digits[~r_cut], pred[~r_cut]),
            "cut_clips": int(r_cut.sum()),
            "cut_correct": int((pred[r_cut] == r_digits[r_cut]).sum()),
        }

    val_x = {k: np.stack([place(c) for c in clips]) for k, (clips, _) in val_sets.items()}
    val_y = {k: y for k, (_, y) in val_sets.items()}
    real_x = np.stack([place(c) for c in r_clips]) if r_clips else None
    n_fsdd = min(args.fsdd_per_epoch, len(fsdd_train[0])) if args.fsdd_per_epoch else 0
    n_synth = min(args.synth_per_epoch, len(synth_train[0]))
    print(
        f"data: FSDD {len(fsdd_train[0])} training clips ({n_fsdd} per epoch); synthetic "
        f"{len(synth_train[0])} ({n_synth} per epoch); real {len(r_clips)} clips of "
        f"{len(set(r_spk))} speakers (x{args.real_repeat} per epoch); validation "
        + ", ".join(f"{k} {len(v)}" for k, v in val_y.items())
        + f"  (loaded in {time.time() - t_start:.1f}s)",
        flush=True,
    )

    def predict(m, x):
        return np.concatenate(
            [np.asarray(m(x[i : i + 256], training=False)) for i in range(0, len(x), 256)]
        )

    def training_mix(real_idx: np.ndarray):
        """FSDD + the real clips real_idx + synthetic: clips, labels and the groups
        (start, end, drawn per epoch) that make_sequence draws from."""
        clips = fsdd_train[0] + [r_clips[i] for i in real_idx] + synth_train[0]
        labels = np.concatenate([fsdd_train[1], r_digits[real_idx], synth_train[1]]).astype(int)
        a, b = len(fsdd_train[0]), len(fsdd_train[0]) + len(real_idx)
        groups = [
            (0, a, n_fsdd),
            (a, b, args.real_repeat * len(real_idx)),
            (b, len(clips), n_synth),
        ]
        return clips, labels, groups

    def refresh_on_training_data(model, real_idx: np.ndarray) -> None:
        """Averaged weights (--swa, --members) get BatchNorm statistics of their own."""
        clips, labels, groups = training_mix(real_idx)
        bn = make_sequence(
            keras,
            clips,
            labels,
            groups,
            BATCH,
            args.seed + 1,
            SWA_BN_BATCHES,
            eq_db=args.eq,
            cut=args.cut,
        )
        refresh_batchnorm(keras, model, (bn[i] for i in range(len(bn))))

    def train(real_idx: np.ndarray, tag: str, epochs: int, seed: int, teachers=(), frontend=None):
        """One training run on FSDD + synthetic + the real clips real_idx (with teachers:
        distilled from them, --distill); the last epoch's model (or --swa's average; no
        selection on any held-out set) and what happened, with its scores on the held-out
        FSDD speaker and synthetic voices."""
        keras.utils.set_random_seed(seed)
        clips, labels, groups = training_mix(real_idx)
        per_epoch = sum(n for _, _, n in groups)
        steps = 8 if args.smoke else math.ceil(per_epoch / BATCH)
        seq = make_sequence(
            keras,
            clips,
            labels,
            groups,
            BATCH,
            seed,
            steps,
            mixup=args.mixup,
            eq_db=args.eq,
            cut=args.cut,
        )
        model = build_model(frontend or fronts[0], widths=widths)  # None: every member's one
        if init_model is not None:
            # Same widths: an exact copy; wider: the same function, the copies nudged apart.
            net2wider(init_model, model, np.random.default_rng([seed, 7]), noise=0.05)
        train_model = training_graph(keras, model, spec_mask_layer(keras, *mask) if mask else None)
        swa = args.swa
        total_steps = max(1, (epochs - swa) * steps)  # the cosine's steps; then swa epochs
        warm = min(steps, total_steps // 4)
        floor = swa_lr / args.lr if swa else 0.02
        if teachers:
            fit_model = distiller(
                keras,
                train_model,
                [training_graph(keras, t) for t in teachers],  # logits, no masks
                args.distill,
                args.distill_alpha,
            )
            fit_model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr / 10))
        else:
            fit_model = train_model
            fit_model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=args.lr / 10),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
        run_start = time.time()
        deadline = run_start + 60 * args.max_minutes if args.max_minutes else None
        state = {"history": [], "stopped": False, "step": 0, "snapshots": []}

        class Monitor(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.time()

            def on_train_batch_begin(self, batch, logs=None):
                # Warm-up, then cosine decay to 2 % (--swa: to --swa-lr, then constant) over
                # the planned steps, or over the time budget if --max-minutes ends training
                # first (so a time-limited run anneals).
                step = state["step"]
                if step >= total_steps:
                    lr = args.lr * floor
                elif step < warm:
                    lr = args.lr * (0.1 + 0.9 * step / warm)
                else:
                    progress = (step - warm) / max(1, total_steps - warm)
                    if deadline is not None:
                        progress = max(
                            progress, (time.time() - run_start) / max(1.0, deadline - run_start)
                        )
                    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1)))
                    lr = args.lr * (floor + (1 - floor) * cos)
                self.model.optimizer.learning_rate.assign(lr)
                state["step"] += 1

            def on_train_batch_end(self, batch, logs=None):
                if deadline is not None and time.time() > deadline and not state["stopped"]:
                    self.model.stop_training = True
                    state["stopped"] = True
                    print(
                        f"{tag}: --max-minutes {args.max_minutes:g} reached: stopping", flush=True
                    )

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                el = time.time() - self.t0
                if epoch >= epochs - swa:
                    state["snapshots"].append(model.get_weights())
                state["history"].append(
                    {
                        "epoch": epoch + 1,
                        "loss": round(float(logs.get("loss", 0)), 4),
                        "accuracy": round(float(logs.get("accuracy", 0)), 4),
                        "seconds": round(el, 1),
                    }
                )
                print(
                    f"{tag} epoch {epoch + 1}/{epochs} {el:5.1f}s ({steps} batches, "
                    f"{1000 * el / (steps * BATCH):.1f} ms/clip) loss {logs.get('loss', 0):.4f} "
                    f"acc {logs.get('accuracy', 0):.4f}",
                    flush=True,
                )

        fit_model.fit(seq, epochs=epochs, verbose=0, callbacks=[Monitor()])
        if state["snapshots"]:
            model.set_weights(average_weights(state["snapshots"]))
            refresh_on_training_data(model, real_idx)
            print(f"{tag}: averaged {len(state['snapshots'])} epochs' weights", flush=True)
        seconds = time.time() - run_start
        held = {k: scores(val_y[k], predict(model, val_x[k]).argmax(1)) for k in val_x}
        print(
            f"{tag}: {seconds:.0f}s, {len(state['history'])} epochs; "
            + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in held.items()),
            flush=True,
        )
        return model, {
            "seconds": round(seconds, 1),
            "epochs": len(state["history"]),
            "stopped_by_time_limit": state["stopped"],
            "clips_per_epoch": per_epoch,
            "history": state["history"],
            "held_out": held,
        }

    def member_seed(i: int) -> int:
        """Seed of member i (0-based) of this run; the student's is member_seed(members)."""
        return args.seed + 100 * (args.first_member - 1 + i)

    def train_members(real_idx: np.ndarray, tag: str, epochs: int, reuse=()):
        """--members runs that differ only in seed (data order, augmentation, masks) and the
        average of their weights (a model soup, Wortsman et al. 2022: one model's size; they
        all start from --init, so they stay in one basin where averaging works) or, with
        --distill, a student distilled from them; with what happened, the members and the
        soup (for the k-fold report's context). reuse: (model, info) of the first members,
        already trained (--members-from); only the others are trained."""
        n = args.members
        runs = list(reuse) + [
            train(
                real_idx,
                f"{tag} member {args.first_member + i}" if n > 1 else tag,
                epochs,
                member_seed(i),
                frontend=fronts[i],
            )
            for i in range(len(reuse), n)
        ]
        if n == 1:
            return runs[0][0], runs[0][1], [], None
        soup, held = None, {}
        if not mixed:
            soup = build_model(fronts[0], widths=widths)
            soup.set_weights(average_weights([m.get_weights() for m, _ in runs]))
            refresh_on_training_data(soup, real_idx)
            held = {k: scores(val_y[k], predict(soup, val_x[k]).argmax(1)) for k in val_x}
            print(
                f"{tag}: the soup of {n} members: "
                + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in held.items()),
                flush=True,
            )
        infos = [info for _, info in runs]
        members = [m for m, _ in runs]
        model, first = soup, infos[len(reuse)]  # the first member trained here
        if args.distill:
            model, first = train(
                real_idx, f"{tag} student", epochs, member_seed(n), teachers=members
            )
            infos.append(first)
            held = first["held_out"]
        elif args.pack:
            model = pack_members(members, args.frontend, widths)
            held = {k: scores(val_y[k], predict(model, val_x[k]).argmax(1)) for k in val_x}
            print(
                f"{tag}: the {n} members packed: "
                + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in held.items()),
                flush=True,
            )
        return (
            model,
            {
                "seconds": round(sum(i["seconds"] for i in infos), 1),
                "epochs": first["epochs"],
                "stopped_by_time_limit": any(i["stopped_by_time_limit"] for i in infos),
                "clips_per_epoch": first["clips_per_epoch"],
                "history": first["history"],
                "held_out": held,
                "members": [i["held_out"] for i in infos[:n]],
            },
            members,
            soup if args.distill or args.pack else None,
        )

    # ---- the model we start from, on everything (its 'before' numbers)
    report: dict = {"command": "python scripts/train_audio.py " + shlex.join(argv)}
    if init_model is not None:
        base = init_model
        report["init"] = {k: scores(val_y[k], predict(base, val_x[k]).argmax(1)) for k in val_x}
        if real_x is not None:
            report["init"]["real_speakers"] = scores(r_digits, predict(base, real_x).argmax(1))
        print(
            "init model: "
            + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in report["init"].items()),
            flush=True,
        )

    # ---- k-fold by speaker: every real clip scored once by a model that never heard its speaker
    fold_epochs = args.fold_epochs or args.epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if folds is not None and args.cv_from:
        prev = json.loads(Path(args.cv_from).read_text())
        if command_settings(prev["command"]) != run_settings(argv):
            sys.exit(
                f"error: --cv-from {args.cv_from}: its run had other settings "
                f"({prev['command']!r}); run the folds with this command's settings"
            )
        report["cross_validation"] = prev["cross_validation"]
        if (
            "clips" in prev["cross_validation"]
            and "real_speakers_not_cut" not in prev["cross_validation"]
        ):
            by_name = {c["clip"]: c["predicted"] for c in prev["cross_validation"]["clips"]}
            report["cross_validation"]["real_speakers_not_cut"] = not_cut_scores(
                np.array([by_name[n] for n in r_names])
            )
        report["cv_command"] = (
            " and ".join(prev["merged_from"]) + ", merged by scripts/ensemble_cv.py --merge"
            if "merged_from" in prev
            else prev["command"]
        )
        cv = prev["cross_validation"]["real_speakers"]
        print(
            f"k-fold held-out real speakers (from {args.cv_from}): {cv['correct']}/{cv['n']} "
            f"= {cv['accuracy']:.4f}",
            flush=True,
        )
    elif folds is not None:
        cv_pred = np.full(len(r_clips), -1)
        cv_prob = np.zeros((len(r_clips), 10))
        member_prob = np.zeros((args.members, len(r_clips), 10))  # --members > 1: context
        soup_prob = np.zeros((len(r_clips), 10))  # --distill: context
        per_fold = []
        for k in range(1, args.folds + 1):
            out_k = folds == k - 1
            fold_model, info, members, soup = train_members(
                np.flatnonzero(~out_k), f"fold {k}/{args.folds}", fold_epochs
            )
            cv_prob[out_k] = predict(fold_model, real_x[out_k])
            cv_pred[out_k] = cv_prob[out_k].argmax(1)
            for i, m in enumerate(members):
                member_prob[i, out_k] = predict(m, real_x[out_k])
            if soup is not None:
                soup_prob[out_k] = predict(soup, real_x[out_k])
            fold_real = scores(r_digits[out_k], cv_pred[out_k])
            context = {}
            if members:
                context = {
                    "members_correct": [
                        int((member_prob[i, out_k].argmax(1) == r_digits[out_k]).sum())
                        for i in range(len(members))
                    ],
                    "ensemble_correct": int(
                        (member_prob[:, out_k].mean(0).argmax(1) == r_digits[out_k]).sum()
                    ),
                    **(
                        {"soup_correct": int((soup_prob[out_k].argmax(1) == r_digits[out_k]).sum())}
                        if soup is not None
                        else {}
                    ),
                }
            print(
                f"fold {k}/{args.folds}: held-out real speakers {fold_real['correct']}/"
                f"{fold_real['n']}"
                + (
                    f" (members {context['members_correct']}, their ensemble "
                    f"{context['ensemble_correct']}"
                    + (f", their soup {context['soup_correct']}" if soup is not None else "")
                    + ")"
                    if members
                    else ""
                ),
                flush=True,
            )
            per_fold.append(
                {
                    "fold": k,
                    "speakers": int(len(set(r_spk[out_k]))),
                    "real_speakers": {m: fold_real[m] for m in ("accuracy", "n", "correct")},
                    # The fold model on the held-out FSDD speaker and synthetic voices: how a
                    # setting moves them, without training its final model.
                    **{
                        k_: {m: v[m] for m in ("accuracy", "n")}
                        for k_, v in info["held_out"].items()
                    },
                    **{m: info[m] for m in ("seconds", "epochs", "clips_per_epoch")},
                    **context,
                }
            )
        cv = scores(r_digits, cv_pred)
        print(
            f"k-fold held-out real speakers: {cv['correct']}/{cv['n']} = {cv['accuracy']:.4f} "
            f"(Wilson 95 % {cv['wilson_95']})",
            flush=True,
        )
        soup_context = {}
        if args.members > 1:
            # What the soup stands in for: each member alone, and their averaged probabilities
            # (an ensemble of the members' size times n, which the soup approaches at best).
            soup_context = {
                "members": [scores(r_digits, p.argmax(1)) for p in member_prob],
                "ensemble": scores(r_digits, member_prob.mean(0).argmax(1)),
                **(
                    {"soup": scores(r_digits, soup_prob.argmax(1))}
                    if (args.distill or args.pack) and not mixed
                    else {}
                ),
            }
            print(
                "members: "
                + ", ".join(f"{m['correct']}/{m['n']}" for m in soup_context["members"])
                + f"; their ensemble {soup_context['ensemble']['correct']}/{len(r_clips)}"
                + (
                    f"; their soup {soup_context['soup']['correct']}"
                    if "soup" in soup_context
                    else ""
                ),
                flush=True,
            )
        report["cross_validation"] = {
            "folds": args.folds,
            "speakers": int(len(set(r_spk))),
            "real_speakers": cv,
            "real_speakers_not_cut": not_cut_scores(cv_pred),
            **soup_context,
            "per_fold": per_fold,
            "seconds": round(sum(f["seconds"] for f in per_fold), 1),
            # Every real clip's held-out prediction, so two settings compare clip by clip.
            "clips": [
                {
                    "clip": n,
                    "speaker": str(sp),
                    "digit": int(t),
                    "predicted": int(p_),
                    "cut_mid_word": bool(c_),
                    # so two settings' fold models can also be averaged (an ensemble's score)
                    "probabilities": [round(float(v), 4) for v in pr],
                    # --members > 1: each member's too (ensembles of members of several runs),
                    # and their logs, whose mean ranks the classes as the mean of the logits
                    # does (a packed ensemble's decision), which rounded probabilities cannot
                    **(
                        {
                            "member_probabilities": [
                                [round(float(v), 4) for v in member_prob[m, i]]
                                for m in range(args.members)
                            ],
                            "member_log_probabilities": [
                                [
                                    round(float(v), 4)
                                    for v in np.log(np.maximum(member_prob[m, i], 1e-38))
                                ]
                                for m in range(args.members)
                            ],
                        }
                        if args.members > 1
                        else {
                            "log_probabilities": [
                                round(float(v), 4) for v in np.log(np.maximum(pr, 1e-38))
                            ]
                        }
                    ),
                }
                for i, (n, sp, t, p_, pr, c_) in enumerate(
                    zip(r_names, r_spk, r_digits, cv_pred, cv_prob, r_cut)
                )
            ],
        }
    if args.cv_only or (folds is not None and not args.cv_from):
        # Kept before the final model trains: its own record, and --cv-from / ensemble_cv input.
        (out / "cv_report.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out / 'cv_report.json'}; total {time.time() - t_start:.1f}s", flush=True)
    if args.cv_only:
        return 0

    # ---- the final model: every real clip, the same schedule
    model, final, _, _ = train_members(np.arange(len(r_clips)), "final", args.epochs, reused)
    # ---- save, reload safely, same predictions, gradients reach the waveform
    model_path = out / "spoken_digits.keras"
    model.save(model_path)
    loaded = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    k = next(iter(val_x))
    ref, re = predict(model, val_x[k]), predict(loaded, val_x[k])
    if not (np.allclose(re, ref, atol=1e-5) and (re.argmax(1) == ref.argmax(1)).all()):
        sys.exit(
            f"error: the reloaded model predicts differently (max diff "
            f"{np.abs(re - ref).max():.2e})"
        )
    x = tf.convert_to_tensor(val_x[k][:4])
    with tf.GradientTape() as tape:
        tape.watch(x)
        p = loaded(x, training=False)
        loss = tf.reduce_sum(tf.math.log(p[:, 0] + 1e-9))
    g = tape.gradient(loss, x)
    if g is None or not np.isfinite(g.numpy()).all() or not np.any(g.numpy()):
        sys.exit("error: no finite gradient reaches the waveform")
    print(
        f"saved {model_path} ({model_path.stat().st_size} bytes); reload (safe_mode) OK, same "
        f"predictions; waveform gradient OK",
        flush=True,
    )

    machine = f"{ncpu}-core CPU" + (" + GPU" if tf.config.list_physical_devices("GPU") else "")
    spec_shape = list(model.get_layer("spectrogram").output.shape[1:])
    mel = "stft" not in args.frontend
    sources = [
        f"FSDD ({len(fsdd_train[0])} clips of {len(set(f_spk)) - 1} speakers, "
        f"{n_fsdd} drawn per epoch)"
    ]
    if r_clips:
        sources.append(
            f"real recordings ({len(r_clips)} clips, {len(set(r_spk))} speakers: "
            + ", ".join(d.name for d in real_dirs)
            + f"; each x{args.real_repeat} per epoch)"
        )
    if synth_train[0]:
        sources.append(
            f"espeak-ng synthetic voices ({len(synth_train[0])} clips, "
            f"{n_synth_voices} voice+variant combinations, {n_synth} drawn per epoch)"
        )
    base_card = Path(args.init).with_suffix(".json") if args.init else None
    init_text = None
    if args.init:
        init_text = f"weights of {args.init}"
        if base_card.is_file():
            init_text += " (its training: " + json.loads(base_card.read_text())["retrain"] + ")"
    seconds = final["seconds"] + (report["cross_validation"]["seconds"] if folds is not None else 0)
    validation = final["held_out"]
    metrics = {}
    if folds is not None:
        metrics["held_out_real_speakers"] = {
            **report["cross_validation"]["real_speakers"],
            "method": (
                f"{args.folds}-fold cross-validation by speaker over the {len(r_clips)} "
                f"real clips ({len(set(r_spk))} speakers): each clip scored once by a fold "
                f"model trained like the final one (same data mix, augmentation, start "
                f"and seed) without that clip's speaker, "
                + (
                    f"but for {fold_epochs} epochs instead of {args.epochs} (to fit the "
                    f"machine): an estimate from weaker models than the final"
                    if fold_epochs != args.epochs
                    else "for the same epochs"
                )
                + "; the final model heard them all"
            ),
            "per_fold": report["cross_validation"]["per_fold"],
            "label": f"real speakers ({args.folds}-fold by speaker)",
        }
        nc = report["cross_validation"].get("real_speakers_not_cut")
        if nc:
            metrics["held_out_real_speakers_not_cut"] = {
                **nc,
                "method": (
                    "context for the number above, not instead of it: the same held-out "
                    f"predictions without the {nc['cut_clips']} takes that start or stop "
                    f"mid-word (first or last 32 ms within {CUT_DB:g} dB of the take's "
                    "loudest: a 1 s Speech Commands take that cut its word, or noise as loud "
                    f"as the word; decided by the recording alone). On those {nc['cut_clips']}:"
                    f" {nc['cut_correct']} right"
                ),
                "label": "real speakers, takes not cut mid-word (context)",
            }
    set_names = {
        f"fsdd_{args.val_speaker}": f"FSDD speaker {args.val_speaker}",
        "synth_heldout": "unheard synthetic voices",
    }
    for k, v in validation.items():
        metrics[k] = {
            **v,
            "method": "the final model (this file), never trained on this set",
            "label": set_names[k],
        }
    if "synth_heldout" in metrics:
        # Per unheard voice: one voice's weak word can carry the whole synthetic score.
        pred = predict(model, val_x["synth_heldout"]).argmax(1)
        voice = np.array([v.split("+")[0] for v in synth["val"][2]])
        metrics["synth_heldout"]["per_voice"] = {
            str(name): scores(val_y["synth_heldout"][voice == name], pred[voice == name])[
                "accuracy"
            ]
            for name in sorted(set(voice))
        }
    metrics["validation_accuracy"] = {
        **(
            {"real_speakers_kfold": metrics["held_out_real_speakers"]["accuracy"]}
            if folds is not None
            else {}
        ),
        **{k: v["accuracy"] for k, v in validation.items()},
    }
    if "init" in report:
        metrics["before"] = {
            k: {m: v[m] for m in ("accuracy", "n", "wilson_95")} for k, v in report["init"].items()
        }
    seeds = ", ".join(str(member_seed(i)) for i in range(args.members))
    card = {
        "name": "spoken_digits",
        "title": "Spoken digits (raw waveform, in-model log-mel spectrogram)"
        if mel
        else "Spoken digits (raw waveform, in-model log spectrogram)",
        "description": (
            "A d-DeVIS-style CNN that recognises one spoken English digit (zero to nine) in a 1 s, "
            "8 kHz mono clip. The model takes the raw waveform and computes its "
            + (
                "log-mel spectrogram (keras MelSpectrogram, dB)"
                if mel
                else "log-magnitude spectrogram (keras STFTSpectrogram)"
            )
            + " inside the graph, "
            + normalisation_text(fronts)
            + ", then four Conv2D/BatchNorm/ReLU/"
            "MaxPool/Dropout blocks ("
            + ", ".join(
                f"{w * (args.members if args.pack else 1)} {k}x{k}"
                for w, (_, k) in zip(widths, BLOCKS)
            )
            + ") and a dense layer."
            + (
                f" It is an ensemble of {args.members} such networks packed side by side: "
                f"filters 0-{widths[0] - 1} of block 1 (and the matching groups of later "
                f"blocks) are the first network's, the next {widths[0]} the second's, and so "
                "on; each block after the first is a grouped convolution, so a network reads "
                "only its own filters; the logits are the mean of the networks' logits."
                if args.pack
                else ""
            )
        ),
        "labels": LABELS,
        "words": WORDS,
        "input": {
            "kind": "audio",
            "shape": [N],
            "sample_rate": SR,
            "seconds": SECONDS,
            "range": [-1.0, 1.0],
        },
        "stft": stft_card(args.frontend),
        "output": "probabilities",
        "logits_layer": "logits",
        **(
            {
                # core.show.audio_view labels each filter with its network from this
                "ensemble": {
                    "members": args.members,
                    "seeds": [member_seed(i) for i in range(args.members)],
                    "widths_per_member": widths,
                    "frontends": fronts,
                    "combined": "the mean of the members' logits",
                }
            }
            if args.pack
            else {}
        ),
        "spectrogram_layer": "spectrogram",
        "spectrogram_shape": spec_shape,
        "spectrogram_axes": ["time", "frequency", "channel"],
        "spectrogram_units": "dB (10 log10 power), floor 10 log10(min_power)"
        if mel
        else "natural log of magnitude",
        "preprocessing": (
            "Any recording -> mono (channels averaged) -> 8 kHz (soxr_hq) -> the spoken word "
            "found (frames within 35 dB of the loudest, above the noise floor) and placed in a 1 s "
            "window centred on its energy centroid, zero-padded or cut (core.inputs.audio.to_mono + "
            "place_word). float32 samples in [-1, 1], no gain normalisation: the model's "
            "per-clip LayerNormalization makes it level-independent."
        ),
        "training": {
            "data": sources,
            "held_out_speaker": args.val_speaker,
            "validation_sets": {
                f"fsdd_{args.val_speaker}": f"FSDD speaker {args.val_speaker} (never trained on)",
                "synth_heldout": "espeak-ng voices/variants never trained on (see "
                "scripts/synth_voices.py HELD_VOICES, HELD_VARIANTS)",
                **(
                    {"real_speakers_kfold": metrics["held_out_real_speakers"]["method"]}
                    if folds is not None
                    else {}
                ),
            },
            "init": init_text,
            "augmentation": AUGMENTATION_TEXT
            + (
                f"; a random smooth microphone response (4 cosines over 0-4 kHz, peak 0-{args.eq:g}"
                f" dB, level kept; p={P_EQ:g}) after band-limiting"
                if args.eq
                else ""
            )
            + (
                f"; {args.cut:.0%} of the clips first cut mid-word (where the cumulative energy "
                f"reaches 40-90 %, nothing after it, p={P_CUT_END:g}; else from 10-60 % on, "
                "nothing before it)"
                if args.cut
                else ""
            )
            + (
                f"; in the training graph only, SpecAugment-style masking of the normalised "
                f"spectrogram: {mask[0]} time bands of 0-{mask[1]} frames and {mask[2]} "
                f"frequency bands of 0-{mask[3]} mel bins per clip set to 0"
                if mask
                else ""
            ),
            "optimizer": (
                f"Adam, batch {BATCH}, learning rate warm-up to {args.lr:g} over one epoch "
                + (
                    f"then cosine decay to {swa_lr:g} over {args.epochs - args.swa} epochs, "
                    f"then {args.swa} epochs at {swa_lr:g}; the model is the average of the "
                    f"weights after each of those {args.swa} epochs (stochastic weight "
                    f"averaging), BatchNorm statistics recomputed on {SWA_BN_BATCHES} batches "
                    f"of training data"
                    if args.swa
                    else "then cosine decay to 2 % (over the epochs or the time limit); the "
                    "last epoch is kept"
                )
                + "; cross-entropy on the logits"
                + (
                    f" of between-class mixed clips (mixup on the waveform, lambda ~ "
                    f"Beta({args.mixup:g}, {args.mixup:g}), both clips at one RMS first)"
                    if args.mixup
                    else ""
                )
                + f"; no selection on a held-out set; seed {args.seed}"
                + (
                    f"; the model is a student trained the same way (seed "
                    f"{member_seed(args.members)}) on {args.distill_alpha:g} x T^2 x "
                    f"KL(the averaged probabilities at T = {args.distill:g} of {args.members} "
                    f"such runs, seeds {seeds} || its own at T) + "
                    f"{1 - args.distill_alpha:g} x cross-entropy to the labels (knowledge "
                    "distillation: one model's size)"
                    if args.distill
                    else f"; the model is {args.members} such runs (seeds {seeds}) packed side "
                    "by side into one: each block's filters are the members' filters together, "
                    "its convolutions grouped so each member reads only its own channels (block "
                    "1 the shared spectrogram), the dense layer a grouped convolution over the "
                    "block-4 map, and the logits the mean of the members' logits (an ensemble, "
                    f"{args.members} times one model's size and compute)"
                    if args.pack
                    else f"; the model is the average of the weights of {args.members} such "
                    f"runs (seeds {seeds}), BatchNorm statistics recomputed on "
                    f"{SWA_BN_BATCHES} batches of training data (a model soup: one model's size)"
                    if args.members > 1
                    else ""
                )
            ),
            **(
                {
                    "members_from": (
                        f"members 1-{len(reused)} are those of {args.members_from} (this "
                        f"command with --members {len(reused)}), unpacked, not trained again; "
                        "each keeps the mean of their logits biases, as that pack did"
                    )
                }
                if reused
                else {}
            ),
            "epochs": final["epochs"],
            "epochs_planned": args.epochs,
            "clips_per_epoch": final["clips_per_epoch"],
            "stopped_by_time_limit": final["stopped_by_time_limit"],
            "seconds": round(seconds, 1),
            "seconds_final_model": final["seconds"],
            **(
                {
                    "members_held_out": [
                        {k: {m: v[m] for m in ("accuracy", "n")} for k, v in held.items()}
                        for held in final["members"]
                    ]
                }
                if "members" in final
                else {}
            ),
            "machine": machine + ", shared with other jobs, training under nice",
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "smoke": bool(args.smoke),
        },
        "metrics": metrics,
        "history": final["history"],
        "retrain": report["command"]
        + (f"  (its fold models: {report['cv_command']})" if "cv_command" in report else ""),
    }
    card_path = out / "spoken_digits.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {card_path}; total {time.time() - t_start:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
