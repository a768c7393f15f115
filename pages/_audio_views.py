"""Audio displays shared by the pages: waveform and spectrogram charts with real axes, players."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import cache
from core.analysis.hearing import to_wav_bytes
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.show.audio_view import display_maps, map_axes, time_freq_layers
from core.show.render import as_maps, colormap_hex
from pages._images import digest, remember
from pages._widgets import vega

MAX_POINTS = 600  # waveform columns drawn (min/max envelope per column)


def held_out_line(card: dict) -> str | None:
    """The card's held-out accuracies in its order (real speakers first), each with its 95 %
    interval and size, e.g. "real speakers (5-fold by speaker) 95.4 % (93-97 %, 366 clips)"."""
    parts = [
        f"{m['label']} **{m['accuracy']:.1%}** "
        f"({m['wilson_95'][0]:.0%}-{m['wilson_95'][1]:.0%}, {m['n']} clips)"
        for m in (card.get("metrics") or {}).values()
        if isinstance(m, dict) and {"label", "accuracy", "wilson_95", "n"} <= m.keys()
    ]
    return "Held-out accuracy (95 % Wilson interval): " + " · ".join(parts) if parts else None


def waveform_chart(
    y: np.ndarray,
    sr: int,
    *,
    key: str,
    height: int = 130,
    colour: str = "#4c78a8",
    title: str | None = None,
) -> None:
    """Amplitude over time (s): a min/max envelope, so long clips stay light."""
    y = np.asarray(y, np.float32).reshape(-1)
    content = ("waveform", *digest(y), sr)  # a rerun reuses the envelope (pages._images)
    df = remember(content, lambda: _envelope(y, sr), size=_frame_bytes)
    peak = max(1.0, float(np.abs(y).max()))
    q = "quantitative"
    vega(
        df,
        {
            "mark": {"type": "area", "color": colour, "opacity": 0.85},
            "height": height,
            "title": title or "",
            "encoding": {
                "x": {
                    "field": "time",
                    "type": q,
                    "title": "time (s)",
                    "scale": {"domain": [0, y.size / sr]},
                },
                "y": {
                    "field": "min",
                    "type": q,
                    "title": "amplitude",
                    "scale": {"domain": [-peak, peak]},
                },
                "y2": {"field": "max"},
                "tooltip": [
                    {"field": "time", "type": q, "format": ".3f", "title": "time (s)"},
                    {"field": "min", "type": q, "format": ".3f"},
                    {"field": "max", "type": q, "format": ".3f"},
                ],
            },
        },
        key=key,
        content=content,
    )


def _envelope(y: np.ndarray, sr: int) -> pd.DataFrame:
    """(samples,) -> at most MAX_POINTS rows: each column's start time (s), min and max."""
    cols = np.array_split(y, min(MAX_POINTS, max(1, y.size)))
    starts = np.cumsum([0] + [c.size for c in cols[:-1]]) / sr
    return pd.DataFrame(
        {"time": starts, "min": [c.min() for c in cols], "max": [c.max() for c in cols]}
    )


def _frame_bytes(df: pd.DataFrame) -> int:
    return int(df.memory_usage(index=False).sum())


def _heatmap(
    df: pd.DataFrame,
    *,
    value: str,
    value_title: str,
    height: int,
    key: str,
    domain: tuple[float, float] | None = None,
    title: str = "",
    diverging: bool = False,
    content: tuple,
) -> None:
    """A heatmap of df's cells; content: the key of df's content (pages._images), which the
    spec (it reads the frame's edges) is kept with too: a rerun builds neither again."""
    look = (value, value_title, height, title, domain, diverging)
    spec = remember(("heatmap", content, *look), lambda: _heatmap_spec(df, *look))
    vega(df, spec, key=key, content=content)


def _heatmap_spec(
    df: pd.DataFrame,
    value: str,
    value_title: str,
    height: int,
    title: str,
    domain: tuple[float, float] | None,
    diverging: bool,
) -> dict:
    scale: dict = {"range": colormap_hex("diverging" if diverging else "viridis")}
    if domain:
        scale["domain"] = [float(d) for d in domain]
    q = "quantitative"
    # Cells overlap their right/upper neighbour a little (t1x, f1x): no hairline gaps between
    # them; the axes stay on the true edges and the overflow is clipped.
    return {
        "mark": {"type": "rect", "clip": True},
        "height": height,
        "title": title,
        "encoding": {
            "x": _edge_axis(df, "t", "time (s)"),
            "x2": {"field": "t1x"},
            "y": _edge_axis(df, "f", "frequency (Hz)"),
            "y2": {"field": "f1x"},
            "color": {
                "field": value,
                "type": q,
                "title": value_title,
                "scale": scale,
                "legend": {"orient": "right", "gradientLength": max(60, height - 60)},
            },
            "tooltip": [
                {"field": "t", "type": q, "format": ".3f", "title": "time (s)"},
                {"field": "f", "type": q, "format": ".0f", "title": "frequency (Hz)"},
                {"field": value, "type": q, "format": ".3g", "title": value_title},
            ],
        },
    }


def _edge_axis(df: pd.DataFrame, axis: str, title: str) -> dict:
    """The Vega-Lite encoding of a cell axis: cells start at `<axis>0`; the scale spans the true
    edges (first start to last `<axis>1`), not rounded ("nice") nor stretched to zero."""
    lo, hi = float(df[f"{axis}0"].min()), float(df[f"{axis}1"].max())
    scale = {"nice": False, "zero": False, "domain": [lo, hi]}
    return {"field": f"{axis}0", "type": "quantitative", "title": title, "scale": scale}


def _edges(centres: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Cell edges around centres (midpoints; the ends mirrored or clamped to lo/hi)."""
    c = np.asarray(centres, np.float64)
    if c.size == 1:
        return np.array(
            [lo if lo is not None else c[0] - 0.5, hi if hi is not None else c[0] + 0.5]
        )
    mid = (c[1:] + c[:-1]) / 2
    e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if lo is not None:
        e[0] = max(lo, e[0])
    if hi is not None:
        e[-1] = min(hi, e[-1])
    return e


def _cells(
    values: np.ndarray,
    times: np.ndarray,
    freqs: np.ndarray,
    *,
    t_max: float,
    f_max: float,
    name: str,
) -> pd.DataFrame:
    """(T, F) values on centre times/freqs -> one row per cell with its edges."""
    te, fe = _edges(times, 0.0, t_max), _edges(freqs, 0.0, f_max)
    ti, fi = np.meshgrid(np.arange(len(times)), np.arange(len(freqs)), indexing="ij")
    ti, fi = ti.ravel(), fi.ravel()
    t0, t1, f0, f1 = te[ti], te[ti + 1], fe[fi], fe[fi + 1]
    return pd.DataFrame(
        {
            "t": times[ti],
            "f": freqs[fi],
            "t0": t0,
            "t1": t1,
            "f0": f0,
            "f1": f1,
            "t1x": t1 + 0.4 * (t1 - t0),
            "f1x": f1 + 0.4 * (f1 - f0),
            name: np.asarray(values, np.float64).ravel(),
        }
    )


def spectrogram_chart(
    y: np.ndarray, sr: int, *, key: str, height: int = 220, title: str = ""
) -> None:
    """The clip's log-magnitude spectrogram (dB re its peak), time and frequency axes."""
    y = np.asarray(y, np.float32)
    content = ("spectrogram", *digest(y), int(sr))  # a rerun reuses its cells (pages._images)
    df = remember(content, lambda: _spectrogram_cells(y, int(sr)), size=_frame_bytes)
    _heatmap(df, value="dB", value_title="dB", height=height, key=key, title=title, content=content)


def _spectrogram_cells(y: np.ndarray, sr: int) -> pd.DataFrame:
    db, times, freqs = cache.spectrogram(y, sr)
    # At most ~64 frequency rows: pairs of bins averaged (the chart stays light).
    k = max(1, int(np.ceil(db.shape[0] / 64)))
    n = db.shape[0] // k * k
    db_k = db[:n].reshape(-1, k, db.shape[1]).mean(axis=1)
    f_k = freqs[:n].reshape(-1, k).mean(axis=1)
    return _cells(db_k.T, times, f_k, t_max=y.size / sr, f_max=sr / 2, name="dB")


def map_chart(
    lm: LoadedModel,
    fmap: np.ndarray,
    *,
    key: str,
    height: int = 240,
    title: str = "",
    diverging: bool = False,
    value_title: str = "activation",
    domain: tuple[float, float] | None = None,
) -> None:
    """One (time, freq) map of the model on its real axes (mel columns at their Hz)."""
    sr = int(lm.card["input"]["sample_rate"])
    t_max = lm.card["input"]["shape"][0] / sr
    # A rerun reuses its cells (pages._images); the axes are the model's (its card).
    content = ("map", lm.key, *digest(fmap))

    def cells() -> pd.DataFrame:
        times, freqs = map_axes(lm, fmap.shape)
        return _cells(fmap, times, freqs, t_max=t_max, f_max=sr / 2, name="value")

    df = remember(content, cells, size=_frame_bytes)
    if diverging and domain is None:
        m = float(np.abs(fmap).max()) or 1.0
        domain = (-m, m)
    _heatmap(
        df,
        value="value",
        value_title=value_title,
        height=height,
        key=key,
        title=title,
        domain=domain,
        diverging=diverging,
        content=content,
    )


def oriented_maps(lm: LoadedModel, name: str, a: np.ndarray) -> np.ndarray | None:
    """A layer output as pictures: time-frequency maps of audio models turned so time runs
    left to right and low frequencies sit at the bottom; other layers as core.show.render.as_maps."""
    if lm.kind == "audio":
        if name in time_freq_layers(lm):
            return display_maps(a)
        spec = lm.card.get("spectrogram_shape")
        if spec and np.ndim(a) == 2:
            t, f = int(spec[0]), int(spec[1])
            if a.shape == (t, f):  # (frames, bins), e.g. after a Permute
                return display_maps(a)
            if a.shape == (f, t):  # (bins, frames): keras MelSpectrogram
                return np.ascontiguousarray(np.flip(a, axis=0))[..., None]
    return as_maps(a)


def player(y: np.ndarray, sr: int, *, label: str | None = None) -> None:
    """An st.audio player for a float waveform (16-bit WAV, clipped at full scale)."""
    if label:
        st.caption(label)
    y = np.asarray(y, np.float32)
    # The WAV bytes are memoised in the session (pages._images): encoding them is most of a
    # player's cost, paid on every rerun otherwise.
    wav = remember(("wav", *digest(y), int(sr)), lambda: to_wav_bytes(y, int(sr)))
    st.audio(wav, format="audio/wav")


def clip_panel(
    sample: Sample,
    *,
    key: str,
    title: str | None = None,
    colour: str = "#4c78a8",
    spectrogram: bool = True,
) -> None:
    """Player, waveform and spectrogram of one clip."""
    y, sr = sample.raw
    st.markdown(f"**{title or sample.name}** · {len(y) / sr:.2f} s at {sr} Hz")
    player(y, sr)
    waveform_chart(y, sr, key=f"{key}_wave", colour=colour)
    if spectrogram:
        spectrogram_chart(y, sr, key=f"{key}_spec", height=200)
