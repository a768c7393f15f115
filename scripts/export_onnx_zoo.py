"""Export the ONNX test zoo from PyTorch (run where torch and torchvision are installed; never
part of Layer Lab's own install, whose tests use the committed exports):

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch torchvision onnx \
        onnxruntime onnxscript
    /tmp/torchenv/bin/python scripts/export_onnx_zoo.py                  # tests/data/onnx_zoo
    /tmp/torchenv/bin/python scripts/export_onnx_zoo.py --full OUT_DIR   # full-size models

torchvision architectures with random weights (batch-norm statistics randomised too, so a
wrongly mapped normalisation shows), exported as a researcher would: torch.onnx.export with its
default exporter, each as one self-contained file (external_data=False); two also with the
TorchScript exporter (dynamo=False), whose graphs look different (Flatten, Identity, node names
by module path). The small zoo uses narrow variants (fewer channels, 10 classes, smaller
inputs) so each file stays a few MB; `--full` exports the real sizes at 224x224, 1000 classes.
Beside each `<name>.onnx`, `<name>.npz` holds a fixed input `x` and onnxruntime's output `y`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from torch import nn
from torchvision.models import efficientnet, resnet

ROOT = Path(__file__).resolve().parents[1]
SMALL_DIR = ROOT / "tests" / "data" / "onnx_zoo"


def randomise_bn(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def narrow_resnet18(width: int = 16, num_classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]), its first stage `width` channels
    wide instead of 64."""
    m = resnet.ResNet(resnet.BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    m.inplanes = width
    m.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(width)
    m.layer1 = m._make_layer(resnet.BasicBlock, width, 2)
    m.layer2 = m._make_layer(resnet.BasicBlock, 2 * width, 2, stride=2)
    m.layer3 = m._make_layer(resnet.BasicBlock, 4 * width, 2, stride=2)
    m.layer4 = m._make_layer(resnet.BasicBlock, 8 * width, 2, stride=2)
    m.fc = nn.Linear(8 * width, num_classes)
    return m


def narrow_efficientnet_b0(num_classes: int = 10) -> nn.Module:
    setting, last = efficientnet._efficientnet_conf(
        "efficientnet_b0", width_mult=0.5, depth_mult=0.5
    )
    return efficientnet.EfficientNet(setting, 0.2, last_channel=last, num_classes=num_classes)


class AudioCNN(nn.Module):
    """A small 1-D CNN over a raw 1 s, 8 kHz waveform (N, 1, 8000), as an audio lab writes it."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 80, stride=4, padding=38),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(16, 32, 3, padding=1),
            nn.BatchNorm1d(32),
            nn.LeakyReLU(0.1),
            nn.MaxPool1d(4),
            nn.Conv1d(32, 32, 3, padding=2, dilation=2),
            nn.ELU(),
            nn.AdaptiveAvgPool1d(1),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.features(x).flatten(1)), dim=1)


def small_zoo() -> dict[str, tuple[nn.Module, tuple[int, ...], bool]]:
    """name -> (model, input shape, TorchScript exporter?)."""
    tv = torchvision.models
    return {
        "resnet18_narrow": (narrow_resnet18(), (1, 3, 64, 64), False),
        "resnet18_narrow_torchscript": (narrow_resnet18(8), (1, 3, 64, 64), True),
        "mobilenet_v3_small": (
            tv.mobilenet_v3_small(width_mult=0.5, num_classes=10),
            (1, 3, 96, 96),
            False,
        ),
        "squeezenet1_1": (tv.squeezenet1_1(num_classes=10), (1, 3, 96, 96), True),
        "efficientnet_b0_narrow": (narrow_efficientnet_b0(), (1, 3, 64, 64), False),
        "densenet121_narrow": (
            tv.DenseNet(
                growth_rate=8, block_config=(6, 12, 24, 16), num_init_features=16, num_classes=10
            ),
            (1, 3, 64, 64),
            False,
        ),
        "audio_cnn": (AudioCNN(), (1, 1, 8000), False),
    }


def full_zoo() -> dict[str, tuple[nn.Module, tuple[int, ...], bool]]:
    tv = torchvision.models
    shape = (1, 3, 224, 224)
    return {
        "resnet18": (tv.resnet18(), shape, False),
        "mobilenet_v3_small": (tv.mobilenet_v3_small(), shape, False),
        "squeezenet1_1": (tv.squeezenet1_1(), shape, False),
        "efficientnet_b0": (tv.efficientnet_b0(), shape, False),
        "densenet121": (tv.densenet121(), shape, False),
    }


def export(name: str, model: nn.Module, shape: tuple[int, ...], legacy: bool, out: Path) -> dict:
    torch.manual_seed(0)
    model = randomise_bn(model, seed=1).eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    path = out / f"{name}.onnx"
    if legacy:
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"])
    else:
        torch.onnx.export(model, (x,), str(path), external_data=False, input_names=["input"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(model(x).numpy(), y, rtol=1e-3, atol=1e-4), name
    np.savez_compressed(out / f"{name}.npz", x=x.numpy(), y=y)
    return {
        "file": path.name,
        "input": list(shape),
        "bytes": path.stat().st_size,
        "exporter": "torchscript" if legacy else "dynamo",
        "torch": torch.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", type=Path, help="export the full-size zoo into this folder instead")
    ap.add_argument("--only", nargs="*", help="names to export (default: all)")
    args = ap.parse_args()
    out = args.full or SMALL_DIR
    out.mkdir(parents=True, exist_ok=True)
    zoo = full_zoo() if args.full else small_zoo()
    index = {}
    for name, (model, shape, legacy) in zoo.items():
        if args.only and name not in args.only:
            continue
        index[name] = export(name, model, shape, legacy, out)
        print(name, index[name])
    old = json.loads((out / "index.json").read_text()) if (out / "index.json").exists() else {}
    (out / "index.json").write_text(json.dumps({**old, **index}, indent=1) + "\n")


if __name__ == "__main__":
    main()
