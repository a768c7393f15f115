"""Evaluating a dataset (api.evaluate): throughput against raw batched tracer.forward.

    python -m bench.dataset [--repeats 3] [--models lenet_mnist,vgg_cifar10,spoken_digits]

For each built-in model, on its whole probe set, in the same run and alternately:
  forward   m.tracer.forward over the already converted inputs, in batches of
            core.analysis.evaluation.BLOCK: the floor any evaluation must pay
  score     core.analysis.evaluation.score over the same inputs (what api.evaluate runs: the
            forward pass, probabilities, one block at a time), in process, no disk cache
  evaluate  api.evaluate(m, (raws, labels), cache=False) from the raw inputs: their
            conversion (the card's resize, scaling, resampling) and the content key included
  cached    api.evaluate of the same dataset read back from the disk cache (a temporary folder)
Ratios are throughputs against `forward` (target: score >= 0.85x; evaluate is reported too:
its conversion of raws costs what the model's own forward pass may not).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from bench.common import Row, Table, best_of, parser  # noqa: E402
from core import api  # noqa: E402
from core.analysis.evaluation import BLOCK, score  # noqa: E402
from core.inputs.prepare import stack  # noqa: E402
from core.work import INLINE  # noqa: E402

TARGET = 0.85


def main(argv: list[str] | None = None) -> list[Row]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    models = "lenet_mnist,vgg_cifar10,spoken_digits"
    args = parser(__doc__, repeats=3, models=models).parse_args(argv)
    rows: list[Row] = []
    table = Table(
        "model 14 | inputs 6d | forward s 9.3f | score s 9.3f | evaluate s 10.3f | cached s 9.3f"
        f" | score x 8.2f | eval x 7.2f | score >= {TARGET}x >15"
    )
    table.header()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LAYERLAB_DATA_DIR"] = tmp
        for name in args.models.split(","):
            m = api.load(name)
            raws, labels = api.probe_set(m)
            keep = labels >= 0
            raws, labels = [r for r, k in zip(raws, keep) if k], labels[keep]
            x = stack(m, raws)
            blocks = [(a, min(len(x), a + BLOCK)) for a in range(0, len(x), BLOCK)]

            def forward():
                for a, b in blocks:
                    m.tracer.forward(x[a:b])

            def scored():
                score(m, x, blocks, executor=INLINE)

            def evaluated():
                api.evaluate(m, (raws, labels), cache=False, executor=INLINE)

            forward(), scored()  # warm: the compiled functions exist before timing
            t_fwd, t_score, t_eval = best_of([forward, scored, evaluated], args.repeats)
            api.evaluate(m, (raws, labels), executor=INLINE)  # fills the disk cache
            (t_cached,) = best_of([lambda: api.evaluate(m, (raws, labels), executor=INLINE)], 3)
            rs, re = t_fwd / t_score, t_fwd / t_eval
            ok = "ok" if rs >= TARGET else "UNDER"
            table.row(name, len(x), t_fwd, t_score, t_eval, t_cached, rs, re, ok)
            rows += [
                ("dataset", f"{name} score ({len(x)} inputs)", "throughput / forward", rs),
                ("dataset", f"{name} evaluate from raws", "throughput / forward", re),
                ("dataset", f"{name} evaluate, disk cache", "s", t_cached),
            ]
    return rows


if __name__ == "__main__":
    main()
