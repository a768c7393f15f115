"""The one place that wraps core functions with Streamlit caches.

Built-in models are cached globally (they are the same for every user). Uploaded models are
kept in the uploading user's session (see app.py), never in a global cache. Derived results are
keyed by the model file's sha256 and the input's content hash, never by a file name, so two
users never see each other's data. Every cache is bounded (max_entries / ttl) to keep a
Community Cloud server within its memory.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api
from core import structure as _structure
from core.models import LoadedModel
from core.samples import Sample

_HASH = {LoadedModel: lambda lm: lm.sha256, Sample: lambda s: s.key}


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def builtin_model(name: str) -> LoadedModel:
    return api.load(name)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False, hash_funcs=_HASH)
def structure(lm: LoadedModel):
    """Layer table, graph and weight statistics of a model (see core.structure.summarize)."""
    return _structure.summarize(lm.model)


@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def trace(lm: LoadedModel, sample: Sample) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(trace, probabilities, conversion notes) of one sample: one forward pass."""
    x, notes = api.prepare(lm, sample.raw)
    tr = {k: v[0] for k, v in lm.tracer(x[None]).items()}
    return tr, api.probabilities_from_trace(lm, tr), notes


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def gallery_digits() -> list[Sample]:
    from core.samples import gallery_digits as _g

    return _g()


def frozen_key(frozen: dict[str, list[int]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """A hashable, order-independent form of a freeze configuration."""
    return tuple(sorted((k, tuple(sorted(set(v)))) for k, v in frozen.items() if v))


@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def trace_frozen(lm: LoadedModel, sample: Sample,
                 frozen: tuple[tuple[str, tuple[int, ...]], ...]):
    """(trace, probabilities) with those filters frozen; reuses the unfrozen trace's prefix."""
    from core.freeze import run_frozen, validate

    base, _, _ = trace(lm, sample)
    fz = validate(lm.tracer.plan, base, dict(frozen))
    fn = frozen_graph(lm, tuple(sorted(fz))) if fz else None
    tr = run_frozen(lm.tracer.plan, base["input"][None], base, fz, compiled=fn)
    return tr, api.probabilities_from_trace(lm, tr)


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False, hash_funcs=_HASH)
def frozen_graph(lm: LoadedModel, layers: tuple[str, ...]):
    """The compiled downstream run for one set of frozen layers (masks are its arguments)."""
    from core.freeze import compile_frozen

    return compile_frozen(lm.tracer.plan, layers)


@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def saliency(lm: LoadedModel, sample: Sample, method: str, class_index: int, layer: str | None,
             frozen: tuple[tuple[str, tuple[int, ...]], ...]) -> np.ndarray:
    """Gradient saliency or Grad-CAM map (H, W) of a sample, under a freeze configuration."""
    from core.saliency import grad_cam, gradient_saliency

    base, _, _ = trace(lm, sample)
    channels = {k: int(base[k].shape[-1]) for k, _ in frozen}
    kw = dict(logits_layer=lm.card.get("logits_layer"), frozen=dict(frozen), channels=channels)
    if method == "Grad-CAM":
        return grad_cam(lm.tracer.plan, base["input"], class_index, layer, **kw)
    return gradient_saliency(lm.tracer.plan, base["input"], class_index, **kw)


@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def weight_summaries(lm: LoadedModel, layer_name: str, bins: int = 40):
    """Shape, statistics and histogram of each weight array of one layer."""
    return _structure.weight_summaries(lm.model, layer_name, bins=bins)
