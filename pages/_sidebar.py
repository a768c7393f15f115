"""The shared sidebar: the model picker, an upload with its card form, and the sample list."""

from __future__ import annotations

import json
from html import escape

import streamlit as st

from core import api, cache
from core.errors import CardError
from core.inputs.samples import gallery_kind
from core.model.card import PREPROCESSING, PREPROCESSING_TEXT, card_from_text, labels_from_text
from core.model.load import builtin_card
from core.model.outputs import KINDS as OUTPUT_KINDS
from core.model.outputs import is_binary
from core.model.outputs import kind_of as output_kind
from core.settings import limits
from pages._jobs import heavy_job
from pages._share import SHARED
from pages._state import add_sample, keep, kept, samples

UPLOAD = "Upload a Keras model…"


def _builtin_title(name: str) -> str:
    # Read from the card: loading every built-in model just to label the picker costs seconds.
    return builtin_card(name).get("title", name)


def _card_from_file(file) -> dict | None:
    """A card JSON or a labels file uploaded beside the model -> a partial card."""
    if file is None:
        return None
    if not file.name.lower().endswith((".json", ".txt")):
        raise CardError(
            f"The card {file.name!r} is neither .json nor .txt: give the model card as JSON, or "
            "the class names as a .txt file with one name per line (or leave it empty)."
        )
    return card_from_text(file.getvalue().decode("utf-8", "replace"), file.name)


def _uploaded_model():
    """The model this session uploaded (kept in its own session state, never shared)."""
    lim = limits()
    # Any file is taken and checked here: Streamlit's own type filter refuses silently (a red
    # icon, a tooltip), while our refusal says what is accepted and what to do.
    version = st.session_state.get("model_file_version", 0)
    file = st.sidebar.file_uploader(
        "Keras model (.keras or .h5) or ONNX (.onnx, e.g. from PyTorch)",
        key=f"model_file_{version}",
        help=f"Checked before loading: at most {lim.upload_bytes // 2**20} MB, built-in Keras "
        "layers only (no Lambda or custom code), one image or audio input; then loaded "
        "and traced once in a sandbox. An .onnx file is converted there to Keras layers "
        "(named after its nodes) and checked against onnxruntime.",
    )
    card_file = st.sidebar.file_uploader(
        "Optional: its card (.json) or class names (.txt, one per line)",
        key=f"card_file_{version}",
    )
    if file is None:
        refused = st.session_state.get("upload_refused")
        if refused:
            st.sidebar.error(refused, icon=":material/block:")
        else:
            st.sidebar.caption("Your upload stays in your browser session; nobody else sees it.")
        return None
    data = file.getvalue()
    ident = (file.name, len(data), file.file_id, card_file.file_id if card_file else None)
    lm = kept("upload", ident)
    if lm is None:
        try:
            what = (
                "Converting (ONNX -> Keras, checked against onnxruntime) and loading"
                if file.name.lower().endswith(".onnx")
                else "Checking and loading"
            )
            with heavy_job(f"{what} {file.name}", where=st.sidebar):
                lm = api.load_bytes(
                    data, file.name, card=_card_from_file(card_file), sandbox=cache.sandbox()
                )
        except ValueError as e:  # refused or unsupported: say why, keep the session going
            # The refused file leaves the uploader (listed, it would look taken); the message
            # stays until the next upload.
            st.session_state["upload_refused"] = (
                str(e) if file.name in str(e) else f"{file.name}: {e}"
            )
            st.session_state["model_file_version"] = version + 1
            st.session_state.pop("upload", None)
            st.rerun()
        st.session_state.pop("upload_refused", None)
        keep("upload", ident, lm)
    return _card_form(ident, lm)


def _card_form(ident, lm):
    """What was inferred about the upload, and a form to correct it (no reload)."""
    card = lm.card
    with st.sidebar.expander("Model card: what Layer Lab inferred", expanded=True):
        for note in lm.notes:
            st.caption(note)
        for what, how in card.get("inferred", {}).items():
            st.markdown(f"**{what}**: {how}")
        with st.form("card_form", border=False):
            labels = st.text_area(
                "Class names, one per line",
                "\n".join(card["labels"]),
                height=120,
                key="card_labels",
            )
            spec = card["input"]
            if lm.kind == "image":
                keys = list(PREPROCESSING)
                cur = spec.get("preprocessing", "0-1")
                scaling = st.selectbox(
                    "Input scaling",
                    keys,
                    index=keys.index(cur) if cur in keys else 0,
                    format_func=lambda k: PREPROCESSING_TEXT[k],
                    key="card_scaling",
                )
                fix = {"preprocessing": scaling}
            else:
                rate = st.number_input(
                    "Sample rate (Hz)",
                    1000,
                    192000,
                    int(spec["sample_rate"]),
                    step=1000,
                    key="card_rate",
                )
                fix = {"sample_rate": int(rate)}
            kinds = [k for k in OUTPUT_KINDS if k.startswith("binary") == is_binary(card)]
            output = st.selectbox(
                "Output", kinds, index=kinds.index(output_kind(card)), key="card_output"
            )
            if st.form_submit_button("Apply", icon=":material/check:"):
                try:
                    fixed = lm.with_card(
                        {"labels": labels_from_text(labels), "input": fix, "output": output}
                    )
                except ValueError as e:
                    st.error(f"Card not changed: {e}")
                else:
                    keep("upload", ident, fixed)
                    st.rerun()
        st.download_button(
            "Download this card (JSON)",
            json.dumps(card, indent=1),
            file_name=f"{lm.name.rsplit('.', 1)[0]}.json",
            mime="application/json",
            key="card_download",
            icon=":material/download:",
        )
    return lm


def sidebar_model():
    names = api.builtin_names()
    shared = [SHARED] if "shared_model" in st.session_state else []
    choice = st.sidebar.selectbox(
        "Model",
        names + [UPLOAD] + shared,
        format_func=lambda n: n if n in (UPLOAD, SHARED) else _builtin_title(n),
        key="model_choice",
    )
    lm = None
    if choice == SHARED:
        lm = st.session_state["shared_model"][0]
    elif choice == UPLOAD:
        lm = _uploaded_model()
        if lm is None:
            st.sidebar.info("Until a model is loaded, the built-in one is shown.")
    if lm is None:
        name = choice if choice != UPLOAD else names[0]
        with st.sidebar, st.spinner(f"Loading {_builtin_title(name)}…", show_time=True):
            lm = cache.builtin_model(name)
    st.session_state["model"] = lm
    card = lm.card
    st.sidebar.caption(
        f"**{card.get('title', lm.name)}** · input "
        f"{'×'.join(map(str, card['input']['shape']))} {card['input']['kind']} · "
        f"{len(card['labels'])} classes"
    )
    return lm


def seed_samples(lm) -> None:
    """The first time a session uses a kind of model, one built-in sample of each class."""
    kind = gallery_kind(lm.card)
    seeded = st.session_state.setdefault("seeded", set())
    if kind in seeded:
        return
    seeded.add(kind)
    pool = cache.gallery(lm.card)
    seeds = {
        "digits": [s for s in pool if s.name.endswith("(style 1)")],
        "speech": [s for s in pool if "en-us-f3" in s.name],
    }.get(kind, pool)
    for s in seeds:
        add_sample(s, select=False)
    # Start on a sample that suits the model (a digit for LeNet, a colour scene for VGG, ...).
    if seeds and st.session_state.get("selected") not in {s.name for s in seeds}:
        st.session_state["pending_select"] = seeds[0].name


def sidebar_samples(lm) -> None:
    pool = samples()
    st.sidebar.subheader("Samples")
    usable = [n for n, s in pool.items() if s.kind == lm.kind]
    if not usable:
        st.sidebar.caption(f"No {lm.kind} samples yet.")
        return
    pending = st.session_state.pop("pending_select", None)
    if pending in usable:
        st.session_state["selected"] = pending
    if st.session_state.get("selected") not in usable:
        st.session_state["selected"] = usable[0]
    st.sidebar.selectbox(
        "Current sample",
        usable,
        key="selected",
        help="Every page works on this sample. Add more on the Trace page.",
    )
    cur = pool[st.session_state["selected"]]
    # The thumbnail and its lines in one element (two columns, a picture and a caption were
    # five, on every page's every rerun); names and notes can be a user's: escaped.
    about = f"source: {cur.source}" + (f" · label {cur.label}" if cur.label else "")
    st.sidebar.markdown(
        "<div style='display:flex;gap:0.75rem;align-items:flex-start'>"
        f"<img src='{cache.thumbnail(cur, 64)}' width='64' height='64' "
        f"alt='{escape(cur.name)}' style='flex:none'>"
        f"<div style='font-size:0.875rem;opacity:0.65'>{escape(about)}"
        + (f"<br><br>{escape(cur.note)}" if cur.note else "")
        + "</div></div>",
        unsafe_allow_html=True,
    )
    # Lazy: its thumbnails and button run only while it is open.
    every = st.sidebar.expander(
        f"All samples ({len(usable)})", key="all_samples", on_change="rerun"
    )
    with every:
        if not every.open:
            return
        per_row = 4
        for i in range(0, len(usable), per_row):
            cols = st.columns(per_row)
            for col, name in zip(cols, usable[i : i + per_row]):
                col.image(cache.thumbnail(pool[name], 48), caption=name, width="stretch")
        if st.button("Remove current sample", key="remove_sample", disabled=len(usable) <= 1):
            del pool[st.session_state["selected"]]
            st.session_state.pop("selected")
            st.rerun()
