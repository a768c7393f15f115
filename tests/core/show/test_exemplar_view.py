"""Exemplar pictures and the exported index table."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from core import api
from core.share.export import export_zip
from core.show.exemplar_view import grid, image_patch, index_table, spectrogram_patch


def test_patches_are_the_field_on_a_white_square():
    img = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    p = image_patch(img, (0, 10, 3, 15), size=60)  # a field clipped at the top
    assert p.shape == (60, 60, 3)  # 5 columns × 12 -> 60; 3 rows -> 36
    np.testing.assert_array_equal(p[12:48:12, 0:60:12, 0], img[0:3, 10:15])
    assert (p[:12] == 255).all() and (p[48:] == 255).all()
    spec = np.random.default_rng(0).random((126, 64), dtype=np.float32)
    s = spectrogram_patch(spec, (10, 0, 26, 16), size=72)
    assert s.shape == (72, 72, 3) and s.dtype == np.uint8


def test_grid_and_index_table_go_into_the_export():
    m = api.load("lenet_mnist")
    raws, labels = api.probe_set(m)
    ix = api.filter_index(m, inputs=raws[:64], labels=labels[:64])
    tops = {c: api.top_inputs(m, "conv2", c, k=3, index=ix) for c in range(64)}
    df = index_table(ix, "conv2", tops, m.labels)
    assert len(df) == 64 * 3 and list(df.columns) == [
        "layer",
        "channel",
        "rank",
        "input",
        "value",
        "position",
        "box",
        "label",
        "fire_rate",
    ]
    assert (df.groupby("channel")["value"].apply(lambda v: v.is_monotonic_decreasing)).all()
    pics = grid(
        [[image_patch(np.zeros((28, 28), np.uint8), e.box) for e in tops[c]] for c in range(4)]
    )
    assert pics.shape == (4 * 76 + 4, 3 * 76 + 4, 3)
    data = export_zip(
        page="Filters",
        model=m,
        settings={"layer": "conv2"},
        images={"exemplars_conv2": pics},
        tables={"exemplars_conv2": df},
    )
    z = zipfile.ZipFile(io.BytesIO(data))
    assert set(json.loads(z.read("manifest.json"))["files"]) == {
        "images/exemplars_conv2.png",
        "tables/exemplars_conv2.csv",
    }


def test_a_spaced_patch_has_a_transparent_margin():
    from core.show.exemplar_view import spaced

    p = np.zeros((10, 10, 3), np.uint8)
    out = spaced(p, margin=3)
    assert out.shape == (16, 16, 4)
    assert (out[:3, :, 3] == 0).all() and (out[:, -3:, 3] == 0).all()
    assert (out[3:13, 3:13, 3] == 255).all() and (out[3:13, 3:13, :3] == 0).all()
