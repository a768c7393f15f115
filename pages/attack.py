"""Attack lab: adversarial inputs with foolbox, and what they do inside the network."""

from __future__ import annotations

import altair as alt
import numpy as np
import streamlit as st

from core import api, cache
from core.analysis.attack_space import epsilon_units, from_epsilon, to_epsilon
from core.analysis.attacks import (
    MAX_EPSILONS,
    attack_methods,
    default_method,
    method_info,
    run_attack,
)
from core.analysis.compare import layer_distances
from core.errors import InputError, JobBudgetError, JobError
from core.inputs.image import model_to_raw, model_to_unit, to_display
from core.inputs.samples import Sample
from core.settings import MAX_JOB_SECONDS
from core.share.permalink import encode_attack
from core.show.render import apply_colormap
from pages._audio_views import player, spectrogram_chart, waveform_chart
from pages._images import png
from pages._jobs import heavy_job
from pages._links import share_view
from pages._panels import comparison
from pages._state import (
    AttackRun,
    SweepRun,
    current_model,
    keep,
    keep_sample,
    kept,
    linked,
    run_trace,
    samples,
    selected_sample,
)
from pages._widgets import altair, csv_button, export_button, freeze_note, prediction

lm = current_model()
st.title("Attack lab")
st.caption(
    "Adversarial inputs with foolbox's standard attacks: the smallest change that makes "
    "the network change its mind, and where inside the network it takes hold."
)

freeze_note(lm, applies=False, key="attack", what="the Attack page (attack, comparison, sweep)")
sample = selected_sample(lm)
tr, probs, _ = run_trace(lm, sample)
x = tr["input"]
SR = int(lm.card["input"].get("sample_rate", 0)) if lm.kind == "audio" else None

# ---- widgets -----------------------------------------------------------------------------------------
st.subheader(f"1 · Attack · input: {sample.name}")
c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
key = (lm.key, sample.key)
res = kept("attack_result", key)  # an AttackRun
made = res.controls if res is not None else None
# A shared link first; else the controls of the result on screen (coming back to this page,
# Streamlit has forgotten the widgets, but the result and its controls stay together).
link = linked("link_attack") or made or {}
methods = attack_methods()
method = c1.selectbox(
    "Method",
    methods,
    key="atk_method",
    index=methods.index(link["method"] if link.get("method") in methods else default_method(lm)),
)
info = method_info(method)
units = epsilon_units(lm, info.norm)
eps0 = link.get("epsilon")
value = c2.number_input(
    units.label,
    units.min,
    units.max,
    eps0 if eps0 is not None and units.min <= eps0 <= units.max else units.default,
    units.step,
    key=f"atk_eps_{lm.kind}_{info.norm}",
)
steps0 = link.get("steps")
steps = (
    int(
        c3.number_input(
            "Steps",
            1,
            1000,
            steps0 if steps0 and 1 <= steps0 <= 1000 else info.default_steps,
            key=f"atk_steps_{method}",
        )
    )
    if info.default_steps
    else None
)
if steps is None:
    c3.caption("one step" if method == "FGSM" else "no steps")
targets = ["(any other)"] + lm.labels
target_label = c4.selectbox(
    "Target class",
    targets,
    key="atk_target",
    index=targets.index(link["target"]) if link.get("target") in targets else 0,
    disabled=not info.targeted,
    help="Only PGD and Carlini-Wagner take a target in foolbox.",
)
st.caption(f"**{method}** ({info.norm}): {info.about}")
target = lm.labels.index(target_label) if info.targeted and target_label != "(any other)" else None
try:
    epsilon = to_epsilon(lm, x, info.norm, value)
except InputError as e:
    st.error(str(e))
    st.stop()
st.caption(
    f"ε = {epsilon:.4g} ({info.norm}) in "
    + (
        "the waveform's units"
        if lm.kind == "audio"
        else "the [0, 1] image scale, whatever scaling the model applies itself"
    )
    + f"; at most {MAX_JOB_SECONDS:g} s per attack."
)

controls = {
    "method": method,
    "epsilon": float(value),
    "steps": steps,
    "target": target_label if target is not None else None,
}
if st.button("Run attack", key="atk_run", type="primary", icon=":material/bolt:"):
    try:
        with heavy_job(f"{method} on {sample.name}") as job:
            r = run_attack(
                lm, x, method=method, epsilon=epsilon, target=target, steps=steps, on_step=job.step
            )
    except (InputError, JobBudgetError, JobError) as e:
        st.error(str(e))
        st.stop()
    res = keep("attack_result", key, AttackRun(value, r, controls))
    made = controls

# The link carries the attack on screen (or, before any, the controls).
link_url = share_view(lm, sample, attack=encode_attack(*(made or controls).values()))
if made is None:
    st.info("Choose a method and ε, then **Run attack**.")
    st.stop()
shown_value, r = res.value, res.result
if made != controls:
    st.warning(
        f"The result below is {made['method']} at {made['epsilon']:g}"
        + (f", {made['steps']} steps" if made["steps"] else "")
        + (f", target {made['target']}" if made["target"] else "")
        + "; the controls above now say otherwise. **Run attack** to see theirs (the "
        "share link keeps the attack shown).",
        icon=":material/sync_problem:",
    )

# ---- display -------------------------------------------------------------------------------------------
st.subheader("2 · Result")
if r.success:
    st.success(
        f"{r.method} changed the prediction from **{lm.labels[r.original_label]}** to "
        f"**{lm.labels[r.adversarial_label]}**"
        + (f" (target {lm.labels[r.target]})" if r.target is not None else "")
        + "."
    )
else:
    st.warning(
        r.message + " The robustness sweep (section 4 below) shows how large an ε this method "
        "needs over many inputs."
    )
size_l2 = from_epsilon(lm, x, "L2", r.l2)
size_inf = from_epsilon(lm, x, "Linf", r.linf)
unit = "dB" if lm.kind == "audio" else "levels"
m1, m2, m3, m4 = st.columns(4)
m1.metric(
    "L2 of the perturbation",
    f"{r.l2:.4g}",
    help="In the waveform's units." if lm.kind == "audio" else "In the [0, 1] image scale.",
)
m2.metric("L∞ of the perturbation", f"{r.linf:.4g}")
m3.metric(
    "L2 as " + ("dB re signal" if lm.kind == "audio" else "RMS pixel levels"),
    f"{size_l2:.1f} {unit}" if np.isfinite(size_l2) else "—",
)
m4.metric(
    "L∞ as " + ("dB re peak" if lm.kind == "audio" else "pixel levels"),
    f"{size_inf:.1f} {unit}" if np.isfinite(size_inf) else "—",
)
st.caption(f"{r.method}, ε {r.epsilon:.4g} ({r.norm}), steps {r.steps or '—'}, {r.seconds:.2f} s.")

delta = r.adversarial - x  # model-input units (what the export keeps)
if lm.kind == "image":
    big = max(1, 196 // max(x.shape[:2]))
    show = lambda a: to_display(a, lm.card).repeat(big, 0).repeat(big, 1)  # noqa: E731
    # The perturbation in the [0, 1] image scale (the attack's), whatever the model's scaling:
    # caffe's 0-255 would read 255 times too large as levels.
    du = np.asarray(
        model_to_unit(r.adversarial, lm.card["input"]) - model_to_unit(x, lm.card["input"])
    )
    top = float(np.abs(du).max())
    d = du if du.ndim == 2 else (du.mean(axis=-1) if du.shape[-1] > 1 else du[..., 0])
    heat = apply_colormap(0.5 + 0.5 * d / (top or 1.0), "diverging").repeat(big, 0).repeat(big, 1)
    i1, i2, i3 = st.columns(3)
    i1.image(png(show(x)), caption="original", width=196)
    i2.image(png(show(r.adversarial)), caption="adversarial", width=196)
    i3.image(
        png(heat),
        width=196,
        caption=f"perturbation, stretched to ±{from_epsilon(lm, x, 'Linf', top):.1f} pixel "
        "levels of 255: red +, blue −",
    )
else:
    a1, a2, a3 = st.columns(3)
    with a1:
        st.markdown("**Original**")
        player(x, SR)
        waveform_chart(x, SR, key="atk_w0")
        spectrogram_chart(x, SR, key="atk_s0", height=180)
    with a2:
        st.markdown("**Adversarial**")
        player(r.adversarial, SR)
        waveform_chart(r.adversarial, SR, key="atk_w1", colour="#e45756")
        spectrogram_chart(r.adversarial, SR, key="atk_s1", height=180)
    with a3:
        peak = float(np.abs(delta).max())
        gain = 0.5 / peak if peak > 0 else 1.0
        st.markdown(f"**Perturbation** (played ×{gain:.0f}, {20 * np.log10(gain):.0f} dB louder)")
        player(delta * gain, SR)
        waveform_chart(delta, SR, key="atk_w2", colour="#f58518")
        if peak > 0:
            spectrogram_chart(delta, SR, key="atk_s2", height=180)
p1, p2 = st.columns(2)
with p1:
    prediction(
        lm,
        r.probabilities_before,
        key="atk_before",
        title="Prediction before",
        true_label=sample.label,
        height=150,
    )
with p2:
    prediction(lm, r.probabilities_after, key="atk_after", title="Prediction after", height=150)

adv_name = f"{sample.name} · {r.method} {shown_value:g}{unit if lm.kind == 'audio' else ''}"
# The raw format (audio: the model's window, kept as it is; images: [0, 1] RGB), so the sample
# is prepared back into exactly r.adversarial whatever the card's scaling.
adv_raw = (
    (r.adversarial, SR) if lm.kind == "audio" else model_to_raw(r.adversarial, lm.card["input"])
)
adv = Sample(
    adv_name,
    lm.kind,
    adv_raw,
    source="adversarial",
    label=sample.label,
    note=f"{r.method}, ε {r.epsilon:.4g} ({r.norm}), {'success' if r.success else 'failed'}",
)
# A callback, so the sample is in the list before the sidebar counts it on this very run.
st.button(
    "Add to samples",
    key="atk_add",
    icon=":material/playlist_add:",
    help="Put the adversarial into the sample list, for Trace, Compare and Freeze.",
    on_click=keep_sample,
    args=(adv,),
)


def _attack_export():
    """Everything to check or redo this attack: exact arrays, both traces' distances per
    layer, and the settings (with the link) that rerun it."""
    settings = {
        **r.settings,
        "sample": sample.name,
        "success": r.success,
        "message": r.message,
        "l2": r.l2,
        "linf": r.linf,
        "seconds": round(r.seconds, 3),
        "epsilon_page_units": shown_value,
    }
    rerun = {
        "method": made["method"],
        "epsilon": r.epsilon,
        "norm": r.norm,
        "epsilon_page_units": made["epsilon"],
        "epsilon_units": units.label,
        "steps": made["steps"],
        "target": made["target"],
        "model": lm.name,
        "model_sha256": lm.sha256,
        "model_source": lm.source,
        "sample": sample.name,
        "permalink": link_url,
        "python": (
            f"api.attack(api.load({lm.name!r}), raw, method={made['method']!r}, "
            f"epsilon={r.epsilon!r}, target="
            f"{lm.labels.index(made['target']) if made['target'] else None})"
        ),
    }
    adv_tr = run_trace(lm, adv)[0]
    out = {
        "settings": settings,
        "predictions": {"before": r.probabilities_before, "after": r.probabilities_after},
        # Model-input units, no batch axis: adversarial = original + perturbation.
        "arrays": {"original": x, "adversarial": r.adversarial, "perturbation": delta},
        "tables": {"distances_original_vs_adversarial": layer_distances(tr, adv_tr)},
        "documents": {"rerun": rerun},
    }
    if lm.kind == "image":
        out["images"] = {
            "original": to_display(x, lm.card),
            "adversarial": to_display(r.adversarial, lm.card),
            "perturbation_red_plus_blue_minus": heat,
        }
    else:
        out["audio"] = {
            "original": (x, SR),
            "adversarial": (r.adversarial, SR),
            "perturbation_x_gain": (delta * gain, SR),
        }
    return out


export_button(lm, "Attack", _attack_export, key="export_attack")

# ---- inside the network -------------------------------------------------------------------------------
st.subheader("3 · Inside the network")
st.caption("The original (A) against the adversarial (B): where their activations part ways.")
# Both predictions are in section 2 already.
comparison(lm, sample, adv, key="atk_cmp", export=False, predictions=False)

# ---- robustness sweep ---------------------------------------------------------------------------------
st.subheader("4 · Robustness sweep")
st.caption(
    "Success rate of an untargeted attack against ε over a batch of inputs, one "
    "foolbox call with every ε per chunk of inputs."
)
s1, s2, s3 = st.columns([2, 2, 2])
sw_method = s1.selectbox(
    "Method", attack_methods(), index=attack_methods().index("FGSM"), key="sw_method"
)
sw_info = method_info(sw_method)
sw_units = epsilon_units(lm, sw_info.norm)
# Images: from the smallest step to 4× the single attack's default (within the widget's range).
sw_range = (
    (sw_units.min, min(sw_units.default * 4, sw_units.max))
    if lm.kind == "image"
    else (-50.0, -10.0)
)
lo_v, hi_v = s2.slider(
    f"{sw_units.label}: range",
    sw_units.min,
    sw_units.max,
    sw_range,
    key=f"sw_range_{lm.kind}_{sw_info.norm}",
)
n_eps = int(s3.number_input("Number of ε", 2, MAX_EPSILONS, 5, key="sw_n"))
builtin = cache.gallery(lm.card)
b1, b2 = st.columns([3, 2])
pool_choice = b1.radio(
    "Inputs",
    ["real held-out inputs", f"the {len(builtin)} built-in samples", "the sample list"],
    horizontal=True,
    key="sw_pool",
)
n_max = int(b2.number_input("At most this many inputs", 1, 50, 20, key="sw_nmax"))
if st.button("Run sweep", key="sw_run", icon=":material/query_stats:"):
    pool = {
        "real held-out inputs": cache.probe_samples(lm, n_max),
        "the sample list": [s for s in samples().values() if s.kind == lm.kind],
    }.get(pool_choice, builtin)
    try:
        raws = [s.raw for s in pool[:n_max]]
        values = list(np.linspace(lo_v, hi_v, n_eps))
        # One epsilon grid for the batch: relative to the current input (audio: its level).
        eps = [to_epsilon(lm, x, sw_info.norm, v) for v in values]
        with heavy_job(f"{sw_method} sweep on {len(raws)} inputs × {n_eps} ε") as job:
            df, secs = api.sweep(lm, raws, method=sw_method, epsilons=eps, on_progress=job.progress)
        df.insert(0, sw_units.label.split(" in ")[0] if lm.kind == "audio" else "levels", values)
        keep("sweep_result", lm.key, SweepRun(sw_method, df, secs))
        if int(df["n"].iloc[0]) < len(raws):
            st.warning(
                f"Stopped at the {MAX_JOB_SECONDS:g} s limit after {int(df['n'].iloc[0])} of "
                f"{len(raws)} inputs; the rates are over those. Fewer inputs or a faster "
                "method will finish."
            )
    except (InputError, JobBudgetError, JobError) as e:
        st.error(str(e))
sw = kept("sweep_result", lm.key)
if sw is not None:
    sw_m, df, secs = sw
    xcol = df.columns[0]

    def chart():
        return (
            alt.Chart(df)
            .mark_line(point=True)
            .encode(
                x=alt.X(f"{xcol}:Q", title=f"ε ({'dB' if lm.kind == 'audio' else 'pixel levels'})"),
                y=alt.Y("success_rate:Q", title="success rate", scale=alt.Scale(domain=[0, 1])),
                tooltip=[
                    alt.Tooltip(f"{xcol}:Q", format=".3g"),
                    alt.Tooltip("epsilon:Q", format=".4g"),
                    alt.Tooltip("success_rate:Q", format=".0%"),
                    "n",
                ],
            )
            .properties(height=260, title=f"{sw_m}: success rate against ε")
        )

    altair(chart, key="sw_chart", deps=(df, sw_m, lm.kind), width="stretch")
    st.dataframe(df, hide_index=True, width="stretch")
    st.caption(f"{int(df['n'].iloc[0])} inputs, {secs:.1f} s.")
    csv_button(df, "Download the sweep (CSV)", file_name=f"sweep_{sw_m}.csv", key="sw_dl")
