"""What a classifier's output means, and the two views every page needs of it.

The card's "output" says what the model's last layer produces:

| kind                 | last layer                                   | probabilities      |
|----------------------|----------------------------------------------|--------------------|
| "probabilities"      | softmax (activation or Softmax layer)        | as they are        |
| "log_probabilities"  | log_softmax                                  | exp                |
| "logits"             | linear, C >= 2 units ("scores": older cards) | softmax            |
| "binary_probability" | one sigmoid unit                             | [1 - p, p]         |
| "binary_logit"       | one linear unit                              | [1 - σ(z), σ(z)]   |

`probabilities` is what is shown; `class_scores` is what gradients (attacks, saliency) follow:
logits, (N, C), taken before the last softmax/sigmoid where the graph allows (saturated
probabilities have no gradient). A one-unit model's score z becomes the two logits
[-z/2, z/2], whose softmax is [σ(-z), σ(z)]: both classes have a gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

KINDS = ("probabilities", "log_probabilities", "logits", "binary_probability", "binary_logit")
_ALIASES = {"scores": "logits"}


def kind_of(card: Mapping[str, Any]) -> str:
    kind = _ALIASES.get(card.get("output", "logits"), card.get("output", "logits"))
    if kind not in KINDS:
        raise ValueError(
            f"Model card output {card.get('output')!r} is not one of {', '.join(KINDS)}."
        )
    return kind


def is_binary(card: Mapping[str, Any]) -> bool:
    return kind_of(card).startswith("binary")


def probabilities(card: Mapping[str, Any], y: np.ndarray) -> np.ndarray:
    """The model's raw output (N, units) -> class probabilities (N, C), float32."""
    y = np.asarray(y, np.float64)
    kind = kind_of(card)
    if kind == "probabilities":
        p = y
    elif kind == "log_probabilities":
        p = np.exp(y)
    elif kind == "logits":
        z = y - y.max(axis=-1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=-1, keepdims=True)
    else:
        q = y[..., :1] if kind == "binary_probability" else 1.0 / (1.0 + np.exp(-y[..., :1]))
        p = np.concatenate([1.0 - q, q], axis=-1)
    return p.astype(np.float32)


def _pre_activation(plan: Any, outs: Mapping[str, Any]) -> Any | None:
    """The output step's input before its softmax/sigmoid, where the graph makes that exact:
    a Dense with that activation (recomputed without it) or a Softmax/Activation layer."""
    step = plan.steps_by_name()[plan.output_name]
    op = step.op
    parents = step.parents
    if len(parents) != 1 or parents[0] not in outs:
        return None
    act = getattr(getattr(op, "activation", None), "__name__", None)
    if isinstance(op, keras.layers.Softmax) or (
        isinstance(op, keras.layers.Activation) and act in ("softmax", "sigmoid", "log_softmax")
    ):
        return outs[parents[0]]
    if isinstance(op, keras.layers.Dense) and act in ("softmax", "sigmoid", "log_softmax"):
        z = keras.ops.matmul(outs[parents[0]], op.kernel)
        return z + op.bias if op.bias is not None else z
    return None


def class_scores(card: Mapping[str, Any], plan: Any, outs: Mapping[str, Any]) -> Any:
    """Differentiable logits (N, C) from a run of the plan (outs: step name -> tensor)."""
    kind = kind_of(card)
    name = card.get("logits_layer")
    if name is not None and name in outs:
        z = outs[name]
    else:
        z = _pre_activation(plan, outs)
        if z is None:
            y = outs[plan.output_name]
            if kind == "probabilities":
                z = keras.ops.log(keras.ops.maximum(y, 1e-12))
            elif kind == "binary_probability":
                p = keras.ops.clip(y, 1e-7, 1 - 1e-7)
                z = keras.ops.log(p) - keras.ops.log(1 - p)
            else:
                z = y
    if kind.startswith("binary"):
        z = z[..., :1]
        return keras.ops.concatenate([-0.5 * z, 0.5 * z], axis=-1)
    return z
