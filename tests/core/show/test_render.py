from __future__ import annotations

import numpy as np

from core.show.render import apply_colormap, as_maps, feature_grid, grid_shape


def test_colormap_endpoints_are_viridis():
    rgb = apply_colormap(np.array([0.0, 1.0]))
    assert rgb.tolist() == [[68, 1, 84], [253, 231, 37]]


def test_grid_holds_every_channel():
    maps = np.random.default_rng(0).random((5, 5, 13)).astype(np.float32)
    rows, cols = grid_shape(13)
    assert rows * cols >= 13
    img, vmin, vmax = feature_grid(maps, cell=10)
    assert img.dtype == np.uint8 and img.shape[-1] == 3
    assert vmin == maps.min() and vmax == maps.max()


def test_shared_scale_keeps_weak_channels_dark_and_per_channel_stretches_them():
    maps = np.zeros((4, 4, 2), np.float32)
    maps[0, 0, 0] = 10.0  # strong channel
    maps[0, 0, 1] = 0.1  # weak channel
    shared, _, _ = feature_grid(maps, scale="shared", cell=4)
    per, _, _ = feature_grid(maps, scale="per-channel", cell=4)
    # Channel 1's bright pixel is at column offset of the second cell (gap 2 + 4 + gap 2).
    weak_shared = shared[2, 2 + 4 + 2]
    weak_per = per[2, 2 + 4 + 2]
    assert weak_shared.tolist() != [253, 231, 37]
    assert weak_per.tolist() == [253, 231, 37]


def test_as_maps():
    assert as_maps(np.zeros((3, 3, 2))).shape == (3, 3, 2)
    assert as_maps(np.zeros(10)) is None


def test_a_dense_output_becomes_a_heat_grid_and_a_difference_is_white_at_zero():
    from core.show.render import vector_image

    v = np.arange(10, dtype=np.float32)  # 10 units: 4 to a row, 3 rows, 2 cells left white
    img = vector_image(v, cell=2)
    assert img.shape == (3 * 2, 4 * 2, 3) and img.dtype == np.uint8
    assert (img[-2:, -4:] == 255).all()  # past the last unit
    assert not np.array_equal(img[0, 0], img[4, 2])  # unit 0 (lowest) vs unit 9 (highest)
    d = vector_image(np.array([0.0, 1.0, -1.0], np.float32), cmap="diverging", cell=1)
    assert (d[0, 0].astype(int) > 230).all()  # no change: (near) white
