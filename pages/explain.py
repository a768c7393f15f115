"""Explain: attribution maps side by side, and the tests that say which of them to believe."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from core import api, cache
from core.analysis.attribution import METHODS
from core.analysis.attribution.faithfulness import BLUR
from core.analysis.attribution.sanity import MEASURES
from core.errors import LayerLabError
from core.inputs.image import to_display
from core.show.audio_view import hear_map
from core.show.render import apply_colormap
from pages._audio_views import map_chart, player
from pages._images import digest, png, remember
from pages._jobs import watched
from pages._links import share_view
from pages._sanity import randomisation_check
from pages._state import current_model, keep, kept, linked, run_trace, selected_sample
from pages._widgets import altair, export_button, legend

DEFAULT_METHODS = ["integrated_gradients", "gradient", "grad_cam"]
PER_ROW = 4  # maps per row (images); audio maps need axes, so two
SPEC_HEIGHT, MAP_HEIGHT = 340, 300  # audio charts (px, whole chart): full width, half width

lm = current_model()
st.title("Explain a prediction")
st.caption(
    "Attribution maps say which input cells drive a class score. They can look "
    "convincing and still be wrong, so each map is tested: **deletion** removes the most "
    "attributed cells first (a faithful map makes the probability fall fast: low area), "
    "**insertion** adds them to an empty input first (rises fast: high area), both "
    "beside a random order; the **randomisation check** asks whether the map depends on "
    "what the network learned at all."
)

sample = selected_sample(lm)
tr, probs, _ = run_trace(lm, sample)
audio = lm.kind == "audio"

# ---- widgets ----------------------------------------------------------------------------------------
names = list(METHODS)
linked_methods = linked("link_methods")
default = [m for m in (linked_methods or DEFAULT_METHODS) if m in names] or DEFAULT_METHODS
c1, c2 = st.columns([3, 1])
methods = c1.multiselect(
    "Methods",
    names,
    default=default,
    key="explain_methods",
    format_func=lambda n: METHODS[n].title,
    help="\n\n".join(f"**{m.title}**: {m.about}" for m in METHODS.values()),
)
predicted = int(np.argmax(probs))
target = lm.labels.index(
    c2.selectbox(
        "Class to explain",
        lm.labels,
        index=predicted,
        key="explain_class",
        help="Default: the predicted class.",
    )
)
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
if (link_scale := linked("link_scale", ["each map its own", "one for all maps"])) is not None:
    st.session_state["explain_scale"] = link_scale
scale = c1.radio(
    "Colour scale",
    ["each map its own", "one for all maps"],
    key="explain_scale",
    horizontal=True,
    help="One for all: the same value has the same colour in every map (useful "
    "between gradient-based methods, whose units are score per input unit).",
)
alpha = c2.slider("Overlay opacity", 0.0, 1.0, 0.65, 0.05, key="explain_alpha", disabled=audio)
steps = c3.slider(
    "Curve steps",
    5,
    50,
    20,
    5,
    key="explain_steps",
    help="Deletion/insertion points: the share of cells changed goes 0 → 100 % in this many steps.",
)
named, auto = api.faithfulness_baselines(lm)
choices = ["auto", *named, BLUR]
baseline = c4.selectbox(
    "Deletion baseline",
    choices,
    key="explain_baseline",
    format_func=lambda n: f"auto: {auto}" if n == "auto" else n,
    help="What removed cells are set to (and what insertion starts from). It must not be a "
    "feature itself: auto picks, among black (audio: silence), the dataset mean and the mean "
    "held-out input, the one the model is least sure about. A blurred copy keeps colours "
    "and the overall level, and removes shapes.",
)
# Lazy: its widgets (ten elements, each a message and ~1 ms of the browser's time on every
# rerun) run only while it is open; their values live in the session state meanwhile.
cam_layers = api.grad_cam_layers(lm)
chosen = {
    "explain_ig_steps": 64,
    "explain_sg_samples": 32,
    "explain_sg_noise": 0.15,
    "explain_cam_layer": "auto",
    "explain_window": 9 if audio else 4,
}
for k, v in chosen.items():
    st.session_state[k] = st.session_state.get(k, v)
if st.session_state["explain_cam_layer"] not in ["auto", *cam_layers]:  # another model's
    st.session_state["explain_cam_layer"] = "auto"
more = st.expander("Method options", key="explain_options", on_change="rerun")
with more:
    if more.open:
        o1, o2, o3, o4 = st.columns(4)
        o1.select_slider(
            "Integrated gradients: steps", [16, 32, 64, 128, 256], key="explain_ig_steps"
        )
        o2.select_slider("SmoothGrad: noisy copies", [8, 16, 32, 64], key="explain_sg_samples")
        o2.slider(
            "SmoothGrad: noise (share of range)", 0.05, 0.5, step=0.05, key="explain_sg_noise"
        )
        o3.selectbox(
            "Grad-CAM layer",
            ["auto"] + cam_layers,
            key="explain_cam_layer",
            help="auto: the last convolution block's activation, else the "
            "convolution itself, whichever shows positive evidence.",
        )
        o4.slider("Occlusion window (cells)", 2, 16, key="explain_window")
ig_steps, sg_samples, sg_noise, cam_layer, window = (st.session_state[k] for k in chosen)
options = {
    "integrated_gradients": {"steps": ig_steps},
    "smoothgrad": {"samples": sg_samples, "noise": sg_noise},
    "smoothgrad_squared": {"samples": sg_samples, "noise": sg_noise},
    "grad_cam": {"layer": cam_layer},
    "grad_cam_plus_plus": {"layer": cam_layer},
    "occlusion": {"window": window, "stride": max(1, window // 2)},
}


def opts(method: str) -> tuple:
    return tuple(sorted(options.get(method, {}).items()))


if not methods:
    st.info("Pick one or more methods.")
    st.stop()

# ---- core calls -------------------------------------------------------------------------------------
results: dict[str, tuple] = {}
bar = st.progress(0.0, text="Computing the maps and their curves…")
try:
    for i, m in enumerate(methods):
        bar.progress(i / len(methods), text=f"{METHODS[m].title} ({i + 1} of {len(methods)})…")
        with watched(f"{METHODS[m].title} of {sample.name} and its curves", bar=bar):
            results[m] = cache.explanation(lm, sample, m, target, opts(m), steps, baseline)
except LayerLabError as e:
    bar.empty()
    st.error(str(e))
    st.stop()
bar.empty()

# ---- display: maps side by side --------------------------------------------------------------------
st.subheader(f"1 · Maps for class {lm.labels[target]}  ·  input: {sample.name}")
top_all = max(float(np.abs(results[m][0]).max()) for m in methods) or 1.0
spec = lm.card.get("spectrogram_layer") if audio else None
base = None if audio else to_display(tr["input"], lm.card)
if base is not None and base.ndim == 2:
    base = base[..., None].repeat(3, -1)


def _heat(a: np.ndarray, signed: bool, top: float) -> np.ndarray:
    v = 0.5 + a / (2 * top) if signed else np.abs(a) / top
    return apply_colormap(v, "diverging" if signed else "viridis")


images: dict[str, np.ndarray] = {}
if audio:
    st.caption(
        "Time runs left to right, low frequencies at the bottom (mel bands at their "
        "centre frequency). Signed maps: red speaks for the class, blue against."
    )
    map_chart(
        lm,
        tr[spec][..., 0],
        key="explain_spec",
        # The chart's whole height (title, axis and legend included): at 200 px the full-width
        # strip's plot was ~90 px for 64 mel bands (squashed).
        height=SPEC_HEIGHT,
        value_title="dB",
        title="the model's spectrogram of this clip",
    )
per_row = 2 if audio else PER_ROW
for r in range(0, len(methods), per_row):
    cols = st.columns(per_row)
    for col, m in zip(cols, methods[r : r + per_row]):
        a, dele, ins = results[m]
        info = METHODS[m]
        top = top_all if scale == "one for all maps" else (float(np.abs(a).max()) or 1.0)
        with col:
            st.markdown(f"**{info.title}**")
            if audio:
                map_chart(
                    lm,
                    a,
                    key=f"explain_map_{m}",
                    height=MAP_HEIGHT,
                    diverging=info.signed,
                    value_title="attribution",
                    domain=(-top, top) if info.signed else (0.0, top),
                )
            else:
                heat = _heat(a, info.signed, top)
                over = (base * (1 - alpha) + heat * alpha).astype(np.uint8)
                up = max(1, 200 // max(over.shape[:2]))
                images[m] = over.repeat(up, 0).repeat(up, 1)
                st.image(png(images[m]), width="stretch")
            st.caption(
                f"deletion AUC **{dele.auc:.3f}** (random {dele.random_auc:.3f})  \n"
                f"insertion AUC **{ins.auc:.3f}** (random {ins.random_auc:.3f})"
            )
if not audio:
    lc1, lc2 = st.columns(2)
    if not all(METHODS[m].signed for m in methods):
        with lc1:
            legend(
                0.0,
                top_all if scale == "one for all maps" else 1.0,
                "viridis",
                key="explain_leg_abs",
                title="magnitude"
                + (" (each map to its max)" if scale != "one for all maps" else ""),
            )
    if any(METHODS[m].signed for m in methods):
        with lc2:
            lim = top_all if scale == "one for all maps" else 1.0
            legend(
                -lim,
                lim,
                "diverging",
                key="explain_leg_signed",
                title="signed: red for the class, blue against",
            )

# ---- display: curves and ranking -------------------------------------------------------------------
st.subheader("2 · Deletion and insertion curves")
rows = []
for m in methods:
    _, dele, ins = results[m]
    for c in (dele, ins):
        for f, p, q in zip(c.fractions, c.probabilities, c.random_probabilities):
            rows.append(
                {
                    "method": METHODS[m].title,
                    "curve": c.kind,
                    "share": f,
                    "order": "map",
                    "probability": p,
                }
            )
            rows.append(
                {
                    "method": METHODS[m].title,
                    "curve": c.kind,
                    "share": f,
                    "order": "random",
                    "probability": q,
                }
            )
curves = pd.DataFrame(rows)


def chart():
    return (
        alt.Chart(curves)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=alt.X("share:Q", title="share of cells changed", axis=alt.Axis(format="%")),
            y=alt.Y(
                "probability:Q",
                title=f"probability of {lm.labels[target]}",
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color(
                "curve:N",
                title=None,
                scale=alt.Scale(domain=["deletion", "insertion"], range=["#e45756", "#4c78a8"]),
            ),
            strokeDash=alt.StrokeDash(
                "order:N",
                title=None,
                legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#666"),
                scale=alt.Scale(domain=["map", "random"], range=[[1, 0], [4, 3]]),
            ),
            tooltip=[
                "method",
                "curve",
                "order",
                alt.Tooltip("share:Q", format=".0%"),
                alt.Tooltip("probability:Q", format=".3f"),
            ],
        )
        .properties(height=170, width=220)
        .facet(
            facet=alt.Facet("method:N", title=None, sort=[METHODS[m].title for m in methods]),
            columns=3,
        )
    )  # 3 × 220 px and the legend fit the page


altair(chart, key="explain_curves", deps=(curves, methods, lm.labels[target]))
st.caption(
    f"Deletion: the share of cells removed, most attributed first; insertion: the "
    f"share copied onto the empty input. Solid: cells in the map's order; dashed: the mean of "
    f"{results[methods[0]][1].random_orders} random orders. Removed cells are set to "
    f"the baseline: **{results[methods[0]][1].baseline}**"
    + (" (chosen as the one the model is least sure about)" if baseline == "auto" else "")
    + "."
)

ranking = (
    pd.DataFrame(
        [
            {
                "method": METHODS[m].title,
                "deletion AUC": results[m][1].auc,
                "random deletion": results[m][1].random_auc,
                "insertion AUC": results[m][2].auc,
                "random insertion": results[m][2].random_auc,
                "faithfulness": results[m][2].auc - results[m][1].auc,
            }
            for m in methods
        ]
    )
    .sort_values("faithfulness", ascending=False)
    .reset_index(drop=True)
)
st.markdown(
    "**Ranking for this input** (faithfulness = insertion AUC − deletion AUC; higher "
    "is better; a method that does not beat the random columns is not explaining "
    "this prediction)"
)
st.dataframe(
    ranking,
    hide_index=True,
    width="stretch",
    column_config={
        c: st.column_config.NumberColumn(format="%.3f") for c in ranking.columns if c != "method"
    },
)

batch = cache.probe_batch(lm)
st.markdown(
    f"**Over a batch**: the same for the {len(batch)} built-in samples, each "
    "explained for its own predicted class."
)
bkey = (lm.sha256, tuple(methods), tuple(opts(m) for m in methods), steps, baseline)
if st.button(f"Rank over {len(batch)} samples", key="explain_batch"):
    bar = st.progress(0.0, text="Explaining the batch…")
    rows = []
    total = len(batch) * len(methods)
    for i, s in enumerate(batch):
        t = int(np.argmax(cache.trace(lm, s)[1]))
        for j, m in enumerate(methods):
            bar.progress(
                (i * len(methods) + j) / total,
                text=f"{s.name}: {METHODS[m].title} ({i * len(methods) + j + 1} of {total})",
            )
            with watched(f"{METHODS[m].title} of {s.name}", bar=bar):
                _, d, n = cache.explanation(lm, s, m, t, opts(m), steps, baseline)
            rows.append(
                {
                    "method": METHODS[m].title,
                    "deletion AUC": d.auc,
                    "random deletion": d.random_auc,
                    "insertion AUC": n.auc,
                    "random insertion": n.random_auc,
                }
            )
    bar.empty()
    keep("explain_batch_result", bkey, pd.DataFrame(rows))
df = kept("explain_batch_result", bkey)
batch_table = None
if df is not None:
    batch_table = df.groupby("method", sort=False).mean().reset_index()
    batch_table["faithfulness"] = batch_table["insertion AUC"] - batch_table["deletion AUC"]
    batch_table = batch_table.sort_values("faithfulness", ascending=False)
    st.dataframe(
        batch_table,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="%.3f")
            for c in batch_table.columns
            if c != "method"
        },
    )
    st.caption(f"Means over {len(batch)} samples.")

# ---- display: randomisation check ------------------------------------------------------------------
rand = randomisation_check(lm, sample, methods, target, opts)

# ---- audio: hear the attributed cells --------------------------------------------------------------
heard: dict[str, tuple[np.ndarray, int]] = {}
if audio:
    st.subheader("4 · Hear the attributed cells")
    h1, h2 = st.columns([2, 3])
    hmethod = h1.selectbox(
        "Map", methods, key="explain_hear_method", format_func=lambda n: METHODS[n].title
    )
    share = h1.slider(
        "Keep the top share of cells", 0.02, 0.5, 0.1, 0.02, key="explain_hear_share", format="%.2f"
    )
    a = results[hmethod][0]
    keep = a >= np.quantile(a, 1 - share)  # (frames, bins): the most attributed cells
    with h2:
        # Once per clip and cell mask in this session (an inverse STFT: ~5 ms every rerun).
        y = remember(
            ("explain_hear", lm.key, *digest(tr["input"]), *digest(keep)),
            lambda: hear_map(lm, tr["input"], keep.astype(np.float32)),
            size=lambda v: v.nbytes,
        )
        heard[f"top_{round(share * 100)}pct_cells_{hmethod}"] = (
            y,
            int(lm.card["input"]["sample_rate"]),
        )
        player(
            y,
            int(lm.card["input"]["sample_rate"]),
            label=f"The top {share:.0%} cells of the {METHODS[hmethod].title} map, laid on "
            "the clip's STFT and inverted with its phase (loudness-normalised)",
        )
        player(*sample.raw, label="The clip itself")
    map_chart(
        lm,
        keep.astype(np.float32),
        key="explain_keep",
        height=SPEC_HEIGHT,
        value_title="kept",
        title="the cells played",
    )

share_view(lm, sample, scale=scale, extra={"methods": ",".join(methods)})


def _export():
    tables = {"ranking": ranking, "curves": curves}
    if batch_table is not None:
        tables["ranking_batch"] = batch_table
    if rand is not None:
        tables["randomization"] = pd.DataFrame(rand, columns=["layer", *MEASURES])
    return dict(
        settings={
            "sample": sample.name,
            "class": lm.labels[target],
            "methods": methods,
            "options": {m: options.get(m, {}) for m in methods},
            "curve_steps": steps,
            "colour_scale": scale,
            "deletion_baseline": results[methods[0]][1].baseline,
        },
        predictions={"sample": probs},
        images=images,
        audio=heard,
        tables=tables,
    )


export_button(lm, "Explain", _export, key="export_explain")
