"""core.cache: results of built-in models on built-in samples are shared by every session;
anything involving an uploaded model or a user's own input stays in that user's session."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from core import cache
from core.inputs.samples import Sample
from core.model.load import LoadedModel

# How often the test's cached function really ran, across AppTest sessions (same process).
CALLS: list[str] = []


def _model(source: str) -> LoadedModel:
    return LoadedModel(
        model=None, card={}, name="m.keras", sha256=f"sha-{source}", source=source, tracer=None
    )


def test_is_shared_only_for_builtin_models_and_samples():
    gallery = Sample("3", "image", np.zeros((4, 4), np.uint8), source="gallery")
    drawn = Sample("Sketch", "image", np.zeros((4, 4), np.uint8), source="drawn")
    assert cache.is_shared((_model("builtin"), gallery, "Grad-CAM", 3))
    assert not cache.is_shared((_model("upload"), gallery))
    assert not cache.is_shared((_model("builtin"), drawn))
    assert not cache.is_shared((np.zeros(3), 8000))
    assert not cache.is_shared((_model("builtin"), (gallery, drawn)))


def _session_script():
    """Runs as a Streamlit script: calls one scoped function on shared and per-user arguments."""
    import numpy as np
    import streamlit as st

    from core import cache
    from core.inputs.samples import Sample
    from core.model.load import LoadedModel
    from tests.core import test_cache as t

    @cache.scoped
    @st.cache_data(max_entries=8, hash_funcs=cache.HASH)
    def doubled(lm: LoadedModel, sample: Sample, *, scale: int = 2) -> np.ndarray:
        t.CALLS.append(f"{lm.source}/{sample.source}/{scale}")
        return sample.raw * scale

    builtin = LoadedModel(
        model=None, card={}, name="lenet", sha256="sha-b", source="builtin", tracer=None
    )
    upload = LoadedModel(
        model=None, card={}, name="model.keras", sha256="sha-u", source="upload", tracer=None
    )
    digit = Sample("3_a", "image", np.ones((4, 4), np.int64), source="gallery")
    for _ in range(2):  # the second round must be served from a cache
        doubled(builtin, digit)
        doubled(upload, digit)
    for k in range(st.session_state.get("many", 0)):
        doubled(upload, digit, scale=10 + k)
    memo = st.session_state.get(cache._MEMO, {})
    st.session_state["memo_keys"] = [k[0] for k in memo]


def test_shared_results_cross_sessions_and_per_user_results_do_not():
    CALLS.clear()
    first = AppTest.from_function(_session_script, default_timeout=60).run()
    assert not first.exception
    assert CALLS == ["builtin/gallery/2", "upload/gallery/2"]
    assert first.session_state["memo_keys"] == ["doubled"]  # only the upload's result

    second = AppTest.from_function(_session_script, default_timeout=60).run()
    assert not second.exception
    # The built-in result came from the global cache; the upload's was computed again, because
    # another session's per-user results are not visible here.
    assert CALLS == ["builtin/gallery/2", "upload/gallery/2", "upload/gallery/2"]


def test_the_session_memo_is_bounded():
    at = AppTest.from_function(_session_script, default_timeout=60)
    at.session_state["many"] = cache.SESSION_ENTRIES + 10
    at.run()
    assert not at.exception
    assert len(at.session_state["memo_keys"]) == cache.SESSION_ENTRIES


def test_all_sessions_memos_stay_under_the_global_cap(monkeypatch):
    """Two sessions' memos: the one adding a result evicts its own oldest entries while the
    process-wide total is over LAYERLAB_CACHE_MB."""
    mb = 2**20
    others = cache.total_cached_bytes()  # memos of earlier AppTest sessions in this process
    monkeypatch.setenv("LAYERLAB_CACHE_MB", str((others + 10 * mb) / mb))
    a, b = cache.SessionMemo(), cache.SessionMemo()
    for memo in (a, b):
        cache._ledger()[id(memo)] = memo

    def add(memo: cache.SessionMemo, key: tuple) -> None:
        memo.get_or_make(
            key,
            lambda: None,
            size=lambda _: 2 * mb,
            entries=cache.SESSION_ENTRIES,
            max_bytes=cache.SESSION_BYTES,
            over=lambda: cache.total_cached_bytes() > cache.limits().cache_bytes,
        )

    for i in range(4):
        add(a, ("a", i))
    assert a.nbytes == 8 * mb
    for i in range(3):
        add(b, ("b", i))
    assert cache.total_cached_bytes() == others + 10 * mb  # at the cap, not over it
    assert len(b) == 1 and a.nbytes == 8 * mb  # b paid for its own additions
