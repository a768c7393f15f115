"""A view as a share and back: what the store keeps that a URL cannot carry.

Pure Python (no Streamlit). pack() turns a model, samples and a view's link settings into a
manifest and files for core.share.store; unpack() turns a stored share back into a view,
trusting nothing: an uploaded model goes through the upload door again (scan, budget,
sandboxed first load: core.model.load.load_bytes), images through decode_image, audio through
decode_audio, float images through the image validator, the card through merge_card, the
settings through the link decoders.

Manifest (JSON): {"format": 1, "title", "note", "page", "settings": {link key: value},
  "model": {"builtin": name} | {"filename", "sha256", "card"},
  "samples": [{"name", "kind", "source", "label", "note", "file": role, "format"}],
  "gallery": [names], "selected": name | None}
Files: "model" (the uploaded file's bytes), "sample/<i>" (PNG, float32 WAV or .npy).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import InputError, ShareDamagedError
from core.inputs.audio import decode_audio
from core.inputs.image import MAX_PIXELS, decode_image, to_float01
from core.inputs.samples import Sample
from core.model.load import LoadedModel, builtin_names, load, load_bytes, sha256_bytes
from core.safety.sandbox import Sandbox
from core.share.permalink import decode_frozen, decode_kinds
from core.share.store import Stored

FORMAT = 1
MAX_SAMPLES = 32
# Sources a shared sample keeps; anything else opens as an upload (per-session caching).
KEPT_SOURCES = {
    "upload",
    "recorded",
    "edited",
    "adversarial",
    "drawn",
    "mnist-test",
    "cifar10-test",
}
# The view's link settings a share keeps (its samples travel as samples, not as sample=/digit=).
SETTING_KEYS = ("frozen", "layer", "b", "attack", "methods", "model_b")


@dataclass(frozen=True)
class SharedView:
    """An opened share: what a page needs to show the view its creator saw."""

    id: str
    model: LoadedModel
    samples: list[Sample]  # the creator's own samples (checked), then gallery ones by name
    selected: str | None  # the sample the view showed
    page: str  # the page's URL path ("" or "trace", "freeze", ...)
    settings: dict[str, str]  # the view's link settings (core.share.permalink keys)
    title: str = ""
    note: str = ""
    created: float = 0.0
    expires: float = 0.0
    gallery: list[str] = field(default_factory=list)  # built-in samples named by the view
    model_file: bytes | None = field(default=None, repr=False)  # an uploaded model's bytes

    @property
    def frozen(self) -> dict[str, list[int]]:
        return decode_frozen(self.settings.get("frozen", ""))

    @property
    def kinds(self) -> dict[str, dict[str, object]]:
        return decode_kinds(self.settings.get("frozen", ""))

    @property
    def raw(self) -> Any:
        """The selected sample's raw input (None if the view had none)."""
        pick = {s.name: s for s in self.samples}.get(self.selected or "")
        return pick.raw if pick is not None else None


def encode_sample(s: Sample) -> tuple[bytes, str]:
    """(bytes, format): uint8 images as PNG, float images as .npy, audio as float32 WAV."""
    if s.kind == "audio":
        import soundfile as sf

        y, sr = s.raw
        buf = io.BytesIO()
        sf.write(buf, np.asarray(y, np.float32).reshape(-1), int(sr), format="WAV", subtype="FLOAT")
        return buf.getvalue(), "wav"
    a = np.asarray(s.raw)
    if a.dtype == np.uint8 and a.ndim in (2, 3) and (a.ndim == 2 or a.shape[2] in (1, 3, 4)):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a).save(buf, "PNG")
        return buf.getvalue(), "png"
    buf = io.BytesIO()
    np.save(buf, np.asarray(to_float01(a), np.float32), allow_pickle=False)
    return buf.getvalue(), "npy"


def _decode_float_image(data: bytes, name: str) -> np.ndarray:
    """A shared float image (.npy): no pickles, (H, W) or (H, W, C), finite values in [0, 1]."""
    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"Shared sample {name!r} is not a NumPy array file ({e}).") from None
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise InputError(
            f"Shared sample {name!r} has shape {a.shape}; expected (H, W) or (H, W, C)."
        )
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise InputError(f"Shared sample {name!r} has {a.shape[0]}×{a.shape[1]} pixels; too many.")
    return to_float01(a)


def _decode_sample(data: bytes, entry: Mapping[str, Any]) -> Sample:
    name, kind, fmt = str(entry["name"])[:120], entry["kind"], entry["format"]
    if kind == "audio" and fmt == "wav":
        y, sr, _ = decode_audio(data, filename=f"{name}.wav")
        if y.ndim != 1:
            raise InputError(f"Shared sample {name!r} has {y.shape[1]} channels; expected mono.")
        raw: Any = (y, sr)
    elif kind == "image" and fmt == "png":
        raw, _ = decode_image(data, filename=f"{name}.png")
    elif kind == "image" and fmt == "npy":
        raw = _decode_float_image(data, name)
    else:
        raise InputError(f"Shared sample {name!r}: a {kind!r} sample as {fmt!r} is not supported.")
    source = entry.get("source") if entry.get("source") in KEPT_SOURCES else "upload"
    label = entry.get("label")
    return Sample(
        name,
        kind,
        raw,
        source=str(source),
        label=str(label)[:60] if label is not None else None,
        note=str(entry.get("note", ""))[:300],
    )


def pack(
    m: LoadedModel,
    *,
    model_file: bytes | None,
    samples: Sequence[Sample],
    selected: str | None,
    page: str,
    settings: Mapping[str, str],
    title: str = "",
    note: str = "",
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, files) of a view. model_file: the uploaded model's bytes (None for a
    built-in model); its sha256 must be the model's. Gallery samples travel by name."""
    files: dict[str, bytes] = {}
    if m.source == "builtin":
        model: dict[str, Any] = {"builtin": m.name}
    else:
        if model_file is None or sha256_bytes(model_file) != m.sha256:
            raise InputError(
                f"Model {m.name!r} is not built in: give its file's bytes (model_file=) to share "
                "it; the bytes given are not that file (their sha256 differs)."
                if model_file is not None
                else f"Model {m.name!r} is not built in: pass model_file= (its .keras/.h5 bytes)."
            )
        files["model"] = bytes(model_file)
        model = {"filename": m.name, "sha256": m.sha256, "card": m.card}
    own = [s for s in samples if s.source != "gallery"]
    if len(own) > MAX_SAMPLES:
        raise InputError(
            f"{len(own)} samples to share; at most {MAX_SAMPLES} go in one share. Remove some."
        )
    entries = []
    for i, s in enumerate(own):
        data, fmt = encode_sample(s)
        files[f"sample/{i}"] = data
        entries.append(
            {
                "name": s.name,
                "kind": s.kind,
                "source": s.source,
                "label": s.label,
                "note": s.note,
                "file": f"sample/{i}",
                "format": fmt,
            }
        )
    manifest = {
        "format": FORMAT,
        "title": title,
        "note": note,
        "page": page,
        "settings": {k: str(v) for k, v in settings.items() if k in SETTING_KEYS and v},
        "model": model,
        "samples": entries,
        "gallery": [s.name for s in samples if s.source == "gallery"],
        "selected": selected,
    }
    return manifest, files


def unpack(
    stored: Stored,
    *,
    sandbox: Sandbox | None = None,
    builtin: Callable[[str], LoadedModel] = load,
) -> SharedView:
    """An opened share, every part through the door it would come through as an upload.
    builtin: how a built-in model is loaded (the app passes its process-wide cache)."""
    man = stored.manifest
    try:
        if man.get("format") != FORMAT:
            raise ShareDamagedError(
                f"Share {stored.id} is in format {man.get('format')!r}; this Layer Lab reads "
                f"format {FORMAT}. Update Layer Lab, or ask its creator to share again."
            )
        spec = man["model"]
        if "builtin" in spec:
            if spec["builtin"] not in builtin_names():
                raise ShareDamagedError(
                    f"Share {stored.id} uses the built-in model {spec['builtin']!r}, which this "
                    f"server does not have ({', '.join(builtin_names())})."
                )
            lm = builtin(spec["builtin"])
        else:
            lm = load_bytes(
                stored.files["model"],
                str(spec["filename"])[:120],
                card=spec.get("card"),
                sandbox=sandbox,
            )
        samples = [_decode_sample(stored.files[e["file"]], e) for e in man.get("samples", [])]
        settings = {
            str(k): str(v) for k, v in dict(man.get("settings", {})).items() if k in SETTING_KEYS
        }
        decode_frozen(settings.get("frozen", ""))  # the link's own check, before any page
    except (KeyError, TypeError, AttributeError) as e:
        raise ShareDamagedError(
            f"Share {stored.id}: its description lacks {e} or has the wrong type; the store "
            "was altered or written by another program. Ask its creator to share again."
        ) from None
    wrong = [s.name for s in samples if s.kind != lm.kind]
    if wrong:
        raise ShareDamagedError(
            f"Share {stored.id}: samples {wrong} are not {lm.kind} inputs for {lm.name!r}."
        )
    selected = man.get("selected")
    return SharedView(
        id=stored.id,
        model=lm,
        samples=samples,
        selected=str(selected) if selected is not None else None,
        page=str(man.get("page", ""))[:64],
        settings=settings,
        title=str(man.get("title", ""))[:200],
        note=str(man.get("note", ""))[:2000],
        created=stored.created,
        expires=stored.expires,
        gallery=[str(g) for g in man.get("gallery", [])][:MAX_SAMPLES],
        model_file=stored.files.get("model"),
    )
