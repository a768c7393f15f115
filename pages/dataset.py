"""Dataset: where does the model fail? From the whole dataset down to one layer of one input.

Session keys: "dataset_batch" Kept((model sha256, file id), ProbeSet) the uploaded labelled ZIP;
"dataset_cell_pick" (true, predicted) the confusion cell shown (its picker; a click on the
heatmap sets it), "dataset_cell_of" the evaluation it belongs to; "dataset_map_pick" the input
picked on a map; "dataset_opened" Kept(model key, Opened) the input the last click made the
current sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.analysis.failures import umap_available
from core.errors import LayerLabError
from core.inputs.probe import read_labelled
from core.inputs.samples import Sample
from pages import _dataset_charts as charts
from pages._controls import batch_source
from pages._images import remember
from pages._jobs import Progress, watched
from pages._links import share_view
from pages._state import Opened, add_sample, current_model, keep, kept, samples
from pages._widgets import altair

lm = current_model()
st.title("Dataset")
st.caption(
    "Where does the model fail? Score a labelled dataset, click a cell of the confusion matrix "
    "to see its inputs, open one to follow it through the layers beside a typical correctly "
    "classified input, and find the filters that tell the errors from the right answers."
)

# ---- the dataset -----------------------------------------------------------------------------
mine, up = batch_source(lm, label="Dataset", key="dataset", horizontal=True)
if mine:
    made_by = (lm.sha256, up.file_id) if up is not None else None
    data = kept("dataset_batch", made_by) if up is not None else None
    if up is not None and data is None:
        try:
            data = keep(
                "dataset_batch", made_by, read_labelled(up.getvalue(), lm, filename=up.name)
            )
        except LayerLabError as e:
            st.error(str(e))
    if data is None:
        st.info("Upload a labelled ZIP, or switch back to the held-out probe set.")
        st.stop()
else:
    try:
        data = cache.probe(lm)
    except LayerLabError as e:
        st.error(str(e))
        st.stop()

try:
    bar = Progress("Evaluating…")
    with watched(f"Evaluating {len(data)} inputs of {data.about}", bar=bar):
        ev = cache.evaluation(
            lm, data, _on_progress=lambda i, n: bar.progress(i / n, text=f"{i} of {n} inputs")
        )
        bar.empty()
except LayerLabError as e:
    st.error(str(e))
    st.stop()
names = ev.class_names
if ev.skipped:
    with st.expander(f":material/warning: {len(ev.skipped)} files or rows left out"):
        st.dataframe(pd.DataFrame(ev.skipped, columns=["file", "why"]), hide_index=True)

# ---- how well, overall and per class ---------------------------------------------------------
lo, hi = ev.interval
table, ece = ev.calibration()
m1, m2, m3, m4 = st.columns(4)
m1.metric("Accuracy", f"{ev.accuracy:.1%}", help="95 % Wilson interval below")
m1.caption(f"95 % interval {lo:.1%} – {hi:.1%}")
m2.metric("Inputs", f"{len(ev):,}")
m3.metric("Errors", f"{int((~ev.correct).sum()):,}")
m4.metric("Calibration error (ECE)", f"{ece:.3f}", help="Expected calibration error, 10 bins")
st.caption(f"Inputs: {ev.about}.")

left, right = st.columns([3, 2])
with right:
    st.subheader("Per class")
    st.dataframe(
        ev.per_class,
        hide_index=True,
        column_config={
            "precision": st.column_config.NumberColumn(format="percent"),
            "recall": st.column_config.NumberColumn(format="percent"),
        },
    )

# ---- the confusion matrix: a click picks a cell ---------------------------------------------
cm = ev.confusion
off = cm - np.diag(np.diag(cm))
worst = np.unravel_index(int(np.argmax(off)), off.shape) if off.any() else (0, 0)
cells = [(t, p) for t in range(len(names)) for p in range(len(names)) if cm[t, p]]
# The picker owns the cell; a new evaluation starts on its largest error.
if (
    st.session_state.get("dataset_cell_of") != ev.key
    or st.session_state.get("dataset_cell_pick") not in cells
):
    st.session_state["dataset_cell_of"] = ev.key
    st.session_state["dataset_cell_pick"] = (int(worst[0]), int(worst[1]))
cell = tuple(st.session_state["dataset_cell_pick"])


def _cell_label(c: tuple[int, int]) -> str:
    t, p = c
    kind = "right" if t == p else "wrong"
    return f"{names[t]} → {names[p]} ({cm[t, p]}, {kind})"


def _clicked() -> None:
    """on_select (before the rerun): a click on a cell with inputs picks it."""
    points = st.session_state["dataset_confusion"]["selection"].get("cell") or []
    if points and (int(points[0]["t"]), int(points[0]["p"])) in cells:
        st.session_state["dataset_cell_pick"] = (int(points[0]["t"]), int(points[0]["p"]))


with left:
    st.subheader("Confusion matrix")
    altair(
        lambda: charts.confusion_chart(charts.confusion_frame(cm, names), names, cell),
        key="dataset_confusion",
        deps=(ev.key, cell),
        on_select=_clicked,
        selection_mode="cell",
    )
    st.caption("Rows: true class; columns: predicted. Click a cell to see its inputs.")
st.selectbox("Cell", cells, format_func=_cell_label, key="dataset_cell_pick")
t, p = cell


# ---- the cell's inputs: most confident first; a click opens one with its partners -------------
def _sample(row: int, *, note: str = "") -> Sample:
    label = names[int(ev.labels[row])]
    shared = data.key.startswith("probe:")
    return Sample(
        f"{'held-out' if shared else 'batch'} #{row} ({label})",
        lm.kind,
        ev.raws[row],
        source="probe" if shared else "upload",
        label=label,
        note=note or f"input {row} of {ev.about}",
    )


def _open(row: int) -> None:
    """Make input `row` the current sample, the typical right answers of its predicted and
    true classes beside it (Compare opens with the first)."""
    partners = []
    for k in dict.fromkeys((int(ev.predictions[row]), int(ev.labels[row]))):
        r = ev.typical(k)
        if r is not None and r != row:
            s = _sample(r, note=f"the most typical correctly classified {names[k]} input")
            partners.append(add_sample(s, select=False))
    name = add_sample(_sample(row), select=False)
    if partners:
        st.session_state["link_b"] = partners[0]
    keep("dataset_opened", lm.key, Opened(name, partners))
    st.session_state["pending_select"] = name


def _open_picked(key: str) -> None:
    """The inputs' Open choice (a callback: the page reruns after it): open the picked input
    and clear the choice, so the next run does not open it again."""
    row = st.session_state[key]
    st.session_state[key] = None
    if row is not None:
        _open(int(row))


rows = ev.cell(t, p)
st.subheader(f"{len(rows)} input{'s' * (len(rows) != 1)}: true {names[t]}, predicted {names[p]}")
opened = kept("dataset_opened", lm.key)
if opened is not None and opened.name in samples():
    others = " and ".join(repr(n) for n in opened.partners) or "no partner"
    st.success(f"{opened.name!r} is the current sample, with {others} beside it.")
    with st.container(horizontal=True):
        for page, title in (
            ("trace" if lm.kind == "image" else "audio", "Trace"),
            ("compare", "Compare"),
            ("freeze", "Freeze"),
            ("explain", "Explain"),
            ("attack", "Attack"),
        ):
            st.page_link(f"pages/{page}.py", label=f"Continue on {title}")
shown = [int(r) for r in rows[:24]]
about = [f"#{r} · {ev.confidence[r]:.2f}" for r in shown]  # input number · confidence
if lm.kind == "image":
    # One element for all the pictures (an element costs every rerun ~1 ms; 24 inputs, each
    # with its column, picture, caption and button, were ~100).
    # Made once per evaluation and cell in the session (a cached call each was ~0.3 ms a rerun).
    thumbs = remember(
        ("dataset_thumbs", ev.key, tuple(shown)),
        lambda: [cache.thumbnail(_sample(r), 64) for r in shown],
        size=lambda v: sum(map(len, v)),
    )
    st.image(thumbs, width=80, caption=about)
else:
    for start in range(0, len(shown), 3):
        for col, r, text in zip(st.columns(3), shown[start : start + 3], about[start : start + 3]):
            col.audio(ev.raws[r][0], sample_rate=int(ev.raws[r][1]))
            col.caption(text)
open_key = f"dataset_open_{t}_{p}"
st.pills(
    "Open one as the current sample (under each: its input number · the model's confidence)",
    shown,
    key=open_key,
    format_func=lambda r: f"#{r}",
    on_change=_open_picked,
    args=(open_key,),
    help="With the most typical right answers of its true and predicted classes beside it "
    "in the sample list (Compare opens with the first).",
)
if len(rows) > len(shown):
    st.caption(f"The {len(shown)} most confident of {len(rows)} shown.")

# ---- confidence and calibration --------------------------------------------------------------
c1, c2 = st.columns(2)
with c1:
    st.subheader("Confidence, right and wrong")
    conf, right = ev.confidence, ev.correct
    altair(lambda: charts.confidence_chart(conf, right), key="dataset_hist", deps=(ev.key,))
with c2:
    st.subheader("Calibration")
    altair(lambda: charts.reliability_chart(table), key="dataset_reliability", deps=(ev.key,))
    st.caption(
        f"Bars: accuracy per confidence bin; dashed: perfect calibration. Expected calibration "
        f"error {ece:.3f} (the bins' gaps, weighted by their inputs; Guo et al. 2017)."
    )

# ---- a map of a layer, two side by side ------------------------------------------------------
st.subheader("A map of a layer")
bar = Progress("Summarising every layer…")
with watched(f"Summarising every layer over {len(ev)} inputs", bar=bar):
    summaries = cache.layer_summaries(
        lm, data, _on_progress=lambda i, n: bar.progress(i / n, text=f"{i} of {n} inputs")
    )
    bar.empty()
layers = [n for n in summaries if n != lm.tracer.plan.output_name]
convs = lm.tracer.plan.map_convs(layers)
g1, g2, g3, g4 = st.columns(4)
la = g1.selectbox(
    "Left layer", layers, index=layers.index((convs or layers)[0]), key="dataset_map_a"
)
lb = g2.selectbox("Right layer", layers, index=len(layers) - 1, key="dataset_map_b")
colour = g3.radio(
    "Colour by",
    ["label", "result"],
    horizontal=True,
    key="dataset_colour",
    format_func={"label": "true class", "result": "right / wrong"}.get,
)
methods = ["pca", "umap"] if umap_available() else ["pca"]
method = g4.selectbox("Reduction", methods, key="dataset_method", format_func=str.upper)


def _map_clicked(key: str) -> None:
    points = st.session_state[key]["selection"].get("pt") or []
    if points:
        st.session_state["dataset_map_pick"] = int(points[0]["row"])


def _map_frame(xy: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": np.arange(len(ev)),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "label": [names[i] for i in ev.labels],
            "predicted": [names[i] for i in ev.predictions],
            "result": np.where(ev.correct, "right", "wrong"),
            "wrong": (~ev.correct).astype(int),
            "confidence": ev.confidence,
        }
    )


cols = st.columns(2)
pick = st.session_state.get("dataset_map_pick")
for col, layer, side in ((cols[0], la, "a"), (cols[1], lb, "b")):
    xy, sep = cache.dataset_map(lm, data, layer, method)
    title = f"{layer} · neighbours of the same class {sep:.0%}"
    key = f"dataset_mapchart_{side}"
    # Built once per (dataset, layer, colouring, pick) in this session (pages._widgets.altair).
    altair(
        lambda xy=xy, title=title: charts.map_chart(_map_frame(xy), colour, names, title, pick),
        key=key,
        deps=(ev.key, layer, method, colour, pick),
        where=col,
        on_select=lambda k=key: _map_clicked(k),
        selection_mode="pt",
    )
st.caption(
    "Each input's channel means at the layer, reduced to 2-D "
    f"({method.upper()}); the title gives how often an input's nearest point is of its own "
    "class: where classes separate. Click a point to pick that input."
)
pick = st.session_state.get("dataset_map_pick")
if pick is not None and pick < len(ev):
    d1, d2 = st.columns([4, 1])
    d1.markdown(
        f"Picked on the map: input **#{pick}**, true {names[int(ev.labels[pick])]}, "
        f"predicted {names[int(ev.predictions[pick])]} (p = {ev.confidence[pick]:.2f})."
    )
    if d2.button("Open it", key="dataset_open_map"):
        _open(int(pick))
        st.rerun()

# ---- filters that explain the errors ---------------------------------------------------------
st.subheader(f"Filters that tell {names[t]} → {names[p]} from the right {names[t]}")
fl = st.selectbox(
    "Layer", layers, index=layers.index((convs or layers)[-1]), key="dataset_filter_layer"
)
found = cache.error_filters(lm, data, fl, t, p)
if t == p or found.table.empty:
    st.info(
        "Pick an off-diagonal cell with inputs (an error) whose true class also has right answers."
    )
else:
    top = found.table.head(10)
    st.dataframe(
        top,
        hide_index=True,
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in ("cell_mean", "correct_mean", "difference", "effect")
        },
    )
    st.caption(
        f"Channels of {fl} ranked by the difference of their mean activation between the "
        f"{found.n_cell} inputs of the cell and the {found.n_correct} right {names[t]} "
        "inputs, over the pooled standard deviation (effect size)."
    )
    chans = [int(c) for c in top["channel"]]
    if st.button(
        f"Freeze these {len(chans)} filters", key="dataset_freeze", icon=":material/ac_unit:"
    ):
        st.session_state.setdefault("frozen", {})[lm.sha256] = {fl: sorted(chans)}
        st.session_state.setdefault("freeze_kinds", {})[lm.sha256] = {}
        st.session_state["freeze_version"] = st.session_state.get("freeze_version", 0) + 1
        st.session_state["link_layer"] = fl
        st.switch_page("pages/freeze.py")

share_view(lm, None)
