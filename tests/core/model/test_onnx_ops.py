"""Every supported ONNX operator, as a small onnx.helper graph, against onnxruntime.

Each graph is converted (which itself checks against onnxruntime and would refuse), then run
here again on a fresh random input by Keras and by onnxruntime: outputs must agree to 1e-4
relative, and every node that computes on the tensor is a Keras layer named after it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest

from core.model.onnx import convert_bytes
from core.model.onnx.check import (
    TOLERANCE,
    onnxruntime_outputs,
    relative_error,
    to_keras_layout,
    to_onnx_layout,
)
from core.model.onnx.convert import sanitise
from core.settings import limits
from tests.core.model.onnx_graphs import G


def agree(m: onnx.ModelProto, *, seed: int = 1) -> float:
    conv = convert_bytes(m.SerializeToString(), "op.onnx", limits())
    x = np.random.default_rng(seed).standard_normal(conv.input_dims).astype(np.float32)
    out = m.graph.output[0].name
    ref = onnxruntime_outputs(m, x, [out])[out]
    y = np.asarray(conv.model(to_keras_layout(x, len(conv.input_dims)), training=False))
    ours = to_onnx_layout(y, conv.output_perm)
    assert ours.shape == ref.shape
    rel = relative_error(ours, ref)[1]
    assert rel <= TOLERANCE, rel
    layers = {layer.name for layer in conv.model.layers}
    tensors = {"x"}  # values computed from the input (a Shape of one is a constant)
    sizes = {t.name: int(np.prod(t.dims)) for t in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type != "Shape" and tensors & set(node.input):
            tensors.update(node.output)
            flat = node.op_type == "Reshape" and sizes.get(node.input[1]) == 1  # read by a Gather
            assert flat or sanitise(node.name) in layers, (node.name, sorted(layers))
    return rel


def img(c: int = 3, h: int = 10, w: int = 10) -> G:
    return G([1, c, h, w])


def conv(g: G, cin: int, cout: int, k: int = 3, bias: bool = True, **at) -> str:
    ins = [g.last, g.rand(cout, cin // at.get("group", 1), k, k)]
    return g.op("Conv", *ins, *([g.rand(cout)] if bias else []), **at)


CASES: dict[str, Callable[[], onnx.ModelProto]] = {}


def case(fn: Callable[[], onnx.ModelProto]) -> Callable[[], onnx.ModelProto]:
    CASES[fn.__name__] = fn
    return fn


@case
def conv_same():
    g = img()
    conv(g, 3, 6, pads=[1, 1, 1, 1])
    return g.model()


@case
def conv_stride2_pads():
    g = img(h=11)
    conv(g, 3, 6, pads=[1, 1, 1, 1], strides=[2, 2])
    return g.model()


@case
def conv_asymmetric_pads_no_bias():
    g = img()
    conv(g, 3, 4, k=2, bias=False, pads=[0, 1, 1, 0])
    return g.model()


@case
def conv_dilated():
    g = img(h=12, w=12)
    conv(g, 3, 4, pads=[2, 2, 2, 2], dilations=[2, 2])
    return g.model()


@case
def conv_auto_pad_same_upper():
    g = img()
    conv(g, 3, 4, auto_pad="SAME_UPPER", strides=[2, 2])
    return g.model()


@case
def conv_groups():
    g = img(c=4)
    conv(g, 4, 6, group=2, pads=[1, 1, 1, 1])
    return g.model()


@case
def conv_depthwise():
    g = img(c=4)
    conv(g, 4, 4, group=4, pads=[1, 1, 1, 1], strides=[2, 2])
    return g.model()


@case
def conv_depthwise_multiplier():
    g = img(c=3)
    conv(g, 3, 6, group=3)
    return g.model()


@case
def conv_1d():
    g = G([1, 2, 40])
    g.op("Conv", "x", g.rand(5, 2, 7), g.rand(5), pads=[3, 3], strides=[2])
    g.op("Relu")
    g.op("Conv", g.last, g.rand(5, 1, 3), pads=[2, 2], dilations=[2], group=5)
    return g.model()


@case
def conv_transpose_2d():
    g = img(c=4, h=6, w=5)
    g.op(
        "ConvTranspose",
        "x",
        g.rand(4, 3, 3, 3),
        g.rand(3),
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        output_padding=[1, 1],
    )
    return g.model()


@case
def conv_transpose_k4():
    g = img(c=2, h=5, w=5)
    g.op("ConvTranspose", "x", g.rand(2, 3, 4, 4), strides=[2, 2], pads=[1, 1, 1, 1])
    return g.model()


@case
def conv_transpose_1d():
    g = G([1, 3, 12])
    g.op("ConvTranspose", "x", g.rand(3, 2, 4), g.rand(2), strides=[2])
    return g.model()


@case
def batch_norm():
    g = img(c=4)
    v = np.abs(g.rng.standard_normal(4)) + 0.5
    g.op("BatchNormalization", "x", g.rand(4), g.rand(4), g.rand(4), g.const(v), epsilon=1e-5)
    return g.model()


@case
def gemm_and_batch_norm_1d():
    g = G([1, 6])
    g.op("Gemm", "x", g.rand(6, 5), g.rand(1, 5), alpha=0.5, beta=2.0)
    v = np.abs(g.rng.standard_normal(5)) + 0.5
    g.op("BatchNormalization", g.last, g.rand(5), g.rand(5), g.rand(5), g.const(v))
    return g.model()


@case
def layer_norm_convnext_style():
    """ConvNeXt: permute to NHWC, LayerNorm over C, Linear, GELU, permute back; and over (H, W)."""
    g = img(c=4, h=3, w=5)
    g.op("Transpose", perm=[0, 2, 3, 1])
    g.op("LayerNormalization", g.last, g.rand(4), g.rand(4), axis=-1, epsilon=1e-6)
    g.op("MatMul", g.last, g.rand(4, 6))
    g.op("Gelu")
    g.op("Transpose", perm=[0, 3, 1, 2])
    g.op("LayerNormalization", g.last, g.rand(3, 5), axis=2)
    return g.model(opset=20)


@case
def matmul_add():
    g = G([1, 8])
    g.op("MatMul", "x", g.rand(8, 3))
    g.op("Add", g.last, g.rand(3))
    return g.model()


def _activation(op: str, opset: int = 17, **at) -> onnx.ModelProto:
    g = img(c=3, h=5, w=5)
    g.op("Mul", "x", g.const(3.0))  # a wide range of values
    g.op(op, **at)
    return g.model(opset=opset)


for _op, _at in [
    ("Relu", {}),
    ("LeakyRelu", {"alpha": 0.1}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Elu", {"alpha": 0.7}),
    ("Selu", {}),
    ("Softplus", {}),
    ("Softsign", {}),
    ("HardSwish", {}),
    ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
    ("HardSigmoid", {}),
    ("Mish", {}),
]:
    CASES[f"act_{_op}_{len(_at)}"] = lambda op=_op, at=_at: _activation(op, 18, **at)
CASES["act_Gelu"] = lambda: _activation("Gelu", 20)


@case
def clip_relu6():
    g = img()
    g.op("Mul", "x", g.const(4.0))
    g.op("Clip", g.last, g.const(0.0), g.const(6.0))
    return g.model()


@case
def clip_both_and_min_only():
    g = img()
    g.op("Mul", "x", g.const(4.0))
    g.op("Clip", g.last, g.const(-1.0), g.const(2.0))
    g.op("Clip", g.last, g.const(-0.5))
    g.op("Clip", g.last, "", g.const(1.5))
    return g.model()


@case
def clip_attributes_opset6():
    g = img()
    g.op("Clip", min=-0.5, max=0.5)
    return g.model(opset=7)


@case
def prelu():
    g = img(c=4)
    g.op("PRelu", "x", g.rand(4, 1, 1))
    return g.model()


@case
def softmax_and_log_softmax():
    g = G([1, 7])
    g.op("Softmax", axis=1)
    g.op("LogSoftmax", axis=-1)
    return g.model()


@case
def softmax_channels_4d():
    g = img(c=5)
    g.op("Softmax", axis=1)
    return g.model(opset=13)


@case
def max_pool_resnet_stem():
    g = img(h=12, w=11)
    g.op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    return g.model()


@case
def max_pool_ceil_mode():
    g = img(h=11, w=11)
    g.op("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    return g.model()


@case
def max_pool_same_stride1():
    g = img()
    g.op("MaxPool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return g.model()


@case
def avg_pool_include_pad():
    g = img(h=9, w=9)
    g.op("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    return g.model()


@case
def avg_pool_exclude_pad_same():
    g = img()
    g.op("AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return g.model()


@case
def avg_pool_2x2():
    g = img()
    g.op("AveragePool", kernel_shape=[2, 2], strides=[2, 2])
    return g.model()


@case
def pools_1d():
    g = G([1, 3, 30])
    g.op("MaxPool", kernel_shape=[3], strides=[2], pads=[1, 1])
    g.op("AveragePool", kernel_shape=[2], strides=[2])
    g.op("GlobalMaxPool")
    return g.model()


@case
def global_pools():
    g = img(c=4)
    a = g.op("GlobalAveragePool", "x")
    b = g.op("GlobalMaxPool", "x")
    g.op("Add", a, b)
    return g.model()


@case
def reduce_mean_max_keepdims():
    g = img(c=4)
    a = g.op("ReduceMean", "x", axes=[2, 3], keepdims=0)
    b = g.op("ReduceMax", "x", axes=[-1, -2], keepdims=0)
    g.op("Sub", a, b)
    return g.model()


@case
def reduce_mean_axes_input_opset18():
    g = img(c=4)
    g.op("ReduceMean", "x", g.const([2, 3], np.int64), keepdims=1)
    return g.model(opset=18)


@case
def spatial_attention_channel_mean_and_max():
    """CBAM's spatial attention: mean and max over the channels, concatenated, a conv."""
    g = img(c=4)
    a = g.op("ReduceMean", "x", axes=[1], keepdims=1)
    b = g.op("ReduceMax", "x", axes=[1], keepdims=1)
    g.op("Concat", a, b, axis=1)
    g.op("Conv", g.last, g.rand(1, 2, 3, 3), pads=[1, 1, 1, 1])
    g.op("Sigmoid")
    g.op("Mul", g.last, "x")
    return g.model()


@case
def reduce_sum_and_over_last_axis():
    g = G([1, 3, 6])
    a = g.op("ReduceSum", "x", g.const([2], np.int64), keepdims=0)
    b = g.op("ReduceMean", "x", g.const([-1], np.int64), keepdims=0)
    g.op("Mul", a, b)
    return g.model(opset=18)


@case
def channel_split_and_shuffle():
    """ShuffleNet's unit: chunk the channels, a branch, concatenate, shuffle the channels."""
    g = img(c=4, h=6, w=6)
    a, b = g.op("Split", "x", g.const([2, 2], np.int64), axis=1, outputs=2), "v1_1"
    b = g.op("Conv", b, g.rand(2, 2, 3, 3), pads=[1, 1, 1, 1])
    g.op("Concat", a, b, axis=1)
    g.op("Reshape", g.last, g.const([1, 2, 2, 6, 6], np.int64))
    g.op("Transpose", perm=[0, 2, 1, 3, 4])
    g.op("Reshape", g.last, g.const([1, 4, 6, 6], np.int64))
    return g.model()


@case
def slices_and_gathers():
    g = img(c=5, h=7, w=6)
    g.op(
        "Slice",
        "x",
        g.const([1, 2], np.int64),
        g.const([4, 100], np.int64),
        g.const([1, 2], np.int64),
    )
    g.op(
        "Slice",
        g.last,
        g.const([0], np.int64),
        g.const([6], np.int64),
        g.const([3], np.int64),
        g.const([2], np.int64),
    )
    g.op("Split", g.last, axis=2, num_outputs=2, outputs=2)
    a = g.op("Gather", g.last, g.const([2, 0], np.int64), axis=1)
    g.op("Gather", a, g.const(1, np.int64), axis=1)
    return g.model(opset=18)


@case
def as_strided_as_torch_export_writes_it():
    """Reshape to (-1,) with the batch, Gather at indices shaped like the result: an identity
    (ConvNeXt's head) and a transposition of H and W."""
    g = img(c=2, h=3, w=4)
    g.op("Reshape", "x", g.const([-1], np.int64))
    g.op("Gather", g.last, g.const(np.arange(24).reshape(1, 2, 3, 4), np.int64), axis=0)
    g.op("Relu")
    g.op("Reshape", g.last, g.const([-1], np.int64))
    swapped = np.arange(24).reshape(1, 2, 3, 4).transpose(0, 1, 3, 2)
    g.op("Gather", g.last, g.const(swapped, np.int64), axis=0)
    return g.model()


@case
def squeeze_excitation():
    g = img(c=4)
    s = g.op("GlobalAveragePool", "x")
    s = g.op("Conv", s, g.rand(2, 4, 1, 1), g.rand(2))
    s = g.op("Relu", s)
    s = g.op("Conv", s, g.rand(4, 2, 1, 1), g.rand(4))
    s = g.op("HardSigmoid", s, alpha=1 / 6, beta=0.5)
    g.op("Mul", s, "x")
    return g.model()


@case
def arithmetic_with_constants():
    g = img(c=3)
    g.op("Sub", "x", g.const(np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)))
    g.op("Div", g.last, g.const(np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)))
    g.op("Add", g.const(1.0), g.last)
    g.op("Mul", g.last, g.const(0.5))
    g.op("Sub", g.const(2.0), g.last)
    return g.model()


@case
def arithmetic_tensors():
    g = img(c=3)
    a = g.op("Relu", "x")
    b = g.op("Sigmoid", "x")
    c = g.op("Sub", a, b)
    d = g.op("Mul", c, b)
    g.op("Sum", d, a, b)
    g.op("Max", g.last, a)
    g.op("Min", g.last, b)
    return g.model()


@case
def concat_channels():
    g = img(c=3)
    a = conv(g, 3, 2, pads=[1, 1, 1, 1])
    g.last = "x"
    b = conv(g, 3, 4, pads=[1, 1, 1, 1])
    g.op("Concat", a, b, "x", axis=1)
    return g.model()


@case
def flatten_keeps_nchw_order():
    g = img(c=3, h=4, w=5)
    conv(g, 3, 2)
    g.op("Flatten", axis=1)
    g.op("Gemm", g.last, g.rand(4, 2 * 2 * 3), g.rand(4), transB=1)
    return g.model()


@case
def reshape_from_shape_arithmetic():
    """x.view(x.size(0), -1) as exporters write it: Shape -> Gather -> Unsqueeze -> Concat."""
    g = img(c=2, h=3, w=4)
    shp = g.op("Shape", "x")
    n = g.op("Gather", shp, g.const(0, np.int64), axis=0)
    n = g.op("Unsqueeze", n, g.const([0], np.int64))
    target = g.op("Concat", n, g.const([-1], np.int64), axis=0)
    g.op("Reshape", "x", target)
    g.op("MatMul", g.last, g.rand(24, 3))
    return g.model()


@case
def squeeze_unsqueeze():
    g = img(c=4)
    g.op("GlobalAveragePool", "x")
    g.op("Squeeze", g.last, g.const([2, 3], np.int64))
    g.op("Gemm", g.last, g.rand(4, 4), transB=1)
    g.op("Unsqueeze", g.last, g.const([2, 3], np.int64))
    g.op("Mul", g.last, "x")
    return g.model()


@case
def squeeze_attribute_opset11():
    g = img(c=4)
    g.op("GlobalMaxPool", "x")
    g.op("Squeeze", g.last, axes=[3, 2])
    return g.model(opset=11)


@case
def transpose_layouts():
    g = img(c=3, h=4, w=5)
    g.op("Transpose", perm=[0, 2, 3, 1])  # NHWC
    g.op("Relu")
    g.op("Transpose", perm=[0, 3, 1, 2])  # back to NCHW
    conv(g, 3, 2)
    g.op("Transpose", perm=[0, 2, 3, 1])
    g.op("Flatten")  # flattens in NHWC order now
    return g.model()


@case
def pad_modes():
    g = img(c=2, h=6, w=6)
    g.op("Pad", "x", g.const([0, 0, 1, 2, 0, 0, 2, 1], np.int64))
    g.op("Pad", g.last, g.const([0, 0, 2, 1, 0, 0, 1, 2], np.int64), mode="reflect")
    g.op("Pad", g.last, g.const([0, 0, 1, 1, 0, 0, 2, 0], np.int64), mode="edge")
    g.op("Pad", g.last, g.const([0, 0, 1, 0, 0, 0, 0, 1], np.int64), g.const(0.5))
    g.op("Pad", g.last, g.const([0, 0, -1, -1, 0, 0, 0, -2], np.int64))
    return g.model()


@case
def resize_nearest_and_linear():
    g = img(c=2, h=4, w=5)
    empty = g.const(np.zeros(0))
    g.op("Resize", "x", "", g.const([1, 1, 2, 2]), mode="nearest")
    g.op("Resize", g.last, empty, g.const([1, 1, 2, 3]), mode="linear")
    g.op("Resize", g.last, "", "", g.const([1, 2, 10, 21], np.int64), mode="linear")
    return g.model(opset=13)


@case
def resize_pytorch_nearest_asymmetric():
    g = img(c=2, h=3, w=3)
    g.op(
        "Resize",
        "x",
        "",
        g.const([1, 1, 3, 2]),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return g.model(opset=13)


@case
def upsample_opset9():
    g = img(c=2, h=3, w=3)
    g.op("Upsample", "x", g.const([1, 1, 2, 2]), mode="nearest")
    return g.model(opset=9)


@case
def identity_dropout_constant():
    g = img(c=2)
    g.op("Identity", "x")
    g.op("Cast", to=onnx.TensorProto.FLOAT)
    g.op("Dropout", g.last, outputs=2)
    k = g.op("Constant", value=onnx.numpy_helper.from_array(np.float32(2.5), "k"))
    g.op("Mul", "v3_0", k)
    return g.model()


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_matches_onnxruntime(name: str) -> None:
    agree(CASES[name]())


def test_every_mapped_operator_has_a_case() -> None:
    from core.model.onnx.ops import supported

    used = {n.op_type for f in CASES.values() for n in f().graph.node}
    assert set(supported()) - used == set()
