"""Exemplar patches shared by the Filters and Freeze pages (not a page itself)."""

from __future__ import annotations

import streamlit as st

from core import cache
from core.model.load import LoadedModel
from pages._images import png
from pages._jobs import Progress, watched


def top_filters_exemplars(
    lm: LoadedModel, layer: str, channels: list[int], *, key: str, k: int = 6
) -> None:
    """For a few filters (e.g. the most important ones), their top held-out exemplars."""
    probe = cache.probe(lm)
    bar = Progress(f"Scanning {len(probe)} held-out inputs (once per model)…")
    with watched(f"Scanning {len(probe)} held-out inputs", bar=bar):
        index = cache.filter_index(lm, _on_progress=lambda i, n: bar.progress(i / n))
    bar.empty()
    if layer not in index.layers:
        return
    tops, patches, _, _ = cache.exemplars(lm, layer, tuple(channels), k)
    st.markdown(
        f"**What the top filters respond to** · their {k} strongest held-out inputs, cut "
        "to the part each unit sees"
    )
    for c in channels:
        head, *cols = st.columns([1] + [1] * k + [max(1, 10 - k)], gap="xxsmall")
        head.caption(f"filter {c}")
        for col, e, p in zip(cols, tops[c], patches[c]):
            col.image(png(p), width="stretch", caption=f"{e.value:.2f}")
    st.page_link(
        "pages/filters.py",
        label=f"All filters of {layer} on the Filters page",
        icon=":material/filter_alt:",
    )
