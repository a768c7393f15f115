"""ONNX in: an .onnx file (e.g. from torch.onnx.export) becomes a Keras model of built-in layers.

read: the file size-capped, parsed and refused unless self-contained, standard and in budget;
convert (+ ops, ops_shape): the graph as a channels-last Keras functional model whose layers
are named after the ONNX nodes; check: the result against onnxruntime, whole and node by node.
"""

from __future__ import annotations

from pathlib import Path

from core.model.onnx.check import NodeCheck, check, compare_nodes
from core.model.onnx.convert import Converted, convert
from core.model.onnx.read import Parsed, parse
from core.settings import Limits


def convert_bytes(
    data: bytes, filename: str, limits: Limits, *, folder: Path | None = None
) -> Converted:
    """Parse, convert and check one .onnx file: a Converted whose model agrees with
    onnxruntime, or a refusal (core.errors) naming the operator, node or limit. folder: where
    a file on your own machine lies (its external data is read from there)."""
    parsed = parse(data, filename, limits, folder=folder)
    conv = convert(parsed, max_elements=limits.params)
    conv.relative_error = check(conv, parsed.proto, filename)
    return conv


__all__ = [
    "Converted",
    "NodeCheck",
    "Parsed",
    "check",
    "compare_nodes",
    "convert",
    "convert_bytes",
    "parse",
]
