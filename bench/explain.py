"""What explanations cost: every attribution method, a deletion curve, the randomisation check
and CKA, against one forward pass of the same model.

    python -m bench.explain [--repeats 5] [--cka-inputs 200]

For each built-in model (LeNet-5, the VGG, the spoken-digit model; audio maps are over its
spectrogram), one gallery sample, medians over repeats in this process (compiled functions
warmed up first, as a page has them after its first call):
  forward     the model on one input inside tf.function (the baseline of every ratio)
  <method>    api.attribution with default options (integrated gradients: 64 steps as one batch)
  deletion    api.deletion_auc of the IG map: 20 steps + 3 random orders (84 forward passes)
  random      api.randomization_check(method="gradient"), once (clones the model)
  cka         api.cka(m, m) over --cka-inputs inputs (gallery samples with noise), once
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.trace import median_ms  # noqa: E402
from core import api  # noqa: E402
from core.inputs.samples import colour_scenes, gallery_digits, speech_clips  # noqa: E402

MODELS = {
    "lenet_mnist": gallery_digits,
    "vgg_cifar10": colour_scenes,
    "spoken_digits": speech_clips,
}


def _noisy_inputs(m, pool, n: int) -> list:
    """n raw inputs: the gallery's, repeated with a little noise (CKA needs distinct inputs)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        raw = pool[i % len(pool)].raw
        if m.kind == "audio":
            y, sr = raw
            out.append((y + rng.normal(0, 0.005, y.shape).astype(np.float32), sr))
        else:
            out.append(
                np.clip(raw.astype(np.int16) + rng.integers(-12, 13, raw.shape), 0, 255).astype(
                    np.uint8
                )
            )
    return out


def _once_ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cka-inputs", type=int, default=200)
    args = ap.parse_args(argv)
    summary = []
    for name, gallery in MODELS.items():
        m = api.load(name)
        pool = gallery()
        raw = pool[3].raw
        x = api.prepare(m, raw)[0][None]
        fwd = tf.function(lambda v: m.model(v, training=False))
        t_fwd = median_ms(lambda: fwd(x), args.repeats * 4)
        rows = [("forward", t_fwd)]
        for method in api.attribution_methods():
            rows.append(
                (method, median_ms(lambda: api.attribution(m, raw, method=method), args.repeats))
            )
        ig = api.attribution(m, raw, method="integrated_gradients")
        rows.append(("deletion", median_ms(lambda: api.deletion_auc(m, raw, ig), args.repeats)))
        rows.append(
            ("random", _once_ms(lambda: api.randomization_check(m, raw, method="gradient")))
        )
        inputs = _noisy_inputs(m, pool, args.cka_inputs)
        rows.append((f"cka {args.cka_inputs}", _once_ms(lambda: api.cka(m, m, inputs))))
        print(f"\n{name}  ({m.card.get('title', name)}; maps {ig.shape[0]}×{ig.shape[1]})")
        print(f"  {'case':24} {'ms':>10} {'× forward':>10}")
        for case, ms in rows:
            print(f"  {case:24} {ms:10.1f} {ms / t_fwd:10.1f}")
            if case != "forward":
                summary.append(("explain", f"{name} {case}", "time / one forward pass", ms / t_fwd))
    return summary


if __name__ == "__main__":
    main()
