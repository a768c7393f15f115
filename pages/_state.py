"""Session state: the keys every page shares, and the accessors pages use to read them.

One browser session each (st.session_state), never module globals: on Community Cloud every
viewer shares one process.

Shared by every page (set by app.py's sidebar, or through the accessors below):
  "model"          LoadedModel  the current model (set by app.py on every run)
  "model_choice"   str          the sidebar's model picker (a built-in name or the upload entry)
  "upload"         Kept(file ident, LoadedModel)  this session's uploaded model
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
  carry (shown in the sidebar until dismissed); "link_b", "link_layer", "link_attack",
  "link_methods", "link_model_b", "link_channel", "link_scale": settings a page consumes once
  through `linked()`. A ?share=<id> link (pages/_share.py documents its keys:
  "shared_model", "opened_share", "link_page", "pending_delete", "share_session", "last_share").
One page's results, each a Kept(made_by, result) (keep() / kept() below: a result made by
other inputs than the page's current ones is not shown):
  "attack_result" (Attack: an AttackRun), "sweep_result" (Attack: a SweepRun), "importance"
  (Freeze: a Ranking), "explain_batch_result" (Explain: the faithfulness table over a batch),
  "explain_rand_result" (Explain: the randomisation check), "cmp_upload" (Compare models: a
  Loaded model B), "tcav_result" (Concepts: a ConceptTest), "filters_batch" (Filters: a
  ScannedBatch), "dataset_batch" (Dataset: a ProbeSet), "dataset_opened" (Dataset: an Opened);
  "last_recording", "last_audio_upload" (Audio: Kept(its id, "" or why it was refused)); and
  "last_image_upload" (Trace), "audio_edits" (Audio: the edit stack per sample),
  "hear_layer", "hear_channel", "hear_method" (Audio's "hear a filter" widgets),
  "dataset_cell_pick", "dataset_cell_of", "dataset_map_pick" (Dataset: see pages/dataset.py).
One page's selections that outlive a rerun:
  "structure_node" str          the layer whose panel the Structure page shows (a graph click)
  "confirm_replace" (layer, channels)  Freeze: "freeze the top k" waiting for its confirmation
  "big_layer" str, "big_channel_<layer>" int  Trace: the channel opened large, per layer
  "unit_at" (model key, layer, channel, position)  Trace: the unit whose arithmetic is shown
Per-session memos of display work (bounded LRUs, so a rerun that changed nothing re-encodes
nothing): "_png_urls" (pages._images: PNG data URLs of tiles, grids, patches and legends,
WAV bytes, clip chart frames and Arrow bytes, by content).
Tab selections (lazy tabs: only the open tab's content runs): "trace_input_tab",
"structure_tab", "audio_input_tab", "audio_view_tab", "freeze_matters_tab".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from core import cache
from core.analysis.attacks import AttackResult
from core.graph.interventions import Freeze
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from pages._jobs import spinner

# The input tabs, one way to add an input each: their labels are the values of
# "trace_input_tab" and "audio_input_tab" (a test opens a tab by setting its key to one).
IMAGE_INPUT_TABS = (
    ":material/draw: Draw",
    ":material/upload: Upload image",
    ":material/photo_library: Gallery",
    ":material/dataset: Real held-out images",
)
AUDIO_INPUT_TABS = (
    ":material/mic: Record",
    ":material/upload: Upload",
    ":material/library_music: Built-in clips",
    ":material/dataset: Real held-out clips",
)
# The Freeze page's "What matters" tabs (the values of "freeze_matters_tab").
MATTERS_TABS = (
    ":material/leaderboard: Filter importance",
    ":material/filter_center_focus: Input saliency",
)


class Kept(NamedTuple):
    """A page's result kept in the session with the inputs that made it."""

    made_by: Any  # e.g. (model key, sample key, settings): shown only while they are current
    result: Any


def keep(key: str, made_by: Any, result: Any) -> Any:
    """Keep a result under st.session_state[key] with the inputs that made it; returns it."""
    st.session_state[key] = Kept(made_by, result)
    return result


def kept(key: str, made_by: Any) -> Any:
    """The result kept under `key` if `made_by` made it, else None."""
    got = st.session_state.get(key)
    return got.result if got is not None and got.made_by == made_by else None


def kept_or_make(key: str, made_by: Any, make: Callable[[], Any]) -> Any:
    """The result kept under `key` if `made_by` made it, else make()'s, kept."""
    got = kept(key, made_by)
    return keep(key, made_by, make()) if got is None else got


class AttackRun(NamedTuple):
    """The Attack page's attack on screen."""

    value: float  # epsilon in the page's units (pixel levels or dB)
    result: AttackResult
    controls: dict[str, Any]  # the widgets' values that made it (method, epsilon, target, ...)


class SweepRun(NamedTuple):
    """The Attack page's success rate against epsilon."""

    method: str
    table: pd.DataFrame  # the page's epsilon, epsilon, success_rate, n
    seconds: float


class Ranking(NamedTuple):
    """The Freeze page's filter importance of one layer."""

    table: pd.DataFrame  # api.importance's
    labelled: int  # inputs whose class the model knows (the accuracy drop is over these)


class Loaded(NamedTuple):
    """An uploaded model, or why it was refused."""

    model: LoadedModel | None
    error: str | None


class ScannedBatch(NamedTuple):
    """The Filters page's uploaded labelled batch and its exemplar index."""

    batch: Any  # core.inputs.probe.ProbeSet
    index: Any  # core.analysis.exemplars.FilterIndex


class Opened(NamedTuple):
    """The Dataset page's input opened as the current sample."""

    name: str  # its name in the sample list
    partners: list[str]  # the samples added beside it (for Compare)


class ConceptTest(NamedTuple):
    """The Concepts page's TCAV run."""

    results: dict[str, Any]  # {layer: TCAVResult}
    what: str  # what the concept was


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


LINKED = {
    "link_layer": "layer",
    "link_b": "second sample",
    "link_model_b": "second model",
    "link_channel": "channel",
    "link_scale": "colour scale",
}


def linked(key: str, options: list | None = None):
    """A setting from the shared link this session opened (once), if it fits the options; one
    that does not (a layer this model lacks) is named in the link notes, not dropped."""
    v = st.session_state.pop(key, None)
    if v is None or options is None or v in options:
        return v
    lm = st.session_state.get("model")
    title = lm.card.get("title", lm.name) if lm is not None else "this model"
    shown = ", ".join(map(str, options[:8])) + (" …" if len(options) > 8 else "")
    note = (
        f"The link's {LINKED.get(key, key)} {str(v)[:80]!r} is not one this page offers for "
        f"{title} ({shown}); the page's default is shown."
    )
    st.warning(note, icon=":material/link_off:")  # here now; in the sidebar from the next run
    st.session_state.setdefault("link_notes", []).append(note)
    return None


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
        with spinner(f"Tracing {sample.name} through every layer of {lm.name}", frozen=frozen):
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
