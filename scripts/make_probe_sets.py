#!/usr/bin/env python
"""Build the held-out probe sets shipped beside the built-in models (assets/models/*.probe.npz).

Run from the repository root:

    python scripts/make_probe_sets.py                      # all three, from ../shared/data
    python scripts/make_probe_sets.py --only lenet_mnist --n-images 2000

What each set holds, and why the model never trained on it:
- lenet_mnist: N images drawn (seeded) from the LAST 5,000 MNIST training images (indices
  55,000..59,999), which training/lenet.py holds out for validation (N_VAL).
- vgg_cifar10: N images drawn from the LAST 5,000 CIFAR-10 training images (45,000..49,999),
  which training/vgg.py holds out (N_VAL).
- spoken_digits: FSDD clips of speaker "theo" (training/audio/recipe.py VAL_SPEAKER, never
  trained on) and espeak-ng clips of held-out voices/variants (scripts/synth_voices.py
  HELD_VOICES / HELD_VARIANTS: split "val", synthesized here with the same job list).
The "index" array of an image set is each image's position in the training split, so anyone
can check it lies in the held-out range. Where keras.datasets is reachable (internet), the
script also checks that no probe image is byte-identical to a test-set image or to a trained-on
image. Data comes from --data (../shared/data), falling back to keras.datasets.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import synth_voices  # noqa: E402

from core.inputs.samples import CIFAR10_LABELS  # noqa: E402
from training import lenet as lenet_recipe  # noqa: E402
from training import vgg as vgg_recipe  # noqa: E402
from training.data import Images, load_cifar10, load_mnist  # noqa: E402

SEED = 1234
OUT = ROOT / "assets" / "models"


def _hashes(x: np.ndarray) -> set[bytes]:
    return {hashlib.sha1(a.tobytes()).digest() for a in x}


def _check_disjoint(probe: np.ndarray, others: np.ndarray, what: str) -> None:
    clash = len(_hashes(probe) & _hashes(others))
    print(f"  {clash} of {len(probe)} probe images are byte-identical to {what}")


def _pick(n_total: int, n_val: int, n: int) -> np.ndarray:
    """n sorted indices drawn (seeded) from the last n_val of n_total."""
    rng = np.random.default_rng(SEED)
    return np.sort(
        rng.choice(np.arange(n_total - n_val, n_total), size=min(n, n_val), replace=False)
    ).astype(np.int32)


class ImageSet(NamedTuple):
    """How one image probe set is drawn: its model's training data, held out at the end."""

    load: Callable[[Path], Images]  # training.data's loader
    folder: str  # the dataset's folder under --data
    n_val: int  # the last n_val training images are held out by the model's training
    labels: list[str]
    about: str  # what the images are, after their count


IMAGE_SETS = {
    "lenet_mnist": ImageSet(
        load_mnist,
        "mnist",
        lenet_recipe.N_VAL,
        [str(i) for i in range(10)],
        "real MNIST digits from the 5,000 training images held out from LeNet's training "
        "(indices 55,000-59,999)",
    ),
    "vgg_cifar10": ImageSet(
        load_cifar10,
        "cifar10",
        vgg_recipe.N_VAL,
        CIFAR10_LABELS,
        "real CIFAR-10 photos from the 5,000 training images held out from the VGG's "
        "training (indices 45,000-49,999)",
    ),
}


def image_set(name: str, data: Path, n: int) -> None:
    """Writes OUT/<name>.probe.npz: n images drawn (seeded) from the held-out end of the
    model's training images, with their labels and their positions in the training split."""
    spec = IMAGE_SETS[name]
    images = spec.load(data / spec.folder)
    x, y, test = images.train.x, images.train.y, images.test
    idx = _pick(len(x), spec.n_val, n)
    xp, yp = x[idx], np.asarray(y).reshape(-1)[idx]
    _check_disjoint(xp, x[: -spec.n_val], "trained-on images")
    if test is not None:
        _check_disjoint(xp, np.asarray(test[0]), "test-set images")
    path = OUT / f"{name}.probe.npz"
    np.savez_compressed(
        path,
        x=xp.astype(np.uint8),
        y=np.array([spec.labels[int(v)] for v in yp]),
        index=idx,
        about=np.array(f"{min(n, spec.n_val)} {spec.about}"),
    )
    print(f"{path.relative_to(ROOT)}: {len(xp)} images, {path.stat().st_size / 2**20:.2f} MB")


def _synth_heldout(per_digit: int, folder: Path) -> list[tuple[np.ndarray, str, str]]:
    """per_digit clips of each digit in held-out espeak-ng voices: (float wave, digit, voice)."""
    import soundfile as sf

    langs = synth_voices.installed_languages()
    voices = [v for v in synth_voices.VOICES if v in langs]
    jobs = [
        j
        for j in synth_voices.job_list(SEED, 2, voices, synth_voices.installed_variants())
        if j["split"] == "val"
    ]
    rng = np.random.default_rng(SEED)
    out = []
    for d in range(10):
        mine = [j for j in jobs if j["digit"] == d]
        for i in rng.permutation(len(mine)):
            if sum(o[1] == str(d) for o in out) >= per_digit:
                break
            job = mine[int(i)]
            if synth_voices.synth_one(job, folder).startswith("failed"):
                continue
            y, _ = sf.read(folder / job["path"], dtype="float32")
            out.append((y, str(d), f"espeak-ng {job['voice']}+{job['variant']}"))
    return out


def speech(data: Path, per_digit: int) -> None:
    import soundfile as sf

    rec = data / "fsdd" / "recordings"
    clips: list[tuple[np.ndarray, str, str]] = []
    for d in range(10):
        files = sorted(rec.glob(f"{d}_theo_*.wav"), key=lambda p: int(p.stem.split("_")[2]))
        step = max(1, len(files) // per_digit)
        for f in files[::step][:per_digit]:
            y, sr = sf.read(f, dtype="float32")
            assert sr == 8000, (f, sr)
            clips.append((y, str(d), "FSDD theo"))
    with tempfile.TemporaryDirectory() as tmp:
        clips += _synth_heldout(per_digit, Path(tmp))
    pcm = [np.clip(np.rint(y * 32767), -32768, 32767).astype(np.int16) for y, _, _ in clips]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pcm])]).astype(np.int64)
    path = OUT / "spoken_digits.probe.npz"
    n_theo = sum(c[2] == "FSDD theo" for c in clips)
    np.savez_compressed(
        path,
        pcm=np.concatenate(pcm),
        offsets=offsets,
        sr=np.int64(8000),
        y=np.array([c[1] for c in clips]),
        speaker=np.array([c[2] for c in clips]),
        about=np.array(
            f"{len(clips)} spoken digits never trained on: {n_theo} "
            "FSDD clips of the held-out speaker theo and "
            f"{len(clips) - n_theo} espeak-ng clips of held-out voices"
        ),
    )
    print(f"{path.relative_to(ROOT)}: {len(clips)} clips, {path.stat().st_size / 2**20:.2f} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data"),
        help="folder with mnist/, cifar10/, fsdd/ (default: ../shared/data)",
    )
    ap.add_argument("--n-images", type=int, default=2000, help="images per image set")
    ap.add_argument(
        "--clips-per-digit",
        type=int,
        default=20,
        help="audio clips per digit from each held-out source",
    )
    ap.add_argument("--only", choices=[*IMAGE_SETS, "spoken_digits"])
    args = ap.parse_args(argv)
    data = Path(args.data)
    jobs = {name: functools.partial(image_set, name, data, args.n_images) for name in IMAGE_SETS}
    jobs["spoken_digits"] = functools.partial(speech, data, args.clips_per_digit)
    for name, job in jobs.items():
        if args.only in (None, name):
            job()
    return 0


if __name__ == "__main__":
    sys.exit(main())
