"""A view kept without a server: one self-contained HTML file, and a notebook that reproduces
the view through core.api from the files beside it (run for real, in a fresh interpreter)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from core import api
from core.inputs.samples import Sample, gallery_digits, speech_clips
from core.share.offline import notebook_zip, view_html

ROOT = Path(__file__).resolve().parents[3]
FROZEN = {"conv2": [1, 5, 9], "conv1": [2]}
KINDS = {"conv1": {"kind": "scale", "factor": 0.25}}


def _ivs():
    return {
        k: {
            "channels": v,
            **KINDS.get(k, {"kind": "zero"}),
            "factor": KINDS.get(k, {}).get("factor", 1.0),
        }
        for k, v in FROZEN.items()
    }


@pytest.mark.slow
def test_the_html_holds_pictures_charts_numbers_card_and_link_and_fetches_nothing(lenet):
    raw = gallery_digits()[5].raw
    plain = api.run(lenet, raw)
    frozen = api.run(lenet, raw, frozen=_ivs())
    page = view_html(
        lenet,
        name="digit <5>",
        raw=raw,
        probabilities=plain.probabilities,
        frozen_probabilities=frozen.probabilities,
        trace=frozen.trace,
        layer="conv2",
        frozen=FROZEN,
        kinds=KINDS,
        page="freeze",
        title="<script>alert('x')</script>",
        note="conv2 & friends",
        link="http://lab.example/?share=" + "a" * 32,
    )
    assert "<script" not in page and "&lt;script&gt;" in page  # a title is text, never code
    assert page.count("data:image/png;base64,") == 2  # the input and conv2's channels
    assert page.count("<svg") == 2  # the two prediction charts, as SVG
    label = lenet.labels[int(np.argmax(frozen.probabilities))]
    assert re.search(rf"data-prediction>{label}<", page)
    assert f"{float(np.max(frozen.probabilities)):.1%}" in page
    assert lenet.sha256 in page and "conv2 &amp; friends" in page and "digit &lt;5&gt;" in page
    assert "href='http://lab.example/?share=" in page
    # Nothing outside the file: every src is a data URL, no stylesheet or script is linked.
    assert all(s.startswith("data:") for s in re.findall(r"src='([^']*)'", page))
    assert not re.search(r"<(link|script|iframe)\b", page)


@pytest.mark.slow
def test_the_html_of_audio_plays_from_a_data_url():
    m = api.load("spoken_digits")
    raw = speech_clips()[2].raw
    page = view_html(m, name="clip", raw=raw, probabilities=api.predict(m, raw))
    assert "<audio controls src='data:audio/wav;base64," in page
    assert page.count("<svg") == 2  # the waveform and the prediction


def _run_notebook(zip_bytes: bytes, where: Path) -> str:
    zipfile.ZipFile(io.BytesIO(zip_bytes)).extractall(where)
    nb = nbformat.read(where / "view.ipynb", as_version=4)
    nbformat.validate(nb)
    code = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_the_notebook_reproduces_a_builtin_view(lenet, tmp_path):
    mine = np.asarray(gallery_digits()[8].raw).copy()
    mine[:, 12:15] = 0
    samples = [Sample("mine", "image", mine, source="drawn"), gallery_digits()[1]]
    data = notebook_zip(
        lenet,
        model_file=None,
        samples=samples,
        selected="mine",
        frozen=FROZEN,
        kinds=KINDS,
        page="freeze",
        settings={"layer": "conv2"},
        title="a view",
    )
    out = _run_notebook(data, tmp_path)
    want = api.run(lenet, mine, frozen=_ivs()).probabilities
    assert f"Prediction with frozen filters: {lenet.labels[int(np.argmax(want))]}" in out
    for label, p in zip(lenet.labels, want):
        assert f"{label:>12}  {p:.4f}" in out
    assert "conv2 (10, 10, 64)" in out


@pytest.mark.slow
def test_the_notebook_carries_an_uploaded_model_and_its_card(tmp_path, sequential_cnn):
    path = tmp_path / "tiny.keras"
    sequential_cnn.save(path)
    m = api.load(str(path), card={"labels": ["cat", "dog", "owl"]})
    raw = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    data = notebook_zip(
        m,
        model_file=path.read_bytes(),
        samples=[Sample("ramp", "image", raw, source="upload")],
        selected="ramp",
    )
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"view.ipynb", "view.json", "model.keras", "samples/00.npy"} <= set(names)
    out = _run_notebook(data, tmp_path / "nb")
    p = api.predict(m, raw)
    assert f"Prediction: {m.labels[int(np.argmax(p))]}" in out
    assert all(f"{lab:>12}  {q:.4f}" in out for lab, q in zip(["cat", "dog", "owl"], p))
