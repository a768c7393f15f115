"""core.export: the lab-notebook ZIP."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core import api
from core.errors import InputError
from core.export import export_zip
from core.samples import gallery_digits


def test_zip_holds_manifest_pictures_sounds_and_tables():
    m = api.load("lenet_mnist")
    raw = gallery_digits()[0].raw
    p = api.predict(m, raw)
    data = export_zip(page="Trace", model=m, settings={"sample": "digit 0", "n": np.int64(3)},
                      predictions={"digit 0": p}, images={"input / 28x28": raw},
                      audio={"tone": (np.sin(np.arange(800) / 5).astype(np.float32), 8000)},
                      tables={"layers": pd.DataFrame({"layer": ["conv1"], "max": [1.5]})})
    z = zipfile.ZipFile(io.BytesIO(data))
    man = json.loads(z.read("manifest.json"))
    assert man["page"] == "Trace" and man["model"]["sha256"] == m.sha256
    assert man["model"]["name"] == "lenet_mnist" and man["settings"]["n"] == 3
    assert man["predictions"]["digit 0"]["label"] == m.labels[int(np.argmax(p))]
    assert len(man["predictions"]["digit 0"]["probabilities"]) == 10
    assert sorted(man["files"]) == sorted(z.namelist()[:-1])
    assert "images/input_28x28.png" in man["files"]
    assert z.read("audio/tone.wav")[:4] == b"RIFF"
    assert z.read("tables/layers.csv").decode().startswith("layer,max")


def test_non_image_arrays_are_refused():
    m = api.load("lenet_mnist")
    with pytest.raises(InputError, match="must be uint8"):
        export_zip(page="Trace", model=m, settings={}, images={"x": np.zeros((4, 4))})


def test_arrays_are_exact_npy_and_documents_json():
    m = api.load("lenet_mnist")
    a = np.random.default_rng(0).normal(size=(28, 28, 1)).astype(np.float32)
    data = export_zip(page="Attack", model=m, settings={}, arrays={"perturbation": a},
                      documents={"rerun": {"method": "FGSM", "epsilon": np.float32(0.25)}})
    z = zipfile.ZipFile(io.BytesIO(data))
    got = np.load(io.BytesIO(z.read("arrays/perturbation.npy")))
    assert got.dtype == np.float32 and np.array_equal(got, a)
    assert json.loads(z.read("rerun.json")) == {"method": "FGSM", "epsilon": 0.25}
    assert {"arrays/perturbation.npy", "rerun.json"} <= set(json.loads(
        z.read("manifest.json"))["files"])
