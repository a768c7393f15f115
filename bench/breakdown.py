"""Where api.trace's and a freeze's time goes, beyond a compiled forward pass (profile, no targets).

    python -m bench.breakdown [--repeats 30] [--models lenet,vgg,audio,mobilenet] (or resnet50)

Per model, batch 1, medians of interleaved pairs, each divided by the compiled forward pass of
bench.engine (tf.function(lambda x: model(x, training=False)) on the prepared input):
  flat graph, final output only   the tracer's flattened graph asked for the model's output
                                  alone (what flattening itself costs)
  flat graph, every output        the same graph asked for every layer's output, as tensors
                                  (what exposing them costs: fusion lost, memory written)
  the same under XLA              (what the tracer runs where engine.suits_xla says so)
  + read-only NumPy views         Tracer(x): the chosen graph plus conversion to arrays
  prepare(raw)                    raw input -> model input (resampling, word placement, ...)
  api.trace(raw)                  all of it
and, for the freeze of the last conv layer, divided by api.trace instead:
  an empty compiled call          a concrete function that returns its input: the floor of
                                  any compiled call on this machine
  tail alone                      the downstream graph the freeze runs, called directly
  api.trace(frozen=...)           all of it
"""

from __future__ import annotations

import argparse
import tempfile

import keras
import numpy as np
import tensorflow as tf

from bench.engine import _CONV, _models, _raw, paired
from core import api
from core.graph.interventions import compile_frozen


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--models", default="lenet,vgg,audio,mobilenet")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, m in _models(args.models.split(","), tmp).items():
            raw = _raw(m)
            x, _ = api.prepare(m, raw)
            xb = x[None].astype(np.float32)
            fwd_fn = tf.function(lambda t, m=m: m.model(t, training=False))
            forward = lambda: fwd_fn(xb).numpy()  # noqa: E731
            flat = m.tracer.flat
            spec = tf.TensorSpec(xb.shape, tf.float32)
            only = keras.Model(flat.inputs, flat.outputs[-1])
            one_out = tf.function(lambda t: only(t, training=False)).get_concrete_function(spec)
            every = tf.function(lambda t: flat(t, training=False)).get_concrete_function(spec)
            xla = tf.function(
                lambda t: flat(t, training=False), jit_compile=True
            ).get_concrete_function(spec)
            rows = [
                ("flat graph, final output only", lambda: one_out(xb)),
                ("flat graph, every output", lambda: every(xb)),
                ("the same under XLA", lambda: xla(xb)),
                ("+ read-only NumPy views", lambda: m.tracer(xb)),
                ("prepare(raw)", lambda: api.prepare(m, raw)),
                ("api.trace(raw)", lambda: api.trace(m, raw)),
            ]
            print(f"\n{name}: {len(m.tracer.names)} outputs")
            for label, fn in rows:
                a, b, r = paired(fn, forward, args.repeats)
                print(f"  {label:32} {a:8.2f} ms   forward {b:7.2f} ms   ratio {r:5.2f}")

            steps = m.tracer.plan.steps_by_name()
            last = [n for n, s in steps.items() if isinstance(s.op, _CONV)][-1]
            api.trace(m, raw, frozen={last: [0]})  # builds and chooses the tail graph
            base = m.tracer.recent(x)
            y = base[last][None]
            ident = tf.function(lambda t: t).get_concrete_function(tf.TensorSpec(y.shape))
            # The tail api.trace built and chose (same key as core.api._trace).
            fn = m.tracer.owned(("frozen", (last,)), lambda: compile_frozen(m.tracer.plan, (last,)))
            start = m.tracer.plan.index(last) + 1
            values = {n: base[n][None] for n in m.tracer.plan.needed_before(start)}
            xin = xb if m.tracer.plan.reads_input(start) else None
            k = iter(range(10**9))
            full = lambda: api.trace(m, raw)  # noqa: E731
            print(f"  freeze {last}, against api.trace:")
            for label, f in [
                ("an empty compiled call", lambda: ident(y)),
                ("tail alone", lambda: fn(xin, values, {})),
                ("api.trace(frozen=...)", lambda: api.trace(m, raw, frozen={last: [next(k) % 2]})),
            ]:
                a, b, r = paired(f, full, args.repeats)
                print(f"  {label:32} {a:8.2f} ms   trace   {b:7.2f} ms   ratio {r:5.2f}")
    return []


if __name__ == "__main__":
    main()
