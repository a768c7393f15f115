from __future__ import annotations

import numpy as np
import pytest

from core.compare import cosine_distance, layer_distances, relative_l2


def test_cosine_distance_definition():
    a = np.array([1.0, 0.0])
    assert cosine_distance(a, a) == pytest.approx(0.0)
    assert cosine_distance(a, np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert cosine_distance(a, -a) == pytest.approx(2.0)
    assert cosine_distance(np.zeros(2), np.zeros(2)) == 0.0
    assert cosine_distance(np.zeros(2), a) == 1.0


def test_relative_l2():
    a = np.array([3.0, 4.0])
    assert relative_l2(a, a) == 0.0
    assert relative_l2(a, -a) == pytest.approx(2.0)


def test_layer_distances_in_trace_order():
    ta = {"input": np.ones(4), "l1": np.array([1.0, 0.0]), "l2": np.array([1.0, 1.0])}
    tb = {"input": np.ones(4), "l1": np.array([0.0, 1.0]), "l2": np.array([1.0, 1.0])}
    df = layer_distances(ta, tb)
    assert list(df["layer"]) == ["input", "l1", "l2"]
    assert list(df["cosine_distance"].round(6)) == [0.0, 1.0, 0.0]


def test_traces_of_different_models_are_refused():
    with pytest.raises(ValueError, match="different models"):
        layer_distances({"input": np.ones(1)}, {"input": np.ones(1), "x": np.ones(1)})
