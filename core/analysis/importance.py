"""Which filters matter: freeze each filter of a layer alone and measure what the model loses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import pandas as pd

from core.graph.engine import Tracer
from core.graph.interventions import frozen_graph
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
    channels: list[int] | None = None,
    chunk: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Rank the channels of `layer` by the damage that freezing each one alone does.

    x: (N, *input) batch; row 0 is the current input, whose predicted class is tracked.
    labels: (N,) true classes of the rows (or -1 where unknown) for the accuracy drop.
    Returns one row per channel: logit_drop (the predicted class's pre-softmax score of row 0,
    before minus after: what ranks, since a confident model's probability saturates at 1.0 and
    then hardly moves), prob_drop (its probability, the same way), accuracy_drop (over labelled
    rows); sorted by logit_drop, then prob_drop, then accuracy_drop (then channel).
    channels: only these (default all): rank() of the concatenated results of calls over
    consecutive channel ranges equals one call over all of them.
    chunk: rows per forward pass (default all; core.work.budget picks it for a large model).
    """
    plan = tracer.plan
    start = plan.index(layer)
    out_name = plan.output_name
    n = len(x)
    chunk = n if chunk is None else max(1, int(chunk))
    lab = np.full(n, -1) if labels is None else np.asarray(labels)
    has = lab >= 0
    known = bool(has.any())
    n_ch = int(tracer.flat.outputs[tracer.names.index(layer)].shape[-1])
    todo = list(range(n_ch)) if channels is None else [int(c) for c in channels]
    right = np.zeros(len(todo), np.int64)  # labelled rows still right with channel c frozen
    right0 = 0
    fn = frozen_graph(tracer, (layer,))
    first: dict[int, tuple[float, float]] = {}  # c -> (logit, probability) of row 0's class
    steps = -(-n // chunk) * len(todo)
    done = 0
    for i0 in range(0, n, chunk):
        xb = np.asarray(x[i0 : i0 + chunk], np.float32)
        hb, lb = has[i0 : i0 + chunk], lab[i0 : i0 + chunk]
        base = tracer(xb)  # {name: (n, ...)} one forward pass
        p0 = probabilities(card, base[out_name])
        if i0 == 0:
            cls = int(np.argmax(p0[0]))
            z0 = float(keras.ops.convert_to_numpy(class_scores(card, plan, base))[0, cls])
            prob0 = float(p0[0, cls])
        right0 += int(np.sum(np.argmax(p0[hb], axis=1) == lb[hb]))
        # One compiled graph for the steps after `layer` (shared with the Freeze page's
        # freezes of it); `layer`'s own output goes in masked, one channel at a time.
        values = {k: base[k] for k in plan.needed_before(start + 1)}
        xin = xb if plan.reads_input(start + 1) else None
        y = base[layer]  # (n, *spatial, C)
        for j, c in enumerate(todo):
            mask = np.ones(n_ch, np.float32)
            mask[c] = 0.0
            masked = y * mask
            if layer in values:
                values[layer] = masked
            tail = fn(xin, values, {}) if start + 1 < len(plan.names) else []
            outs = {**base, layer: masked, **dict(zip(plan.names[start + 1 :], tail))}
            p = probabilities(card, keras.ops.convert_to_numpy(outs[out_name]))
            right[j] += int(np.sum(np.argmax(p[hb], axis=1) == lb[hb]))
            if i0 == 0:
                z = float(keras.ops.convert_to_numpy(class_scores(card, plan, outs))[0, cls])
                first[c] = (z, float(p[0, cls]))
            done += 1
            if on_progress is not None:
                on_progress(done, steps)
        del base, values
    rows = []
    for j, c in enumerate(todo):
        z, pc = first[c]
        row = {
            "channel": c,
            "logit_after": z,
            "logit_drop": z0 - z,
            "prob_after": pc,
            "prob_drop": prob0 - pc,
        }
        if known:
            acc0, acc = right0 / int(has.sum()), int(right[j]) / int(has.sum())
            row.update(accuracy_after=acc, accuracy_drop=acc0 - acc)
        rows.append(row)
    return rank(pd.DataFrame(rows))


def rank(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by logit_drop, prob_drop, accuracy_drop (where present); ties keep their
    order (channel order, also across concatenated results of consecutive channel ranges)."""
    keys = ["logit_drop", "prob_drop"] + (["accuracy_drop"] if "accuracy_drop" in df else [])
    return df.sort_values(keys, ascending=False, kind="stable").reset_index(drop=True)


def all_negligible(df: pd.DataFrame, column: str) -> bool:
    """True when no channel's `column` drop is above float noise: a ranking by it says nothing."""
    return bool((df[column].abs() <= NEGLIGIBLE).all())
