"""The Dataset page's charts (Altair, built once per data through pages._widgets.altair):
the confusion heatmap (a click selects a cell), confidence histograms, the reliability diagram
and a layer's 2-D map (a click selects an input)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

OK, WRONG = "#4c78a8", "#e45756"


def confusion_frame(cm: np.ndarray, names: list[str]) -> pd.DataFrame:
    c = len(names)
    t, p = np.divmod(np.arange(c * c), c)
    support = np.maximum(cm.sum(axis=1), 1)
    return pd.DataFrame(
        {
            "t": t,
            "p": p,
            "true": [names[i] for i in t],
            "predicted": [names[j] for j in p],
            "count": cm.reshape(-1),
            "share": (cm / support[:, None]).reshape(-1),
            "kind": np.where(t == p, "right", "wrong"),
            "aria": [f"cell {names[i]} as {names[j]}" for i, j in zip(t, p)],
        }
    )


def confusion_chart(df: pd.DataFrame, names: list[str], picked: tuple[int, int] | None):
    """Rows: true class, columns: predicted; colour: the share of the true class (off the
    diagonal in red, on it in blue); the picked cell outlined. Selection "cell" (t, p)."""
    pick = alt.selection_point(name="cell", fields=["t", "p"], on="click", toggle=False)
    # Every class named on both axes: Vega-Lite drops labels that collide (level, CIFAR's names
    # kept every other column); names longer than a digit or two are angled instead.
    level = max(map(len, names), default=0) <= 3
    top = alt.Axis(
        orient="top",
        labelOverlap=False,
        labelAngle=0 if level else -40,
        labelAlign="center" if level else "left",
        labelLimit=110,
    )
    base = alt.Chart(df).encode(
        x=alt.X("predicted:N", sort=names, title="predicted", axis=top),
        y=alt.Y("true:N", sort=names, title="true class", axis=alt.Axis(labelOverlap=False)),
    )
    size = max(18, min(46, 520 // max(len(names), 1)))
    right = (
        base.transform_filter("datum.t == datum.p")
        .mark_rect()
        .encode(
            color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), legend=None)
        )
    )
    wrong = (
        base.transform_filter("datum.t != datum.p && datum.count > 0")
        .mark_rect()
        .encode(
            color=alt.Color(
                "share:Q", scale=alt.Scale(scheme="reds", domain=[0, 0.3], clamp=True), legend=None
            )
        )
    )
    pt, pp = picked if picked is not None else (-1, -1)
    # A near-transparent box over every cell: the click target, its tooltip and aria-label.
    hit = (
        base.mark_rect(fill="#ffffff", fillOpacity=0.01, cursor="pointer", stroke="#31333f")
        .encode(
            strokeWidth=alt.condition(
                f"datum.t == {pt} && datum.p == {pp}", alt.value(3), alt.value(0)
            ),
            description="aria:N",
            tooltip=[
                "true",
                "predicted",
                "count",
                alt.Tooltip("share:Q", format=".1%", title="of the class"),
            ],
        )
        .add_params(pick)
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.condition("datum.count > 0", "count:Q", alt.value("")),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#31333f")),
    )
    return (right + wrong + text + hit).properties(
        width=size * len(names), height=size * len(names)
    )


def confidence_chart(conf: np.ndarray, correct: np.ndarray):
    """Histogram of the predicted class's probability, right and wrong predictions apart."""
    edges = np.linspace(0, 1, 21)
    rows = []
    for name, sel in (("right", correct), ("wrong", ~correct)):
        counts, _ = np.histogram(conf[sel], bins=edges)
        rows += [
            {"lo": lo, "hi": hi, "count": int(n), "prediction": name}
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)
        ]
    df = pd.DataFrame(rows)
    return (
        alt.Chart(df)
        .mark_bar(opacity=0.85)
        .encode(
            x=alt.X("lo:Q", bin="binned", title="confidence (probability of the predicted class)"),
            x2="hi:Q",
            y=alt.Y("count:Q", title="inputs", scale=alt.Scale(type="symlog")),
            color=alt.Color(
                "prediction:N",
                scale=alt.Scale(domain=["right", "wrong"], range=[OK, WRONG]),
                legend=alt.Legend(orient="top", title=None),
            ),
            row=alt.Row("prediction:N", title=None, sort=["right", "wrong"]),
            tooltip=[
                "prediction",
                alt.Tooltip("lo:Q", format=".2f"),
                alt.Tooltip("hi:Q", format=".2f"),
                "count",
            ],
        )
        .properties(height=110)
    )


def reliability_chart(table: pd.DataFrame):
    """Accuracy against mean confidence per bin, beside the diagonal of perfect calibration."""
    df = table.dropna().assign(mid=lambda d: (d["lo"] + d["hi"]) / 2)
    diag = (
        alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]}))
        .mark_line(strokeDash=[4, 4], color="#888")
        .encode(x="x:Q", y="y:Q")
    )
    bars = (
        alt.Chart(df)
        .mark_bar(color=OK, opacity=0.8)
        .encode(
            x=alt.X("lo:Q", bin="binned", title="confidence", scale=alt.Scale(domain=[0, 1])),
            x2="hi:Q",
            y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
            tooltip=[
                alt.Tooltip("lo:Q", format=".1f"),
                alt.Tooltip("hi:Q", format=".1f"),
                "count",
                alt.Tooltip("confidence:Q", format=".3f"),
                alt.Tooltip("accuracy:Q", format=".3f"),
            ],
        )
    )
    dots = (
        alt.Chart(df)
        .mark_point(color=WRONG, filled=True)
        .encode(x="confidence:Q", y="accuracy:Q", size=alt.Size("count:Q", legend=None))
    )
    return (bars + diag + dots).properties(height=260)


def map_chart(df: pd.DataFrame, colour: str, names: list[str], title: str, picked: int | None):
    """A layer's 2-D map: one point per input (row), coloured by `colour` ("label" or
    "result"); selection "pt" (row); the picked input drawn larger."""
    pick = alt.selection_point(name="pt", fields=["row"], on="click", toggle=False)
    enc = (
        alt.Color("label:N", sort=names, legend=alt.Legend(title="true class", columns=2))
        if colour == "label"
        else alt.Color(
            "result:N",
            scale=alt.Scale(domain=["right", "wrong"], range=["#bab0ac", WRONG]),
            legend=alt.Legend(title=None),
        )
    )
    return (
        alt.Chart(df, title=title)
        .mark_circle(cursor="pointer")
        .encode(
            x=alt.X("x:Q", title="PC 1", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title="PC 2", axis=alt.Axis(labels=False, ticks=False)),
            color=enc,
            size=alt.condition(
                f"datum.row == {-1 if picked is None else picked}", alt.value(220), alt.value(22)
            ),
            opacity=alt.condition("datum.result == 'wrong'", alt.value(0.95), alt.value(0.55)),
            order=alt.Order("wrong:Q"),
            tooltip=["row", "label", "predicted", alt.Tooltip("confidence:Q", format=".2f")],
        )
        .add_params(pick)
        .properties(height=380)
    )
