"""The cascading randomisation check (Adebayo et al. 2018): does the map change when the
model's weights are re-initialised, layer by layer from the output?"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from core.analysis.attribution.explainer import Explainer
from core.analysis.attribution.methods import METHODS, attribute
from core.errors import (
    choice,
)
from core.graph.engine import Plan


def _seeded_clone(model: keras.Model, seed: int) -> keras.Model:
    """A copy of the architecture with fresh weights from each layer's own initialisers, seeded
    per layer name (so the check is reproducible and never touches Keras' global seed)."""

    def fresh(layer):
        cfg = layer.get_config()
        for k, v in cfg.items():
            if (
                k.endswith("_initializer")
                and isinstance(v, dict)
                and isinstance(v.get("config"), dict)
                and "seed" in v["config"]
            ):
                v["config"]["seed"] = (seed + zlib.crc32(f"{layer.name}/{k}".encode())) % 2**31
        return layer.__class__.from_config(cfg)

    return keras.models.clone_model(model, clone_function=fresh, recursive=True)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation of two maps; 0 where either is constant (no order to agree on)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a.ravel()), rankdata(b.ravel())
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def weighted_layers(plan: Plan) -> list[str]:
    """Steps whose layer holds weights, in graph order (a shared layer once, at its first call)."""
    seen: set[int] = set()
    out = []
    for name, step in plan.steps_by_name().items():
        if step.op.weights and id(step.op) not in seen:
            seen.add(id(step.op))
            out.append(name)
    return out


def randomization_check(
    model: keras.Model,
    card: Mapping[str, Any],
    x: np.ndarray,
    *,
    method: str,
    target: int | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> list[tuple[str, float]]:
    """Cascading model-parameter randomisation (Adebayo et al. 2018).

    On a clone (the model itself is never touched), layers with weights are re-initialised one
    more at a time from the output towards the input; after each, the method's map is compared
    with the trained model's by the Spearman rank correlation of absolute values. A map that
    explains the model should stop resembling itself as the weights go: similarity near 1 to
    the end means the map shows the input (edges), not what the network learned.
    """
    choice("attribution method", method, METHODS)
    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    fresh = _seeded_clone(model, seed)
    ex = Explainer(Plan(work), card)
    fresh_ops = {n: s.op for n, s in Plan(fresh).steps_by_name().items()}
    z = ex.domain_value(x)
    t = ex.check_target(target, x, z)
    ref = np.abs(attribute(ex, x, method=method, target=t, **options))
    layers = weighted_layers(ex.plan)[::-1]
    work_ops = ex.plan.steps_by_name()
    out = []
    for i, name in enumerate(layers):
        work_ops[name].op.set_weights(fresh_ops[name].get_weights())  # cumulative
        m = np.abs(attribute(ex, x, method=method, target=t, **options))
        out.append((name, _spearman(ref, m)))
        if on_progress is not None:
            on_progress(i + 1, len(layers))
    return out
