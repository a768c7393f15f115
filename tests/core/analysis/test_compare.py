from __future__ import annotations

import numpy as np
import pytest

from core.analysis.compare import cosine_distance, layer_distances, parting_layer, relative_l2


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


def test_parting_layer_is_the_largest_rise_not_the_largest_distance():
    # l3 is the farthest apart, but the inputs parted at l2 (0.1 -> 0.7).
    ta = {n: np.ones(2) for n in ["input", "l1", "l2", "l3"]}
    tb = dict(ta)
    df = layer_distances(ta, tb).assign(cosine_distance=[0.0, 0.1, 0.7, 0.8])
    assert parting_layer(df) == "l2"
    assert parting_layer(df.assign(cosine_distance=[0.0, 0.6, 0.7, 0.8])) == "l1"
    assert parting_layer(layer_distances({"input": np.ones(2)}, {"input": np.ones(2)})) is None


def test_the_parting_layer_skips_normalisations_and_the_decision():
    # Raw distances peak at the normalisation (n) and the output (out); the parting is l2's.
    names = ["input", "n", "l1", "bn", "l2", "logits", "out"]
    t = {k: np.ones(2) for k in names}
    df = layer_distances(t, t, substantive=["l1", "l2"]).assign(
        cosine_distance=[0.1, 0.9, 0.8, 0.95, 0.9, 1.2, 1.0]
    )
    assert list(df["substantive"]) == [False, False, True, False, True, False, False]
    assert parting_layer(df) == "l2"  # 0.8 -> 0.9; l1 fell from 0.9 (after n)


@pytest.mark.parametrize(
    "name, pairs, allowed",
    [
        ("vgg_cifar10", [(0, 1), (2, 3), (0, 5)], ("conv", "fc")),
        ("lenet_mnist", [(0, 3), (3, 6), (1, 22)], ("conv", "fc")),
    ],
)
def test_the_parting_layer_of_real_pairs_is_a_learned_layer(name, pairs, allowed):
    """Issue 35 item 4: on the VGG the marker sat on `normalize`, on LeNet on `logits` or
    `probabilities`."""
    from core import api
    from core.inputs.samples import colour_scenes, gallery_digits

    m = api.load(name)
    samples = colour_scenes() if name.startswith("vgg") else gallery_digits()
    for a, b in pairs:
        split = parting_layer(api.distances(m, samples[a].raw, samples[b].raw))
        assert split.split("_")[-1].startswith(allowed), split  # block3_conv3, conv2, fc1
        assert split not in ("normalize", "logits", "probabilities")
