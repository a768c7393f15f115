"""Widgets and displays shared by the pages (not a page itself: app.py registers the pages).

Session keys (one browser session each, never module globals):
  "model"    the current LoadedModel (set by app.py's sidebar on every run)
  "samples"  dict name -> Sample, in insertion order: the sample list every page shares
  "selected" the name of the current sample
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.models import LoadedModel
from core.render import apply_colormap, as_maps, feature_grid
from core.samples import Sample


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
        sample = Sample(name=name, kind=sample.kind, raw=sample.raw, source=sample.source,
                        label=sample.label, note=sample.note)
    pool[name] = sample
    if select:
        st.session_state["pending_select"] = name
        st.rerun()
    return name


def usable_samples(lm: LoadedModel) -> list[str]:
    return [n for n, s in samples().items() if s.kind == lm.kind]


def selected_sample(lm: LoadedModel) -> Sample:
    names = usable_samples(lm)
    if not names:
        st.info(f"No {lm.kind} samples yet: add one on the Trace page." if lm.kind == "image"
                else f"{lm.name!r} takes {lm.kind} input; the pages for audio are not built "
                     "yet.")
        st.stop()
    name = st.session_state.get("selected")
    return samples()[name if name in names else names[0]]


def run_trace(lm: LoadedModel, sample: Sample):
    """(trace, probabilities, notes), or an error message on the page and a stop."""
    try:
        return cache.trace(lm, sample)
    except ValueError as e:  # InputError and friends: say what was wrong, keep the session
        st.error(f"{sample.name!r} cannot be fed to {lm.name!r}: {e}")
        st.stop()
    except Exception as e:  # noqa: BLE001 - an uploaded model failing at run time
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        st.error(f"{lm.name!r} failed while running on {sample.name!r} ({type(e).__name__}: "
                 f"{first}). Pick another sample or model; the rest of the app keeps working.")
        st.stop()


def label_of(lm: LoadedModel, probs: np.ndarray) -> str:
    return lm.labels[int(np.argmax(probs))]


def prediction(lm: LoadedModel, probs: np.ndarray, *, key: str, title: str = "Prediction",
               true_label: str | None = None, height: int = 180) -> None:
    """The Prediction metric and a bar chart of class probabilities."""
    top = int(np.argmax(probs))
    st.metric(title, lm.labels[top], help="The class with the highest probability.")
    st.caption(f"confidence {probs[top]:.1%}" + (
        f" · true label {true_label}" if true_label is not None else ""))
    df = pd.DataFrame({"class": lm.labels, "probability": probs.astype(float)})
    order = lm.labels
    if len(df) > 20:  # many classes: the 10 most probable, highest first
        df = df.nlargest(10, "probability")
        order = list(df["class"])
        st.caption(f"The 10 most probable of {len(lm.labels)} classes.")
    chart = alt.Chart(df).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=0 if len(order) <= 12 else -40)),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), title="probability"),
        color=alt.condition(alt.datum["class"] == lm.labels[top], alt.value("#e45756"),
                            alt.value("#4c78a8")),
        tooltip=["class", alt.Tooltip("probability:Q", format=".2%")],
    ).properties(height=height)
    st.altair_chart(chart, width="stretch", key=key)


def legend(vmin: float, vmax: float, cmap: str, *, key: str, title: str = "activation") -> None:
    """A colour-scale legend: the gradient as an image, with its end and middle values."""
    bar = apply_colormap(np.linspace(0, 1, 240)[None].repeat(14, axis=0), cmap)
    st.image(bar, width=240)
    mid = (vmin + vmax) / 2
    st.markdown(
        f"<div style='display:flex;justify-content:space-between;width:240px;"
        f"font-size:0.8rem;color:#555;margin-top:-0.6rem'><span>{vmin:.3g}</span>"
        f"<span>{mid:.3g}</span><span>{vmax:.3g}</span></div>"
        f"<div style='font-size:0.8rem;color:#777;width:240px;text-align:center'>{title}</div>",
        unsafe_allow_html=True)


def shape_text(a: np.ndarray) -> str:
    return "×".join(str(d) for d in np.shape(a)) or "scalar"


def vector_chart(v: np.ndarray, *, key: str, labels: list[str] | None = None,
                 height: int = 140) -> None:
    """A dense layer's output: a bar chart (few units) or a heat strip (many)."""
    v = np.ravel(v).astype(float)
    if v.size <= 128:
        idx = labels if labels is not None and len(labels) == v.size else [str(i) for i in range(v.size)]
        df = pd.DataFrame({"unit": idx, "value": v, "order": range(v.size)})
        chart = alt.Chart(df).mark_bar().encode(
            x=alt.X("unit:N", sort=alt.EncodingSortField("order"), title="unit",
                    axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("value:Q", title="activation"),
            color=alt.condition(alt.datum.value >= 0, alt.value("#4c78a8"), alt.value("#f58518")),
            tooltip=["unit", alt.Tooltip("value:Q", format=".4g")],
        ).properties(height=height)
        st.altair_chart(chart, width="stretch", key=key)
    else:
        cols = int(np.ceil(np.sqrt(v.size * 8)))
        grid = np.full(int(np.ceil(v.size / cols)) * cols, np.nan)
        grid[: v.size] = v
        grid = grid.reshape(-1, cols)
        img, vmin, vmax = feature_grid(np.nan_to_num(grid, nan=np.nanmin(v))[..., None],
                                       cell=max(cols * 4, 200))
        st.image(img, caption=f"{v.size} units as a heat strip, row by row "
                              f"(range {vmin:.3g} … {vmax:.3g})", clamp=True)


def layer_output(name: str, a: np.ndarray, *, scale: str, key: str, type_name: str = "",
                 labels: list[str] | None = None) -> None:
    """One layer's output: a grid of all channels with its legend, or a vector chart."""
    maps = as_maps(a)
    left, right = st.columns([3, 1])
    with right:
        zero = float(np.mean(a == 0))
        st.caption(f"min {a.min():.3g} · max {a.max():.3g} · mean {a.mean():.3g}  \n"
                   f"{zero:.0%} of values are exactly 0")
    if maps is not None:
        img, vmin, vmax = feature_grid(maps, scale=scale)
        with left:
            st.image(img, caption=f"{maps.shape[-1]} channels, {maps.shape[0]}×{maps.shape[1]} "
                                  "each", width=min(img.shape[1], 900))
        with right:
            if scale == "shared":
                legend(vmin, vmax, "viridis", key=f"{key}_legend")
            else:
                st.caption("Each channel is stretched to its own min…max (dark: its minimum, "
                           "yellow: its maximum).")
    else:
        with left:
            vector_chart(a, key=key, labels=labels)


def distance_chart(df: pd.DataFrame, *, key: str, highlight: str | None = None,
                   height: int = 320) -> None:
    """Cosine distance per layer, in graph order: where two inputs part ways."""
    long = df.rename(columns={"cosine_distance": "cosine distance",
                              "relative_l2": "relative L2"}).melt(
        id_vars=["step", "layer"], value_vars=["cosine distance", "relative L2"],
        var_name="measure", value_name="distance")
    base = alt.Chart(long).encode(
        x=alt.X("layer:N", sort=list(df["layer"]), title="layer (graph order)",
                axis=alt.Axis(labelAngle=-40, labelOverlap=False, labelLimit=110)),
        y=alt.Y("distance:Q", title="distance"),
        color=alt.Color("measure:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(range=["#4c78a8", "#f58518"])),
        tooltip=["layer", "measure", alt.Tooltip("distance:Q", format=".3f")],
    )
    layers = [base.mark_line(), base.mark_point(filled=True, size=45)]
    if highlight is not None:
        rule = alt.Chart(pd.DataFrame({"layer": [highlight]})).mark_rule(
            color="#e45756", strokeDash=[4, 3]).encode(x=alt.X("layer:N", sort=list(df["layer"])))
        layers.append(rule)
    st.altair_chart(alt.layer(*layers).properties(height=height), width="stretch",
                    key=key)
