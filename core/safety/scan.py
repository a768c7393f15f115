"""The first look at an untrusted model file: structure, an allowlist of serialized objects.

A model file is a program written by whoever uploaded it (Keras' own docs: `safe_mode` is not a
security boundary). Nothing here imports the file's classes or allocates its weights: the
archive and HDF5 metadata are read, the JSON config is parsed and every serialized object in it,
at any depth, is checked against what Keras ships:

- layers: Keras' built-in layer classes, by plain name (module "keras.layers"), except those
  that run code or read files (Lambda, TFSMLayer, lookups with vocabulary files...);
- models: Functional / Sequential; operations of functional graphs (keras.ops);
- initializers, regularizers, constraints, dtype policies of Keras; activations by name;
- a few layers of keras.applications models (ConvNeXt's LayerScale...).

Anything else (another module, a dotted class name, a "function" object that is not an
activation, bytecode) is refused with its path in the config. The .keras archive is rebuilt
from the members that were checked, so Keras never extracts anything else.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelRefusedError, upload_size
from core.settings import Limits, human_bytes

ACCEPTED = (
    "Accepted: a Sequential or functional Keras model saved with model.save('name.keras') "
    "(or legacy .h5) that uses only built-in Keras layers, or an ONNX file (.onnx) of a CNN, "
    "e.g. from torch.onnx.export(model, x, 'model.onnx', external_data=False)."
)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# What to do with a model saved by another framework (until those formats open directly).
_TORCH = (
    " PyTorch files cannot be loaded: export the model to ONNX "
    "(torch.onnx.export(model, x, 'model.onnx', external_data=False): one file with its "
    "weights) and upload the .onnx file."
)
EXPORT_HINTS = {
    ".pt": _TORCH,
    ".pth": _TORCH,
    ".pb": " That is a TensorFlow graph: if it came from Keras, load the Keras model where it was "
    "made and save it with model.save('name.keras').",
    ".tflite": " TensorFlow Lite files cannot be inspected layer by layer: upload the Keras model "
    "it was converted from (.keras).",
}

# Built-in layers that run code, load other programs or read paths named in the config.
REFUSED_LAYERS = {
    "Lambda": "a Lambda layer runs Python code stored in the file",
    "TFSMLayer": "a TFSMLayer loads a TensorFlow SavedModel from a path named in the file",
    "TorchModuleWrapper": "a TorchModuleWrapper unpickles a PyTorch module",
    "JaxLayer": "a JaxLayer calls arbitrary JAX functions",
    "FlaxLayer": "a FlaxLayer calls arbitrary Flax modules",
    "TFOpLambda": "a TFOpLambda layer calls TensorFlow functions named in the file",
    "StringLookup": "a StringLookup layer can read its vocabulary from a file path",
    "IntegerLookup": "an IntegerLookup layer can read its vocabulary from a file path",
    "TextVectorization": "a TextVectorization layer can read its vocabulary from a file path",
    "Layer": "the abstract base Layer is not a model layer",
    "Wrapper": "the abstract base Wrapper is not a model layer",
}
MODEL_CLASSES = {"Functional", "Sequential", "Model"}  # "Model": legacy tf.keras functional
MODEL_MODULES = {
    "keras",
    "keras.models",
    "keras.src.models.functional",
    "keras.src.models.sequential",
    "keras.src.models.model",
}
OPS_MODULES = re.compile(r"^keras\.src\.ops\.(numpy|nn|math|image|core|linalg)$")
APPLICATION_LAYERS = {
    ("keras.src.applications.convnext", "LayerScale"),
    ("keras.src.applications.convnext", "StochasticDepth"),
    ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer"),
}
# Serialized values that are data, not code (tuples, arrays, tensors of a functional graph).
DATA_OBJECTS = {
    "__keras_tensor__",
    "__tuple__",
    "__numpy__",
    "__tensor__",
    "__ellipsis__",
    "__slice__",
}
ACTIVATION_KEYS = {"activation", "recurrent_activation"}


def _public(module: Any, base: type | None = None, lower: bool = False) -> frozenset[str]:
    names = set()
    for n in dir(module):
        if n.startswith("_") or n in ("get", "serialize", "deserialize"):
            continue
        obj = getattr(module, n)
        if lower:
            if callable(obj) and not isinstance(obj, type):
                names.add(n)
        elif isinstance(obj, type) and (base is None or issubclass(obj, base)):
            names.add(n)
    return frozenset(names)


@dataclass(frozen=True)
class Allowlist:
    """What Keras itself ships, read from the installed Keras (so a Keras upgrade follows)."""

    layers: frozenset[str]
    by_module: dict[str, frozenset[str]]
    activations: frozenset[str]

    @classmethod
    def from_keras(cls) -> Allowlist:
        import keras

        layers = _public(keras.layers, keras.layers.Layer) - set(REFUSED_LAYERS)
        inits = _public(keras.initializers, keras.initializers.Initializer) - {"Initializer"}
        regs = _public(keras.regularizers, keras.regularizers.Regularizer) - {"Regularizer"}
        cons = _public(keras.constraints, keras.constraints.Constraint) - {"Constraint"}
        dtypes = frozenset({"DTypePolicy", "FloatDTypePolicy"})
        return cls(
            layers=frozenset(layers),
            by_module={
                "keras.layers": frozenset(layers),
                "keras.initializers": inits,
                "keras.regularizers": regs,
                "keras.constraints": cons,
                "keras.dtype_policies": dtypes,
                "keras": dtypes | MODEL_CLASSES,
            },
            activations=_public(keras.activations, lower=True),
        )

    def plain_names(self) -> frozenset[str]:
        """Legacy .h5 configs name classes without a module: any of Keras' own classes."""
        out: set[str] = set(MODEL_CLASSES)
        for names in self.by_module.values():
            out |= names
        return frozenset(out)


def _iter_nodes(config: Any, max_depth: int) -> Iterator[tuple[str, Any, str | None]]:
    """(path, node, key it sits under) for every dict/list/str in the config, iteratively (a
    hostile file can nest deeper than Python's recursion limit)."""
    stack: list[tuple[str, Any, str | None, int]] = [("model", config, None, 0)]
    while stack:
        path, node, key, depth = stack.pop()
        if depth > max_depth:
            raise ModelRefusedError(
                f"its configuration is nested more than {max_depth} levels "
                f"deep (at {path[:120]}…); Keras models are far shallower"
            )
        yield path, node, key
        if isinstance(node, dict):
            for k, v in node.items():
                stack.append((f"{path}.{k}", v, str(k), depth + 1))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((f"{path}[{i}]", v, key, depth + 1))


def _name_of(node: dict) -> str:
    cfg = node.get("config")
    name = cfg.get("name") if isinstance(cfg, dict) else None
    return name if isinstance(name, str) else "?"


def _check_object(node: dict, path: str, allow: Allowlist, legacy: bool) -> str | None:
    """Why this serialized object is refused, or None if it is one of Keras' own."""
    cls = node["class_name"]
    module = node.get("module")
    reg = node.get("registered_name")
    if not isinstance(cls, str):
        return f"{path} has a class_name that is not a string ({type(cls).__name__})"
    if cls == "__lambda__":
        return f"it holds serialized Python bytecode ({path})"
    if cls in DATA_OBJECTS:
        return None
    if cls in REFUSED_LAYERS:
        return f"layer {_name_of(node)!r} is a {cls}: {REFUSED_LAYERS[cls]}"
    if isinstance(reg, str) and ">" in reg:
        return f"{path} uses the custom registered object {reg!r}"
    if cls.startswith("__") or not cls.isidentifier():
        return (
            f"{path} names the class {cls!r}: only plain Keras class names are accepted "
            "(a dotted or special name can reach code outside the model)"
        )
    if cls == "function":
        fn = node.get("config")
        if (
            module in ("keras.activations", "builtins", "keras.src.activations.activations")
            and isinstance(fn, str)
            and fn in allow.activations
        ):
            return None
        return (
            f"{path} is a serialized function {module}.{fn}: only Keras activations "
            f"({', '.join(sorted(allow.activations)[:6])}, …) may appear as functions"
        )
    if (
        legacy
        and cls in allow.plain_names()
        and (
            module is None
            or module == "keras"
            or (isinstance(module, str) and module.startswith("keras."))
        )
    ):
        return None
    if module is None:
        if legacy:
            return f"{path} names class {cls!r}, which is not one of Keras' built-in classes"
        return f"{path} names class {cls!r} without a module"
    if not isinstance(module, str):
        return f"{path} has a module that is not a string"
    if not (module == "keras" or module.startswith("keras.")):
        return (
            f"{path} names class {cls!r} from module {module!r}, which is not part of Keras "
            "(custom code cannot be loaded from an upload)"
        )
    if reg is not None and reg != cls:
        return f"{path} registers {cls!r} under another name {reg!r}"
    if cls in allow.by_module.get(module, ()):
        return None
    if module in MODEL_MODULES and cls in ("Functional", "Sequential"):
        return None
    if (module, cls) in APPLICATION_LAYERS:
        return None
    if OPS_MODULES.match(module):
        return (
            None
            if _is_operation(module, cls)
            else (f"{path} names {module}.{cls}, which is not a Keras operation")
        )
    return (
        f"{path} names {module}.{cls}, which is not one of Keras' built-in layers, "
        "initializers, regularizers, constraints or dtype policies"
    )


def _is_operation(module: str, cls: str) -> bool:
    import importlib

    from keras.src.ops.operation import Operation

    obj = vars(importlib.import_module(module)).get(cls)
    return isinstance(obj, type) and issubclass(obj, Operation)


def check_config(config: Any, limits: Limits, *, legacy: bool = False) -> None:
    """Refuse a config holding anything but Keras' own objects (every reason, with its path)."""
    if not isinstance(config, dict):
        raise ModelRefusedError(
            f"its configuration is a JSON {type(config).__name__}, not an "
            "object; it is not a Keras model config"
        )
    allow = Allowlist.from_keras()
    found: list[str] = []
    for path, node, key in _iter_nodes(config, limits.json_depth):
        if isinstance(node, dict) and "class_name" in node:
            if path.endswith(".compile_config") or ".compile_config." in path:
                continue  # dropped before loading (compile=False never reads it)
            why = _check_object(node, path, allow, legacy)
            if why:
                found.append(why)
        elif isinstance(node, str) and key in ACTIVATION_KEYS and node not in allow.activations:
            found.append(f"{path} names the activation {node!r}, which is not a Keras activation")
    if found:
        shown = "; ".join(dict.fromkeys(found[:5]))
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise ModelRefusedError(f"{shown}{more}")


def parse_json(raw: bytes | str, what: str, limits: Limits) -> Any:
    if len(raw) > limits.config_bytes:
        raise ModelRefusedError(
            f"its {what} is {human_bytes(len(raw))}; at most "
            f"{human_bytes(limits.config_bytes)} are accepted"
        )
    try:
        return json.loads(raw)
    except RecursionError:
        raise ModelRefusedError(f"its {what} is nested too deeply to be a Keras config") from None
    except (ValueError, TypeError) as e:
        raise ModelRefusedError(f"its {what} is not valid JSON ({e})") from None


@dataclass(frozen=True)
class WeightStats:
    """What an HDF5 weights file declares and stores, read from its metadata only."""

    arrays: int
    elements: int  # total declared elements (parameters)
    declared_bytes: int
    stored_bytes: int


def h5_weight_stats(f: Any, filename: str, limits: Limits) -> WeightStats:
    """Walk an open h5py File's datasets; refuse declared sizes the file does not store."""
    import h5py
    import numpy as np

    stats = {"arrays": 0, "elements": 0, "declared": 0, "stored": 0, "objects": 0}
    problems: list[str] = []

    def visit(name: str, obj: Any) -> None:
        stats["objects"] += 1
        if stats["objects"] > limits.h5_objects:
            raise ModelRefusedError(
                f"{filename!r} holds more than {limits.h5_objects:,} HDF5 objects; refused"
            )
        if not isinstance(obj, h5py.Dataset):
            return
        n = int(np.prod(obj.shape, dtype=np.float64)) if obj.shape is not None else 0
        declared = n * obj.dtype.itemsize
        stored = obj.id.get_storage_size()
        stats["arrays"] += 1
        stats["elements"] += n
        stats["declared"] += declared
        stats["stored"] += stored
        # Keras writes weights uncompressed: a dataset declaring far more than it stores is
        # an empty chunked placeholder whose first read allocates the declared size.
        if declared > 2 * stored + 65536 and len(problems) < 3:
            problems.append(
                f"weight array {name!r} declares {tuple(obj.shape)} "
                f"({human_bytes(declared)}) but the file stores "
                f"{human_bytes(stored)} of it"
            )

    try:
        f.visititems(visit)
    except ModelRefusedError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise ModelRefusedError(
            f"{filename!r}: its weights could not be read as HDF5 ({type(e).__name__}: {e})"
        ) from None
    if problems:
        raise ModelRefusedError(
            f"{filename!r} was refused before loading: "
            + "; ".join(problems)
            + ". A real model stores its weights."
        )
    if stats["elements"] > limits.params:
        raise ModelRefusedError(
            f"{filename!r} stores {stats['elements']:,} weights "
            f"({human_bytes(stats['declared'])}); the limit here is {limits.params:,} "
            "parameters (LAYERLAB_MAX_PARAMS)."
        )
    return WeightStats(stats["arrays"], stats["elements"], stats["declared"], stats["stored"])


@dataclass(frozen=True)
class ScannedFile:
    """A model file that passed the scan, ready for the budget check and the sandbox."""

    fmt: str  # "keras" | "h5"
    config: dict[str, Any]  # the model config that will be loaded (compile_config dropped)
    data: bytes  # the bytes to load: a .keras rebuilt from checked members, or the .h5
    weights: WeightStats


def scan(data: bytes, filename: str, limits: Limits) -> ScannedFile:
    """Check an untrusted model file without loading it; raise ModelRefusedError with why."""
    upload_size(
        data,
        filename,
        limit=limits.upload_bytes,
        what="uploads",
        empty=ACCEPTED,
        big="The limit is LAYERLAB_MAX_UPLOAD_MB; on your own machine, api.load(path) has none.",
        error=ModelRefusedError,
    )
    suffix = Path(filename).suffix.lower()
    try:
        if suffix == ".keras":
            return _scan_keras(data, filename, limits)
        if suffix in (".h5", ".hdf5"):
            return _scan_h5(data, filename, limits)
    except ModelRefusedError as e:
        msg = str(e)
        if filename not in msg:
            msg = f"{filename!r} was refused before loading: {msg}. {ACCEPTED}"
        raise ModelRefusedError(msg) from None
    except (RecursionError, TypeError, KeyError, AttributeError, IndexError) as e:
        # A malformed file must not escape as a traceback.
        raise ModelRefusedError(
            f"{filename!r} is malformed ({type(e).__name__}: {str(e)[:200]}). {ACCEPTED}"
        ) from None
    raise ModelRefusedError(
        f"{filename!r} has extension {suffix or '(none)'!r}; expected .keras, .h5 or .onnx. "
        f"{ACCEPTED}" + (EXPORT_HINTS.get(suffix, "") if isinstance(suffix, str) else "")
    )


def _scan_keras(data: bytes, filename: str, limits: Limits) -> ScannedFile:
    import h5py

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ModelRefusedError(
            f"{filename!r} is not a valid .keras file (a .keras file is a zip "
            f"archive; this one could not be opened: {e}). {ACCEPTED}"
        ) from None
    with zf:
        unpacked = sum(i.file_size for i in infos)
        # The weights of a real model barely compress; a few KB expanding to hundreds of MB
        # are a zip bomb. Allow a small multiple of the upload.
        cap = 4 * len(data) + 16 * 2**20
        if len(infos) > limits.zip_members or unpacked > cap:
            raise ModelRefusedError(
                f"{filename!r} expands to {human_bytes(unpacked)} in {len(infos)} files; a Keras "
                f"model file holds {len(KERAS_MEMBERS)} files and at most {human_bytes(cap)} are "
                "accepted from this upload (this looks like a zip bomb)."
            )
        names = {i.filename: i for i in infos}
        if "config.json" not in names:
            raise ModelRefusedError(
                f"{filename!r} is a zip without config.json, so not a Keras model file. {ACCEPTED}"
            )
        config = parse_json(zf.read("config.json"), "config.json", limits)
        check_config(config, limits)
        members = {n: zf.read(n) for n in KERAS_MEMBERS if n in names}
    if isinstance(config, dict):
        config.pop("compile_config", None)
    members["config.json"] = json.dumps(config).encode()
    stats = WeightStats(0, 0, 0, 0)
    if "model.weights.h5" in members:
        w = members["model.weights.h5"]
        if not w.startswith(HDF5_MAGIC):
            raise ModelRefusedError(f"{filename!r}: its model.weights.h5 is not an HDF5 file")
        with h5py.File(io.BytesIO(w), "r") as f:
            stats = h5_weight_stats(f, filename, limits)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for n, payload in members.items():
            z.writestr(n, payload)
    return ScannedFile("keras", config, out.getvalue(), stats)


def _scan_h5(data: bytes, filename: str, limits: Limits) -> ScannedFile:
    if not data.startswith(HDF5_MAGIC):
        raise ModelRefusedError(
            f"{filename!r} is not an HDF5 file (it does not start with the "
            f"HDF5 signature). {ACCEPTED}"
        )
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None:
                raise ModelRefusedError(
                    f"{filename!r} holds no model_config: it is a "
                    f"weights-only file or not a Keras model. {ACCEPTED}"
                )
            if not isinstance(raw, (bytes, str)):
                raise ModelRefusedError(
                    f"its model_config is a {type(raw).__name__}, not JSON text"
                )
            stats = h5_weight_stats(f, filename, limits)
    except ModelRefusedError:
        raise
    except (OSError, ValueError) as e:
        raise ModelRefusedError(
            f"{filename!r} could not be read as HDF5 ({e}). {ACCEPTED}"
        ) from None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    config = parse_json(raw, "model_config", limits)
    check_config(config, limits, legacy=True)
    return ScannedFile("h5", config, data, stats)
