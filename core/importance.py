"""Which filters matter: freeze each filter of a layer alone and measure what the model loses."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import keras
import numpy as np
import pandas as pd

from core.engine import Tracer
from core.outputs import probabilities


def filter_importance(tracer: Tracer, x: np.ndarray, layer: str, *,
                      labels: np.ndarray | None = None, card: Mapping[str, Any],
                      on_progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Rank the channels of `layer` by the damage that freezing each one alone does.

    x: (N, *input) batch; row 0 is the current input, whose predicted class is tracked.
    labels: (N,) true classes of the rows (or -1 where unknown) for the accuracy drop.
    Returns one row per channel: prob_drop (predicted class probability of row 0, before minus
    after), accuracy_drop (over labelled rows), sorted by prob_drop then accuracy_drop.
    """
    plan = tracer.plan
    start = plan.index(layer)
    base = tracer(x)                                   # {name: (N, ...)} one forward pass
    out_name = plan.output_name
    p0 = probabilities(card, base[out_name])
    cls = int(np.argmax(p0[0]))
    known = labels is not None and (np.asarray(labels) >= 0).any()
    if known:
        lab = np.asarray(labels)
        has = lab >= 0
        acc0 = float(np.mean(np.argmax(p0[has], axis=1) == lab[has]))
    prefix = {n: keras.ops.convert_to_tensor(base[n]) for n in plan.needed_before(start)}
    n_ch = int(base[layer].shape[-1])
    rows = []
    for c in range(n_ch):
        mask = np.ones(n_ch, np.float32)
        mask[c] = 0.0
        outs = plan.run(np.asarray(x, np.float32), values=prefix, start=start,
                        after=lambda n, y: y * mask if n == layer else y)
        p = probabilities(card, keras.ops.convert_to_numpy(outs[plan.names.index(out_name)]))
        row = {"channel": c, "prob_after": float(p[0, cls]),
               "prob_drop": float(p0[0, cls] - p[0, cls])}
        if known:
            acc = float(np.mean(np.argmax(p[has], axis=1) == lab[has]))
            row.update(accuracy_after=acc, accuracy_drop=acc0 - acc)
        rows.append(row)
        if on_progress is not None:
            on_progress(c + 1, n_ch)
    df = pd.DataFrame(rows)
    keys = ["prob_drop", "accuracy_drop"] if known else ["prob_drop"]
    return df.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)
