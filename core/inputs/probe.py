"""Probe sets: held-out inputs a model was not trained on, and user-supplied labelled batches.

Built-in models ship `assets/models/<name>.probe.npz` (written by scripts/make_probe_sets.py):
    images  "x" (N, H, W[, C]) uint8, "y" (N,) uint8, "index" (N,) int32 = position in the
            training split the images were held out from, "about" a sentence
    audio   "pcm" int16 (all clips end to end), "offsets" (N + 1,) int64, "sr", "y", "speaker",
            "about"
An uploaded model borrows the probe set of its input kind (digits, colour scenes, speech); its
raws are converted by the model card like any input, and labels are matched by class name.

A user's own batch is a ZIP or folder of class folders (`cat/1.png`) or of files named
`<label>_<anything>.<ext>`, or a CSV of paths and labels, checked like any upload
(core.inputs.archive); files that cannot be used are skipped and listed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InputError
from core.inputs.archive import Batch, Member, read_batch
from core.inputs.samples import Sample, gallery_kind
from core.model.load import ASSETS, LoadedModel, builtin_card, builtin_names


@dataclass(frozen=True, eq=False)
class ProbeSet:
    """Raw inputs with class indices into the model's labels (-1 where unknown)."""

    raws: list[Any]
    labels: np.ndarray  # (N,) int64
    about: str  # where the inputs come from, for captions and exports
    key: str  # content identity (file hash / name): a cache key
    skipped: tuple[tuple[str, str], ...] = ()  # (file, why) left out of a user's batch

    def __len__(self) -> int:
        return len(self.raws)


def probe_path(name: str) -> Any:
    return ASSETS / f"{name}.probe.npz"


def _read_npz(path) -> tuple[list[Any], list[str], str]:
    """(raws, label names, about) of one probe file."""
    with np.load(path, allow_pickle=False) as z:
        about = str(z["about"])
        names = [str(v) for v in z["y"]]
        if "pcm" in z:
            pcm, off, sr = z["pcm"], z["offsets"], int(z["sr"])
            raws = [
                ((pcm[a:b].astype(np.float32) / 32768.0), sr) for a, b in zip(off[:-1], off[1:])
            ]
        else:
            raws = list(z["x"])
    return raws, names, about


def _match_labels(names: list[str], labels: list[str]) -> np.ndarray:
    pos = {lab: i for i, lab in enumerate(labels)}
    return np.array([pos.get(n, -1) for n in names], np.int64)


def probe_set(m: LoadedModel) -> ProbeSet:
    """The held-out probe set of a model: its own file, else the one of its input kind."""
    path = probe_path(m.name) if m.source == "builtin" else None
    if path is None or not path.exists():
        kind = gallery_kind(m.card)
        donors = [
            n
            for n in builtin_names()
            if probe_path(n).exists() and gallery_kind(builtin_card(n)) == kind
        ]
        if not donors:
            raise InputError(
                f"No probe set ships for {kind} models (looked for "
                f"assets/models/*.probe.npz). Run scripts/make_probe_sets.py, or "
                "upload a labelled batch (ZIP of class folders)."
            )
        path = probe_path(donors[0])
    raws, names, about = _read_npz(path)
    return ProbeSet(raws, _match_labels(names, m.labels), about, key=f"probe:{path.name}")


def _decode(m: LoadedModel, blob: bytes, name: str) -> Any:
    from core.inputs.audio import decode_audio
    from core.inputs.image import decode_image

    if m.kind == "image":
        return decode_image(blob, filename=name)[0]
    y, sr, _ = decode_audio(blob, filename=name)
    return (y, sr)


def _decoded(m: LoadedModel, batch: Batch) -> list[tuple[Member, Any]]:
    """The batch's members that decode, with their raws; the others join batch.skipped."""
    out = []
    for mem in batch.members:
        try:
            out.append((mem, _decode(m, mem.data, mem.name)))
        except InputError as e:
            batch.skipped.append((mem.name, str(e)))
    return out


def _nothing_usable(what: str, skipped: list[tuple[str, str]]) -> InputError:
    reasons = "; ".join(f"{n!r}: {why}" for n, why in skipped[:6])
    return InputError(
        f"{what} holds no usable file" + (f" ({reasons})" if reasons else "") + ". Expected "
        "class folders of image or audio files (cat/1.png) or files named <label>_<anything>."
    )


def read_labelled(
    source: bytes | str | os.PathLike, m: LoadedModel, *, filename: str = ""
) -> ProbeSet:
    """A user's labelled batch for model m: a ZIP (bytes or a path) of class folders or
    <label>_<name> files, a folder of the same, or a CSV of paths and labels -> ProbeSet.

    The batch is checked like any upload (core.inputs.archive: refused when hostile); a file
    that cannot be used (undecodable, wrong kind, no label, a label none of the model's
    classes) is skipped and listed in .skipped with the reason, as are empty class folders.
    """
    what = repr(filename or str(source)) if not isinstance(source, bytes) else repr(filename)
    batch = read_batch(source, kind=m.kind, filename=filename)
    pos = {lab: i for i, lab in enumerate(m.labels)}
    raws, labels = [], []
    for mem, raw in _decoded(m, batch):
        if mem.label is None:
            batch.skipped.append(
                (mem.name, "no label: put it in a folder named after its class (cat/1.png)")
            )
        elif mem.label not in pos:
            batch.skipped.append(
                (mem.name, f"label {mem.label!r} is not a class of {m.name!r} ({m.labels})")
            )
        else:
            raws.append(raw)
            labels.append(pos[mem.label])
    if not raws:
        raise _nothing_usable(what, batch.skipped)
    digest = hashlib.sha256()
    for mem in batch.members:
        digest.update(mem.name.encode() + b"\0" + mem.data)
    return ProbeSet(
        raws,
        np.array(labels, np.int64),
        f"{what}: {len(raws)} labelled files you gave",
        key=f"batch:{digest.hexdigest()[:16]}",
        skipped=tuple(batch.skipped),
    )


def read_inputs(
    source: str | os.PathLike | bytes, m: LoadedModel, *, filename: str = ""
) -> list[Any]:
    """Unlabelled raw inputs for model m (a concept's examples): a ZIP (bytes or a path) or a
    folder of image or audio files (sorted by name), checked like an uploaded batch; files that
    cannot be used are left out (refused when none can)."""
    batch = read_batch(source, kind=m.kind, filename=filename)
    raws = [raw for _, raw in _decoded(m, batch)]
    if not raws:
        raise _nothing_usable(repr(filename or str(source)), batch.skipped)
    return raws


def as_samples(m: LoadedModel, probe: ProbeSet, n: int) -> list[Sample]:
    """Up to n probe inputs as named samples, round-robin over the classes in class order
    (source "probe")."""
    by_class: dict[int, list[int]] = {}
    for i, lab in enumerate(probe.labels):
        by_class.setdefault(int(lab), []).append(i)
    order = [i for group in zip(*(by_class[k] for k in sorted(by_class))) for i in group]
    taken = set(order)
    order += [i for i in range(len(probe)) if i not in taken]
    return [probe_sample(m, probe, i) for i in order[: max(0, int(n))]]


def probe_sample(m: LoadedModel, probe: ProbeSet, i: int) -> Sample:
    """Probe input i as a named sample "held-out #i (label)" (source "probe"): the name a
    shared link carries back (probe_index)."""
    if not 0 <= int(i) < len(probe):
        raise InputError(
            f"Held-out input #{i} does not exist: {m.name}'s probe set has {len(probe)} inputs "
            f"(0-{len(probe) - 1})."
        )
    lab = int(probe.labels[i])
    label = m.labels[lab] if lab >= 0 else None
    return Sample(
        f"held-out #{i}" + (f" ({label})" if label else ""),
        m.kind,
        probe.raws[i],
        source="probe",
        label=label,
        note=f"probe input {i}: {probe.about}",
    )


def probe_index(sample: Sample) -> int | None:
    """The probe index of a held-out sample ("held-out #3 (3)" -> 3), None for other samples."""
    hit = re.match(r"held-out #(\d+)", sample.name) if sample.source == "probe" else None
    return int(hit.group(1)) if hit else None
