"""The one place that wraps core functions with Streamlit caches.

Two scopes, so that nothing per-user is cached globally:
- **global** (st.cache_resource / st.cache_data, bounded by max_entries and ttl): built-in
  models and results computed only from built-in models and built-in samples, which are the
  same for every user;
- **per session** (a bounded LRU in st.session_state, gone when the session ends): anything that
  involves an uploaded model or a user's own input (upload, recording, drawing, edit,
  adversarial). Uploaded models themselves live in the uploader's session (see app.py).
Keys are the model file's sha256 (with its card) and the input's content hash, never a file
name. All sessions' memos together stay under a global cap (core.settings: LAYERLAB_CACHE_MB):
the session that adds a result evicts its own oldest entries while the total is over it.

Two process-wide resources live here too, created once by st.cache_resource: the upload
sandbox (core.safety.sandbox.Sandbox) and the heavy-job limiter (core.safety.limiter).
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import streamlit as st

from core import api
from core.graph.interventions import Freeze
from core.graph.structure import weight_summaries as weight_summaries_of
from core.inputs.audio import place_word
from core.inputs.edits import Edit, apply_edits
from core.inputs.probe import ProbeSet
from core.inputs.samples import Sample
from core.inputs.samples import thumbnail as thumbnail_of
from core.model.load import LoadedModel
from core.safety import spawn
from core.safety.limiter import JobLimiter
from core.safety.sandbox import Sandbox
from core.settings import limits
from core.share.store import Store, default_url, open_store
from core.show.audio_view import spectrogram_db
from core.show.render import png_url
from core.work.memo import (
    HASH,
    SESSION_BYTES,
    SESSION_ENTRIES,
    SessionMemo,
    is_shared,
    key_of,
    nbytes,
)

_MEMO = "_session_cache"


def session_memo(name: str, *, counted: bool = True) -> SessionMemo:
    """This session's memo under st.session_state[name]; counted: in total_cached_bytes."""
    memo = st.session_state.get(name)
    if memo is None:
        memo = st.session_state[name] = SessionMemo()
        if counted:
            _ledger()[id(memo)] = memo
    return memo


@st.cache_resource(show_spinner=False)
def _ledger() -> weakref.WeakValueDictionary[int, SessionMemo]:
    """Every live session memo by id (a memo leaves with its session: weak references)."""
    return weakref.WeakValueDictionary()


def total_cached_bytes() -> int:
    """Bytes held by all sessions' memos in this process."""
    return sum(m.nbytes for m in list(_ledger().values()))


def scoped(cached: Callable) -> Callable:
    """Call a global Streamlit cache when every argument is shared, else a per-session LRU memo
    of the same function (bounded by SESSION_ENTRIES and SESSION_BYTES)."""
    # Streamlit's CachedFunc gets __wrapped__ from functools.update_wrapper; no type declares it.
    fn = cached.__wrapped__  # type: ignore[attr-defined]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        # Like Streamlit's caches, keyword arguments named _x (progress callbacks) are no key.
        keyed = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        if is_shared(args) and is_shared(tuple(keyed.values())):
            return cached(*args, **kwargs)
        key = (fn.__name__, key_of(args), key_of(tuple(sorted(keyed.items()))))
        return session_memo(_MEMO).get_or_make(
            key,
            lambda: fn(*args, **kwargs),
            size=nbytes,
            entries=SESSION_ENTRIES,
            max_bytes=SESSION_BYTES,
            over=lambda: total_cached_bytes() > limits().cache_bytes,
        )

    return call


class _Slot:
    """One shared result, computed once under a lock (see with_progress)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


def with_progress(max_entries: int) -> Callable:
    """scoped() for long calls that report progress through a `_on_progress` callback.

    Streamlit records the elements a cached function touches and refuses callbacks that update
    an element made outside it; so the global cache holds a slot per key, filled outside the
    cached call (once, under its lock), and the callback draws on the caller's progress bar.
    """

    def deco(fn: Callable) -> Callable:
        @st.cache_resource(max_entries=max_entries, ttl=3600, show_spinner=False, hash_funcs=HASH)
        @functools.wraps(fn)
        def slot(*args, **kwargs) -> _Slot:
            return _Slot()

        @functools.wraps(fn)
        def shared(*args, **kwargs):
            box = slot(*args, **kwargs)
            with box.lock:
                if not box.done:
                    box.value, box.done = fn(*args, **kwargs), True
            return box.value

        shared.__wrapped__ = fn
        return scoped(shared)

    return deco


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def builtin_model(name: str) -> LoadedModel:
    return api.load(name)


@st.cache_resource(show_spinner=False)
def sandbox() -> Sandbox:
    """The process's upload sandbox (one zygote, started on the first upload)."""
    return Sandbox(spawn.shared())


def store_url() -> str:
    """The lab store's database: Streamlit secrets' [connections.layerlab] url (a deployment's
    PostgreSQL, e.g. on Community Cloud), else LAYERLAB_STORE_URL, else the SQLite file."""
    try:
        url = st.secrets.get("connections", {}).get("layerlab", {}).get("url", "")
    except (FileNotFoundError, KeyError, AttributeError, ValueError):
        url = ""  # no secrets file: the environment decides
    return str(url).strip() or default_url()


@st.cache_resource(max_entries=4, show_spinner=False)
def _store(url: str) -> Store:
    return open_store(url)


def share_store() -> Store:
    """The process's store (one engine per database); opened on the first Share or open, and
    again after a failure (a failure is not cached)."""
    return _store(store_url())


@st.cache_resource(show_spinner=False)
def job_limiter() -> JobLimiter:
    """The process's heavy-job limiter: at most LAYERLAB_HEAVY_JOBS heavy jobs at once."""
    return JobLimiter(limits().heavy_jobs)


@scoped
@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False, hash_funcs=HASH)
def structure(lm: LoadedModel):
    """Layer table, graph and weight statistics of a model (see core.graph.structure.summarize)."""
    return api.structure(lm)


@scoped
@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=HASH)
def trace(lm: LoadedModel, sample: Sample) -> api.Run:
    """(trace, probabilities, conversion notes) of one sample: one forward pass."""
    return api.run(lm, sample.raw)


@scoped
@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=HASH)
def distances(lm: LoadedModel, a: Sample, b: Sample, frozen: Freeze = Freeze()):
    """Per-layer distances between two samples' traces (api.distances), under a freeze key."""
    return api.distances(lm, a.raw, b.raw, frozen=frozen)


@st.cache_data(max_entries=1024, ttl=3600, show_spinner=False, hash_funcs=HASH)
def _shared_thumbnail(sample: Sample, size: int) -> str:
    return png_url(thumbnail_of(sample, size))


def thumbnail(sample: Sample, size: int) -> str:
    """A sample's thumbnail as a PNG data URL: encoded once for the built-in samples (a page
    shows dozens on every rerun); a user's own samples are few and not kept."""
    return (
        _shared_thumbnail(sample, size)
        if is_shared(sample)
        else png_url(thumbnail_of(sample, size))
    )


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def gallery_digits() -> list[Sample]:
    from core.inputs.samples import gallery_digits as _g

    return _g()


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def colour_scenes() -> list[Sample]:
    from core.inputs.samples import colour_scenes as _c

    return _c()


@st.cache_resource(max_entries=1, ttl=3600, show_spinner=False)
def speech_clips() -> list[Sample]:
    from core.inputs.samples import speech_clips as _s

    return _s()


def gallery(card: dict) -> list[Sample]:
    """The built-in samples that suit a model (digits, colour scenes or spoken digits)."""
    from core.inputs.samples import gallery_kind

    return {"digits": gallery_digits, "scenes": colour_scenes, "speech": speech_clips}[
        gallery_kind(card)
    ]()


def frozen_key(
    frozen: Mapping[str, list[int]], kinds: Mapping[str, Mapping[str, Any]] | None = None
) -> Freeze:
    """The Freeze page's channels and kinds as one hashable Freeze: what the cached calls
    below take and key on, and pass to core.api as it is."""
    return Freeze(frozen, kinds)


@scoped
@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=HASH)
def trace_frozen(lm: LoadedModel, sample: Sample, frozen: Freeze):
    """(trace, probabilities) with those filters frozen (or intervened on, see frozen_key)."""
    return api.run(lm, sample.raw, frozen=frozen)[:2]


@scoped
@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=HASH)
def saliency(
    lm: LoadedModel,
    sample: Sample,
    method: str,
    class_index: int,
    layer: str | None,
    frozen: Freeze,
) -> api.Saliency:
    """Gradient saliency or Grad-CAM map (H, W) of a sample and Grad-CAM's layer, under a
    freeze configuration (api.saliency; method as the Freeze page names it, "Gradient" or
    "Grad-CAM")."""
    return api.saliency(
        lm,
        sample.raw,
        method=method.lower().replace("-", "_"),
        target=class_index,
        layer=layer or "auto",
        frozen=frozen,
    )


@scoped
@st.cache_data(max_entries=64, ttl=1800, show_spinner=False, hash_funcs=HASH)
def weight_summaries(lm: LoadedModel, layer_name: str, bins: int = 40):
    """Shape, statistics and histogram of each weight array of one layer."""
    return weight_summaries_of(lm.tracer.plan, layer_name, bins=bins)


@scoped
@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=HASH)
def edited(sample: Sample, edits: tuple[Edit, ...], seconds: float) -> Sample:
    """The sample with an edit stack applied (core.inputs.edits), as a new (unlisted) sample,
    placed in the model's window of `seconds` padded with its own noise floor (digital silence
    beside added noise is a step the model hears: issue 35)."""
    sr = sample.raw[1]
    y = apply_edits(sample.raw[0], sr, list(edits))
    return Sample(
        name=f"{sample.name} (edited)",
        kind="audio",
        raw=(place_word(y, sr, seconds=seconds, pad="floor")[0], sr),
        source="edited",
        label=sample.label,
        note="; ".join(e.describe() for e in edits),
    )


@scoped
@st.cache_data(max_entries=16, ttl=1800, show_spinner=False)
def spectrogram(wave: np.ndarray, sr: int):
    """(dB, times, freqs) of a clip for display (core.show.audio_view.spectrogram_db)."""
    return spectrogram_db(wave, sr)


@scoped
@st.cache_data(max_entries=32, ttl=1800, show_spinner=False, hash_funcs=HASH)
def filter_audio(
    lm: LoadedModel,
    sample: Sample,
    frozen: Freeze,
    layer: str,
    channel: int,
    method: str,
) -> np.ndarray:
    """What one filter hears in a sample, under a freeze configuration (core.show.audio_view)."""
    return api.hear_filter(lm, sample.raw, layer, channel, method=method, frozen=frozen)


# ---- explanations (pages/explain.py, pages/compare_models.py) ---------------------------------------
def probe_batch(lm: LoadedModel, n: int = 20) -> list[Sample]:
    """n held-out probe inputs (as many of each class as can be) for "over a batch" results,
    model comparison and mean ablation; the built-in gallery where no probe set of the
    model's kind ships."""
    from core.errors import LayerLabError

    try:
        return probe_samples(lm, n)
    except LayerLabError:
        return gallery(lm.card)


@with_progress(max_entries=128)
def explanation(
    lm: LoadedModel,
    sample: Sample,
    method: str,
    target: int,
    options: tuple[tuple[str, Any], ...],
    steps: int,
    baseline: str = "auto",
):
    """(map, deletion curve, insertion curve) of one attribution method on one sample; the
    curves' baseline by name (api.faithfulness_baselines)."""
    a = api.attribution(lm, sample.raw, method=method, target=target, **dict(options))
    return (
        a,
        api.deletion_auc(lm, sample.raw, a, target=target, steps=steps, baseline=baseline),
        api.insertion_auc(lm, sample.raw, a, target=target, steps=steps, baseline=baseline),
    )


@with_progress(max_entries=32)
def randomization(
    lm: LoadedModel, sample: Sample, method: str, target: int, options: tuple[tuple[str, Any], ...]
):
    """The cascading randomisation check of one method (api.randomization_check)."""
    return api.randomization_check(lm, sample.raw, method=method, target=target, **dict(options))


@with_progress(max_entries=16)
def cka(lm_a: LoadedModel, lm_b: LoadedModel, inputs: tuple[Sample, ...]):
    """Linear CKA between every layer of two models over the same samples (api.cka)."""
    return api.cka(lm_a, lm_b, [s.raw for s in inputs])


# ---- what a filter responds to -------------------------------------------------------------------
@scoped
@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False, hash_funcs=HASH)
def probe(lm: LoadedModel):
    """The model's held-out probe set (core.inputs.probe.ProbeSet)."""
    from core.inputs.probe import probe_set

    return probe_set(lm)


@scoped
@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False, hash_funcs=HASH)
def probe_samples(lm: LoadedModel, n: int) -> list[Sample]:
    """n probe inputs as samples, the same number of each class (Gallery, Freeze, Attack)."""
    from core.inputs.probe import as_samples

    return as_samples(lm, probe(lm), n)


@with_progress(max_entries=6)
def filter_index(lm: LoadedModel, _on_progress=None):
    """One scan of the probe set: the exemplar index of every channel (core.analysis.exemplars)."""
    p = probe(lm)
    return api.filter_index(lm, inputs=p.raws, labels=p.labels, on_progress=_on_progress)


@scoped
@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False, hash_funcs=HASH)
def exemplars(lm: LoadedModel, layer: str, channels: tuple[int, ...], k: int):
    """The channels' top probe inputs cut to their receptive fields (api.exemplars), from the
    model's cached filter index."""
    return api.exemplars(lm, layer, list(channels), k=k, index=filter_index(lm), probe=probe(lm))


@with_progress(max_entries=512)
def feature_vis(
    lm: LoadedModel, layer: str, channel: int, steps: int, seed: int = 0, _on_progress=None
):
    """A channel's feature visualisation (core.analysis.featvis.FeatureVis)."""
    return api.visualize(lm, layer, channel, steps=steps, seed=seed, on_progress=_on_progress)


@with_progress(max_entries=32)
def probe_importance(lm: LoadedModel, layer: str, n: int, _on_progress=None):
    """Filter importance (core.analysis.importance) of a layer's channels: the accuracy drop over n
    labelled probe inputs when each channel is frozen alone."""
    batch = probe_samples(lm, n)
    return api.importance(
        lm, [s.raw for s in batch], layer, labels=[s.label for s in batch], on_progress=_on_progress
    )


@with_progress(max_entries=16)
def tcav(lm: LoadedModel, concept: tuple, random: tuple, options: tuple, _on_progress=None):
    """api.tcav on samples (random (): the probe set); options: ((name, value), ...)."""
    raws, rand = [s.raw for s in concept], [s.raw for s in random] or None
    return api.tcav(lm, raws, random=rand, on_progress=_on_progress, **dict(options))


@scoped
@st.cache_data(max_entries=128, ttl=1800, show_spinner=False, hash_funcs=HASH)
def unit(lm: LoadedModel, sample: Sample, layer: str, channel: int, position: tuple[int, ...]):
    """The arithmetic of one unit of a sample's trace (api.unit)."""
    return api.unit(lm, sample.raw, layer, channel, position)


# ---- where the model fails (the Dataset page) ------------------------------------------------
@with_progress(max_entries=8)
def evaluation(lm: LoadedModel, data: ProbeSet, _on_progress=None):
    """api.evaluate of a probe set or a user's labelled batch (disk-cached per model and data)."""
    return api.evaluate(lm, data, on_progress=_on_progress)


@with_progress(max_entries=8)
def layer_summaries(lm: LoadedModel, data: ProbeSet, _on_progress=None):
    """{layer: (N, C) channel means} over the evaluated inputs (api.layer_summaries)."""
    return api.layer_summaries(lm, evaluation(lm, data).raws, on_progress=_on_progress)


@scoped
@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False, hash_funcs=HASH)
def dataset_map(lm: LoadedModel, data: ProbeSet, layer: str, method: str):
    """(the layer's 2-D map (N, 2), how often an input's nearest point shares its class)."""
    from core.analysis.failures import separation

    xy = api.layer_map(layer_summaries(lm, data)[layer], method=method)
    return xy, separation(xy, evaluation(lm, data).labels)


@scoped
@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False, hash_funcs=HASH)
def error_filters(lm: LoadedModel, data: ProbeSet, layer: str, true: int, predicted: int):
    """The channels of `layer` that tell a confusion cell from the right answers (api)."""
    ev = evaluation(lm, data)
    means = layer_summaries(lm, data)[layer]
    return api.error_filters(means, ev.labels, ev.predictions, true, predicted, layer=layer)
