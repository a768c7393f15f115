"""The choices several pages offer alike: lazy tabs, a layer's colour scale, and the inputs to
work on (the probe set or an uploaded labelled batch)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import streamlit as st

from core.inputs.archive import MAX_BATCH_BYTES, MAX_BATCH_MEMBERS
from core.model.load import LoadedModel


class Tab:
    """One of lazy_tabs: `with tab:` draws into its place below the tab row; only the open
    tab has a place (a closed one's `with` block must draw nothing: `if tab.open:`)."""

    def __init__(self, box: Any | None):
        self.open = box is not None
        self._box = box

    def __enter__(self) -> Tab:
        if self._box is not None:
            self._box.__enter__()
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._box.__exit__(*exc) if self._box is not None else None


def lazy_tabs(labels: Sequence[str], *, key: str, label: str = "View") -> list[Tab]:
    """Tabs of which only the open one runs: each is used as `with tab: if tab.open: ...`;
    picking another reruns the page. key: the session key holding the open tab's label (a
    link or a test opens one by setting it); label: what the row picks, for screen readers.

    Drawn as a segmented control, not st.tabs: a tab panel re-walks its whole content for a
    focusable element on every rerun (react-aria), 10-20 ms of the browser's time on a page
    of layers (issue 35 item 14)."""
    labels = list(labels)
    if st.session_state.get(key) not in labels:  # first visit, or a label that is gone
        st.session_state[key] = labels[0]
    open_ = st.segmented_control(
        label, labels, key=key, required=True, label_visibility="collapsed"
    )
    # The open tab's place is keyed "<key>__<its name>__tab" (tests find it by its name).
    return [
        Tab(st.container(key=f"{key}__{tab_slug(t)}__tab") if t == open_ else None) for t in labels
    ]


def tab_slug(label: str) -> str:
    """A tab's name as a key part: ":material/upload: Upload image" -> "upload_image"."""
    name = re.sub(r"^:material/\w+:\s*", "", label)
    return re.sub(r"\W+", "_", name).strip("_").lower()


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
