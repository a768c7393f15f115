"""Model loading: built-in models with their cards, and untrusted uploads checked before loading."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras

from core.errors import CardError, ModelRefusedError, ModelUnreadableError, UnsupportedModelError
from core.graph.engine import Tracer
from core.model.card import infer_card, merge_card
from core.model.onnx.door import is_onnx, onnx_card, to_keras
from core.safety.budget import check_budget
from core.safety.runtime import settings_kept
from core.safety.sandbox import Sandbox, first_load
from core.safety.scan import scan
from core.settings import Limits, human_bytes
from core.settings import limits as settings_limits


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A loaded model and its card. Never mutated once built (it may be shared by a cache)."""

    model: keras.Model
    card: dict[str, Any]
    name: str  # built-in name, or the uploaded file's name
    sha256: str  # hash of the model file: the cache key
    tracer: Tracer = field(repr=False)  # the engine over `model` (with_card copies share it)
    source: str = "builtin"  # "builtin" | "upload" | "file"
    notes: tuple[str, ...] = ()  # what the load checked and measured (shown after an upload)
    file: Path | None = None  # the file's checked bytes on disk: what a worker process loads

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])

    @property
    def kind(self) -> str:
        return self.card["input"]["kind"]

    @functools.cached_property
    def key(self) -> str:
        """Cache key: the file and the card (a corrected card gives new results). Made once:
        every cached call of every rerun asks for it (JSON of the card, then its hash)."""
        card = json.dumps(self.card, sort_keys=True, default=str).encode()
        return f"{self.sha256}:{hashlib.sha256(card).hexdigest()[:16]}"

    def with_card(self, card: Mapping[str, Any] | None) -> LoadedModel:
        """The same model (weights and tracer shared, not copied) under a corrected card."""
        return replace(self, card=merge_card(self.card, card, self.model))


ASSETS = Path(__file__).resolve().parents[2] / "assets" / "models"


def builtin_names() -> list[str]:
    """Names of the shipped models: assets/models/<name>.keras with a <name>.json card."""
    return sorted(p.stem for p in ASSETS.glob("*.keras") if p.with_suffix(".json").exists())


def builtin_card(name: str) -> dict[str, Any]:
    """A built-in model's card, without loading the model (a fresh dict: callers may edit it;
    the file is read once per version, not on every page run that labels a picker)."""
    path = ASSETS / f"{name}.json"
    return json.loads(_card_text(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _card_text(path: Path, mtime_ns: int) -> str:
    return path.read_text()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


SPOOL = Path(tempfile.gettempdir()) / f"layerlab_models_{os.getuid()}"


def _spool(data: bytes, sha: str, fmt: str) -> Path:
    """The checked bytes kept on disk by their hash (not in memory), for worker processes."""
    SPOOL.mkdir(mode=0o700, exist_ok=True)
    path = SPOOL / f"{sha}.{'keras' if fmt == 'keras' else 'h5'}"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def from_checked(
    path: Path, filename: str, *, card: Mapping[str, Any], sha256: str, source: str
) -> LoadedModel:
    """A model file that already passed the door in the server (its scan, budget and sandbox),
    loaded again in a worker process under the server's card."""
    model = _load_file(path, filename)
    return LoadedModel(
        model=model,
        card=dict(card),
        name=filename,
        sha256=sha256,
        source=source,
        tracer=_tracer(model, filename),
        file=path,
    )


def _load_file(path: Path, filename: str) -> keras.Model:
    """Keras' own load, with its process-wide settings guarded (restored and refused if the
    file changed them)."""
    try:
        with settings_kept(filename, "loading"):
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ModelRefusedError:
        raise
    except Exception as e:  # noqa: BLE001 - any loader failure is the file's, say Keras' reason
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise ModelUnreadableError(
            f"Keras could not read {filename!r}: {msg}. Try loading it where it was made and "
            "saving it again with Keras 3 as .keras (model.save('name.keras'))."
        ) from None
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError(f"{filename!r} holds a {type(model).__name__}, not a model.")
    return model


def _tracer(model: keras.Model, filename: str) -> Tracer:
    try:
        with settings_kept(filename, "being traced"):
            return Tracer(model)
    except (UnsupportedModelError, ModelRefusedError):
        raise
    except Exception as e:  # noqa: BLE001 - a graph we cannot replay is unsupported, say why
        raise UnsupportedModelError(
            f"{filename!r} loaded, but its layer graph could not be traced "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            "Layer Lab supports Sequential and functional models built from Keras layers."
        ) from None


def _from_bytes(
    data: bytes,
    filename: str,
    *,
    card: Mapping[str, Any] | None,
    source: str,
    sandbox: Sandbox | bool,
    limits: Limits,
    folder: Path | None = None,
) -> LoadedModel:
    original = data
    facts: dict[str, Any] | None = None
    notes: list[str] = []
    if is_onnx(filename):  # converted (and, for an upload, loaded and traced) in the sandbox
        data, facts, notes = to_keras(data, filename, limits, sandbox, folder)
    scanned = scan(data, f"{filename}.keras" if facts else filename, limits)
    budget = check_budget(scanned.config, scanned.weights.elements, limits, filename)
    notes.append(f"Checked: built-in Keras objects only; {budget.describe()}.")
    if sandbox is not False and facts is None:
        report = first_load(
            scanned.data,
            scanned.fmt,
            filename,
            limits,
            sandbox if isinstance(sandbox, Sandbox) else None,
        )
        notes.append(
            f"First load and trace ran in a sandbox ({report.seconds:.1f} s, "
            f"trace {human_bytes(report.trace_bytes)})."
        )
    sha = sha256_bytes(original)
    path = _spool(scanned.data, sha, scanned.fmt)
    model = _load_file(path, filename)
    inferred = infer_card(model, filename)
    if facts is not None:
        inferred = onnx_card(inferred, facts, model)
    return LoadedModel(
        model=model,
        card=merge_card(inferred, card, model),
        name=filename,
        sha256=sha,
        source=source,
        tracer=_tracer(model, filename),
        notes=tuple(notes),
        file=path,
    )


def load_bytes(
    data: bytes,
    filename: str,
    *,
    card: Mapping[str, Any] | None = None,
    sandbox: Sandbox | None = None,
) -> LoadedModel:
    """Check and load an untrusted uploaded model file: scanned (allowlist), budgeted from its
    config, loaded and traced first in a sandboxed child process, then loaded here. An .onnx
    file is parsed, converted and checked against onnxruntime in that child first.

    card: a partial model card over the inferred one, e.g. {"labels": [...],
    "input": {"sample_rate": 16000}} or {"input": {"preprocessing": "0-255"}}.
    sandbox: a running core.safety.sandbox.Sandbox (the app keeps one); without it a one-off
    sandbox is started for this file (a TensorFlow import: seconds).
    """
    return _from_bytes(
        data,
        filename,
        card=card,
        source="upload",
        sandbox=sandbox if sandbox is not None else True,
        limits=settings_limits(),
    )


def load(name_or_path: str | os.PathLike, *, card: Mapping[str, Any] | None = None) -> LoadedModel:
    """A built-in model by name, or a .keras/.h5/.onnx file by path.

    An .onnx file is converted to a Keras model of built-in layers and checked against
    onnxruntime first (core.model.onnx). A file is scanned and budgeted like an upload, without the upload size cap (it is on your
    own machine) and without the sandbox; a card JSON beside it (model.json next to
    model.keras) is read, and `card` goes over both.
    """
    s = str(name_or_path)
    if s in builtin_names():
        path = ASSETS / f"{s}.keras"
        data = path.read_bytes()
        model = _load_file(path, s)
        return LoadedModel(
            model=model,
            card=merge_card(builtin_card(s), card, model),
            name=s,
            sha256=sha256_bytes(data),
            tracer=Tracer(model),
            file=path,
        )
    path = Path(s)
    if not path.is_file():
        raise ModelRefusedError(
            f"{s!r} is neither a built-in model ({', '.join(builtin_names())}) "
            "nor an existing file. Pass a built-in name or a path to a "
            ".keras/.h5/.onnx file."
        )
    beside = path.with_suffix(".json")
    file_card: dict[str, Any] = {}
    if beside.is_file():
        try:
            file_card = json.loads(beside.read_text())
        except ValueError as e:
            raise CardError(
                f"The card {str(beside)!r} beside the model is not valid JSON ({e})."
            ) from None
    lim = replace(settings_limits(), upload_bytes=2**62)
    lm = _from_bytes(
        path.read_bytes(),
        path.name,
        card=file_card or None,
        source="file",
        sandbox=False,
        limits=lim,
        folder=path.parent,
    )
    return lm.with_card(card) if card else lm
