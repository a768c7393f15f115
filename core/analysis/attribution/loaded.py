"""The attribution stack for a LoadedModel: its Explainer, built once and kept by its tracer,
an input prepared for it (under a freeze configuration), and the faithfulness baselines of the
model (api's attribution, Grad-CAM and faithfulness calls go through here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from core.analysis.attribution.explainer import Explainer
from core.analysis.attribution.faithfulness import model_baselines
from core.analysis.frozen import frozen_transforms
from core.inputs.prepare import prepare, probe_raws, stack
from core.model.load import LoadedModel


class Explained(NamedTuple):
    """One raw input made ready for the Explainer."""

    ex: Explainer
    x: np.ndarray  # the model input, no batch axis
    z: Any  # the attribution domain's value (the input, or the spectrogram for audio)
    target: int  # the class explained (the given one, checked, or the predicted class)
    frozen: dict[str, tuple[np.ndarray, np.ndarray]] | None  # {layer: (scale, shift)}


def explainer(m: LoadedModel) -> Explainer:
    """The model's Explainer (compiled class scores and gradients), built once per card."""
    # What an Explainer reads from the card; a reloaded card with other values gets its own.
    keys = ("output", "logits_layer", "spectrogram_layer", "stft", "labels", "input")
    ident = repr([m.card.get(k) for k in keys])
    return m.tracer.owned(("explainer", ident), lambda: Explainer(m.tracer.plan, m.card))


def explain_input(
    m: LoadedModel, raw: Any, target: int | None, frozen: Mapping[str, Any] | None
) -> Explained:
    """A raw input prepared for attribution under a freeze configuration."""
    ex = explainer(m)
    x, _ = prepare(m, raw)
    tfs = frozen_transforms(m, x, frozen)
    z = ex.domain_value(x)
    return Explained(ex, x, z, ex.check_target(target, x, z, frozen=tfs), tfs)


def faithfulness_baselines(m: LoadedModel) -> tuple[dict[str, np.ndarray], str]:
    """({name: baseline over the attribution domain}, the default's name) for deletion and
    insertion, from 200 held-out inputs, once per model (faithfulness.model_baselines)."""
    return m.tracer.owned(
        ("faithfulness_baselines", m.key),
        lambda: model_baselines(explainer(m), stack(m, probe_raws(m, 200))),
    )
