"""Reading an untrusted .onnx file: size-capped, parsed, refused unless it is one self-contained
graph of standard operators whose declared weights fit the budget.

Nothing here allocates a weight: sizes come from the initializers' declared dims, so a file that
declares a 2 GB tensor is refused before any array is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
from google.protobuf.message import DecodeError

from core.errors import BudgetError, ModelUnreadableError, OnnxUnsupportedError
from core.settings import Limits, human_bytes

STANDARD_DOMAINS = ("", "ai.onnx")
PROTOBUF_MAX = 2**31 - 1  # protobuf's own limit: a larger .onnx needs external data
MIN_OPSET = 7
FLOAT = onnx.TensorProto.FLOAT
# Element sizes of the tensor types a CNN's initializers use (anything else counts as 8 bytes).
_ITEMSIZE = {
    onnx.TensorProto.FLOAT: 4,
    onnx.TensorProto.FLOAT16: 2,
    onnx.TensorProto.DOUBLE: 8,
    onnx.TensorProto.INT64: 8,
    onnx.TensorProto.INT32: 4,
    onnx.TensorProto.INT8: 1,
    onnx.TensorProto.UINT8: 1,
    onnx.TensorProto.BOOL: 1,
}


@dataclass(frozen=True)
class Parsed:
    proto: onnx.ModelProto
    opset: int  # version of the default operator set
    input_name: str
    input_dims: tuple[int | None, ...]  # ONNX order (N, C, ...); None where symbolic
    output_name: str
    weights: int  # declared initializer elements


def _tensors(graph: onnx.GraphProto):
    """Every tensor stored in the graph: initializers and Constant nodes' values, subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t
            elif a.type == onnx.AttributeProto.TENSORS:
                yield from a.tensors
            elif a.type == onnx.AttributeProto.GRAPH:
                yield from _tensors(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from _tensors(g)


def _dims(vi: onnx.ValueInfoProto) -> tuple[int | None, ...]:
    shape = vi.type.tensor_type.shape
    return tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in shape.dim
    )


def parse(data: bytes, filename: str, limits: Limits, *, folder: Path | None = None) -> Parsed:
    """The checked ModelProto of an .onnx file, or a refusal saying what is wrong and what to do.

    folder: where the file lies on your own machine (api.load(path)): external data files
    there (PyTorch's default export writes model.onnx.data beside model.onnx) are read, once
    the declared sizes fit the budget. Without it (an upload) external data is refused."""
    cap = min(limits.upload_bytes, PROTOBUF_MAX)
    if len(data) > cap:
        raise BudgetError(
            f"{filename!r} is {human_bytes(len(data))}; the limit for an ONNX file here is "
            f"{human_bytes(cap)} (LAYERLAB_MAX_UPLOAD_MB). Export a smaller model."
        )
    try:
        proto = onnx.ModelProto.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelUnreadableError(
            f"{filename!r} is not a readable ONNX protobuf ({e or 'decode error'}). Export it "
            "again with torch.onnx.export(model, example_input, 'model.onnx')."
        ) from None
    if proto.ir_version <= 0 or not proto.graph.node or not proto.opset_import:
        raise ModelUnreadableError(
            f"{filename!r} parsed, but holds no ONNX graph (ir_version {proto.ir_version}, "
            f"{len(proto.graph.node)} nodes, {len(proto.opset_import)} opsets). Expected an "
            "ONNX model as written by torch.onnx.export or onnx.save."
        )
    if proto.functions:
        try:
            proto = onnx.inliner.inline_local_functions(proto)
        except Exception as e:  # noqa: BLE001 - a function ONNX cannot inline is refused
            raise OnnxUnsupportedError(
                f"{filename!r} defines ONNX functions that could not be inlined ({e}). Export "
                "without export_modules_as_functions."
            ) from None
    _refuse_custom(proto, filename)
    weights = _refuse_external_and_budget(proto, filename, limits, folder)
    opset = next(o.version for o in proto.opset_import if o.domain in STANDARD_DOMAINS)
    if opset < MIN_OPSET:
        raise OnnxUnsupportedError(
            f"{filename!r} uses ONNX opset {opset}; supported: opset {MIN_OPSET} and later. "
            "Export again with a recent exporter (torch.onnx.export picks one)."
        )
    graph = proto.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise OnnxUnsupportedError(
            f"{filename!r} has {len(inputs)} graph inputs "
            f"({', '.join(repr(i.name) for i in inputs) or 'none'}); Layer Lab opens models with "
            "exactly one input (an image (N, C, H, W) or audio (N, C, T)). Export the model "
            "with one example tensor."
        )
    if len(graph.output) != 1:
        raise OnnxUnsupportedError(
            f"{filename!r} has {len(graph.output)} graph outputs "
            f"({', '.join(repr(o.name) for o in graph.output)}); Layer Lab opens classifiers "
            "with one output (N, classes). Export the model's logits only."
        )
    inp = inputs[0]
    if inp.type.tensor_type.elem_type != FLOAT:
        raise OnnxUnsupportedError(
            f"{filename!r} takes input {inp.name!r} of ONNX element type "
            f"{onnx.TensorProto.DataType.Name(inp.type.tensor_type.elem_type)}; expected "
            "FLOAT (float32). Export with a float32 example input."
        )
    dims = _dims(inp)
    if len(dims) not in (2, 3, 4) or any(d is None for d in dims[1:]):
        raise OnnxUnsupportedError(
            f"{filename!r} takes input {inp.name!r} of shape "
            f"{tuple('?' if d is None else d for d in dims)}; expected (N, C, H, W) for an image "
            "or (N, C, T) for audio, every size but the batch fixed. Export without "
            "dynamic_axes other than the batch."
        )
    return Parsed(proto, int(opset), inp.name, dims, graph.output[0].name, weights)


def _refuse_custom(proto: onnx.ModelProto, filename: str) -> None:
    for i, node in enumerate(proto.graph.node):
        if node.domain not in STANDARD_DOMAINS:
            raise OnnxUnsupportedError(
                f"ONNX operator {node.op_type!r} (node {node.name or i!r}) is from the custom "
                f"domain {node.domain!r}; {filename!r} needs code Layer Lab does not have. "
                "Supported: the standard ONNX operators (domain ''), exported without "
                "custom_opsets."
            )


def _refuse_external_and_budget(
    proto: onnx.ModelProto, filename: str, limits: Limits, folder: Path | None
) -> int:
    total = 0
    nbytes = 0
    external = []
    for t in _tensors(proto.graph):
        if t.data_location == onnx.TensorProto.EXTERNAL or t.external_data:
            external.append(t)
        n = int(np.prod(t.dims, dtype=np.float64)) if t.dims else 1
        total += n
        nbytes += n * _ITEMSIZE.get(t.data_type, 8)
    if total > limits.params:
        raise BudgetError(
            f"{filename!r} declares {total:,} weight values ({human_bytes(nbytes)}); the limit "
            f"here is {limits.params:,} parameters (LAYERLAB_MAX_PARAMS). Export a smaller "
            "model (fewer channels, a narrower variant)."
        )
    if external:
        _read_external(proto, external, filename, folder)
    return total


def _read_external(
    proto: onnx.ModelProto, tensors: list[onnx.TensorProto], filename: str, folder: Path | None
) -> None:
    """Read external data from files beside the model (plain names in its folder only)."""
    from onnx.external_data_helper import load_external_data_for_model

    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if folder is None or not loc or Path(loc).name != loc or loc in (".", ".."):
            raise OnnxUnsupportedError(
                f"{filename!r} keeps tensor {t.name!r} in an external data file; Layer Lab "
                "opens one self-contained .onnx file. Export with "
                "torch.onnx.export(..., external_data=False) (models under 2 GB), or "
                "onnx.save(onnx.load(path), 'one.onnx', save_as_external_data=False)."
                + (
                    ""
                    if folder is None
                    else f" (Its location {loc!r} is not a file name beside it.)"
                )
            )
        path = folder / loc
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if not path.is_file() or path.stat().st_size < end:
            raise OnnxUnsupportedError(
                f"{filename!r} keeps tensor {t.name!r} in {loc!r}, which is missing or shorter "
                f"than it says ({end:,} bytes) in {str(folder)!r}. Keep the .onnx file and "
                "its data file together, or export with external_data=False."
            )
    try:
        load_external_data_for_model(proto, str(folder))
    except Exception as e:  # noqa: BLE001 - a data file that does not match its tensors
        raise ModelUnreadableError(
            f"{filename!r}: its external data could not be read ({e}). Export again with "
            "external_data=False."
        ) from None
