"""Layer Lab: look inside trained CNNs. `streamlit run app.py`.

This file owns the shared sidebar (model picker, sample list) and the page navigation; every
page in pages/ reads the current model and sample list from st.session_state.
"""

from __future__ import annotations

import json
import os
import time

_STARTED = time.perf_counter()  # this run's server time (LAYERLAB_TIMING, bench.pages)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import streamlit as st  # noqa: E402

from core import api, cache  # noqa: E402
from core.errors import CardError  # noqa: E402
from core.graph.interventions import validate  # noqa: E402
from core.inputs.samples import Sample, gallery_kind  # noqa: E402
from core.model.card import PREPROCESSING, PREPROCESSING_TEXT, card_from_text, labels_from_text  # noqa: E402
from core.model.load import builtin_card  # noqa: E402
from core.model.outputs import KINDS as OUTPUT_KINDS  # noqa: E402
from core.model.outputs import is_binary  # noqa: E402
from core.model.outputs import kind_of as output_kind  # noqa: E402
from core.settings import limits, shelf_enabled  # noqa: E402
from core.share.permalink import (  # noqa: E402
    decode_attack,
    decode_digit,
    decode_frozen,
    decode_kinds,
    decode_methods,
)
from pages._jobs import heavy_job  # noqa: E402
from pages._share import SHARED, open_link, sidebar_notes  # noqa: E402
from pages._state import add_sample, samples  # noqa: E402

st.set_page_config(page_title="Layer Lab", page_icon=":material/biotech:", layout="wide")

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
    done = st.session_state.get("upload")
    if done is None or done[0] != ident:
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
        st.session_state["upload"] = (ident, lm, None)
    _, lm, _ = st.session_state["upload"]
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
                    st.session_state["upload"] = (ident, fixed, None)
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
    c1, c2 = st.sidebar.columns([1, 2])
    c1.image(cache.thumbnail(cur, 64), width=64)
    c2.caption(
        f"source: {cur.source}"
        + (f" · label {cur.label}" if cur.label else "")
        + (f"\n\n{cur.note}" if cur.note else "")
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


def accept_default_page_name(name: str) -> None:
    """A deep link to /trace, the default page's own name: Streamlit serves that page only at
    / and would say "Page not found"; ask it for the default page instead (the link's query
    is kept). No public API: a second page at /trace would take the default page's hash."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    pm = getattr(get_script_run_ctx(), "pages_manager", None)
    if pm is not None and not pm.intended_page_script_hash and pm.intended_page_name == name:
        pm.set_script_intent("", "")


pages = [
    st.Page("pages/trace.py", title="Trace", icon=":material/timeline:", default=True),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/freeze.py", title="Freeze", icon=":material/ac_unit:"),
    st.Page("pages/attack.py", title="Attack", icon=":material/bolt:"),
    st.Page("pages/explain.py", title="Explain", icon=":material/lightbulb:"),
    st.Page("pages/compare_models.py", title="Compare models", icon=":material/join_inner:"),
    st.Page("pages/filters.py", title="Filters", icon=":material/filter_alt:"),
    st.Page("pages/concepts.py", title="Concepts", icon=":material/category:"),
    st.Page("pages/audio.py", title="Audio", icon=":material/graphic_eq:"),
    st.Page("pages/structure.py", title="Structure", icon=":material/account_tree:"),
]
if shelf_enabled():  # a private deployment's list of every share (README)
    pages.append(st.Page("pages/shelf.py", title="Lab shelf", icon=":material/shelves:"))
accept_default_page_name("trace")
nav = st.navigation(pages)
st.sidebar.title(":material/biotech: Layer Lab")
read_link()
model = sidebar_model()
seed_samples(model)
apply_link(model)
for note in st.session_state.pop("link_notes", []):
    st.sidebar.warning(note, icon=":material/link_off:")
sidebar_notes()
sidebar_samples(model)
# An opened share shows its page: once, before any page runs (its link settings wait for it).
target = st.session_state.pop("link_page", None)
if target not in (None, nav.url_path) and not (target == "trace" and nav.url_path == ""):
    match = [p for p in pages if p.url_path == target]
    if match:
        st.switch_page(match[0])
try:
    nav.run()
finally:
    if os.environ.get("LAYERLAB_TIMING"):  # a file: one line per run, for bench.pages
        with open(os.environ["LAYERLAB_TIMING"], "a") as f:
            f.write(
                json.dumps(
                    {"page": nav.url_path or "trace", "ms": (time.perf_counter() - _STARTED) * 1e3}
                )
                + "\n"
            )
