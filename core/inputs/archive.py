"""A user's batch of files, checked like every upload: a ZIP, a folder, or a CSV of paths.

The one validator behind every batch a user hands in (a labelled evaluation set, the Filters
page's batch, a concept's examples): the archive's size, its member count, zip bombs (declared
sizes against the packed ones, and never more read than declared), names that try to leave the
folder (`../x.png`, absolute paths: the whole archive is refused), and files of the wrong kind.
A file that cannot be used (a wrong extension, an empty class folder, no label) is listed with
the reason and skipped, never fatal alone; decoding is the caller's (core.inputs.probe), which
lists undecodable files the same way.

Labels come from the member's folder (`cat/1.png`), else its name (`cat_1.png`), else a CSV's
`label` column; None where there is none.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.errors import InputError, upload_size

MAX_BATCH_BYTES = 32 * 1024 * 1024  # the ZIP as uploaded
MAX_BATCH_UNPACKED = 128 * 1024 * 1024  # all members together, as declared and as read
MAX_BATCH_MEMBERS = 2000
MAX_MEMBER_RATIO = 200  # unpacked / packed per member: beyond is a zip bomb
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3"}


@dataclass(frozen=True)
class Member:
    name: str  # the path inside the batch ("cat/1.png")
    label: str | None  # its class name, from the folder, the name or the CSV; None: none
    data: bytes


@dataclass
class Batch:
    """What a batch holds: the usable files, and every file skipped with the reason."""

    members: list[Member] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)


def label_of(name: str) -> str | None:
    p = PurePosixPath(name)
    if len(p.parts) >= 2:
        return p.parts[-2]  # cat/1.png
    return p.stem.split("_", 1)[0] if "_" in p.stem else None  # cat_1.png


def _escapes(name: str) -> bool:
    """Whether a member name points outside the folder it is unpacked into."""
    n = name.replace("\\", "/")
    return n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in n.split("/")


def _ignored(name: str) -> bool:
    return PurePosixPath(name).name.startswith(".") or "__MACOSX" in name


def _extensions(kind: str) -> set[str]:
    return IMAGE_EXT if kind == "image" else AUDIO_EXT


def _keep(batch: Batch, name: str, data: bytes, kind: str, label: str | None) -> None:
    ext = PurePosixPath(name).suffix.lower()
    if ext not in _extensions(kind):
        batch.skipped.append(
            (name, f"not an {kind} file: expected {', '.join(sorted(_extensions(kind)))}")
        )
    else:
        batch.members.append(Member(name, label, data))


def _empty_folders(dirs: set[str], files: list[str]) -> list[tuple[str, str]]:
    full = {str(PurePosixPath(f).parent) for f in files}
    empty = [d for d in sorted(dirs) if not any(f == d or f.startswith(d + "/") for f in full)]
    return [(d + "/", "an empty class folder: no files in it") for d in empty]


def read_zip(data: bytes, *, filename: str, kind: str) -> Batch:
    """Every file of a ZIP (bytes), after the checks every upload gets."""
    upload_size(
        data,
        filename,
        limit=MAX_BATCH_BYTES,
        what="labelled batches",
        empty="Upload a ZIP of class folders.",
        big="Send fewer or smaller files.",
    )
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        every = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(
            f"{filename!r} is not a readable ZIP archive ({e}). Zip a folder of "
            "class folders (cat/1.png, dog/2.png) and upload that."
        ) from None
    if len(every) > MAX_BATCH_MEMBERS:
        raise InputError(
            f"{filename!r} holds {len(every)} files; at most {MAX_BATCH_MEMBERS} "
            "are accepted. Send a smaller sample of each class."
        )
    leaving = [i.filename for i in every if _escapes(i.filename)]
    if leaving:
        raise InputError(
            f"{filename!r} was refused: its member {leaving[0]!r} points outside the folder "
            "it would be unpacked into (a '..' or an absolute path). Zip the class folders "
            "themselves."
        )
    infos = [i for i in every if not i.is_dir() and not _ignored(i.filename)]
    dirs = {i.filename.rstrip("/") for i in every if i.is_dir() and not _ignored(i.filename)}
    if not infos:
        raise InputError(
            f"{filename!r} holds no files. Expected class folders (cat/1.png) or "
            "files named <label>_<anything>."
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
    batch, read = Batch(), 0
    for info in infos:
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
        _keep(batch, info.filename, blob, kind, label_of(info.filename))
    batch.skipped += _empty_folders(dirs, [i.filename for i in infos])
    return batch


def _capped(read: int, file: Path, what: str) -> int:
    """Bytes read so far with this file; refused past MAX_BATCH_UNPACKED."""
    read += file.stat().st_size
    if read > MAX_BATCH_UNPACKED:
        raise InputError(
            f"{what} hold more than {MAX_BATCH_UNPACKED // 2**20} MB; pass a smaller sample."
        )
    return read


def read_folder(path: Path, *, kind: str) -> Batch:
    """Every file under a folder (sorted by path), checked as a ZIP's members are; a link that
    leads outside the folder is skipped."""
    root = path.resolve()
    files, dirs = [], set()
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).as_posix()
        if _ignored(rel):
            continue
        if p.is_dir():
            dirs.add(rel)
        elif p.is_file():
            files.append((p, rel))
    if len(files) > MAX_BATCH_MEMBERS:
        raise InputError(
            f"The folder {str(path)!r} holds {len(files)} files; at most {MAX_BATCH_MEMBERS} "
            "are read. Pass a smaller sample of each class."
        )
    batch, read = Batch(), 0
    for p, rel in files:
        if not p.resolve().is_relative_to(root):
            batch.skipped.append((rel, "a link to a file outside the folder"))
            continue
        read = _capped(read, p, f"The folder {str(path)!r}")
        _keep(batch, rel, p.read_bytes(), kind, label_of(rel))
    batch.skipped += _empty_folders(dirs, [rel for _, rel in files])
    return batch


def read_csv(path: Path, *, kind: str) -> Batch:
    """A CSV with columns `path` and `label` (paths relative to the CSV's folder)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise InputError(
            f"{str(path)!r} has columns {sorted(rows[0]) if rows else []}; expected a header "
            "with 'path' and 'label' and one row per file."
        )
    if len(rows) > MAX_BATCH_MEMBERS:
        raise InputError(
            f"{str(path)!r} lists {len(rows)} files; at most {MAX_BATCH_MEMBERS} are read."
        )
    batch, read = Batch(), 0
    for row in rows:
        name, file = row["path"], path.parent / row["path"]
        if not file.is_file():
            batch.skipped.append((name, "no such file"))
            continue
        read = _capped(read, file, f"The files {str(path)!r} lists")
        _keep(batch, name, file.read_bytes(), kind, (row["label"] or "").strip() or None)
    return batch


def read_batch(source: bytes | str | os.PathLike, *, kind: str, filename: str = "") -> Batch:
    """A ZIP (bytes or a path), a folder or a CSV of paths and labels -> its checked files."""
    if isinstance(source, bytes):
        return read_zip(source, filename=filename or "upload.zip", kind=kind)
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_csv(path, kind=kind)
    if path.is_file():
        return read_zip(path.read_bytes(), filename=path.name, kind=kind)
    if path.is_dir():
        return read_folder(path, kind=kind)
    raise InputError(
        f"{str(path)!r} is neither a ZIP file nor a folder. Pass a list of raw inputs, "
        "a ZIP of image or audio files, a folder of them, or a CSV of paths and labels."
    )
