"""How a cluster splits a heavy call into tasks and folds their results into the local run's.

A `Shard` says, for one api function, how its call becomes tasks (split: calls of a module
function over consecutive pieces of the inputs, or of the channels) and how their results, in
order, become the result the call gives in one process (fold). Pieces follow the function's
own chunks (a sweep attacks 10 inputs at a time, a scan passes `chunk` inputs), so every model
call sees the batches the local run makes and the results are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Task = tuple[Callable[..., Any], tuple, dict]


@dataclass(frozen=True)
class Shard:
    split: Callable[[tuple, dict, int], list[Task]]  # (args, kwargs, workers) -> tasks
    fold: Callable[[list[Any], tuple, dict], Any]  # results in order -> the call's result


def _pieces(n: int, unit: int, workers: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering n items, in multiples of unit, about 2 per worker."""
    units = -(-n // unit)
    per = max(1, -(-units // max(1, 2 * workers)))
    return [(i, min(n, i + per * unit)) for i in range(0, n, per * unit)]


# ---- sweep: consecutive inputs, 10 at a time like core.analysis.attacks.sweep ----------------
def _split_sweep(args: tuple, kwargs: dict, workers: int) -> list[Task]:
    from core import api
    from core.work.budget import sweep_chunk

    m, raws = args[:2]
    return [
        (api.sweep, (m, raws[a:b], *args[2:]), kwargs)
        for a, b in _pieces(len(raws), sweep_chunk(m.tracer), workers)
    ]


def _fold_sweep(results: list[Any], args: tuple, kwargs: dict) -> Any:
    import pandas as pd

    dfs = [r[0] for r in results]
    done = sum(int(d["n"].iloc[0]) for d in dfs)
    hits = sum(np.rint(d["success_rate"].to_numpy() * d["n"].to_numpy()) for d in dfs)
    eps = dfs[0]["epsilon"].tolist()
    df = pd.DataFrame({"epsilon": eps, "success_rate": hits / max(done, 1), "n": [done] * len(eps)})
    return df, max(r[1] for r in results)


SWEEP = Shard(_split_sweep, _fold_sweep)


# ---- importance: consecutive channel ranges, each over the whole batch -----------------------
def _split_importance(args: tuple, kwargs: dict, workers: int) -> list[Task]:
    from core import api

    m, _, layer = args[:3]
    n_ch = int(m.tracer.flat.outputs[m.tracer.names.index(layer)].shape[-1])
    return [
        (api.importance, args, {**kwargs, "channels": list(range(a, b))})
        for a, b in _pieces(n_ch, 1, workers)
    ]


def _fold_importance(results: list[Any], args: tuple, kwargs: dict) -> Any:
    import pandas as pd

    from core.analysis.importance import rank

    return rank(pd.concat(results, ignore_index=True))


IMPORTANCE = Shard(_split_importance, _fold_importance)


# ---- the exemplar scan: consecutive rows, in multiples of the scan's chunk --------------------
def scan_piece(m: Any, inputs: list[Any], labels: Any, first_row: int, chunk: int) -> Any:
    """One piece of api.filter_index: a core.analysis.exemplars.ScanPart."""
    from core.analysis.exemplars import scan_part
    from core.inputs.prepare import stack

    return scan_part(
        m.tracer,
        stack(m, inputs),
        labels=labels,
        n_classes=len(m.labels),
        first_row=first_row,
        chunk=chunk,
    )


def _scan_inputs(m: Any, kwargs: dict) -> tuple[list[Any], Any]:
    from core import api

    inputs, labels = kwargs.get("inputs"), kwargs.get("labels")
    if inputs is None:
        inputs, labels = api.probe_set(m)
    return inputs, labels


def _split_scan(args: tuple, kwargs: dict, workers: int) -> list[Task]:
    from core.work.budget import scan_chunk

    m = args[0]
    inputs, labels = _scan_inputs(m, kwargs)
    chunk = scan_chunk(m.tracer, len(inputs), len(m.labels))
    lab = None if labels is None else np.asarray(labels, np.int64)
    return [
        (scan_piece, (m, inputs[a:b], None if lab is None else lab[a:b], a, chunk), {})
        for a, b in _pieces(len(inputs), chunk, workers)
    ]


def _fold_scan(results: list[Any], args: tuple, kwargs: dict) -> Any:
    from core.analysis.exemplars import finish, merge_parts

    m = args[0]
    _, labels = _scan_inputs(m, kwargs)
    part = merge_parts(results)
    return finish(m.tracer, part, labels, 0.0)


SCAN = Shard(_split_scan, _fold_scan)


# ---- evaluation: consecutive blocks of rows, each task scoring whole blocks -----------------
def _split_evaluate(args: tuple, kwargs: dict, workers: int) -> list[Task]:
    from core.analysis.evaluation import score

    m, x, ranges = args[:3]
    offset = kwargs.get("offset", 0)
    tasks = []
    for a, b in _pieces(len(ranges), 1, workers):
        part = ranges[a:b]
        lo, hi = part[0][0], part[-1][1]
        kw = {**kwargs, "offset": lo, "folder": None}  # a worker elsewhere cannot write here
        tasks.append((score, (m, x[lo - offset : hi - offset], part), kw))
    return tasks


def _fold_evaluate(results: list[Any], args: tuple, kwargs: dict) -> Any:
    return [p for blocks in results for p in blocks]


EVALUATE = Shard(_split_evaluate, _fold_evaluate)
