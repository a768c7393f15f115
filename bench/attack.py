"""Attack costs: every offered method on LeNet, the CIFAR-10 VGG and the spoken-digit model.

    python -m bench.attack [--repeats 3]

Per model, on one built-in input, with each method's default steps (what the Attack page runs):
  forward   model(x, training=False), batch 1: the baseline every time is a multiple of
  attack    run_attack(...) wall time (median of --repeats), success at the page's default ε
Then a robustness sweep: FGSM with 5 epsilons over 50 inputs (the built-in samples, repeated
to 50), one foolbox call per chunk of 10 inputs, against the same forward pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.trace import median_ms  # noqa: E402
from core import api  # noqa: E402
from core.analysis.attack_space import epsilon_units, to_epsilon  # noqa: E402
from core.analysis.attacks import attack_methods, method_info, run_attack, sweep  # noqa: E402
from core.inputs.samples import colour_scenes, gallery_digits, gallery_kind, speech_clips  # noqa: E402


def _inputs(m) -> tuple[np.ndarray, int]:
    """The model's built-in samples, prepared (N, ...), and the index of the one to attack: the
    first from the 8th on that the model classifies correctly (an attack on a miss is moot)."""
    pool = {"digits": gallery_digits, "scenes": colour_scenes, "speech": speech_clips}[
        gallery_kind(m.card)
    ]()
    xs = np.stack([api.prepare(m, s.raw)[0] for s in pool])
    pred = np.argmax(m.model(xs, training=False), axis=-1)
    order = list(range(7, len(xs))) + list(range(7))
    right = [i for i in order if m.labels[int(pred[i])] == pool[i].label]
    return xs, (right or order)[0]


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    summary = []
    for name in ("lenet_mnist", "vgg_cifar10", "spoken_digits"):
        m = api.load(name)
        xs, i = _inputs(m)
        x = xs[i]
        t_fwd = median_ms(lambda: m.model(x[None], training=False), 20)
        print(f"\n{name}: forward {t_fwd:.2f} ms (batch 1); attacked: built-in sample {i}")
        print(
            f"  {'method':24} {'ε (page units)':>18} {'steps':>6} {'attack':>10} "
            f"{'attack/forward':>15} {'success':>8}"
        )
        for method in attack_methods():
            info = method_info(method)
            u = epsilon_units(m, info.norm)
            eps = to_epsilon(m, x, info.norm, u.default)
            times, ok = [], None
            for _ in range(args.repeats):
                t = time.perf_counter()
                r = run_attack(m, x, method=method, epsilon=eps)
                times.append((time.perf_counter() - t) * 1e3)
                ok = r.success
            t_att = statistics.median(times)
            print(
                f"  {method:24} {u.default:>12g} {'dB' if m.kind == 'audio' else 'lv':>5} "
                f"{str(info.default_steps or '-'):>6} {t_att:8.0f} ms {t_att / t_fwd:15.0f} "
                f"{str(ok):>8}"
            )
            summary.append(("attack", f"{name} {method}", "attack / forward", t_att / t_fwd))
        batch = np.concatenate([xs] * (50 // len(xs) + 1))[:50]
        u = epsilon_units(m, "Linf")
        values = (
            np.linspace(u.default / 4, min(u.default * 2, u.max), 5)
            if m.kind == "image"
            else np.linspace(-50, -20, 5)
        )
        eps = [to_epsilon(m, x, "Linf", v) for v in values]
        t = time.perf_counter()
        df, _ = sweep(m, batch, method="FGSM", epsilons=eps)
        t_sw = (time.perf_counter() - t) * 1e3
        rates = ", ".join(f"{v:g}: {r:.0%}" for v, r in zip(values, df["success_rate"]))
        print(
            f"  sweep FGSM, 5 ε x 50 inputs: {t_sw:.0f} ms ({t_sw / t_fwd:.0f} forward passes); "
            f"success by ε ({'dB' if m.kind == 'audio' else 'levels'}) {rates}"
        )
        summary.append(("attack", f"{name} FGSM sweep 5 ε × 50", "sweep / forward", t_sw / t_fwd))
    return summary


if __name__ == "__main__":
    main()
