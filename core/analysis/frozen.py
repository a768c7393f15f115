"""A loaded model under a freeze configuration: the configuration checked against the model,
the probe-set means its mean ablations substitute, and the frozen trace of one input.

core.graph.interventions does the graph's part (validate, transforms, the compiled downstream
graph); this module ties it to a LoadedModel (its tracer's remembered traces and compiled
graphs, its probe set), for api.trace and the attribution maps of a frozen model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from core.graph.interventions import (
    Intervention,
    as_intervention,
    frozen_graph,
    run_frozen,
    transforms,
    validate,
)
from core.inputs.prepare import probe_means
from core.model.load import LoadedModel


def interventions(
    m: LoadedModel, trace: Mapping[str, np.ndarray], frozen: Mapping[str, Any]
) -> dict[str, Intervention]:
    """A freeze configuration checked against a trace of the model: {layer: Intervention},
    layers without channels dropped. Unknown layers and channels raise with the valid ones."""
    ivs = {n: as_intervention(v) for n, v in frozen.items()}
    return {
        n: Intervention(chans, ivs[n].kind, ivs[n].factor)
        for n, chans in validate(m.tracer.plan, trace, ivs).items()
    }


def means(m: LoadedModel, ivs: Mapping[str, Intervention]) -> dict[str, np.ndarray]:
    """The probe-set means of the layers under mean ablation ({} when none is)."""
    layers = tuple(sorted(n for n, iv in ivs.items() if iv.kind == "mean"))
    return probe_means(m, layers) if layers else {}


def frozen_trace(
    m: LoadedModel, x: np.ndarray, frozen: Mapping[str, Any] | None
) -> dict[str, np.ndarray]:
    """api.trace of one model input x (no batch axis) under `frozen` (None or {}: unfrozen)."""
    if not frozen:
        return {k: v[0] for k, v in m.tracer(x[None]).items()}
    base = m.tracer.recent(x)
    ivs = interventions(m, base, frozen)
    if not ivs:
        return base
    fn = frozen_graph(m.tracer, tuple(ivs))
    return run_frozen(m.tracer.plan, x[None], base, ivs, compiled=fn, means=means(m, ivs))


def frozen_transforms(
    m: LoadedModel, x: np.ndarray, frozen: Mapping[str, Any] | None
) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """{layer: (scale, shift)} of a freeze configuration for input x (no batch axis), what the
    attribution stack's frozen= takes; None when nothing is frozen."""
    if not frozen:
        return None
    base = m.tracer.recent(x)
    ivs = interventions(m, base, frozen)
    return transforms(base, ivs, means(m, ivs)) if ivs else None
