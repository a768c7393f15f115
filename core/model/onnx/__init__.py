"""ONNX in: an .onnx file (e.g. from torch.onnx.export) becomes a Keras model of built-in layers.

read: the file size-capped, parsed and refused unless self-contained, standard and in budget;
convert (+ ops, ops_shape): the graph as a channels-last Keras functional model whose layers
are named after the ONNX nodes; check: the result against onnxruntime, whole and node by node.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from core.model.onnx.check import NodeCheck, check, compare_nodes
from core.model.onnx.convert import Converted, convert
from core.model.onnx.read import Parsed, parse
from core.settings import Limits, limits


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


def compare_file(source: str | os.PathLike | bytes, *, seed: int = 0) -> list[NodeCheck]:
    """Every node of an .onnx file (a path, or its bytes) converted as an upload is and run by
    Keras and by onnxruntime on one random input: one NodeCheck per node, in graph order (what
    api.compare_onnx returns). Only the upload size limit is lifted: the file is your own."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    lim = replace(limits(), upload_bytes=2**62)
    folder = None if isinstance(source, bytes) else Path(source).parent
    name = "model.onnx" if isinstance(source, bytes) else str(source)
    parsed = parse(data, name, lim, folder=folder)
    return compare_nodes(convert(parsed, max_elements=lim.params), parsed.proto, seed=seed)


__all__ = [
    "Converted",
    "NodeCheck",
    "Parsed",
    "check",
    "compare_file",
    "compare_nodes",
    "convert",
    "convert_bytes",
    "parse",
]
