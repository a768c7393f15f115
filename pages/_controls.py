"""The choices several pages offer alike: lazy tabs, a layer's colour scale, and the inputs to
work on (the probe set or an uploaded labelled batch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.inputs.archive import MAX_BATCH_BYTES, MAX_BATCH_MEMBERS
from core.model.load import LoadedModel


def lazy_tabs(labels: Sequence[str], *, key: str) -> Sequence[Any]:
    """Tabs of which only the open one runs: each is used as `with tab: if tab.open: ...`, and
    opening another reruns the page. key: the session key holding the open tab's label."""
    return st.tabs(list(labels), key=key, on_change="rerun")


# The colour scale of a layer's maps: one for all, or each its own.
SCALES = ["shared", "per-channel"]


def colour_scale(*, key: str, unit: str = "channel") -> str:
    """The colour scale of a layer's maps (one of SCALES); unit: what a map is ("filter")."""
    return st.radio(
        "Colour scale",
        SCALES,
        horizontal=True,
        key=key,
        help=f"shared: one scale for all {unit}s of a layer, so strong and weak {unit}s can be "
        f"compared. per-channel: each {unit} stretched to its own range, to see the pattern "
        "of weak ones.",
    )


def batch_source(
    lm: LoadedModel, *, label: str, key: str, where: Any = st, horizontal: bool = False
) -> tuple[bool, Any]:
    """The inputs a page works on: the model's held-out probe set, or a labelled batch the user
    uploads as a ZIP (read by core.inputs.probe.read_labelled). Returns (a batch was chosen,
    its uploaded file or None). Session keys: f"{key}_src" (the choice), f"{key}_zip"."""
    source = where.radio(
        label,
        ["held-out probe set", "my labelled batch (ZIP)"],
        horizontal=horizontal,
        key=f"{key}_src",
        help="The probe set ships with the model: real inputs it was not trained on.",
    )
    if not source.startswith("my"):
        return False, None
    example = "cat/1.png" if lm.kind == "image" else "one/1.wav"
    up = st.file_uploader(
        f"ZIP of class folders ({example}) or files named <label>_<anything>; at most "
        f"{MAX_BATCH_MEMBERS} files, {MAX_BATCH_BYTES // 2**20} MB",
        type=["zip"],
        key=f"{key}_zip",
    )
    return True, up
