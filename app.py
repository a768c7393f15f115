"""Layer Lab: look inside trained CNNs. `streamlit run app.py`.

The frame: the page navigation and the shared sidebar (pages/_sidebar.py: model picker, upload,
sample list), a shared link read once (pages/_links.py); every page in pages/ reads the current
model and sample list from st.session_state.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time

_STARTED = time.perf_counter()  # this run's server time (LAYERLAB_TIMING, bench.pages)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads: core/__init__.py

import streamlit as st  # noqa: E402

from core.settings import shelf_enabled  # noqa: E402
from pages._links import apply_link, link_notes, read_link  # noqa: E402
from pages._share import sidebar_notes  # noqa: E402
from pages._sidebar import seed_samples, sidebar_model, sidebar_samples  # noqa: E402

# The icon is a file the server sends (scripts/make_favicon.py): a Material icon here is fetched
# from fonts.gstatic.com by every page, which an offline lab server cannot reach.
st.set_page_config(
    page_title="Layer Lab",
    page_icon=os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "favicon.png"),
    layout="wide",
)


@st.cache_resource(show_spinner=False)
def settle_imports() -> None:
    """Once per process (a cached call), after the heavy imports (Streamlit, TensorFlow, Keras:
    ~400,000 objects that live as long as the process): move them out of the collector's
    sight. After every run Streamlit calls keras.backend.clear_session(), whose gc.collect()
    scanned all of them (220-460 ms a rerun on 2 cores: most of what a touch cost, issue 35).
    Collect first, so nothing that is garbage is kept; not again after a cache clear (Python
    starts with a few hundred objects frozen; counting them walks the list, so only here).
    Then that call keeps Keras' reset but drops its full collection: the ~140,000 objects made
    since (the models, the caches) still cost it 5-190 ms a rerun, for the few hundred
    objects a run leaves in cycles, which Python's own generational collection frees anyway.
    Not under AppTest: its process holds other tests' objects, which would then never be
    collected, and its tests may rely on clear_session's collection."""
    if gc.get_freeze_count() < 100_000 and "streamlit.testing" not in sys.modules:
        gc.collect()
        gc.freeze()
        import keras

        keras.backend.clear_session = functools.partial(
            keras.backend.clear_session, free_memory=False
        )


settle_imports()


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
    st.Page("pages/dataset.py", title="Dataset", icon=":material/table_view:"),
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
link_notes()
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
