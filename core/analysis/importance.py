"""Which filters matter: freeze each filter of a layer alone and measure what the model loses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd

from core.graph.engine import Tracer
from core.model.outputs import class_scores, probabilities

# Below this, a drop is rounding noise of float32 (a confident model's probability stays 1.0).
NEGLIGIBLE = 1e-6


def filter_importance(
    tracer: Tracer,
    x: np.ndarray,
    layer: str,
    *,
    labels: np.ndarray | None = None,
    card: Mapping[str, Any],
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Rank the channels of `layer` by the damage that freezing each one alone does.

    x: (N, *input) batch; row 0 is the current input, whose predicted class is tracked.
    labels: (N,) true classes of the rows (or -1 where unknown) for the accuracy drop.
    Returns one row per channel: logit_drop (the predicted class's pre-softmax score of row 0,
    before minus after: what ranks, since a confident model's probability saturates at 1.0 and
    then hardly moves), prob_drop (its probability, the same way), accuracy_drop (over labelled
    rows); sorted by logit_drop, then prob_drop, then accuracy_drop (then channel).
    """
    plan = tracer.plan
    start = plan.index(layer)
    base = tracer(x)  # {name: (N, ...)} one forward pass
    out_name = plan.output_name
    p0 = probabilities(card, base[out_name])
    cls = int(np.argmax(p0[0]))
    z0 = float(keras.ops.convert_to_numpy(class_scores(card, plan, base))[0, cls])
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

        def zero_c(n: str, y: Any, m: np.ndarray = mask) -> Any:  # m: this c's mask
            return y * m if n == layer else y

        outs = dict(
            zip(
                plan.names,
                plan.run(np.asarray(x, np.float32), values=prefix, start=start, after=zero_c),
            )
        )
        p = probabilities(card, keras.ops.convert_to_numpy(outs[out_name]))
        z = float(keras.ops.convert_to_numpy(class_scores(card, plan, outs))[0, cls])
        row = {
            "channel": c,
            "logit_after": z,
            "logit_drop": z0 - z,
            "prob_after": float(p[0, cls]),
            "prob_drop": float(p0[0, cls] - p[0, cls]),
        }
        if known:
            acc = float(np.mean(np.argmax(p[has], axis=1) == lab[has]))
            row.update(accuracy_after=acc, accuracy_drop=acc0 - acc)
        rows.append(row)
        if on_progress is not None:
            on_progress(c + 1, n_ch)
    df = pd.DataFrame(rows)
    keys = ["logit_drop", "prob_drop"] + (["accuracy_drop"] if known else [])
    return df.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)


def all_negligible(df: pd.DataFrame, column: str) -> bool:
    """True when no channel's `column` drop is above float noise: a ranking by it says nothing."""
    return bool((df[column].abs() <= NEGLIGIBLE).all())
