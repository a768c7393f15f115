"""The scripting API against the bare model, with the targets of issue 14.

    python -m bench.engine [--repeats 30] [--attack-repeats 3] [--models lenet,vgg,audio,mobilenet]
    (also: resnet50, ResNet50 at 64x64 with random weights, not in the default list)

Per model, batch 1, medians in this process ("compiled forward" = tf.function(lambda x:
model(x, training=False)) on the same prepared input, the baseline every ratio divides by):
  api.trace / compiled forward            target <= 1.2
  api.predict / compiled forward          target <= 1.1
  api.trace(frozen={last conv: [c]}) / api.trace, from the second call on, c alternating
                                          target <= 0.5
  api.attack(method) / raw foolbox, every offered method, on the image models (the same
  keras model in fb.TensorFlowModel with the same input, epsilon, criterion and steps)
                                          target <= 1.2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from core import api  # noqa: E402
from core.analysis.attack_space import bounds_of  # noqa: E402
from core.analysis.attacks import attack_methods, method_info  # noqa: E402
from core.inputs.prepare import gallery  # noqa: E402

_CONV = (
    keras.layers.Conv2D,
    keras.layers.Conv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
)
TARGETS = {"trace": 1.2, "predict": 1.1, "freeze": 0.5, "attack": 1.2}


def _application(tmp: str, app: str, size: int, preprocessing: str) -> api.LoadedModel:
    """A keras.applications network at size x size, random weights (seed 0), loaded as a user's
    upload would be."""
    keras.utils.set_random_seed(0)
    net = getattr(keras.applications, app)(input_shape=(size, size, 3), weights=None, classes=10)
    path = os.path.join(tmp, f"{app.lower()}_{size}.keras")
    net.save(path)
    return api.load(path, card={"preprocessing": preprocessing})


def _models(names: list[str], tmp: str) -> dict[str, api.LoadedModel]:
    build = {
        "lenet": lambda: api.load("lenet_mnist"),
        "vgg": lambda: api.load("vgg_cifar10"),
        "audio": lambda: api.load("spoken_digits"),
        "mobilenet": lambda: _application(tmp, "MobileNetV2", 96, "-1-1"),
        # Not in the default list: a deep graph where XLA is erratic (engine.suits_xla keeps
        # it on the TF graph; bench.breakdown's "the same under XLA" row shows why).
        "resnet50": lambda: _application(tmp, "ResNet50", 64, "caffe"),
    }
    return {n: build[n]() for n in names}


def _raw(m: api.LoadedModel):
    if m.source == "builtin":
        return gallery(m)[0].raw
    shape = m.tracer.plan.model.inputs[0].shape[1:]
    return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)


def paired(fn, base, repeats: int, warm: int = 2) -> tuple[float, float, float]:
    """(median ms of fn, median ms of base, median of the per-pair ratios), the two calls
    interleaved so that load from other processes falls on both alike (a shared machine)."""
    for _ in range(warm):  # warm-up: first calls trace graphs / allocate
        fn(), base()
    a, b, r = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        base()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
        r.append((t1 - t0) / (t2 - t1))
    return statistics.median(a) * 1e3, statistics.median(b) * 1e3, statistics.median(r)


def _logits_model(model: keras.Model) -> keras.Model:
    """The same model returning logits, as foolbox asks of its models (and as api.attack
    attacks): the softmax Dense rebuilt without its activation, sharing its weights. On the
    softmax output itself DeepFool and Carlini-Wagner run different numbers of steps. (LeNet
    ends in a softmax Activation layer: its input.)"""
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):  # a Softmax/Activation layer: its input
        return keras.Model(model.inputs, last.input)
    dense = keras.layers.Dense.from_config({**last.get_config(), "activation": "linear"})
    logits = dense(last.input)
    dense.set_weights(last.get_weights())
    return keras.Model(model.inputs, logits)


def _raw_foolbox(m: api.LoadedModel, x: np.ndarray, method: str, eps: float, label: int):
    """The attack as a foolbox user writes it: the keras model itself (its logits), no Layer
    Lab code."""
    import foolbox as fb

    fmodel = fb.TensorFlowModel(_logits_model(m.model), bounds=bounds_of(m), device="/CPU:0")
    info = method_info(method)
    attack = info.make(info.default_steps)
    xt = tf.convert_to_tensor(x[None])
    crit = fb.criteria.Misclassification(tf.constant([label], tf.int64))
    return lambda: attack(fmodel, xt, crit, epsilons=[eps])


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--attack-repeats", type=int, default=3)
    ap.add_argument("--models", default="lenet,vgg,audio,mobilenet")
    args = ap.parse_args(argv)
    rows: list[tuple[str, str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        models = _models(args.models.split(","), tmp)
        print(
            f"{'model':10} {'forward':>9} {'trace':>9} {'predict':>9} {'freeze':>9} "
            f"{'trace/fwd':>9} {'predict/fwd':>11} {'freeze/trace':>12}  last conv"
        )
        for name, m in models.items():
            raw = _raw(m)
            x, _ = api.prepare(m, raw)
            fwd_fn = tf.function(lambda t, m=m: m.model(t, training=False))
            xb = x[None].astype(np.float32)
            forward = lambda: fwd_fn(xb).numpy()  # noqa: E731
            tr, fwd, r_tr = paired(lambda: api.trace(m, raw), forward, args.repeats)
            pr, _, r_pr = paired(lambda: api.predict(m, raw), forward, args.repeats)
            steps = m.tracer.plan.steps_by_name()
            last = [n for n, s in steps.items() if isinstance(s.op, _CONV)][-1]
            api.trace(m, raw, frozen={last: [0]})  # the first call builds the graph
            k = iter(range(10**9))
            fz, _, r_fz = paired(
                lambda: api.trace(m, raw, frozen={last: [next(k) % 2]}),
                lambda: api.trace(m, raw),
                args.repeats,
            )
            print(
                f"{name:10} {fwd:7.2f}ms {tr:7.2f}ms {pr:7.2f}ms {fz:7.2f}ms {r_tr:9.2f} "
                f"{r_pr:11.2f} {r_fz:12.2f}  {last}"
            )
            rows += [
                ("engine", f"{name} api.trace", "/ compiled forward (<= 1.2)", r_tr),
                ("engine", f"{name} api.predict", "/ compiled forward (<= 1.1)", r_pr),
                ("engine", f"{name} freeze {last}", "/ api.trace (<= 0.5)", r_fz),
            ]
        for name, m in models.items():
            if m.kind != "image" or m.source != "builtin":
                continue
            raw = _raw(m)
            x, _ = api.prepare(m, raw)
            label = int(np.argmax(api.predict(m, raw)))
            print(
                f"\n{name}: api.attack against raw foolbox (ms, medians of at least "
                f"{args.attack_repeats} interleaved pairs after a warm-up; default steps; "
                "epsilon 8/255 Linf, 1.0 L2)"
            )
            for method in attack_methods():
                info = method_info(method)
                eps = 8 / 255 if info.norm == "Linf" else 1.0
                raw_fb = _raw_foolbox(m, x, method, eps, label)
                t = time.perf_counter()
                raw_fb()
                # Cheap methods (tens of ms) get more pairs: their medians are noisier.
                n = max(args.attack_repeats, min(15, int(1.0 / (time.perf_counter() - t))))
                ours, theirs, ratio = paired(
                    lambda: api.attack(m, raw, method=method, epsilon=eps), raw_fb, n, warm=1
                )
                print(f"  {method:24} api {ours:8.0f}  foolbox {theirs:8.0f}  ratio {ratio:5.2f}")
                rows.append(("engine", f"{name} attack {method}", "/ raw foolbox (<= 1.2)", ratio))
    met = sum(1 for _, case, r, v in rows if v <= TARGETS[_kind(case)])
    print(f"\ntargets met: {met} of {len(rows)}")
    return rows


def _kind(case: str) -> str:
    return next(
        k
        for k in ("trace", "predict", "freeze", "attack")
        if f" {k}" in f" {case}".replace("api.", "")
    )


if __name__ == "__main__":
    main()
