"""Links: a view written into the address bar (share_view), and a shared link read once per
session and applied when its model is loaded (read_link, apply_link)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import api, cache
from core.graph.interventions import validate
from core.inputs.probe import probe_index, probe_sample
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.share.permalink import (
    MAX_PARAM_CHARS,
    decode_attack,
    decode_digit,
    decode_drawing,
    decode_frozen,
    decode_index,
    decode_kinds,
    decode_lost,
    decode_methods,
    describe_missing,
    encode_digit,
    encode_drawing,
    encode_frozen,
    encode_lost,
    what_source,
)
from pages._share import open_link, share_box
from pages._state import add_sample, freeze_kinds, samples

ASK = (
    "Ask the sender for a **Share** link (Share this view → Share stores uploads on their "
    "server) or for the file."
)


def link_notes() -> None:
    """What a link could not carry, in the sidebar until the receiver dismisses it (a page's
    own notes, such as a layer this model lacks, join from the next run on)."""
    notes = st.session_state.get("link_notes")
    if not notes:
        return
    for note in notes:
        st.sidebar.warning(note, icon=":material/link_off:")
    st.sidebar.button(
        "Dismiss",
        key="dismiss_link_notes",
        on_click=lambda: st.session_state.pop("link_notes", None),
    )


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
    if "lost_model" in link:  # the sender's uploaded model, which a URL cannot carry
        st.session_state.setdefault("link_notes", []).append(
            f"The sender's view was on their uploaded model {link['lost_model'][:100]!r}: a "
            "link cannot carry a model, so this is a built-in one, and the sample, layers and "
            f"settings may not match what they saw. {ASK}"
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
        if "digit" in link or "drawing" in link:  # a drawn digit, or a colour painting
            raw = (
                decode_digit(link["digit"]) if "digit" in link else decode_drawing(link["drawing"])
            )
            drawn = Sample(
                "Linked drawing", "image", raw, source="drawn", note="a drawing from a shared link"
            )
            st.session_state["pending_select"] = add_sample(drawn, select=False)
        elif link.get("sample") in gallery:
            add_sample(gallery[link["sample"]], select=False)
            st.session_state["pending_select"] = link["sample"]
        elif "sample" in link:
            notes.append(f"The link's sample {link['sample']!r} is not a built-in one here.")
        elif "probe" in link:
            s = probe_sample(lm, cache.probe(lm), decode_index(link["probe"], "held-out input"))
            st.session_state["pending_select"] = add_sample(s, select=False)
        first = st.session_state.get("pending_select") or next(iter(samples()), "a built-in one")
        for key, which in (("lost_sample", "sample"), ("lost_b", "second sample")):
            if key in link:
                source, name = decode_lost(link[key])
                notes.append(
                    f"The sender's {which} {name!r} is {what_source(source)}: a link cannot "
                    f"carry it, so {first!r} stands in for it. {ASK}"
                )
        if link.get("b") in gallery:
            add_sample(gallery[link["b"]], select=False)
            st.session_state["link_b"] = link["b"]
        elif "b_probe" in link:
            s = probe_sample(lm, cache.probe(lm), decode_index(link["b_probe"], "held-out input"))
            st.session_state["link_b"] = add_sample(s, select=False)
        if "channel" in link:
            st.session_state["link_channel"] = decode_index(link["channel"], "channel")
        if "scale" in link:
            st.session_state["link_scale"] = link["scale"][:40]
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


def _sample_params(sample: Sample, *, key: str, probe_key: str) -> tuple[dict[str, str], str]:
    """A sample as link parameters (a built-in or held-out name, a drawing), or what to tell
    the sender and the receiver when it cannot travel."""
    raw = np.asarray(sample.raw) if sample.kind == "image" else None
    if sample.source == "gallery":
        return {key: sample.name}, ""
    if probe_index(sample) is not None:
        return {probe_key: str(probe_index(sample))}, ""
    if key == "sample" and sample.source == "drawn" and raw is not None:
        if raw.shape == (28, 28) and raw.dtype == np.uint8:
            return {"digit": encode_digit(raw)}, ""
        if raw.dtype == np.uint8 and raw.ndim in (2, 3) and max(raw.shape[:2]) <= 64:
            text = encode_drawing(raw)
            if len(text) <= MAX_PARAM_CHARS:
                return {"drawing": text}, ""
    lost = "lost_sample" if key == "sample" else "lost_b"
    return {lost: encode_lost(sample.source, sample.name)}, (
        describe_missing(sample.source, sample.name)
        or f"{sample.name!r} ({what_source(sample.source)}) cannot travel in a link: the "
        "receiver is told; **Share** below carries it."
    )


def share_view(
    lm: LoadedModel,
    sample: Sample | None,
    *,
    layer: str | None = None,
    b: Sample | None = None,
    attack: str | None = None,
    channel: int | None = None,
    scale: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """Keep the URL in step with the view (st.query_params) and offer it as a link to copy;
    returns that link (for exports).

    channel, scale: the channel a page opened large and its colour scale. extra: a page's own
    settings (core.share.permalink names the keys), e.g. {"methods": "..."}.

    What cannot travel in a URL (an uploaded model, uploads, recordings) is named to the
    sender here and, through lost_* parameters, to the receiver.
    """
    from urllib.parse import urlencode

    params: dict[str, str] = {}
    missing: list[str] = []
    if lm.source == "builtin":
        params["model"] = lm.name
    else:
        params["lost_model"] = lm.name[:100]
        missing.append(
            f"The model {lm.name!r} is an upload: a link cannot carry it (the receiver is "
            "told, and sees a built-in model); **Share** below stores it on this server."
        )
    for s, key, probe_key in ((sample, "sample", "probe"), (b, "b", "b_probe")):
        if s is not None:  # None: a page about the model alone (Structure)
            got, note = _sample_params(s, key=key, probe_key=probe_key)
            params.update(got)
            missing += [note] if note else []
    frozen = encode_frozen(st.session_state.get("frozen", {}).get(lm.sha256, {}), freeze_kinds(lm))
    if frozen:
        params["frozen"] = frozen
    if layer:
        params["layer"] = layer
    if channel is not None:
        params["channel"] = str(int(channel))
    if scale:
        params["scale"] = scale
    if attack:
        params["attack"] = attack
    params.update({k: v for k, v in (extra or {}).items() if v})
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    url = f"{(st.context.url or '').split('?')[0]}?{urlencode(params)}"
    # Lazy: what is inside (the link, the share form, the downloads: ~15 elements, each a
    # message and ~1 ms of the browser's time on every rerun) runs only while it is open.
    pop = st.popover(
        "Share this view", icon=":material/link:", key="share_popover", on_change="rerun"
    )
    with pop:
        if not pop.open:
            return url
        st.caption("The address bar always holds this view; copy it from here:")
        st.code(url, language=None, wrap_lines=True)
        for m in missing:
            st.caption(f":material/info: {m}")
        st.divider()
        share_box(
            lm,
            # A share carries the model and samples themselves: no lost_* notes in it.
            params={k: v for k, v in params.items() if not k.startswith("lost_")},
            url=url,
            view={"selected": sample.name if sample else None, "sample": sample},
        )
    return url
