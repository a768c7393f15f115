"""A model by reference: what crosses to a worker process instead of the model itself.

`ModelRef.of(m)` names a built-in by its name and anything else by the checked bytes the server
keeps on disk (LoadedModel.file), with the card in force; a Dask cluster on other machines gets
the bytes themselves (scattered once per job). `resolve(ref)` in the worker loads it once and
keeps the last WARM models by key, so a worker's next job on the same model starts at once.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import LayerLabError
from core.model.load import LoadedModel

WARM = 3  # models a worker keeps loaded


@dataclass(frozen=True)
class ModelRef:
    key: str  # LoadedModel.key: file hash and card
    name: str
    sha256: str
    source: str
    card: dict[str, Any]
    path: str | None  # the checked file on this machine (None: a built-in by name)
    weights: int = 0  # bytes of its parameters (float32): what loading it costs a worker

    @staticmethod
    def of(m: LoadedModel) -> ModelRef:
        if m.source != "builtin" and m.file is None:
            raise LayerLabError(
                f"Model {m.name!r} has no checked file on disk, so a worker cannot load it; "
                "load it with api.load / api.load_bytes, or pass executor=core.work.INLINE."
            )
        return ModelRef(
            m.key,
            m.name,
            m.sha256,
            m.source,
            dict(m.card),
            None if m.source == "builtin" else str(m.file),
            4 * m.model.count_params(),
        )


_WARM: OrderedDict[str, LoadedModel] = OrderedDict()
_LOCK = threading.Lock()


def resolve(ref: ModelRef, data: bytes | None = None) -> LoadedModel:
    """The model a ref names, loaded in this process once (data: its bytes, where the file is
    on another machine)."""
    with _LOCK:
        if ref.key in _WARM:
            _WARM.move_to_end(ref.key)
            return _WARM[ref.key]
        m = _load(ref, data)
        _WARM[ref.key] = m
        while len(_WARM) > WARM:
            _WARM.popitem(last=False)
        return m


def _load(ref: ModelRef, data: bytes | None) -> LoadedModel:
    from core.model.load import from_checked, load

    if ref.path is None:
        m = load(ref.name)
        return m if m.card == ref.card else replace(m, card=ref.card)
    path = Path(ref.path)
    if data is not None and not path.is_file():
        local = Path(tempfile.gettempdir()) / f"layerlab_worker_models_{os.getuid()}"
        local.mkdir(mode=0o700, exist_ok=True)
        path = local / path.name
        if not path.exists():
            path.write_bytes(data)
    return from_checked(path, ref.name, card=ref.card, sha256=ref.sha256, source=ref.source)


def to_refs(value: Any) -> Any:
    """Every LoadedModel in args (nested in tuples, lists, dicts) as a ModelRef."""
    if isinstance(value, LoadedModel):
        return ModelRef.of(value)
    if isinstance(value, tuple):
        return tuple(to_refs(v) for v in value)
    if isinstance(value, list):
        return [to_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: to_refs(v) for k, v in value.items()}
    return value


def models_in(value: Any) -> dict[str, int]:
    """{key: weight bytes} of every ModelRef in to_refs' output (nested as to_refs nests)."""
    if isinstance(value, ModelRef):
        return {value.key: value.weights}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return {k: b for v in value for k, b in models_in(v).items()}
    return {}


def from_refs(value: Any, data: dict[str, bytes] | None = None) -> Any:
    """to_refs undone in the worker (data: model bytes by hash, from a cluster's scatter)."""
    if isinstance(value, ModelRef):
        return resolve(value, (data or {}).get(value.sha256))
    if isinstance(value, tuple):
        return tuple(from_refs(v, data) for v in value)
    if isinstance(value, list):
        return [from_refs(v, data) for v in value]
    if isinstance(value, dict):
        return {k: from_refs(v, data) for k, v in value.items()}
    return value
