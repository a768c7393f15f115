"""Trace cost against one forward pass, and against one sub-model per layer (NeuralVis' way).

    python -m bench.trace [--repeats 30]

For each model: medians over repeated runs in this process, batch of 1 (what a page traces).
  forward   model(x, training=False), eager: what one prediction costs
  forward_g the same model call inside tf.function (a compiled graph)
  trace     Tracer(x): every layer's output from one multi-output model, as numpy
  baseline  one keras.Model per layer, each called on x (quadratic in depth)
Ratios are against `forward` measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.baseline import per_layer_submodels, reference_trace  # noqa: E402
from core.graph.engine import Tracer  # noqa: E402


def vgg_style() -> keras.Model:
    """A VGG-style CIFAR network: 3 blocks of two 3×3 convs with BatchNorm, then dense layers."""
    x = inp = keras.Input((32, 32, 3))
    for i, width in enumerate((32, 64, 128)):
        for j in range(2):
            x = keras.layers.Conv2D(width, 3, padding="same", name=f"b{i}c{j}")(x)
            x = keras.layers.BatchNormalization(name=f"b{i}bn{j}")(x)
            x = keras.layers.ReLU(name=f"b{i}relu{j}")(x)
        x = keras.layers.MaxPooling2D(name=f"b{i}pool")(x)
        x = keras.layers.Dropout(0.3, name=f"b{i}drop")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(256, activation="relu")(x)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x), name="vgg_style")


def models() -> dict[str, keras.Model]:
    keras.utils.set_random_seed(0)
    from core import api

    return {
        "LeNet-5 (built-in)": api.load("lenet_mnist").model,
        "VGG-style 32x32": vgg_style(),
        "MobileNetV2 96x96": keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None),
    }


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first call traces graphs / allocates
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    rows = []
    for name, model in models().items():
        x = np.random.default_rng(0).random((1, *model.inputs[0].shape[1:]), dtype=np.float32)
        tracer = Tracer(model)
        subs = per_layer_submodels(model)
        graph_fwd = tf.function(lambda t: model(t, training=False))
        fwd = median_ms(lambda: keras.ops.convert_to_numpy(model(x, training=False)), args.repeats)
        fwd_g = median_ms(lambda: graph_fwd(x).numpy(), args.repeats)
        tr = median_ms(lambda: tracer(x), args.repeats)
        base = median_ms(lambda: reference_trace(model, x, subs), max(3, args.repeats // 5))
        rows.append((name, len(tracer.names), fwd, fwd_g, tr, base))
    print(
        f"{'model':22} {'layers':>6} {'forward':>9} {'forward_g':>9} {'trace':>9} "
        f"{'baseline':>10} {'trace/fwd':>9} {'trace/fwd_g':>11} {'base/fwd':>9} {'base/trace':>10}"
    )
    for name, n, fwd, fwd_g, tr, base in rows:
        print(
            f"{name:22} {n:6d} {fwd:8.2f}ms {fwd_g:8.2f}ms {tr:8.2f}ms {base:9.1f}ms "
            f"{tr / fwd:9.2f} {tr / fwd_g:11.2f} {base / fwd:9.1f} {base / tr:10.1f}"
        )
    return [
        r
        for name, _, fwd, fwd_g, tr, base in rows
        for r in (
            ("trace", name, "trace / eager forward", tr / fwd),
            ("trace", name, "trace / compiled forward", tr / fwd_g),
            ("trace", name, "sub-model per layer / trace", base / tr),
        )
    ]


if __name__ == "__main__":
    main()
