"""A view you can keep without any server: one self-contained HTML file, and a notebook.

Pure Python (no Streamlit), no computation of its own: the caller passes what the view showed
(the trace and predictions it computed through core.api).

    view_html(m, name=, raw=, probabilities=, ...) -> str   # pictures and audio as data URLs,
        charts as SVG (vl-convert), the numbers, the model card, the share link; no script and
        no network request: it opens offline in any browser
    notebook_zip(m, model_file=, samples=, selected=, ...) -> bytes   # view.ipynb reproducing the
        view through core.api, with the model (an upload), the samples and view.json beside it
"""

from __future__ import annotations

import base64
import html
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from core.analysis.hearing import to_wav_bytes
from core.errors import InputError
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.share.bundle import encode_sample
from core.show.render import as_maps, feature_grid, png_url

_STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;
color:#222}h1{margin-bottom:.2rem}.muted{color:#666;font-size:.9rem}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}.row{display:flex;gap:2rem;margin-top:1rem;
flex-wrap:wrap;align-items:flex-start}.metric{font-size:2.4rem;margin:.2rem 0}img{image-rendering:
pixelated}"""


def _svg(spec: dict[str, Any]) -> str:
    """A Vega-Lite chart as inline SVG (vl-convert: no browser, no network)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def _bars(labels: Sequence[str], p: np.ndarray, title: str) -> str:
    top = labels[int(np.argmax(p))]
    pairs = list(zip(labels, map(float, p)))
    if len(pairs) > 20:  # many classes: the 10 most probable, as the app shows them
        pairs = sorted(pairs, key=lambda kv: -kv[1])[:10]
    rows = [{"class": str(k), "probability": v} for k, v in pairs]
    return _svg(
        {
            "title": title,
            "data": {"values": rows},
            "mark": "bar",
            "width": 320,
            "height": 20 * len(rows),
            "encoding": {
                "y": {"field": "class", "type": "nominal", "sort": None, "title": None},
                "x": {
                    "field": "probability",
                    "type": "quantitative",
                    "scale": {"domain": [0, 1]},
                    "axis": {"format": "%"},
                },
                "color": {
                    "condition": {
                        "test": f"datum['class'] === {json.dumps(top)}",
                        "value": "#e45756",
                    },
                    "value": "#4c78a8",
                },
            },
        }
    )


def _waveform(y: np.ndarray, sr: int) -> str:
    step = max(1, len(y) // 800)
    t = np.arange(0, len(y), step) / sr
    rows = [{"t": float(a), "y": float(b)} for a, b in zip(t, y[::step])]
    return _svg(
        {
            "data": {"values": rows},
            "mark": {"type": "line", "strokeWidth": 1},
            "width": 600,
            "height": 140,
            "encoding": {
                "x": {"field": "t", "type": "quantitative", "title": "time (s)"},
                "y": {"field": "y", "type": "quantitative", "title": "amplitude"},
            },
        }
    )


def _prediction(labels: Sequence[str], p: np.ndarray, title: str) -> str:
    k = int(np.argmax(p))
    table = "".join(
        f"<tr><td>{html.escape(str(lab))}</td><td>{float(q):.4f}</td></tr>"
        for lab, q in zip(labels, p)
    )
    return (
        f"<div><div class='muted'>{html.escape(title)}</div>"
        f"<div class='metric' data-prediction>{html.escape(str(labels[k]))}</div>"
        f"<div class='muted'>confidence {float(p[k]):.1%}</div>{_bars(labels, p, title)}"
        f"<details><summary>every probability</summary><table><tr><th>class</th>"
        f"<th>probability</th></tr>{table}</table></details></div>"
    )


def _input(name: str, raw: Any) -> str:
    if isinstance(raw, tuple):
        y, sr = np.asarray(raw[0], np.float32).reshape(-1), int(raw[1])
        wav = base64.b64encode(to_wav_bytes(y, sr)).decode()
        return (
            f"<h2>Input: {html.escape(name)}</h2><audio controls "
            f"src='data:audio/wav;base64,{wav}'></audio>"
            f"<div class='muted'>{len(y) / sr:.2f} s at {sr} Hz</div>{_waveform(y, sr)}"
        )
    a = np.asarray(raw)
    img = a if a.dtype == np.uint8 else np.clip(a, 0, 1)
    h, w = a.shape[:2]
    scale = max(1, 224 // max(h, w))
    return (
        f"<h2>Input: {html.escape(name)}</h2><img alt='{html.escape(name)}' src='{png_url(img)}' "
        f"width='{w * scale}' height='{h * scale}'><div class='muted'>{w}×{h} pixels</div>"
    )


def _layer(name: str, a: np.ndarray, dim: set[int]) -> str:
    maps = as_maps(a)
    if maps is None:
        return ""
    img, vmin, vmax = feature_grid(maps, cell=48, dim=dim)
    return (
        f"<h2>Layer {html.escape(name)}</h2><img alt='{html.escape(name)} channels' "
        f"src='{png_url(img)}'><div class='muted'>{maps.shape[-1]} channels, "
        f"{maps.shape[0]}×{maps.shape[1]} each; shared colour scale {vmin:.3g} … {vmax:.3g}"
        + (f"; frozen channels {sorted(dim)} greyed" if dim else "")
        + "</div>"
    )


def view_html(
    m: LoadedModel,
    *,
    name: str,
    raw: Any,
    probabilities: np.ndarray,
    frozen_probabilities: np.ndarray | None = None,
    trace: Mapping[str, np.ndarray] | None = None,
    layer: str | None = None,
    frozen: Mapping[str, Sequence[int]] | None = None,
    kinds: Mapping[str, Mapping[str, Any]] | None = None,
    page: str = "",
    title: str = "",
    note: str = "",
    link: str = "",
) -> str:
    """One HTML file of the view: input, prediction(s), the page's layer, freeze, card, link.

    trace: the trace the view showed (frozen if a freeze applies), for `layer`'s picture."""
    card = m.card
    heading = title or f"{card.get('title', m.name)} · {page or 'view'}"
    parts = [
        f"<h1>{html.escape(heading)}</h1><div class='muted'>Layer Lab · page "
        f"{html.escape(page or 'trace')} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</div>"
    ]
    if note:
        parts.append(f"<p>{html.escape(note)}</p>")
    if link.startswith(("http://", "https://")):
        parts.append(
            f"<p>Live view: <a href='{html.escape(link, quote=True)}'>{html.escape(link)}</a></p>"
        )
    parts.append(_input(name, raw))
    preds = [_prediction(m.labels, np.asarray(probabilities), "Prediction")]
    if frozen_probabilities is not None:
        preds.append(
            _prediction(
                m.labels, np.asarray(frozen_probabilities), "Prediction with frozen filters"
            )
        )
    parts.append(f"<div class='row'>{''.join(preds)}</div>")
    if frozen:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str((kinds or {}).get(k, {}).get('kind', 'zero')))}"
            f"</td><td>{', '.join(map(str, v))}</td></tr>"
            for k, v in frozen.items()
        )
        parts.append(
            "<h2>Frozen filters</h2><table><tr><th>layer</th><th>intervention</th>"
            f"<th>channels</th></tr>{rows}</table>"
        )
    if trace is not None and layer and layer in trace:
        parts.append(_layer(layer, np.asarray(trace[layer]), set((frozen or {}).get(layer, []))))
    facts = {
        "model": card.get("title", m.name),
        "file": m.name,
        "source": m.source,
        "sha256": m.sha256,
        "input": f"{card['input']['kind']} {'×'.join(map(str, card['input']['shape']))}",
        "classes": ", ".join(m.labels),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    parts.append(
        f"<h2>Model card</h2><table>{rows}</table><details><summary>the whole card</summary>"
        f"<pre>{html.escape(json.dumps(card, indent=1, default=str))}</pre></details>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head><body>"
        + "".join(parts)
        + "<p class='muted'>Made by Layer Lab. One file: no script, nothing fetched.</p></body></html>"
    )


_SETUP = """import json
from pathlib import Path

import numpy as np

from core import api
from core.inputs.audio import decode_audio
from core.inputs.image import decode_image

here = Path(".")  # the folder this ZIP was unpacked into (run Jupyter from the Layer Lab folder,
view = json.loads((here / "view.json").read_text())  # or put it on PYTHONPATH)
spec = view["model"]
m = api.load(spec["builtin"]) if "builtin" in spec else api.load(str(here / spec["file"]), card=spec["card"])
m.card.get("title", m.name)"""

_SAMPLES = """def load_sample(entry):
    data = (here / entry["file"]).read_bytes()
    if entry["format"] == "png":
        return decode_image(data, filename=entry["file"])[0]
    if entry["format"] == "wav":
        y, sr, _ = decode_audio(data, filename=entry["file"])
        return (y, sr)
    return np.load(here / entry["file"], allow_pickle=False)


samples = {e["name"]: load_sample(e) for e in view["samples"]}
raw = samples[view["selected"]]
list(samples)"""

_RUN = """run = api.run(m, raw)
print("Prediction:", m.labels[int(np.argmax(run.probabilities))])
if view["frozen"]:
    frozen = api.run(m, raw, frozen=view["frozen"])  # {layer: {"kind", "channels", "factor"}}
    print("Prediction with frozen filters:", m.labels[int(np.argmax(frozen.probabilities))])
    run = frozen
for label, p in zip(m.labels, run.probabilities):
    print(f"{label:>12}  {p:.4f}")"""

_LAYER = """layer = view["settings"].get("layer") or list(run.trace)[1]
a = run.trace[layer]
print(layer, a.shape, "min", a.min(), "max", a.max(), "mean", a.mean())"""


def notebook_zip(
    m: LoadedModel,
    *,
    model_file: bytes | None,
    samples: Sequence[Sample],
    selected: str,
    frozen: Mapping[str, Sequence[int]] | None = None,
    kinds: Mapping[str, Mapping[str, Any]] | None = None,
    page: str = "",
    settings: Mapping[str, str] | None = None,
    title: str = "",
    note: str = "",
    link: str = "",
) -> bytes:
    """A ZIP: view.ipynb (core.api reproduces the view), view.json, the model file (an upload)
    with its card, and samples/ (PNG, float32 WAV, .npy: exact)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        if m.source == "builtin":
            spec: dict[str, Any] = {"builtin": m.name}
        else:
            if model_file is None:
                raise InputError(f"Model {m.name!r} is an upload: its file's bytes are needed.")
            suffix = Path(m.name).suffix.lower()
            path = "model" + (suffix if suffix in (".keras", ".h5", ".onnx") else ".keras")
            z.writestr(path, model_file)
            spec = {"file": path, "card": m.card, "sha256": m.sha256}
        entries = []
        for i, s in enumerate(samples):
            data, fmt = encode_sample(s)
            path = f"samples/{i:02d}.{fmt}"
            z.writestr(path, data)
            entries.append({"name": s.name, "file": path, "format": fmt, "source": s.source})
        ivs = {
            k: {
                "kind": (kinds or {}).get(k, {}).get("kind", "zero"),
                "factor": float((kinds or {}).get(k, {}).get("factor", 1.0)),
                "channels": [int(c) for c in v],
            }
            for k, v in (frozen or {}).items()
        }
        view = {
            "model": spec,
            "samples": entries,
            "selected": selected,
            "frozen": ivs,
            "page": page,
            "settings": dict(settings or {}),
            "title": title,
            "note": note,
            "link": link,
        }
        z.writestr("view.json", json.dumps(view, indent=1, ensure_ascii=False, default=str))
        nb = nbformat.v4.new_notebook()
        intro = f"# {title or m.card.get('title', m.name)}\n\nA Layer Lab view ({page or 'trace'})"
        nb.cells = [
            nbformat.v4.new_markdown_cell(
                intro
                + (f": {link}" if link else "")
                + (f"\n\n{note}" if note else "")
                + "\n\nThe model, the samples and view.json lie beside this notebook; every "
                "step goes through `core.api`, as the app does."
            ),
            nbformat.v4.new_code_cell(_SETUP),
            nbformat.v4.new_code_cell(_SAMPLES),
            nbformat.v4.new_code_cell(_RUN),
            nbformat.v4.new_code_cell(_LAYER),
        ]
        z.writestr("view.ipynb", nbformat.writes(nb))
    return buf.getvalue()
