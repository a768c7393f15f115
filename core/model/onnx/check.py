"""A converted model checked against onnxruntime, the reference implementation.

Both run the same random input; the outputs must agree to a relative error of 1e-4 (the largest
absolute difference over the largest absolute reference value). Where they do not, every node's
output is compared (onnxruntime asked for the intermediate values, Keras for the layers named
after the nodes, moved back to ONNX's axis order) and the first node that differs is named.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import onnx

from core.errors import OnnxMismatchError
from core.model.onnx.convert import Converted

TOLERANCE = 1e-4


@dataclass(frozen=True)
class NodeCheck:
    """One converted node against onnxruntime's value of its output."""

    node: str
    op: str
    layer: str
    shape: tuple[int, ...]  # ONNX shape of the output
    max_abs: float  # largest |keras - onnxruntime|
    relative: float  # max_abs over the largest |onnxruntime| value

    @property
    def ok(self) -> bool:
        return self.relative <= TOLERANCE


def relative_error(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    diff = float(np.max(np.abs(ours.astype(np.float64) - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return diff, diff / max(scale, 1e-12)


def sample_input(conv: Converted, *, seed: int = 0) -> np.ndarray:
    """A standard-normal input in ONNX layout (1, C, H, W): what an image looks like after
    mean/std scaling."""
    return np.random.default_rng(seed).standard_normal(conv.input_dims).astype(np.float32)


def to_onnx_layout(y: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """A Keras array whose axis j holds ONNX axis perm[j], in ONNX's axis order."""
    return np.transpose(y, np.argsort(perm))


def to_keras_layout(x: np.ndarray, rank: int) -> np.ndarray:
    """An ONNX input (N, C, ...) channels-last, as the converted model takes it."""
    return np.transpose(x, (0, *range(2, rank), 1)) if rank >= 3 else x


def onnxruntime_outputs(
    proto: onnx.ModelProto, x: np.ndarray, names: list[str]
) -> dict[str, np.ndarray]:
    """onnxruntime's values of `names` (graph outputs or intermediate values) for input x."""
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    present = {o.name for o in model.graph.output}
    for n in names:
        if n not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=n))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    return dict(zip(names, sess.run(names, {inp: x})))


def compare_nodes(conv: Converted, proto: onnx.ModelProto, *, seed: int = 0) -> list[NodeCheck]:
    """Every converted node's output against onnxruntime's, in graph order."""
    x = sample_input(conv, seed=seed)
    names = [n.output for n in conv.nodes]
    ref = onnxruntime_outputs(proto, x, names)
    model = conv.model
    probe = keras.Model(model.inputs[0], [model.get_layer(n.layer).output for n in conv.nodes])
    outs = probe(to_keras_layout(x, len(conv.input_dims)), training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    checks = []
    for n, y in zip(conv.nodes, outs):
        ours = to_onnx_layout(keras.ops.convert_to_numpy(y), n.perm)
        r = ref[n.output]
        if ours.shape != r.shape:
            diff, rel = float("inf"), float("inf")
        else:
            diff, rel = relative_error(ours, r)
        checks.append(NodeCheck(n.node, n.op, n.layer, tuple(r.shape), diff, rel))
    return checks


def check(conv: Converted, proto: onnx.ModelProto, filename: str, *, seed: int = 0) -> float:
    """The output's relative error against onnxruntime; refused (naming the first node that
    differs) over TOLERANCE."""
    x = sample_input(conv, seed=seed)
    out_name = proto.graph.output[0].name
    ref = onnxruntime_outputs(proto, x, [out_name])[out_name]
    y = conv.model(to_keras_layout(x, len(conv.input_dims)), training=False)
    ours = to_onnx_layout(keras.ops.convert_to_numpy(y), conv.output_perm)
    rel = relative_error(ours, ref)[1] if ours.shape == ref.shape else float("inf")
    if rel <= TOLERANCE:
        return rel
    bad = next((c for c in compare_nodes(conv, proto, seed=seed) if not c.ok), None)
    where = (
        f"the first node that differs is {bad.node!r} ({bad.op}, Keras layer {bad.layer!r}): "
        f"relative error {bad.relative:.2e}"
        if bad is not None
        else "every node agrees on its own, yet the output does not"
    )
    raise OnnxMismatchError(
        f"{filename!r} converted, but the Keras model disagrees with onnxruntime on the same "
        f"random input (relative error {rel:.2e}, limit {TOLERANCE:g}); {where}. Refused "
        "rather than shown wrong; please report the operator."
    )
