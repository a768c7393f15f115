"""The training data of every recipe, read one way: MNIST, CIFAR-10 and the spoken digits.

The offline copies live in ``../shared/data`` (beside the repository; see its README): MNIST as
the original IDX files, CIFAR-10 as ``.npy`` chunks in the official order, the Free Spoken Digit
Dataset and folders of real recordings with a ``manifest.csv``. Where an image folder is missing,
``keras.datasets`` downloads the same data (needs the internet), so a user can retrain without
our copies. Audio is prepared exactly as the app prepares a recording (core.inputs.audio.to_mono to
8 kHz mono); placing the word in its 1 s window happens later, after augmentation.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.inputs.audio import to_mono

DATA = Path("../shared/data")  # the offline copies, relative to the repository root
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"
SR = 8000  # every clip is read at the spoken-digit model's rate


class Split(NamedTuple):
    """Images (N, H, W) or (N, H, W, C) uint8 and their labels (N,) int32."""

    x: np.ndarray
    y: np.ndarray


class Images(NamedTuple):
    """A training split, the test split when the source has one, and where they came from."""

    train: Split
    test: Split | None
    source: str


def hold_out(split: Split, n_val: int) -> tuple[Split, Split]:
    """The first len - n_val items to train on and the last n_val to validate on (fixed)."""
    if len(split.x) <= n_val:
        raise ValueError(
            f"{len(split.x)} training images, expected more than the {n_val} held out for "
            "validation: point the recipe at the whole training split"
        )
    return Split(split.x[:-n_val], split.y[:-n_val]), Split(split.x[-n_val:], split.y[-n_val:])


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels: the files do not belong together")
    return Split(np.asarray(x, np.uint8), np.asarray(y, np.int32).reshape(-1))


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def _mnist_split(folder: Path, prefix: str) -> Split | None:
    images = folder / f"{prefix}-images-idx3-ubyte.gz"
    labels = folder / f"{prefix}-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        return None
    return _split(_idx(images, 16).reshape(-1, 28, 28), _idx(labels, 8))


def load_mnist(folder: Path = DATA / "mnist") -> Images:
    """MNIST from the IDX files in folder (the test split too if ``t10k-*`` are there), or from
    ``keras.datasets.mnist`` (downloaded) when folder does not exist. Images (N, 28, 28)."""
    if not folder.is_dir():
        import keras

        (x, y), (xt, yt) = keras.datasets.mnist.load_data()
        return Images(_split(x, y), _split(xt, yt), "keras.datasets.mnist")
    train = _mnist_split(folder, "train")
    if train is None:
        raise FileNotFoundError(
            f"{folder} has no train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz; "
            "expected the MNIST IDX files: pass their folder, or a folder that does not exist "
            "to download them with keras.datasets.mnist"
        )
    return Images(train, _mnist_split(folder, "t10k"), f"IDX files in {folder}")


def load_cifar10(folder: Path = DATA / "cifar10") -> Images:
    """CIFAR-10 from ``train_images_{1..5}.npy`` + ``train_labels.npy`` in folder (and
    ``test_images.npy`` + ``test_labels.npy`` if there), or from ``keras.datasets.cifar10``
    (downloaded) when folder does not exist. Images (N, 32, 32, 3) RGB, the official order."""
    if not folder.is_dir():
        import keras

        (x, y), (xt, yt) = keras.datasets.cifar10.load_data()
        return Images(_split(x, y), _split(xt, yt), "keras.datasets.cifar10")
    chunks = [folder / f"train_images_{k}.npy" for k in range(1, 6)]
    missing = [p.name for p in [*chunks, folder / "train_labels.npy"] if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks {', '.join(missing)}; expected the CIFAR-10 training split as "
            "train_images_1..5.npy and train_labels.npy: pass their folder, or a folder that "
            "does not exist to download it with keras.datasets.cifar10"
        )
    train = _split(
        np.concatenate([np.load(p) for p in chunks]), np.load(folder / "train_labels.npy")
    )
    test = None
    if (folder / "test_images.npy").is_file() and (folder / "test_labels.npy").is_file():
        test = _split(np.load(folder / "test_images.npy"), np.load(folder / "test_labels.npy"))
    return Images(train, test, f".npy files in {folder}")


# ---------------------------------------------------------------------------- spoken digits


class Clips(NamedTuple):
    """Recordings as the app prepares them (mono float32 at 8 kHz, any length), their digits
    (N,) int, speakers (N,) str and names ("<folder>/<file>")."""

    clips: list[np.ndarray]
    digits: np.ndarray
    speakers: np.ndarray
    names: list[str]

    def take(self, idx: np.ndarray) -> Clips:
        """The clips at idx (N,) int, in that order."""
        return Clips(
            [self.clips[i] for i in idx],
            self.digits[idx],
            self.speakers[idx],
            [self.names[i] for i in idx],
        )


def read_clip(path: Path) -> np.ndarray:
    """One recording file -> mono float32 at 8 kHz, as the app prepares an upload."""
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return to_mono(y, sr, target_sr=SR)[0]


def _clips(rows: list[tuple[Path, int, str]], folder: Path) -> Clips:
    return Clips(
        [read_clip(p) for p, _, _ in rows],
        np.array([d for _, d, _ in rows], int),
        np.array([s for _, _, s in rows], str),
        [f"{folder.name}/{p.relative_to(folder)}" for p, _, _ in rows],
    )


def load_fsdd(folder: Path = DATA / "fsdd") -> Clips:
    """The Free Spoken Digit Dataset: ``recordings/{digit}_{speaker}_{index}.wav``."""
    rec = folder / "recordings" if (folder / "recordings").is_dir() else folder
    files = sorted(rec.glob("*.wav"))
    if not files:
        raise FileNotFoundError(
            f"no FSDD recordings in {folder}; expected recordings/{{digit}}_{{speaker}}_"
            f"{{index}}.wav: clone the Free Spoken Digit Dataset ({FSDD_URL}) and pass its folder"
        )
    rows = [(f, int(f.stem.split("_")[0]), f.stem.split("_")[1]) for f in files]
    return _clips(rows, folder)


def load_manifest(folder: Path) -> Clips:
    """Recordings listed in folder/manifest.csv (columns path, digit, speaker; sc09_more,
    sc09_mini). A speaker found in two folders is one speaker."""
    man = folder / "manifest.csv"
    if not man.is_file():
        raise FileNotFoundError(
            f"no manifest.csv in {folder}; expected one with the columns path, digit, speaker"
        )
    with open(man, newline="") as f:
        rows = [(folder / r["path"], int(r["digit"]), r["speaker"]) for r in csv.DictReader(f)]
    return _clips(rows, folder)


def concat(parts: list[Clips]) -> Clips:
    """Several folders' clips as one set, in order."""
    return Clips(
        [c for p in parts for c in p.clips],
        np.concatenate([p.digits for p in parts]) if parts else np.zeros(0, int),
        np.concatenate([p.speakers for p in parts]) if parts else np.zeros(0, str),
        [n for p in parts for n in p.names],
    )


def load_synth(folder: Path, *, limit: int | None = None, seed: int = 0) -> dict[str, Clips]:
    """The espeak-ng voices that scripts/synth_voices.py wrote to folder: {"train": ...,
    "val": ...} by its manifest's split column (val: voices and variants never trained on),
    the speaker being "voice+variant"; limit: a seeded random subset of the rows. An empty dict
    when folder has no manifest (the voices were not synthesised)."""
    man = folder / "manifest.csv"
    if not man.is_file():
        return {}
    with open(man, newline="") as f:
        rows = list(csv.DictReader(f))
    if limit is not None:
        rows = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))[:limit]]
    out = {}
    for split in ("train", "val"):
        part = [
            (folder / r["path"], int(r["digit"]), f"{r['voice']}+{r['variant']}")
            for r in rows
            if r["split"] == split and (folder / r["path"]).is_file()
        ]
        out[split] = _clips(part, folder)
    return out
