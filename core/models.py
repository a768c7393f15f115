"""Model loading: built-in models with their cards, and untrusted uploads checked before loading."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from core.engine import Tracer
from core.errors import ModelRefusedError, UnsupportedModelError


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A loaded model and its card. Never mutated once built (it may be shared by a cache)."""

    model: keras.Model
    card: dict[str, Any]
    name: str          # built-in name, or the uploaded file's name
    sha256: str        # hash of the model file: the cache key
    source: str = "builtin"   # "builtin" | "upload" | "file"
    tracer: Tracer | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])

    @property
    def kind(self) -> str:
        return self.card["input"]["kind"]


ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"
MAX_MODEL_BYTES = 64 * 1024 * 1024
# A .keras file is a zip; refuse archives that expand far beyond their size (zip bombs).
MAX_UNPACKED_BYTES = 4 * MAX_MODEL_BYTES
MAX_CONFIG_BYTES = 8 * 1024 * 1024
# Layers that run code or read files named in the config: never loaded from an upload.
CODE_LAYERS = {
    "Lambda": "a Lambda layer runs Python code stored in the file",
    "TFSMLayer": "a TFSMLayer loads a TensorFlow SavedModel from a path named in the file",
    "TorchModuleWrapper": "a TorchModuleWrapper unpickles a PyTorch module",
    "JaxLayer": "a JaxLayer calls arbitrary JAX functions",
    "FlaxLayer": "a FlaxLayer calls arbitrary Flax modules",
    "TFOpLambda": "a TFOpLambda layer calls TensorFlow functions named in the file",
}
ACCEPTED = ("Accepted: a Sequential or functional Keras model saved with model.save('name.keras') "
            "(or legacy .h5) that uses only built-in Keras layers.")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def builtin_names() -> list[str]:
    """Names of the shipped models: assets/models/<name>.keras with a <name>.json card."""
    return sorted(p.stem for p in ASSETS.glob("*.keras") if p.with_suffix(".json").exists())


def builtin_card(name: str) -> dict[str, Any]:
    """A built-in model's card, without loading the model."""
    return json.loads((ASSETS / f"{name}.json").read_text())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _walk_config(node: Any, found: list[str], path: str = "config") -> None:
    """Collect reasons to refuse from a (possibly nested) Keras config."""
    if isinstance(node, dict):
        cls = node.get("class_name")
        if isinstance(cls, str):
            if cls == "__lambda__":
                found.append(f"it holds serialized Python bytecode ({path})")
            elif cls in CODE_LAYERS:
                name = (node.get("config") or {}).get("name", "?") if isinstance(
                    node.get("config"), dict) else "?"
                found.append(f"layer {name!r} is a {cls}: {CODE_LAYERS[cls]}")
            module = node.get("module")
            if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
                found.append(f"{path} names class {cls!r} from module {module!r}, which is not "
                             "part of Keras (custom code cannot be loaded from an upload)")
            reg = node.get("registered_name")
            if isinstance(reg, str) and ">" in reg:
                found.append(f"{path} uses the custom registered object {reg!r}")
        for k, v in node.items():
            _walk_config(v, found, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk_config(v, found, f"{path}[{i}]")


def _refuse_if_unsafe(config: Any, filename: str) -> None:
    found: list[str] = []
    _walk_config(config, found)
    if found:
        shown = "; ".join(dict.fromkeys(found[:5]))
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise ModelRefusedError(f"{filename!r} was refused before loading: {shown}{more}. "
                                f"{ACCEPTED}")


def scan_model_bytes(data: bytes, filename: str) -> str:
    """Check an untrusted model file without loading it. Returns its format: "keras" or "h5"."""
    size = len(data)
    if size == 0:
        raise ModelRefusedError(f"{filename!r} is empty (0 bytes). {ACCEPTED}")
    if size > MAX_MODEL_BYTES:
        raise ModelRefusedError(
            f"{filename!r} is {size / 2**20:.1f} MB; uploads up to {MAX_MODEL_BYTES // 2**20} MB "
            "are accepted. Use a smaller model (or run Layer Lab locally with api.load(path)).")
    suffix = Path(filename).suffix.lower()
    if suffix == ".keras":
        return _scan_keras_zip(data, filename)
    if suffix in (".h5", ".hdf5"):
        return _scan_h5(data, filename)
    raise ModelRefusedError(f"{filename!r} has extension {suffix or '(none)'!r}; expected "
                            f".keras or .h5. {ACCEPTED}")


def _scan_keras_zip(data: bytes, filename: str) -> str:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelRefusedError(f"{filename!r} is not a valid .keras file (a .keras file is a zip "
                                f"archive; this one could not be opened: {e}). {ACCEPTED}") from None
    with zf:
        unpacked = sum(i.file_size for i in infos)
        if len(infos) > 200 or unpacked > MAX_UNPACKED_BYTES:
            raise ModelRefusedError(
                f"{filename!r} expands to {unpacked / 2**20:.0f} MB in {len(infos)} files; at most "
                f"{MAX_UNPACKED_BYTES // 2**20} MB are accepted (this looks like a zip bomb).")
        names = {i.filename: i for i in infos}
        if "config.json" not in names:
            raise ModelRefusedError(f"{filename!r} is a zip without config.json, so not a Keras "
                                    f"model file. {ACCEPTED}")
        if names["config.json"].file_size > MAX_CONFIG_BYTES:
            raise ModelRefusedError(f"{filename!r}: its config.json is "
                                    f"{names['config.json'].file_size / 2**20:.0f} MB; refused.")
        try:
            config = json.loads(zf.read("config.json"))
        except (ValueError, zipfile.BadZipFile, OSError) as e:
            raise ModelRefusedError(f"{filename!r}: config.json is not valid JSON ({e}). "
                                    f"{ACCEPTED}") from None
    _refuse_if_unsafe(config, filename)
    return "keras"


def _scan_h5(data: bytes, filename: str) -> str:
    if not data.startswith(_HDF5_MAGIC):
        raise ModelRefusedError(f"{filename!r} is not an HDF5 file (it does not start with the "
                                f"HDF5 signature). {ACCEPTED}")
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            raw = f.attrs.get("model_config")
    except (OSError, ValueError) as e:
        raise ModelRefusedError(f"{filename!r} could not be read as HDF5 ({e}). {ACCEPTED}") from None
    if raw is None:
        raise ModelRefusedError(f"{filename!r} holds no model_config: it is a weights-only file "
                                f"or not a Keras model. {ACCEPTED}")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise ModelRefusedError(f"{filename!r}: its model_config is not valid JSON ({e}).") from None
    _refuse_if_unsafe(config, filename)
    _refuse_unknown_legacy_classes(config, filename)
    return "h5"


def _refuse_unknown_legacy_classes(config: Any, filename: str) -> None:
    """Legacy .h5 configs name classes without a module: each must be a built-in Keras layer."""
    unknown: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for layer in node.get("layers", []) if isinstance(node.get("layers"), list) else []:
                cls = layer.get("class_name") if isinstance(layer, dict) else None
                if isinstance(cls, str) and cls not in ("Functional", "Sequential", "Model") \
                        and not hasattr(keras.layers, cls):
                    unknown.append(cls)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    if unknown:
        raise ModelRefusedError(f"{filename!r} uses layer classes that are not built into Keras: "
                                f"{', '.join(sorted(set(unknown)))}. {ACCEPTED}")


def describe_input(model: keras.Model) -> dict[str, Any]:
    """Infer the card's "input" entry from the model's input; refuse what is not image or audio."""
    if len(model.inputs) != 1:
        raise UnsupportedModelError(
            f"Model {model.name!r} has {len(model.inputs)} inputs "
            f"({', '.join(str(tuple(i.shape)) for i in model.inputs)}). Supported: one input that "
            "is an image (H, W, C) with C = 1 or 3, or an audio waveform (samples,) or "
            "(samples, 1). Not supported: several inputs, text/token sequences, tabular data.")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise UnsupportedModelError(
            f"Model {model.name!r} has outputs {[tuple(o.shape) for o in model.outputs]}. "
            "Supported: one output of shape (batch, classes), a classifier.")
    inp = model.inputs[0]
    shape = tuple(inp.shape[1:])
    dtype = str(inp.dtype)
    if "int" in dtype or "string" in dtype:
        raise UnsupportedModelError(
            f"Model {model.name!r} takes {dtype} input of shape {shape}: token ids or text. "
            "Supported: images (H, W, C) with C = 1 or 3, or audio waveforms (samples,).")
    if any(d is None for d in shape):
        raise UnsupportedModelError(
            f"Model {model.name!r} has input shape {shape} with unknown sizes; Layer Lab needs a "
            "fixed size, e.g. keras.Input(shape=(28, 28, 1)).")
    if len(shape) == 3 and shape[-1] in (1, 3):
        return {"kind": "image", "shape": list(shape), "range": [0.0, 1.0]}
    if len(shape) == 2 and shape[0] >= 8 and shape[1] >= 8:
        return {"kind": "image", "shape": [shape[0], shape[1], 1], "range": [0.0, 1.0],
                "squeeze_channel": True}
    if (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) and shape[0] >= 1000:
        return {"kind": "audio", "shape": list(shape), "sample_rate": 8000,
                "samples": int(shape[0])}
    raise UnsupportedModelError(
        f"Model {model.name!r} takes input of shape {shape}. Supported: images (H, W, C) with "
        "C = 1 (greyscale) or 3 (RGB), or audio waveforms (samples,) / (samples, 1) of at least "
        "1000 samples. Not supported: other channel counts, sequences, tabular or text input.")


def _default_card(model: keras.Model, filename: str) -> dict[str, Any]:
    n = int(model.outputs[0].shape[-1])
    last = model.layers[-1]
    act = getattr(getattr(last, "activation", None), "__name__", "") or \
        (last.get_config().get("activation") if type(last).__name__ == "Activation" else "")
    return {
        "name": filename, "title": filename,
        "description": "An uploaded model. Labels are class indices; input values are assumed "
                       "to be in [0, 1].",
        "labels": [str(i) for i in range(n)],
        "input": describe_input(model),
        "output": "probabilities" if act == "softmax" else "scores",
    }


def _load_file(path: Path, filename: str) -> keras.Model:
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - any loader failure is the file's fault, say why
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise ModelRefusedError(f"{filename!r} could not be loaded by Keras: {msg}. "
                                f"{ACCEPTED}") from None


def _tracer(model: keras.Model, filename: str) -> Tracer:
    try:
        return Tracer(model)
    except UnsupportedModelError:
        raise
    except Exception as e:  # noqa: BLE001 - a graph we cannot replay is unsupported, say why
        raise UnsupportedModelError(
            f"{filename!r} loaded, but its layer graph could not be traced "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            "Layer Lab supports Sequential and functional models built from Keras layers.") from None


def load_bytes(data: bytes, filename: str) -> LoadedModel:
    """Check and load an untrusted uploaded model file."""
    fmt = scan_model_bytes(data, filename)
    with tempfile.TemporaryDirectory(prefix="layerlab_") as tmp:
        path = Path(tmp) / ("model.keras" if fmt == "keras" else "model.h5")
        path.write_bytes(data)
        model = _load_file(path, filename)
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError(f"{filename!r} holds a {type(model).__name__}, not a model.")
    card = _default_card(model, filename)
    return LoadedModel(model=model, card=card, name=filename, sha256=sha256_bytes(data),
                       source="upload", tracer=_tracer(model, filename))


def load(name_or_path: str | os.PathLike) -> LoadedModel:
    """A built-in model by name, or a .keras/.h5 file by path (checked like an upload)."""
    s = str(name_or_path)
    if s in builtin_names():
        path = ASSETS / f"{s}.keras"
        data = path.read_bytes()
        card = builtin_card(s)
        model = _load_file(path, s)
        return LoadedModel(model=model, card=card, name=s, sha256=sha256_bytes(data),
                           tracer=Tracer(model))
    path = Path(s)
    if not path.exists():
        raise ModelRefusedError(f"{s!r} is neither a built-in model ({', '.join(builtin_names())}) "
                                "nor an existing file. Pass a built-in name or a path to a "
                                ".keras/.h5 file.")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelRefusedError(f"{s!r} is {path.stat().st_size / 2**20:.1f} MB; at most "
                                f"{MAX_MODEL_BYTES // 2**20} MB are accepted.")
    lm = load_bytes(path.read_bytes(), path.name)
    card_path = path.with_suffix(".json")
    if card_path.exists():  # a card beside the file overrides the guessed one
        card = {**lm.card, **json.loads(card_path.read_text())}
        lm = LoadedModel(model=lm.model, card=card, name=lm.name, sha256=lm.sha256,
                         source="file", tracer=lm.tracer)
    return lm
