"""The ONNX side of the upload door: an .onnx file in, a checked .keras file and what the card
should say out.

An upload is parsed, converted and checked against onnxruntime in the sandboxed child (as a
first Keras load is); a file on your own machine (api.load(path)) is converted here. Either
way the result is a .keras file that then passes the same allowlist scan, budget and load as
any Keras upload.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import keras

from core.model.card import PREPROCESSING
from core.settings import Limits

# Converting is a one-time cost per file: the last few sandboxed conversions, by the file's
# sha256 (and the limits they passed), as (.keras bytes, facts). Only the same bytes find one.
KEEP = 4
_DONE: OrderedDict[str, tuple[bytes, dict[str, Any]]] = OrderedDict()
_LOCK = threading.Lock()

# A final activation -> the card's output kind (a classifier's output, read from the graph).
FINAL_KIND = {"Softmax": "probabilities", "LogSoftmax": "log_probabilities"}


def is_onnx(filename: str) -> bool:
    return Path(filename).suffix.lower() == ".onnx"


def convert_here(
    data: bytes, filename: str, limits: Limits, folder: Path | None = None
) -> tuple[bytes, dict[str, Any]]:
    """Convert and check in this process: the .keras bytes and the conversion's facts."""
    from core.model.onnx import convert_bytes

    conv = convert_bytes(data, filename, limits, folder=folder)
    with tempfile.TemporaryDirectory(prefix="layerlab_onnx_") as tmp:
        path = Path(tmp) / "converted.keras"
        conv.model.save(path)
        return path.read_bytes(), conv.facts()


def to_keras(
    data: bytes, filename: str, limits: Limits, sandbox: Any, folder: Path | None = None
) -> tuple[bytes, dict[str, Any], list[str]]:
    """(.keras bytes, conversion facts, notes). sandbox: False converts here (a file on your
    own machine, in `folder`); True or a core.safety.sandbox.Sandbox converts in a sandboxed
    child, which also loads and traces the result."""
    if sandbox is False:
        out, facts = convert_here(data, filename, limits, folder)
        return out, facts, [_note(facts)]
    from core.safety.sandbox import Sandbox, first_load

    key = hashlib.sha256(data).hexdigest() + repr(limits)
    with _LOCK:
        done = _DONE.get(key)
        if done is not None:
            _DONE.move_to_end(key)
    if done is not None:  # the same bytes under the same limits: the same conversion
        return done[0], done[1], [_note(done[1]) + " (converted before: kept by the file's hash)"]
    report = first_load(
        data, "onnx", filename, limits, sandbox if isinstance(sandbox, Sandbox) else None
    )
    assert report.converted is not None and report.onnx is not None
    facts = report.onnx
    with _LOCK:
        _DONE[key] = (report.converted, facts)
        while len(_DONE) > KEEP:
            _DONE.popitem(last=False)
    return report.converted, facts, [_note(facts) + f" (in a sandbox, {report.seconds:.1f} s)"]


def _note(f: dict[str, Any]) -> str:
    return (
        f"Converted from ONNX (opset {f['opset']}, {f['producer']}): {f['nodes']} nodes -> "
        f"{f['layers']} Keras layers in {f['seconds']:.1f} s; matches onnxruntime on a random "
        f"input (relative error {f['relative_error']:.1e})."
    )


def onnx_card(card: dict[str, Any], facts: dict[str, Any], model: keras.Model) -> dict[str, Any]:
    """The inferred card of a converted model, with where it came from and what the ONNX graph
    says beyond the Keras one (a final Softmax behind a Reshape; PyTorch's usual scaling)."""
    card = copy.deepcopy(card)
    how = card.setdefault("inferred", {})
    dims = [int(d) for d in facts["input_dims"]]
    layout = "NCHW -> NHWC" if len(dims) == 4 else "NCT -> NTC" if len(dims) == 3 else "NC"
    card["source"] = {
        "format": "onnx",
        "opset": facts["opset"],
        "producer": facts["producer"],
        "layout": f"{layout} (channels-last)",
    }
    how["source"] = (
        f"converted from ONNX (opset {facts['opset']}, exported by {facts['producer']}): its "
        f"input (N, {', '.join(map(str, dims[1:]))}) is taken {layout} (channels-last), weights "
        "transposed to match; checked against onnxruntime"
    )
    units = int(model.outputs[0].shape[-1])
    op = facts["final_op"]
    kind = FINAL_KIND.get(op) or ("binary_probability" if op == "Sigmoid" and units == 1 else None)
    if kind and card.get("output") != kind:
        card["output"] = kind
        how["output"] = f"the ONNX graph ends in {op}: {kind.replace('_', ' ')}"
    spec = card.get("input", {})
    torch = str(facts["producer"]).lower().startswith("pytorch")
    if spec.get("kind") == "image" and torch and spec.get("shape", [0])[-1] == 3:
        spec.update(copy.deepcopy(PREPROCESSING["torch"]), preprocessing="torch")
        how["range"] = (
            "exported from PyTorch: assumed torchvision's ImageNet scaling ([0, 1] minus "
            "mean, over std); correct it in the card if the model was trained otherwise"
        )
    return card
