"""core.share.export: the lab-notebook ZIP."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core import api
from core.errors import InputError
from core.inputs.samples import gallery_digits
from core.share.export import export_zip


def test_zip_holds_manifest_pictures_sounds_and_tables():
    m = api.load("lenet_mnist")
    raw = gallery_digits()[0].raw
    p = api.predict(m, raw)
    data = export_zip(
        page="Trace",
        model=m,
        settings={"sample": "digit 0", "n": np.int64(3)},
        predictions={"digit 0": p},
        images={"input / 28x28": raw},
        audio={"tone": (np.sin(np.arange(800) / 5).astype(np.float32), 8000)},
        tables={"layers": pd.DataFrame({"layer": ["conv1"], "max": [1.5]})},
    )
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


def test_npz_groups_hold_exact_arrays():
    m = api.load("lenet_mnist")
    tr = api.trace(m, gallery_digits()[3].raw)
    z = zipfile.ZipFile(
        io.BytesIO(export_zip(page="Trace", model=m, settings={}, npz={"activations": tr}))
    )
    assert "activations.npz" in json.loads(z.read("manifest.json"))["files"]
    got = np.load(io.BytesIO(z.read("activations.npz")))
    assert list(got.files) == list(tr)  # graph order kept
    for k, v in tr.items():
        assert got[k].dtype == v.dtype and np.array_equal(got[k], v), k


def test_labelled_figure_has_numbers_and_a_colour_bar():
    from core.show.render import feature_grid, labelled_grid

    maps = np.random.default_rng(0).random((6, 6, 12)).astype(np.float32)
    fig = labelled_grid(maps, title="conv1")
    grid = feature_grid(maps)[0]
    assert fig.dtype == np.uint8 and fig.shape[2] == 3
    assert fig.shape[0] > grid.shape[0] + 40  # title above, bar and its values below
    # The colour bar's ends are viridis' ends.
    bar_row = fig[fig.shape[0] - 52 + 8 + 6]
    assert bar_row[10].tolist() == [68, 1, 84] and bar_row[10 + 159].tolist() != [255, 255, 255]


def test_arrays_are_exact_npy_and_documents_json():
    m = api.load("lenet_mnist")
    a = np.random.default_rng(0).normal(size=(28, 28, 1)).astype(np.float32)
    data = export_zip(
        page="Attack",
        model=m,
        settings={},
        arrays={"perturbation": a},
        documents={"rerun": {"method": "FGSM", "epsilon": np.float32(0.25)}},
    )
    z = zipfile.ZipFile(io.BytesIO(data))
    got = np.load(io.BytesIO(z.read("arrays/perturbation.npy")))
    assert got.dtype == np.float32 and np.array_equal(got, a)
    assert json.loads(z.read("rerun.json")) == {"method": "FGSM", "epsilon": 0.25}
    assert {"arrays/perturbation.npy", "rerun.json"} <= set(
        json.loads(z.read("manifest.json"))["files"]
    )
