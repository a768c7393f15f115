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
from core.edits import Edit
from core.models import LoadedModel
from core.samples import Sample

_HASH = {LoadedModel: lambda lm: lm.sha256, Sample: lambda s: s.key,
         Edit: lambda e: (e.name, tuple(sorted(e.params.items())))}


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


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def colour_scenes() -> list[Sample]:
    from core.samples import colour_scenes as _c

    return _c()


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def speech_clips() -> list[Sample]:
    from core.samples import speech_clips as _s

    return _s()


def gallery(card: dict) -> list[Sample]:
    """The built-in samples that suit a model (digits, colour scenes or spoken digits)."""
    from core.samples import gallery_kind

    return {"digits": gallery_digits, "scenes": colour_scenes,
            "speech": speech_clips}[gallery_kind(card)]()


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
    # Audio: saliency over the model's spectrogram cells, not raw samples.
    spec = lm.card.get("spectrogram_layer") if lm.kind == "audio" else None
    if method == "Grad-CAM":
        size = tuple(base[spec].shape[:2]) if spec else None
        return grad_cam(lm.tracer.plan, base["input"], class_index, layer, size=size, **kw)
    return gradient_saliency(lm.tracer.plan, base["input"], class_index, wrt=spec, **kw)


@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def weight_summaries(lm: LoadedModel, layer_name: str, bins: int = 40):
    """Shape, statistics and histogram of each weight array of one layer."""
    return _structure.weight_summaries(lm.model, layer_name, bins=bins)


@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def edited(sample: Sample, edits: tuple[Edit, ...]) -> Sample:
    """The sample with an edit stack applied (core.edits), as a new (unlisted) sample."""
    from core.edits import apply_edits

    y, sr = sample.raw
    out = apply_edits(y, sr, list(edits))
    return Sample(name=f"{sample.name} (edited)", kind="audio", raw=(out, sr), source="edited",
                  label=sample.label, note="; ".join(e.describe() for e in edits))


@st.cache_data(max_entries=16, ttl=1800, show_spinner=False)
def spectrogram(wave: np.ndarray, sr: int):
    """(dB, times, freqs) of a clip for display (core.audio_view.spectrogram_db)."""
    from core.audio_view import spectrogram_db

    return spectrogram_db(wave, sr)


@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=_HASH)
def filter_audio(lm: LoadedModel, sample: Sample,
                 frozen: tuple[tuple[str, tuple[int, ...]], ...], layer: str, channel: int,
                 method: str) -> np.ndarray:
    """What one filter hears in a sample, under a freeze configuration (core.audio_view)."""
    from core.audio_view import hear_filter

    tr = trace_frozen(lm, sample, frozen)[0] if frozen else trace(lm, sample)[0]
    return hear_filter(lm, tr, layer, channel, method=method)
