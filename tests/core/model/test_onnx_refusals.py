"""What an .onnx file is refused for, and that each refusal names the operator, node or limit
and says what would work."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from core import api
from core.errors import (
    BudgetError,
    ModelUnreadableError,
    OnnxMismatchError,
    OnnxUnsupportedError,
)
from core.model.onnx import check, convert, convert_bytes, parse
from core.settings import limits
from tests.core.model.onnx_graphs import G


def _small_cnn() -> onnx.ModelProto:
    g = G([1, 3, 8, 8])
    g.op("Conv", "x", g.rand(4, 3, 3, 3), g.rand(4), pads=[1, 1, 1, 1])
    g.op("Relu")
    g.op("GlobalAveragePool")
    g.op("Flatten")
    g.op("Gemm", g.last, g.rand(5, 4), g.rand(5), transB=1)
    return g.model()


def _bytes(m: onnx.ModelProto) -> bytes:
    return m.SerializeToString()


def test_unsupported_operator_is_named_with_its_node_and_the_supported_list(tmp_path):
    g = G([1, 3, 8, 8])
    g.op("Relu")
    g.nodes.append(helper.make_node("Erf", [g.last], ["e"], name="/roi/Erf"))
    g.last = "e"
    path = tmp_path / "erf.onnx"
    path.write_bytes(_bytes(g.model()))
    with pytest.raises(OnnxUnsupportedError) as e:
        api.load(path)
    msg = str(e.value)
    assert "ONNX operator 'Erf' (node '/roi/Erf') is not supported; supported:" in msg
    assert "Conv" in msg and "BatchNormalization" in msg


def test_an_operator_used_in_a_way_that_cannot_be_mapped_says_so():
    g = G([1, 3, 8, 8])
    a = g.op("Relu", "x")
    b = g.op("Sigmoid", "x")
    g.op("Div", a, b)
    with pytest.raises(
        OnnxUnsupportedError, match=r"'Div' \(node '/block/Div_3'\).*tensor divided"
    ):
        convert_bytes(_bytes(g.model()), "div.onnx", limits())


def test_external_data_is_refused():
    m = _small_cnn()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="weights.bin")
    with pytest.raises(OnnxUnsupportedError, match=r"external data file.*external_data=False"):
        convert_bytes(_bytes(m), "ext.onnx", limits())


def test_a_2_gb_declared_initializer_is_refused_before_any_array_is_made():
    m = _small_cnn()
    big = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[2**29])  # 2 GiB, no data
    m.graph.initializer.append(big)
    with pytest.raises(BudgetError, match=r"declares 5\d\d,\d{3},\d{3} weight values \(2\.0 GB"):
        convert_bytes(_bytes(m), "huge.onnx", limits())


def test_two_graph_inputs_are_refused():
    m = _small_cnn()
    m.graph.input.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8]))
    with pytest.raises(OnnxUnsupportedError, match=r"2 graph inputs \('x', 'y'\).*exactly one"):
        convert_bytes(_bytes(m), "two.onnx", limits())


@pytest.mark.parametrize(
    "data", [b"\x08\x07\x12\xff\xff\xff\xff\x0f garbage", b"not an onnx file at all", b"\x00" * 64]
)
def test_a_malformed_protobuf_is_unreadable(data):
    with pytest.raises(ModelUnreadableError, match=r"'bad\.onnx' (is not a readable|parsed, but)"):
        convert_bytes(data, "bad.onnx", limits())


def test_a_model_over_the_parameter_budget_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLAB_MAX_PARAMS", "100")
    path = tmp_path / "wide.onnx"
    path.write_bytes(_bytes(_small_cnn()))
    with pytest.raises(BudgetError, match=r"declares 137 weight values.*limit here is 100"):
        api.load(path)


def test_the_file_size_is_capped_before_parsing(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(BudgetError, match=r"limit for an ONNX file here is 1\.0 KB"):
        parse(b"\x00" * 5000, "big.onnx", limits())


def test_custom_domains_and_functions_that_cannot_be_inlined_are_refused():
    m = _small_cnn()
    m.graph.node[1].domain = "com.example.ops"  # a custom Relu: code Layer Lab does not have
    m.opset_import.append(helper.make_opsetid("com.example.ops", 1))
    with pytest.raises(OnnxUnsupportedError, match=r"'Relu'.*custom domain 'com.example.ops'"):
        convert_bytes(_bytes(m), "custom.onnx", limits())
    m = _small_cnn()  # a call of a function the file does not define
    m.graph.node[1].op_type, m.graph.node[1].domain = "Block", "local.fns"
    with pytest.raises(OnnxUnsupportedError, match=r"'Block'.*custom domain 'local.fns'"):
        convert_bytes(_bytes(m), "fn.onnx", limits())


def test_local_functions_are_inlined():
    m = _small_cnn()
    relu = m.graph.node[1]
    fn = helper.make_function(
        "local.fns",
        "MyAct",
        ["a"],
        ["b"],
        [helper.make_node("Relu", ["a"], ["t"]), helper.make_node("Identity", ["t"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    m.functions.append(fn)
    m.opset_import.append(helper.make_opsetid("local.fns", 1))
    relu.op_type, relu.domain = "MyAct", "local.fns"
    conv = convert_bytes(_bytes(m), "fn.onnx", limits())
    assert conv.relative_error <= 1e-4


def test_a_conversion_that_disagrees_with_onnxruntime_names_the_first_node_that_differs():
    """A converted model with one layer's weights changed after conversion is what a wrong
    operator mapping looks like to the check."""
    m = _small_cnn()
    parsed = parse(_bytes(m), "tampered.onnx", limits())
    conv = convert(parsed, max_elements=10**6)
    layer = conv.model.get_layer("block.Conv_1")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias + 0.5])
    with pytest.raises(OnnxMismatchError) as e:
        check(conv, parsed.proto, "tampered.onnx")
    assert "first node that differs is '/block/Conv_1' (Conv, Keras layer 'block.Conv_1')" in str(
        e.value
    )


@pytest.mark.slow
def test_an_upload_is_refused_in_the_sandbox_with_the_same_message():
    g = G([1, 3, 8, 8])
    g.op("Relu")
    g.nodes.append(helper.make_node("NonMaxSuppression", [g.last], ["n"], name="/roi/NMS"))
    g.last = "n"
    with pytest.raises(OnnxUnsupportedError, match=r"'NonMaxSuppression' \(node '/roi/NMS'\)"):
        api.load_bytes(_bytes(g.model()), "nms.onnx")
    with pytest.raises(ModelUnreadableError, match=r"'x\.onnx' is not a readable ONNX"):
        api.load_bytes(b"\x08\x07\x12\xff\xff\xff\xff\x0f", "x.onnx")


def test_a_random_input_check_uses_the_whole_output():
    # sanity of the metric the check uses: a relative error over the largest reference value
    from core.model.onnx.check import relative_error

    ref = np.array([10.0, -20.0, 0.001])
    assert relative_error(ref + np.array([0, 0, 0.002]), ref)[1] == pytest.approx(1e-4)


def test_external_data_beside_a_file_on_your_own_machine_is_read(tmp_path):
    """PyTorch's default export writes model.onnx.data beside model.onnx: api.load(path)
    reads it; the same .onnx alone (an upload) is refused, as is a location outside its folder."""
    m = _small_cnn()
    path = tmp_path / "m.onnx"
    onnx.save(m, path, save_as_external_data=True, location="m.onnx.data", size_threshold=0)
    assert (tmp_path / "m.onnx.data").is_file()
    lm = api.load(path)
    assert lm.model.count_params() == 4 * 27 + 4 + 5 * 4 + 5
    with pytest.raises(OnnxUnsupportedError, match=r"external data file.*external_data=False"):
        convert_bytes(path.read_bytes(), "m.onnx", limits())
    evil = onnx.load(path, load_external_data=False)
    for t in evil.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../m.onnx.data"
    sub = tmp_path / "sub"
    sub.mkdir()
    onnx.save(evil, sub / "evil.onnx")
    with pytest.raises(OnnxUnsupportedError, match=r"location '\.\./m\.onnx\.data' is not a file"):
        api.load(sub / "evil.onnx")


@pytest.mark.slow
def test_an_upload_converts_once_per_file():
    from core.safety.sandbox import Sandbox

    box = Sandbox()
    try:
        data = _bytes(_small_cnn())
        first = api.load_bytes(data, "a.onnx", sandbox=box)
        again = api.load_bytes(data, "b.onnx", sandbox=box)
    finally:
        box.close()
    assert "in a sandbox" in first.notes[0] and "kept by the file's hash" in again.notes[0]
    assert first.sha256 == again.sha256
    assert again.model is not first.model  # each session its own model


def test_the_per_node_script_lists_every_node(tmp_path, capsys):
    import importlib.util

    from core.settings import ROOT

    spec = importlib.util.spec_from_file_location("onnx_compare", ROOT / "scripts/onnx_compare.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = tmp_path / "cnn.onnx"
    path.write_bytes(_bytes(_small_cnn()))
    assert script.main([str(path), "--all"]) == 0
    out = capsys.readouterr().out
    assert "ok  /block/Conv_1" in out and "5 nodes converted, 0 over the tolerance" in out
