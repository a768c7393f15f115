"""How a model does on a labelled dataset, and where it fails (api.evaluate; issue 38).

An `Evaluation` holds the model's probabilities for every input of a dataset with the true
labels; everything else is read off them: predictions, accuracy with its Wilson interval,
precision and recall per class, the confusion matrix (rows: true class, columns: predicted),
the inputs of one confusion cell (most confident first), calibration (reliability diagram and
expected calibration error) and the most typical correctly classified input of a class.

`evaluate` turns a dataset ("probe", the official "test" split, a ZIP / folder / CSV path, or
(raws, labels)) into model inputs and scores them in blocks of BLOCK rows through the model's
compiled forward pass (the tracer's), on the worker pool or a Dask cluster like other heavy
work. Each block is written to a disk cache per (model, dataset) as soon as it is done, under
the data folder (LAYERLAB_DATA_DIR/evaluations), so an interrupted scan resumes where it
stopped and a finished one is read back.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.model.load import LoadedModel
from core.work import shards
from core.work.run import heavy

BLOCK = 256  # rows per block of the disk cache (and per progress step)
Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A model's answers on a labelled dataset; every statistic is computed from these."""

    probabilities: np.ndarray  # (N, C) float32
    labels: np.ndarray  # (N,) int64 true class indices
    class_names: list[str]
    about: str  # where the inputs come from
    key: str  # the (model, dataset) content key (the disk cache's folder name)
    skipped: tuple[tuple[str, str], ...] = ()  # (file or row, why) left out of the dataset
    raws: list[Any] = field(default_factory=list, repr=False)  # the inputs, in row order

    def __len__(self) -> int:
        return len(self.labels)

    # Made once per evaluation, read-only: a cached evaluation is shared by every session, and
    # a page reads these dozens of times a rerun (calibration alone read `confidence` 28 times).
    @cached_property
    def predictions(self) -> np.ndarray:
        """(N,) int64 predicted class indices."""
        return _read_only(np.argmax(self.probabilities, axis=1).astype(np.int64))

    @cached_property
    def confidence(self) -> np.ndarray:
        """(N,) the probability of the predicted class."""
        return _read_only(self.probabilities.max(axis=1))

    @cached_property
    def correct(self) -> np.ndarray:
        return _read_only(self.predictions == self.labels)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self) else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The accuracy's 95 % Wilson score interval (right at the ends, unlike p ± 2 SE)."""
        n, p = len(self), self.accuracy
        if n == 0:
            return 0.0, 1.0
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return float(max(0.0, centre - half)), float(min(1.0, centre + half))

    @cached_property
    def confusion(self) -> np.ndarray:
        """(C, C) int64: [true, predicted] counts."""
        c = len(self.class_names)
        flat = np.bincount(self.labels * c + self.predictions, minlength=c * c)
        return _read_only(flat.reshape(c, c).astype(np.int64))

    @property
    def per_class(self):
        """A DataFrame, one row per class: support (true inputs), predicted, correct,
        precision (correct / predicted), recall (correct / support); NaN where undefined."""
        import pandas as pd

        cm = self.confusion
        hit, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, hit / np.maximum(predicted, 1), np.nan)
            recall = np.where(support > 0, hit / np.maximum(support, 1), np.nan)
        return pd.DataFrame(
            {
                "class": self.class_names,
                "support": support,
                "predicted": predicted,
                "correct": hit,
                "precision": precision,
                "recall": recall,
            }
        )

    def cell(self, true: int, predicted: int) -> np.ndarray:
        """Rows of the inputs of class `true` predicted as `predicted`, most confident first."""
        rows = np.flatnonzero((self.labels == true) & (self.predictions == predicted))
        return rows[np.argsort(-self.confidence[rows], kind="stable")]

    def typical(self, k: int, features: np.ndarray | None = None) -> int | None:
        """The most typical correctly classified input of class k: the one nearest the centroid
        of those inputs in `features` (N, D) (a layer's activations), else in probability
        space; None when the class has no correctly classified input."""
        rows = np.flatnonzero((self.labels == k) & self.correct)
        if not len(rows):
            return None
        space = self.probabilities if features is None else np.asarray(features, np.float64)
        pts = space[rows].reshape(len(rows), -1)
        return int(rows[np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))])

    def calibration(self, bins: int = 10):
        """(reliability table, expected calibration error): per confidence bin [lo, hi) its
        inputs, their mean confidence and their accuracy; ECE = sum over bins of
        count / N * |accuracy - confidence| (Guo et al. 2017)."""
        import pandas as pd

        edges = np.linspace(0.0, 1.0, bins + 1)
        which = np.clip(np.digitize(self.confidence, edges[1:-1]), 0, bins - 1)
        rows, ece = [], 0.0
        for b in range(bins):
            inside = which == b
            n = int(inside.sum())
            conf = float(self.confidence[inside].mean()) if n else np.nan
            acc = float(self.correct[inside].mean()) if n else np.nan
            if n:
                ece += n / max(len(self), 1) * abs(acc - conf)
            rows.append(
                {
                    "lo": edges[b],
                    "hi": edges[b + 1],
                    "count": n,
                    "confidence": conf,
                    "accuracy": acc,
                }
            )
        return pd.DataFrame(rows), float(ece)


# ---- the dataset ---------------------------------------------------------------------------------
TEST_SPLITS = {"digits": "mnist", "scenes": "cifar10"}  # keras.datasets by gallery kind


def _test_split(m: LoadedModel) -> tuple[list[Any], np.ndarray, str]:
    """The official test split (keras.datasets; needs internet the first time)."""
    import keras

    from core.inputs.samples import gallery_kind

    name = TEST_SPLITS.get(gallery_kind(m.card))
    if name is None or m.kind != "image":
        raise InputError(
            f"No official test split is known for {m.name!r} ({m.kind}); expected an MNIST- or "
            "CIFAR-10-style image model. Use dataset='probe' or a ZIP of class folders."
        )
    try:
        (_, _), (x, y) = getattr(keras.datasets, name).load_data()
    except Exception as e:  # noqa: BLE001 - any download failure means "not reachable here"
        raise InputError(
            f"The {name} test split could not be downloaded ({type(e).__name__}): it needs "
            "internet access the first time. Use dataset='probe' (shipped) or a ZIP."
        ) from None
    return list(x), np.asarray(y, np.int64).reshape(-1), f"the official {name} test split"


def dataset_of(m: LoadedModel, dataset: Any) -> tuple[list[Any], np.ndarray, str, tuple]:
    """(raws, labels, about, skipped) of a dataset argument; rows whose label is none of the
    model's classes (-1: a borrowed probe set) are left out and counted in skipped."""
    from core.inputs.probe import ProbeSet, probe_set, read_labelled

    skipped: tuple = ()
    if isinstance(dataset, ProbeSet):  # a batch already read (the page's upload)
        raws, labels, about, skipped = dataset.raws, dataset.labels, dataset.about, dataset.skipped
    elif isinstance(dataset, str) and dataset == "probe":
        p = probe_set(m)
        raws, labels, about = p.raws, p.labels, p.about
    elif isinstance(dataset, str) and dataset == "test":
        raws, labels, about = _test_split(m)
    elif isinstance(dataset, (str, os.PathLike)):
        p = read_labelled(dataset, m)
        raws, labels, about, skipped = p.raws, p.labels, p.about, p.skipped
    elif isinstance(dataset, tuple) and len(dataset) == 2:
        raws, labels = list(dataset[0]), np.asarray(dataset[1])
        if len(raws) != len(labels) or labels.ndim != 1 or not len(raws):
            raise InputError(
                f"dataset=(raws, labels) needs as many labels as raws, at least one; got "
                f"{len(raws)} raws and labels of shape {labels.shape}."
            )
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < -1:
            raise InputError(
                f"labels must be class indices 0..{len(m.labels) - 1}; got {labels.dtype} "
                f"values from {labels.min()} to {labels.max()}."
            )
        about = f"{len(raws)} labelled inputs"
    else:
        raise InputError(
            f"dataset must be 'probe', 'test', a path to a ZIP / folder / CSV, or (raws, "
            f"labels); got {type(dataset).__name__}."
        )
    labels = np.asarray(labels, np.int64)
    if labels.max(initial=-1) >= len(m.labels):
        raise InputError(
            f"Label {labels.max()} is out of range: {m.name!r} has {len(m.labels)} classes "
            f"(0..{len(m.labels) - 1}). Give class indices into m.labels."
        )
    keep = np.flatnonzero(labels >= 0)
    if len(keep) < len(labels):
        skipped += ((f"{len(labels) - len(keep)} inputs", "a class this model does not have"),)
    if not len(keep):
        raise InputError(
            f"None of the {len(labels)} inputs of {about} has a class of {m.name!r} "
            f"({_few(m.labels)}). Give inputs labelled with its classes (a ZIP of class "
            "folders named after them)."
        )
    return [raws[i] for i in keep], labels[keep], about, skipped


def _few(names: list[str], n: int = 8) -> str:
    """A class list a person can read: a 1000-class model's names are not listed whole."""
    shown = ", ".join(map(str, names[:n]))
    return shown + (f", … ({len(names)} classes)" if len(names) > n else "")


# ---- scoring, block by block, with the disk cache ---------------------------------------------
def cache_folder(m: LoadedModel, x: np.ndarray, labels: np.ndarray) -> tuple[str, Path]:
    """(the key, the folder) of a (model, dataset): model file + card, and the inputs' and
    labels' bytes (so a changed file or card never reads a stale result)."""
    from core.settings import data_dir

    h = hashlib.blake2b(digest_size=12)
    h.update(m.key.encode())
    h.update(str((x.shape, x.dtype.str)).encode())
    h.update(np.ascontiguousarray(x).data)
    h.update(np.ascontiguousarray(labels).data)
    key = h.hexdigest()
    return key, data_dir() / "evaluations" / key


def _block_file(folder: Path, a: int, b: int) -> Path:
    return folder / f"{a:08d}-{b:08d}.npy"


def _save(folder: Path, a: int, b: int, p: np.ndarray) -> None:
    """One block, written atomically (a crash leaves no half file to resume from)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{a}-{b}.{os.getpid()}.tmp.npy"
    np.save(tmp, np.asarray(p, np.float32))
    os.replace(tmp, _block_file(folder, a, b))


def _load(folder: Path, a: int, b: int, c: int) -> np.ndarray | None:
    f = _block_file(folder, a, b)
    try:
        p = np.load(f, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return p if p.shape == (b - a, c) and p.dtype == np.float32 else None


@heavy(shard=shards.EVALUATE)
def score(
    m: LoadedModel,
    x: np.ndarray,
    ranges: list[tuple[int, int]],
    *,
    offset: int = 0,
    folder: str | None = None,
    on_progress=None,
    executor: Any = None,
) -> list[np.ndarray]:
    """The model's probabilities for each block [a, b) of rows (x holds rows offset..), through
    its compiled forward pass; each block saved to `folder` as soon as it is done."""
    from core.model.outputs import probabilities
    from core.work.budget import chunk, trace_bytes

    batch = chunk("Evaluating a dataset", trace_bytes(m.tracer), BLOCK)
    out, done, total = [], 0, sum(b - a for a, b in ranges)
    for a, b in ranges:
        xs = x[a - offset : b - offset]
        y = [m.tracer.forward(xs[i : i + batch]) for i in range(0, len(xs), batch)]
        p = probabilities(m.card, np.concatenate(y)).astype(np.float32)
        if folder is not None:
            _save(Path(folder), a, b, p)
        out.append(p)
        done += b - a
        if on_progress is not None:
            on_progress(done, total)
    return out


def evaluate(
    m: LoadedModel,
    dataset: Any,
    *,
    cache: bool = True,
    on_progress=None,
    executor: Any = None,
) -> Evaluation:
    """How m does on a labelled dataset: "probe" (its held-out probe set), "test" (the
    official test split, keras.datasets), a path to a ZIP / folder of class folders or a CSV
    of paths and labels, or (raws, labels) (labels: class indices). See Evaluation.

    Blocks already in the disk cache are read, the others computed (on `executor`: the local
    worker pool by default, a concurrent.futures.Executor, core.work.INLINE or a Dask Client)
    and written as they finish; cache=False neither reads nor writes it."""
    from core.inputs.prepare import stack

    raws, labels, about, skipped = dataset_of(m, dataset)
    x = stack(m, raws)
    key, folder = cache_folder(m, x, labels)
    c, n = len(m.labels), len(labels)
    blocks = [(a, min(n, a + BLOCK)) for a in range(0, n, BLOCK)]
    have = {ab: _load(folder, *ab, c) for ab in blocks} if cache else {}
    missing = [ab for ab in blocks if have.get(ab) is None]
    if on_progress is not None:
        on_progress(n - sum(b - a for a, b in missing), n)
    if missing:
        first = missing[0][0]
        xs = x[first : missing[-1][1]]  # only the rows still to score travel to the worker
        done0 = n - sum(b - a for a, b in missing)

        def progress(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress(done0 + done, n)

        kw = dict(offset=first, folder=str(folder) if cache else None, executor=executor)
        got = score(m, xs, missing, on_progress=progress, **kw)
        for ab, p in zip(missing, got):
            have[ab] = p
            if cache and _load(folder, *ab, c) is None:  # a cluster's blocks: saved here
                _save(folder, *ab, p)
    probs = np.concatenate([have[ab] for ab in blocks])
    return Evaluation(probs, labels, list(m.labels), about, key, skipped, raws)
