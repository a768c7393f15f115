"""The PyTorch zoo (tests/data/onnx_zoo, exported by scripts/export_onnx_zoo.py): each model
opens through api.load, predicts what onnxruntime predicts, traces every converted node with
onnxruntime's intermediate values, and runs an attack and Grad-CAM.

The full-size zoo (224x224, 1000 classes) is exported and checked where PyTorch is at hand:
LAYERLAB_TORCH_PYTHON names a Python with torch, torchvision, onnx, onnxruntime and onnxscript
(or torch is importable here); LAYERLAB_ONNX_FULL_ZOO names a folder it was exported to
before (scripts/export_onnx_zoo.py --full DIR), to check without exporting again."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import api
from core.model.onnx import compare_nodes, convert, parse
from core.model.onnx.check import (
    TOLERANCE,
    onnxruntime_outputs,
    relative_error,
    to_keras_layout,
    to_onnx_layout,
)
from core.settings import limits

pytestmark = pytest.mark.slow  # each model converts in seconds

ROOT = Path(__file__).resolve().parents[3]
ZOO = ROOT / "tests" / "data" / "onnx_zoo"
NAMES = sorted(json.loads((ZOO / "index.json").read_text()))


@pytest.fixture(scope="module")
def loaded() -> dict:
    return {}


def _load(loaded: dict, name: str):
    if name not in loaded:
        loaded[name] = api.load(ZOO / f"{name}.onnx")
    return loaded[name]


def _raw(m, seed: int = 0):
    rng = np.random.default_rng(seed)
    spec = m.card["input"]
    if m.kind == "image":
        return (rng.random(spec["shape"]) * 255).astype(np.uint8)
    return (rng.uniform(-0.5, 0.5, spec["samples"]).astype(np.float32), spec["sample_rate"])


def test_zoo_is_small_and_complete():
    sizes = {p.name: p.stat().st_size for p in ZOO.glob("*.onnx")}
    assert {f"{n}.onnx" for n in NAMES} == set(sizes)
    assert {
        "resnet18",
        "mobilenet_v3_small",
        "squeezenet1_1",
        "efficientnet_b0",
        "densenet121",
        "audio_cnn",
    } <= {n.replace("_narrow", "").split("_torch")[0] for n in NAMES}
    assert max(sizes.values()) < 4 * 2**20 and sum(sizes.values()) < 20 * 2**20


@pytest.mark.parametrize("name", NAMES)
def test_predictions_equal_onnxruntime(loaded, name):
    m = _load(loaded, name)
    data = (ZOO / f"{name}.onnx").read_bytes()
    z = np.load(ZOO / f"{name}.npz")
    x = z["x"]
    y = np.asarray(m.model(to_keras_layout(x, x.ndim), training=False))
    out_perm = tuple(range(y.ndim))  # a classifier's (N, classes)
    ours = to_onnx_layout(y, out_perm)
    assert relative_error(ours, z["y"])[1] <= TOLERANCE  # the reference stored at export
    import onnx

    proto = onnx.load_from_string(data)
    out = proto.graph.output[0].name
    live = onnxruntime_outputs(proto, x, [out])[out]
    assert relative_error(ours, live)[1] <= TOLERANCE
    # api.predict through the card: the same class as onnxruntime on the prepared input
    raw = _raw(m)
    xin, _ = api.prepare(m, raw)
    ref = onnxruntime_outputs(proto, to_onnx_layout(xin[None], _input_perm(xin.ndim + 1)), [out])[
        out
    ]
    assert int(np.argmax(api.predict(m, raw))) == int(np.argmax(ref[0]))


def _input_perm(rank: int) -> tuple[int, ...]:
    return (0, *range(2, rank), 1) if rank >= 3 else tuple(range(rank))


@pytest.mark.parametrize("name", NAMES)
def test_trace_has_every_node_matching_onnxruntime(loaded, name):
    m = _load(loaded, name)
    data = (ZOO / f"{name}.onnx").read_bytes()
    parsed = parse(data, name, limits())
    conv = convert(parsed, max_elements=limits().params)
    tr = api.trace(m, _raw(m, seed=1))
    x = to_onnx_layout(tr["input"][None], _input_perm(tr["input"].ndim + 1))
    ref = onnxruntime_outputs(parsed.proto, x, [n.output for n in conv.nodes])
    assert len(conv.nodes) >= 10
    for n in conv.nodes:
        assert n.layer in tr, n
        ours = to_onnx_layout(np.asarray(tr[n.layer])[None], n.perm)
        rel = relative_error(ours, ref[n.output])[1]
        assert rel <= 10 * TOLERANCE, (n, rel)  # intermediate values: same order as the output


@pytest.mark.parametrize("name", ["resnet18_narrow", "audio_cnn"])
def test_attack_and_grad_cam_run(loaded, name):
    m = _load(loaded, name)
    raw = _raw(m, seed=2)
    eps = 8 / 255 if m.kind == "image" else 0.01
    r = api.attack(m, raw, method="FGSM", epsilon=eps)
    assert r.probabilities_after.shape == (10,)
    if m.kind == "image":
        assert r.adversarial.shape == raw.shape
    cam = api.attribution(m, raw, method="grad_cam") if m.kind == "image" else None
    if cam is not None:
        assert cam.shape == tuple(m.card["input"]["shape"][:2]) and np.isfinite(cam).all()
        assert api.grad_cam_layers(m)
    g = api.attribution(m, raw, method="gradient") if m.kind == "image" else None
    assert g is None or float(np.abs(g).max()) > 0


def test_per_node_comparison_api():
    checks = api.compare_onnx(ZOO / "mobilenet_v3_small.onnx")
    assert len(checks) > 50 and all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {c.op for c in checks} >= {"Conv", "HardSwish", "Mul", "ReduceMean", "Gemm"}


def test_the_card_says_where_the_model_came_from(loaded):
    m = _load(loaded, "audio_cnn")
    assert m.kind == "audio" and m.card["input"]["samples"] == 8000
    assert m.card["output"] == "log_probabilities"
    assert m.card["source"]["format"] == "onnx" and m.card["source"]["opset"] >= 18
    assert "NCT -> NTC" in m.card["inferred"]["source"]
    r = _load(loaded, "resnet18_narrow")
    assert r.card["input"]["preprocessing"] == "torch" and "pytorch" in r.card["source"]["producer"]
    assert any("onnxruntime" in n for n in r.notes)


def _torch_python() -> str | None:
    env = os.environ.get("LAYERLAB_TORCH_PYTHON")
    if env:
        return env
    return sys.executable if importlib.util.find_spec("torch") else None


FULL = os.environ.get("LAYERLAB_ONNX_FULL_ZOO")


@pytest.mark.skipif(
    _torch_python() is None and not FULL,
    reason="needs PyTorch (LAYERLAB_TORCH_PYTHON) or an exported zoo (LAYERLAB_ONNX_FULL_ZOO)",
)
def test_full_size_zoo(tmp_path):
    """torchvision's real models at 224x224 with 1000 classes: each converts, predicts what
    onnxruntime predicted at export, and every node agrees with onnxruntime."""
    if FULL:
        tmp_path = Path(FULL)
    else:
        py = _torch_python()
        assert py is not None
        subprocess.run(
            [py, str(ROOT / "scripts" / "export_onnx_zoo.py"), "--full", str(tmp_path)],
            check=True,
            cwd=ROOT,
            timeout=3600,
        )
    index = json.loads((tmp_path / "index.json").read_text())
    assert set(index) == {
        "resnet18",
        "mobilenet_v3_small",
        "squeezenet1_1",
        "efficientnet_b0",
        "densenet121",
    }
    for name in index:
        m = api.load(tmp_path / f"{name}.onnx")
        z = np.load(tmp_path / f"{name}.npz")
        y = np.asarray(m.model(to_keras_layout(z["x"], 4), training=False))
        assert y.shape == (1, 1000)
        assert relative_error(y, z["y"])[1] <= TOLERANCE, name
        bad = [c for c in compare_nodes(*_converted(tmp_path / f"{name}.onnx")) if not c.ok]
        assert not bad, (name, bad[:3])


def _converted(path: Path):
    lim = limits()
    parsed = parse(path.read_bytes(), path.name, lim)
    return convert(parsed, max_elements=lim.params), parsed.proto


@pytest.mark.parametrize("name", ["resnet18_narrow", "audio_cnn"])
def test_a_batch_predicts_what_each_input_does(loaded, name):
    """The ONNX graph was converted at batch 1 (its shape arithmetic too); Keras' batch is free."""
    m = _load(loaded, name)
    raws = [_raw(m, seed=s) for s in (3, 4, 5)]
    many = api.predict(m, raws)
    assert many.shape == (3, 10)
    for raw, p in zip(raws, many):
        np.testing.assert_allclose(p, api.predict(m, raw), rtol=1e-4, atol=1e-6)
