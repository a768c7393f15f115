"""Budgets for heavy jobs, checked before anything is allocated.

Each job's peak is estimated from the plan's recorded shapes (every layer's output bytes for
one input, read off the tracer's graph, as the upload sandbox does) times the inputs it holds
at once, then the job is streamed in chunks that fit the per-job limit (LAYERLAB_JOB_MB), or
refused with the numbers and a way out. The factors are what a step keeps alive: a forward
pass of the multi-output graph holds every layer's output once; a gradient holds the forward
activations and, layer by layer as they are made, their gradients (about 2x).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from core.errors import JobBudgetError
from core.graph.engine import Tracer
from core.settings import human_bytes, limits

GRAD = 2  # a backward pass: the forward activations kept, and their gradients
CHUNK = 128  # the exemplar scan's largest chunk (core.analysis.exemplars.CHUNK)


def layer_bytes(tracer: Tracer) -> dict[str, int]:
    """Bytes of each layer's output for one input (unknown dimensions count as 1)."""
    out = {}
    for name, y in zip(tracer.names, tracer.flat.outputs):
        dims = [d for d in y.shape[1:] if d is not None]
        out[name] = int(np.prod(dims, dtype=np.float64)) * np.dtype(y.dtype).itemsize
    return out


def trace_bytes(tracer: Tracer) -> int:
    """Every layer's output for one input: what one input of a forward pass holds."""
    return sum(layer_bytes(tracer).values())


# (bytes, why): what the pool granted the job running in this context (see allowance).
_GRANT: ContextVar[tuple[int, str] | None] = ContextVar("layerlab_job_grant", default=None)


@contextmanager
def allowance(grant: int, why: str) -> Iterator[None]:
    """Within the block, a job may use `grant` bytes (under LAYERLAB_JOB_MB): what a worker
    pool left of the server's memory (core.work.pool); `why` says so in a refusal."""
    token = _GRANT.set((grant, why))
    try:
        yield
    finally:
        _GRANT.reset(token)


def limit() -> int:
    grant = _GRANT.get()
    return limits().job_bytes if grant is None else min(grant[0], limits().job_bytes)


def refuse(what: str, need: float, fix: str) -> JobBudgetError:
    grant = _GRANT.get()
    if grant is not None and grant[0] < limits().job_bytes:
        # The server's memory binds, not the job limit: that is the setting to raise.
        fix = fix.replace("LAYERLAB_JOB_MB", "LAYERLAB_SERVER_MB")
        return JobBudgetError(
            f"{what} needs about {human_bytes(need)} at its peak; a job may use "
            f"{human_bytes(limit())} here now: {grant[1]} {fix} Or try again when other "
            "jobs have finished."
        )
    return JobBudgetError(
        f"{what} needs about {human_bytes(need)} at its peak; one job may use "
        f"{human_bytes(limit())} here (LAYERLAB_JOB_MB). {fix}"
    )


def chunk(what: str, per_input: int, n: int, *, most: int | None = None, fixed: int = 0) -> int:
    """Inputs per chunk so that fixed + chunk * per_input fits the limit (at most `most`, n);
    refused when not even one input fits."""
    room = limit() - fixed
    if room < per_input:
        raise refuse(
            what,
            fixed + per_input,
            "Even one input at a time is over it: a smaller model, or a lab "
            "server with a larger LAYERLAB_JOB_MB.",
        )
    return int(max(1, min(n, most or n, room // max(per_input, 1))))


def scan_chunk(tracer: Tracer, n: int, n_classes: int = 1) -> int:
    """Inputs per pass of an exemplar scan (index of every channel of every layer). The index
    itself is held throughout: per channel its K_MAX best inputs and, per class, float64 sums
    (merged into new arrays) and the float32 means it returns."""
    channels = sum(int(y.shape[-1]) for y in tracer.flat.outputs if len(y.shape) >= 2)
    index = channels * (64 * 12 * 2 + n_classes * (8 * 2 + 4))
    if index + trace_bytes(tracer) > limit():
        raise refuse(
            f"Indexing every filter ({channels:,} channels, class profiles over {n_classes} "
            "classes)",
            index + trace_bytes(tracer),
            "The class profiles grow with the number of classes: index a model with fewer "
            "classes, or raise LAYERLAB_JOB_MB on a server with the memory.",
        )
    return chunk("Indexing every filter", trace_bytes(tracer), n, most=CHUNK, fixed=index)


def gradient_batch(what: str, tracer: Tracer, n: int) -> int:
    """Inputs per batch of a gradient computation (attribution paths, attacks, sweeps)."""
    return chunk(what, GRAD * trace_bytes(tracer), n)


def attribution_options(
    tracer: Tracer, method: str, options: dict[str, Any], *, fixed: int = 0
) -> dict[str, Any]:
    """An attribution's options with its batch of paths or noisy copies (batch_size, where the
    method has one) no larger than fits beside `fixed` bytes."""
    from core.analysis.attribution import METHODS

    info = METHODS.get(method)
    if info is None or "batch_size" not in info.options:
        chunk(f"{method}", GRAD * trace_bytes(tracer), 1, fixed=fixed)
        return options
    most = options.get("batch_size", info.options["batch_size"])
    most = most if isinstance(most, int) and most > 0 else 1
    return {**options, "batch_size": chunk(method, GRAD * trace_bytes(tracer), most, fixed=fixed)}


def forward_options(tracer: Tracer, options: dict[str, Any]) -> dict[str, Any]:
    """A deletion/insertion curve's options with its forward batch fitting the limit."""
    most = options.get("batch_size", 64)
    most = most if isinstance(most, int) and most > 0 else 1
    return {**options, "batch_size": chunk("A deletion/insertion curve", trace_bytes(tracer), most)}


def sweep_chunk(tracer: Tracer) -> int:
    """Inputs per foolbox call of an attack sweep (at most 10, as the attacks page's)."""
    return gradient_batch("An attack sweep", tracer, 10)


def importance_chunk(tracer: Tracer, n: int) -> int:
    """Rows per pass of filter importance: the chunk's trace, and the re-run after a freeze."""
    return chunk("Ranking filters", 2 * trace_bytes(tracer), n)


def cka_plan(a: Tracer, b: Tracer, n: int) -> tuple[int, int]:
    """(inputs per pass, bytes of activations held in memory before they go to files) for CKA
    over n inputs (core.analysis.cka.layer_grams): the Gram matrices ((layers_a + layers_b) x
    n x n float64) are held throughout, then one pass's trace or one layer's activations for
    all n inputs (the biggest layer's, when the rest waits in files)."""
    la, lb = layer_bytes(a), layer_bytes(b)
    grams = (len(la) + len(lb)) * n * n * 8
    biggest = n * max(max(la.values()), max(lb.values()))
    per_pass = max(sum(la.values()), sum(lb.values()))
    held = max(biggest, min(n * per_pass, (limit() - grams) // 2))  # in memory when all fit
    if grams + biggest + per_pass > limit():
        most = n
        while most > 3:
            most = most * 3 // 4
            g = (len(la) + len(lb)) * most * most * 8
            if g + most * biggest // n + per_pass <= limit():
                break
        raise refuse(
            f"CKA of {len(la)} × {len(lb)} layers over {n} inputs",
            grams + biggest + per_pass,
            f"Use fewer inputs (about {most} fit)."
            if 3 <= most < n
            else "Compare smaller models, or fewer layers.",
        )
    fixed = grams + (held if held >= n * per_pass else biggest)
    return chunk("CKA", per_pass, n, fixed=fixed), int(held)
