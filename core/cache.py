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
