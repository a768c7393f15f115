"""Probe sets: held-out inputs a model was not trained on, and user-supplied labelled batches.

Built-in models ship `assets/models/<name>.probe.npz` (written by scripts/make_probe_sets.py):
    images  "x" (N, H, W[, C]) uint8, "y" (N,) uint8, "index" (N,) int32 = position in the
            training split the images were held out from, "about" a sentence
    audio   "pcm" int16 (all clips end to end), "offsets" (N + 1,) int64, "sr", "y", "speaker",
            "about"
An uploaded model borrows the probe set of its input kind (digits, colour scenes, speech); its
raws are converted by the model card like any input, and labels are matched by class name.

A user's own batch is a ZIP of class folders (`cat/1.png`) or of files named
`<label>_<anything>.<ext>`, checked like any upload (size, member count, zip bombs, decoding).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from core.errors import InputError
from core.inputs.samples import Sample, gallery_kind
from core.model.load import ASSETS, LoadedModel, builtin_card, builtin_names

MAX_BATCH_BYTES = 32 * 1024 * 1024  # the ZIP as uploaded
MAX_BATCH_UNPACKED = 128 * 1024 * 1024  # all members together, as declared and as read
MAX_BATCH_MEMBERS = 2000
MAX_MEMBER_RATIO = 200  # unpacked / packed per member: beyond is a zip bomb
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3"}


@dataclass(frozen=True, eq=False)
class ProbeSet:
    """Raw inputs with class indices into the model's labels (-1 where unknown)."""

    raws: list[Any]
    labels: np.ndarray  # (N,) int64
    about: str  # where the inputs come from, for captions and exports
    key: str  # content identity (file hash / name): a cache key

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


def _label_of(member: str) -> str:
    p = PurePosixPath(member)
    if len(p.parts) >= 2:
        return p.parts[-2]  # cat/1.png
    stem = p.stem
    if "_" not in stem:
        raise InputError(
            f"ZIP member {member!r} has no label: put it in a folder named after "
            "its class (cat/1.png) or name it <label>_<anything> (cat_1.png)."
        )
    return stem.split("_", 1)[0]  # cat_1.png


def _zip_members(data: bytes, filename: str, m: LoadedModel) -> list[tuple[str, bytes]]:
    """(member name, bytes) of every file of an uploaded ZIP, after the checks every upload
    gets: a ZIP at all, its size, member count, zip bombs, members of the model's kind."""
    if not data:
        raise InputError(f"{filename!r} is empty (0 bytes). Upload a ZIP of class folders.")
    if len(data) > MAX_BATCH_BYTES:
        raise InputError(
            f"{filename!r} is {len(data) / 2**20:.1f} MB; labelled batches up to "
            f"{MAX_BATCH_BYTES // 2**20} MB are accepted. Send fewer or smaller "
            "files."
        )
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = [
            i
            for i in z.infolist()
            if not i.is_dir()
            and not PurePosixPath(i.filename).name.startswith(".")
            and "__MACOSX" not in i.filename
        ]
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(
            f"{filename!r} is not a readable ZIP archive ({e}). Zip a folder of "
            "class folders (cat/1.png, dog/2.png) and upload that."
        ) from None
    if not infos:
        raise InputError(
            f"{filename!r} holds no files. Expected class folders (cat/1.png) or "
            "files named <label>_<anything>."
        )
    if len(infos) > MAX_BATCH_MEMBERS:
        raise InputError(
            f"{filename!r} holds {len(infos)} files; at most {MAX_BATCH_MEMBERS} "
            "are accepted. Send a smaller sample of each class."
        )
    declared = sum(i.file_size for i in infos)
    bombs = [
        i.filename
        for i in infos
        if i.file_size > MAX_MEMBER_RATIO * max(i.compress_size, 1) + 65536
    ]
    if declared > MAX_BATCH_UNPACKED or bombs:
        raise InputError(
            f"{filename!r} was refused: it expands to {declared / 2**20:.0f} MB"
            + (
                f" and {bombs[0]!r} is compressed {MAX_MEMBER_RATIO}× or more (a zip bomb?)"
                if bombs
                else ""
            )
            + f"; at most {MAX_BATCH_UNPACKED // 2**20} MB unpacked are accepted."
        )
    ext_ok = IMAGE_EXT if m.kind == "image" else AUDIO_EXT
    out: list[tuple[str, bytes]] = []
    read = 0
    for info in infos:
        ext = PurePosixPath(info.filename).suffix.lower()
        if ext not in ext_ok:
            raise InputError(
                f"{info.filename!r} in {filename!r} is not an {m.kind} file; "
                f"expected {', '.join(sorted(ext_ok))} for {m.name!r}."
            )
        try:
            with z.open(info) as f:
                blob = f.read(info.file_size + 1)  # never more than declared (a lying header)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error, OSError) as e:
            raise InputError(
                f"{info.filename!r} in {filename!r} cannot be read ({e}): an "
                "encrypted, damaged or unusually compressed member. Zip the "
                "folder again without a password."
            ) from None
        read += len(blob)
        if len(blob) > info.file_size or read > MAX_BATCH_UNPACKED:
            raise InputError(
                f"{info.filename!r} in {filename!r} is larger than its header "
                "says; the archive was refused."
            )
        out.append((info.filename, blob))
    return out


def _decode(m: LoadedModel, blob: bytes, name: str) -> Any:
    from core.inputs.audio import decode_audio
    from core.inputs.image import decode_image

    if m.kind == "image":
        return decode_image(blob, filename=name)[0]
    y, sr, _ = decode_audio(blob, filename=name)
    return (y, sr)


def read_labelled_zip(data: bytes, *, filename: str, m: LoadedModel) -> ProbeSet:
    """A user's labelled batch for model m: ZIP bytes -> ProbeSet (labels matched by name).

    Refuses what is not a ZIP, too large, too many members, zip bombs, members of the wrong
    kind, undecodable files and labels that are none of the model's classes.
    """
    members = _zip_members(data, filename, m)
    names = [_label_of(name) for name, _ in members]
    raws = [_decode(m, blob, name) for name, blob in members]
    labels = _match_labels(names, m.labels)
    unknown = sorted({n for n, i in zip(names, labels) if i < 0})
    if unknown:
        raise InputError(
            f"{filename!r} uses labels {unknown[:8]} that are not classes of "
            f"{m.name!r}; expected folder names or prefixes among {m.labels}."
        )
    return ProbeSet(
        raws,
        labels,
        f"{filename}: {len(raws)} labelled files you uploaded",
        key=f"zip:{hashlib.sha256(data).hexdigest()[:16]}",
    )


def read_inputs(
    source: str | os.PathLike | bytes, m: LoadedModel, *, filename: str = ""
) -> list[Any]:
    """Unlabelled raw inputs for model m (a concept's examples): a ZIP (bytes or a path) or a
    folder of image or audio files (sorted by name), checked like an uploaded batch."""
    if isinstance(source, bytes):
        return [_decode(m, b, n) for n, b in _zip_members(source, filename or "upload.zip", m)]
    path = Path(source)
    if path.is_file():
        return read_inputs(path.read_bytes(), m, filename=path.name)
    if not path.is_dir():
        raise InputError(
            f"{str(path)!r} is neither a ZIP file nor a folder. Pass a list of raw inputs, "
            "a ZIP of image or audio files, or a folder of them."
        )
    ext_ok = IMAGE_EXT if m.kind == "image" else AUDIO_EXT
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    wrong = [p.name for p in files if p.suffix.lower() not in ext_ok]
    if wrong or not files:
        raise InputError(
            f"The folder {str(path)!r} holds "
            + (f"{wrong[0]!r}, not an {m.kind} file" if wrong else "no files")
            + f"; expected {', '.join(sorted(ext_ok))} files for {m.name!r}."
        )
    if len(files) > MAX_BATCH_MEMBERS or sum(p.stat().st_size for p in files) > MAX_BATCH_UNPACKED:
        raise InputError(
            f"The folder {str(path)!r} holds {len(files)} files; at most {MAX_BATCH_MEMBERS} "
            f"files and {MAX_BATCH_UNPACKED // 2**20} MB are read. Pass a smaller sample."
        )
    return [_decode(m, p.read_bytes(), p.name) for p in files]


def as_samples(m: LoadedModel, probe: ProbeSet, n: int) -> list[Sample]:
    """Up to n probe inputs as named samples, round-robin over the classes in class order
    (source "probe")."""
    by_class: dict[int, list[int]] = {}
    for i, lab in enumerate(probe.labels):
        by_class.setdefault(int(lab), []).append(i)
    order = [i for group in zip(*(by_class[k] for k in sorted(by_class))) for i in group]
    taken = set(order)
    order += [i for i in range(len(probe)) if i not in taken]
    out = []
    for i in order[: max(0, int(n))]:
        lab = int(probe.labels[i])
        label = m.labels[lab] if lab >= 0 else None
        out.append(
            Sample(
                f"held-out #{i}" + (f" ({label})" if label else ""),
                m.kind,
                probe.raws[i],
                source="probe",
                label=label,
                note=f"probe input {i}: {probe.about}",
            )
        )
    return out
