"""Session state: the keys every page shares, and the accessors pages use to read them.

One browser session each (st.session_state), never module globals: on Community Cloud every
viewer shares one process.

Shared by every page (set by app.py's sidebar, or through the accessors below):
  "model"          LoadedModel  the current model (set by app.py on every run)
  "model_choice"   str          the sidebar's model picker (a built-in name or the upload entry)
  "upload"         (ident, LoadedModel, None)  this session's uploaded model
  "upload_refused" str          why the last upload was refused (shown until the next one)
  "model_file_version" int      the uploaders' key suffix: bumped to clear a refused file
  "samples"        dict[str, Sample]  the sample list, in insertion order
  "selected"       str          the current sample's name (owned by the sidebar's selectbox)
  "pending_select" str          a sample to select on the next run (the selectbox is drawn
                                before the page, so a page cannot set "selected" directly)
  "seeded"         set[str]     model kinds whose gallery samples were already added
  "frozen"         dict[sha256, {layer: [channels]}]  the Freeze page's configuration per model
  "freeze_kinds"   dict[sha256, {layer: {"kind", "factor"}}]  interventions other than zeroing
  "freeze_version" int          bumped to remount the Freeze page's pickers
  "<page>_unfrozen" bool        a page's "Without freezing" toggle (pages._widgets.freeze_note)
A shared link (app.py reads it once per session):
  "link_read" bool; "link" the decoded query; "link_notes" messages about what it could not
  carry; "link_b", "link_layer", "link_attack", "link_methods", "link_model_b": settings a page
  consumes once through `linked()`. A ?share=<id> link (pages/_share.py documents its keys:
  "shared_model", "opened_share", "link_page", "pending_delete", "share_session", "last_share").
One page's results, kept with the inputs that made them (key first, so a stale one is ignored):
  "attack_result", "sweep_result" (Attack), "importance" (Freeze), "explain_batch_result",
  "explain_rand_result" (Explain), "filters_batch" (Filters), "cmp_upload" (Compare models),
  "last_image_upload" (Trace), "audio_edits" (Audio: the edit stack per sample),
  "hear_layer", "hear_channel", "hear_method" (Audio's "hear a filter" widgets),
  "tcav_result" (Concepts: ident, {layer: TCAVResult}, what the concept was), "dataset_batch",
  "dataset_cell_pick", "dataset_cell_of", "dataset_map_pick", "dataset_opened" (Dataset: see
  pages/dataset.py).
One page's selections that outlive a rerun:
  "structure_node" str          the layer whose panel the Structure page shows (a graph click)
  "confirm_replace" (layer, channels)  Freeze: "freeze the top k" waiting for its confirmation
  "big_layer" str, "big_channel_<layer>" int  Trace: the channel opened large, per layer
  "unit_at" (model key, layer, channel, position)  Trace: the unit whose arithmetic is shown
Per-session memos of display work (bounded LRUs, so a rerun that changed nothing re-encodes
nothing): "_png_urls" (pages._images: PNG data URLs of tiles, patches and legends by
content).
Tab selections (lazy tabs: only the open tab's content runs): "trace_input_tab",
"structure_tab", "audio_input_tab", "audio_view_tab".
"""

from __future__ import annotations

import streamlit as st

from core import cache
from core.graph.interventions import Freeze
from core.inputs.samples import Sample
from core.model.load import LoadedModel


def current_model() -> LoadedModel:
    lm = st.session_state.get("model")
    if lm is None:
        # A deep link (e.g. /freeze) to a freshly started server: Streamlit 1.67 routes through
        # its legacy pages/ auto-discovery until some run of app.py has called st.navigation,
        # so this page ran without app.py. Switch to st.navigation routing (exactly what that
        # call does) and rerun, which runs app.py and then this page.
        from streamlit.runtime.pages_manager import PagesManager

        if PagesManager.uses_pages_directory:
            PagesManager.uses_pages_directory = False
            st.rerun()
        st.info("Pick a model in the sidebar.")
        st.stop()
    return lm


def keep_widget_state(*keys: str) -> None:
    """Keep these widgets' values through runs that do not draw them (a lazy tab that is not
    open): Streamlit drops a widget's value at the end of a run without it, unless the value
    was set through session state in that run, which this does (before the widgets exist)."""
    for k in keys:
        if k in st.session_state:
            st.session_state[k] = st.session_state[k]


def linked(key: str, options: list | None = None):
    """A setting from the shared link this session opened (once), if it fits the options."""
    v = st.session_state.pop(key, None)
    return v if v is not None and (options is None or v in options) else None


def freeze_kinds(lm: LoadedModel) -> dict[str, dict]:
    """This model's interventions other than zeroing, {layer: {"kind", "factor"}} (the Freeze
    page's; the frozen channels themselves are st.session_state["frozen"][sha256])."""
    return st.session_state.setdefault("freeze_kinds", {}).setdefault(lm.sha256, {})


def samples() -> dict[str, Sample]:
    return st.session_state.setdefault("samples", {})


def add_sample(sample: Sample, *, select: bool = True, replace: bool = False) -> str:
    """Put a sample in the shared list under a unique name; returns the name used.

    select=True makes it the current sample. The sidebar's selectbox owns the "selected" key
    and is drawn before the page, so the choice goes through "pending_select" and a rerun.
    """
    pool = samples()
    name = sample.name
    if not replace:
        k = 2
        while name in pool and pool[name].key != sample.key:
            name = f"{sample.name} ({k})"
            k += 1
    if name != sample.name:
        sample = Sample(
            name=name,
            kind=sample.kind,
            raw=sample.raw,
            source=sample.source,
            label=sample.label,
            note=sample.note,
        )
    pool[name] = sample
    if select:
        st.session_state["pending_select"] = name
        st.rerun()
    return name


def keep_sample(sample: Sample) -> None:
    """A button's on_click: add the sample (not selected) before the script reruns, so the
    sidebar, drawn first, already counts it; a toast names it."""
    name = add_sample(sample, select=False)
    st.toast(f"Added {name!r} to the samples.", icon=":material/playlist_add:")


def usable_samples(lm: LoadedModel) -> list[str]:
    return [n for n, s in samples().items() if s.kind == lm.kind]


def selected_sample(lm: LoadedModel) -> Sample:
    names = usable_samples(lm)
    if not names:
        st.info(
            f"No {lm.kind} samples yet: add one on the "
            f"{'Trace' if lm.kind == 'image' else 'Audio'} page."
        )
        st.stop()
    name = st.session_state.get("selected")
    return samples()[name if name in names else names[0]]


def run_trace(lm: LoadedModel, sample: Sample, frozen: Freeze = Freeze()):
    """(trace, probabilities, notes), or an error message on the page and a stop.

    frozen: a cache.frozen_key (pages._widgets.freeze_note gives the one that applies):
    the trace and prediction with those filters frozen.
    """
    try:
        # A spinner only shows after 0.5 s: a cached trace never flashes one.
        with st.spinner(
            f"Tracing {sample.name} through every layer of {lm.name}"
            + (" (with frozen filters)" if frozen else "")
            + "…",
            show_time=True,
        ):
            tr, probs, notes = cache.trace(lm, sample)
            if frozen:
                tr, probs = cache.trace_frozen(lm, sample, frozen)
        return tr, probs, notes
    except ValueError as e:  # InputError and friends: say what was wrong, keep the session
        st.error(f"{sample.name!r} cannot be fed to {lm.name!r}: {e}")
        st.stop()
    except Exception as e:  # noqa: BLE001 - an uploaded model failing at run time
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        st.error(
            f"{lm.name!r} failed while running on {sample.name!r} ({type(e).__name__}: "
            f"{first}). Pick another sample or model; the rest of the app keeps working."
        )
        st.stop()
