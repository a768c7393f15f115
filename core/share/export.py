"""What a lab notebook keeps from a page: one ZIP with a manifest, pictures, sounds and tables.

Pure Python (no Streamlit).

    export_zip(page=, model=, settings=, predictions=, images=, audio=, tables=, arrays=,
               npz=, documents=) -> bytes

manifest.json holds the page, the time (UTC), the model's identity (name, title, source and
the sha256 of its file), the settings and every prediction (label and all probabilities);
images/*.png, audio/*.wav (16-bit), tables/*.csv, arrays/*.npy (exact values, np.load),
<name>.npz (a group of exact arrays, e.g. activations.npz: every layer of a trace by layer
name) and *.json documents (e.g. what it takes to rerun the page's computation) hold the rest.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.analysis.hearing import to_wav_bytes
from core.errors import InputError
from core.model.load import LoadedModel
from core.show.render import png_bytes


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_")[:80] or "item"


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def export_zip(
    *,
    page: str,
    model: LoadedModel,
    settings: dict[str, Any],
    predictions: dict[str, np.ndarray] | None = None,
    images: dict[str, np.ndarray] | None = None,
    audio: dict[str, tuple[np.ndarray, int]] | None = None,
    tables: dict[str, Any] | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    npz: dict[str, dict[str, np.ndarray]] | None = None,
    documents: dict[str, Any] | None = None,
) -> bytes:
    """The ZIP bytes; every name is made file-safe, every file listed in the manifest."""
    files: list[str] = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, img in (images or {}).items():
            a = np.asarray(img)
            if a.dtype != np.uint8 or a.ndim not in (2, 3):
                raise InputError(
                    f"Images to export must be uint8 (H, W) or (H, W, 3); got {a.dtype} {a.shape}."
                )
            path = f"images/{_safe(name)}.png"
            z.writestr(path, png_bytes(a))
            files.append(path)
        for name, (y, sr) in (audio or {}).items():
            path = f"audio/{_safe(name)}.wav"
            z.writestr(path, to_wav_bytes(np.asarray(y, np.float32).reshape(-1), int(sr)))
            files.append(path)
        for name, df in (tables or {}).items():
            path = f"tables/{_safe(name)}.csv"
            z.writestr(path, df.to_csv(index=False))
            files.append(path)
        for name, a in (arrays or {}).items():
            path = f"arrays/{_safe(name)}.npy"
            npy = io.BytesIO()
            np.save(npy, np.asarray(a), allow_pickle=False)
            z.writestr(path, npy.getvalue())
            files.append(path)
        for name, group in (npz or {}).items():
            path = f"{_safe(name)}.npz"
            buf_npz = io.BytesIO()
            members: dict[str, Any] = {k: np.asarray(v) for k, v in group.items()}
            np.savez_compressed(buf_npz, **members)
            z.writestr(path, buf_npz.getvalue())
            files.append(path)
        for name, doc in (documents or {}).items():
            path = f"{_safe(name)}.json"
            z.writestr(path, json.dumps(_jsonable(doc), indent=2, ensure_ascii=False))
            files.append(path)
        manifest = {
            "page": page,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": {
                "name": model.name,
                "title": model.card.get("title", model.name),
                "source": model.source,
                "sha256": model.sha256,
            },
            "settings": _jsonable(settings),
            "predictions": {
                k: {
                    "label": model.labels[int(np.argmax(p))],
                    "probabilities": {
                        lab: round(float(q), 6) for lab, q in zip(model.labels, np.ravel(p))
                    },
                }
                for k, p in (predictions or {}).items()
            },
            "files": files,
        }
        z.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return buf.getvalue()
