"""Links: a view written into the address bar (share_view), and a shared link read once per
session and applied when its model is loaded (read_link, apply_link)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import api, cache
from core.graph.interventions import validate
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.share.permalink import (
    decode_attack,
    decode_digit,
    decode_frozen,
    decode_kinds,
    decode_methods,
)
from pages._share import open_link, share_box
from pages._state import add_sample, freeze_kinds, samples


def read_link() -> None:
    """Once per session: a shared link's model goes to the picker before it is drawn; the rest
    is applied when the model is loaded (apply_link)."""
    if st.session_state.get("link_read"):
        return
    st.session_state["link_read"] = True
    link = st.query_params.to_dict()
    if not link:
        return
    if "share" in link:  # a view kept in the lab store: what it holds replaces the rest
        link = open_link(link)
    if "model" in link:
        if link["model"] in api.builtin_names():
            st.session_state["model_choice"] = link["model"]
        else:
            st.session_state.setdefault("link_notes", []).append(
                f"The link names model {link['model']!r}, which is not built in; showing "
                f"{api.builtin_names()[0]!r}."
            )
    st.session_state["link"] = link


def apply_link(lm) -> None:
    """The shared link's sample, comparison, layer, freeze and attack settings."""
    link = st.session_state.pop("link", None)
    if not link:
        return
    notes = st.session_state.setdefault("link_notes", [])
    gallery = {s.name: s for s in cache.gallery(lm.card)}
    try:
        if "digit" in link:
            add_sample(
                Sample(
                    "Linked drawing",
                    "image",
                    decode_digit(link["digit"]),
                    source="drawn",
                    note="a drawing from a shared link",
                ),
                select=False,
            )
            st.session_state["pending_select"] = "Linked drawing"
        elif link.get("sample") in gallery:
            add_sample(gallery[link["sample"]], select=False)
            st.session_state["pending_select"] = link["sample"]
        elif "sample" in link:
            notes.append(f"The link's sample {link['sample']!r} is not a built-in one here.")
        if link.get("b") in gallery:
            add_sample(gallery[link["b"]], select=False)
            st.session_state["link_b"] = link["b"]
        if "frozen" in link:
            cfg = decode_frozen(link["frozen"])
            tr = cache.trace(lm, gallery[next(iter(gallery))])[0] if gallery else None
            if tr is not None:
                cfg = {k: list(v) for k, v in validate(lm.tracer.plan, tr, cfg).items()}
            st.session_state.setdefault("frozen", {})[lm.sha256] = cfg
            st.session_state.setdefault("freeze_kinds", {})[lm.sha256] = {
                k: v for k, v in decode_kinds(link["frozen"]).items() if k in cfg
            }
        if "layer" in link:
            st.session_state["link_layer"] = link["layer"]
        if "attack" in link:
            st.session_state["link_attack"] = decode_attack(link["attack"])
        if "methods" in link:
            st.session_state["link_methods"] = decode_methods(
                link["methods"], api.attribution_methods()
            )
        if "model_b" in link:
            st.session_state["link_model_b"] = link["model_b"]
        if link.get("select") in samples():  # an opened share's own sample
            st.session_state["pending_select"] = link["select"]
    except ValueError as e:  # a damaged or foreign link: say so, open the plain view
        notes.append(f"Part of the link could not be used: {e}")


def share_view(
    lm: LoadedModel,
    sample: Sample | None,
    *,
    layer: str | None = None,
    b: Sample | None = None,
    attack: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """Keep the URL in step with the view (st.query_params) and offer it as a link to copy;
    returns that link (for exports).

    extra: a page's own settings (core.share.permalink names the keys), e.g. {"methods": "..."}.

    What cannot travel in a URL (an uploaded model, uploads, recordings) is named, not dropped
    silently.
    """
    from urllib.parse import urlencode

    from core.share.permalink import describe_missing, encode_digit, encode_frozen

    params: dict[str, str] = {}
    missing: list[str] = []
    if lm.source == "builtin":
        params["model"] = lm.name
    else:
        missing.append(
            f"The model {lm.name!r} is an upload: the link opens the built-in one; "
            "send the model file along."
        )
    raw = np.asarray(sample.raw) if sample is not None and sample.kind == "image" else None
    if sample is None:
        pass  # a page about the model alone (Structure)
    elif sample.source == "gallery":
        params["sample"] = sample.name
    elif sample.source == "drawn" and raw is not None and raw.shape == (28, 28):
        params["digit"] = encode_digit(raw)
    else:
        missing.append(
            describe_missing(sample.source, sample.name)
            or f"{sample.name!r} cannot travel in a link (only built-in samples and "
            "drawn digits can)."
        )
    frozen = encode_frozen(st.session_state.get("frozen", {}).get(lm.sha256, {}), freeze_kinds(lm))
    if frozen:
        params["frozen"] = frozen
    if layer:
        params["layer"] = layer
    if b is not None and b.source == "gallery":
        params["b"] = b.name
    elif b is not None:
        missing.append(f"The second sample {b.name!r} cannot travel in a link.")
    if attack:
        params["attack"] = attack
    params.update({k: v for k, v in (extra or {}).items() if v})
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    url = f"{(st.context.url or '').split('?')[0]}?{urlencode(params)}"
    with st.popover("Share this view", icon=":material/link:"):
        st.caption("The address bar always holds this view; copy it from here:")
        st.code(url, language=None, wrap_lines=True)
        for m in missing:
            st.caption(f":material/info: {m}")
        if missing:
            st.caption(":material/cloud_upload: **Share** below carries them, on this server.")
        st.divider()
        share_box(
            lm,
            params=params,
            url=url,
            view={"selected": sample.name if sample else None, "sample": sample},
        )
    return url
