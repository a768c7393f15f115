"""Exemplar patches shared by the Filters and Freeze pages (not a page itself)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import api, cache
from core.exemplar_view import image_patch, spectrogram_patch
from core.exemplars import Exemplar
from core.image import to_display
from core.models import LoadedModel
from core.probe import ProbeSet


def patches_for(lm: LoadedModel, probe: ProbeSet, tops: dict[int, list[Exemplar]]):
    """(patches {channel: [uint8 RGB]}, model inputs {row: x}, spectrograms {row: (T, F)} or
    None): each exemplar cut to its receptive field; audio in the model's own spectrogram."""
    rows = sorted({e.index for exs in tops.values() for e in exs})
    xs = {i: api.prepare(lm, probe.raws[i])[0] for i in rows}
    spec_layer = lm.card.get("spectrogram_layer") if lm.kind == "audio" else None
    specs = None
    if spec_layer and rows:   # one batched trace for every exemplar shown
        spec_all = lm.tracer(np.stack([xs[i] for i in rows]))[spec_layer][..., 0]
        specs = dict(zip(rows, spec_all))

    def one(e: Exemplar):
        if specs is not None and e.local_box is not None:
            return spectrogram_patch(specs[e.index], e.local_box)
        if lm.kind == "image":
            return image_patch(to_display(xs[e.index], lm.card), e.box)
        return None

    patches = {c: [p for p in map(one, exs) if p is not None] for c, exs in tops.items()}
    return patches, xs, specs


def top_filters_exemplars(lm: LoadedModel, layer: str, channels: list[int], *, key: str,
                          k: int = 6) -> None:
    """For a few filters (e.g. the most important ones), their top held-out exemplars."""
    probe = cache.probe(lm)
    bar = st.progress(0.0, text=f"Scanning {len(probe)} held-out inputs (once per model)…")
    index = cache.filter_index(lm, _on_progress=lambda i, n: bar.progress(i / n))
    bar.empty()
    if layer not in index.layers:
        return
    tops = {c: api.top_inputs(lm, layer, c, k=k, index=index) for c in channels}
    patches, _, _ = patches_for(lm, probe, tops)
    st.markdown(f"**What the top filters respond to** · their {k} strongest held-out inputs, cut "
                "to the part each unit sees")
    for c in channels:
        head, *cols = st.columns([1] + [1] * k + [max(1, 10 - k)], gap="xxsmall")
        head.caption(f"filter {c}")
        for col, e, p in zip(cols, tops[c], patches[c]):
            col.image(p, width="stretch", caption=f"{e.value:.2f}")
    st.page_link("pages/filters.py", label=f"All filters of {layer} on the Filters page",
                 icon=":material/filter_alt:")
