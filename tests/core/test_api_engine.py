"""The engine behind core.api: compiled functions owned by the loaded model, freezing through
api.trace, and the api functions the pages use (run, saliency, hear_filter, edit)."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import LayerNameError, OptionError
from core.graph.interventions import FROZEN_GRAPHS, Intervention
from core.inputs.edits import Edit, apply_edits
from core.inputs.prepare import probe_means
from core.inputs.samples import gallery_digits


@pytest.fixture(scope="module")
def digit():
    return gallery_digits()[3].raw


def test_predict_is_the_models_own_output(lenet, digit):
    x, _ = api.prepare(lenet, digit)
    eager = np.asarray(lenet.model(x[None], training=False))[0]
    np.testing.assert_allclose(api.predict(lenet, digit), eager, rtol=1e-5, atol=1e-6)


def test_frozen_trace_equals_zeroing_by_hand(lenet, digit):
    """Freezing conv2 channels [0, 5] through the compiled downstream graph equals running the
    layers after conv2 eagerly on the zeroed tensor."""
    frozen = api.trace(lenet, digit, frozen={"conv2": [0, 5]})
    plain = api.trace(lenet, digit)
    assert (frozen["conv2"][..., [0, 5]] == 0).all()
    np.testing.assert_array_equal(frozen["conv1"], plain["conv1"])
    z = plain["conv2"].copy()
    z[..., [0, 5]] = 0
    plan = lenet.tracer.plan
    start = plan.index("conv2") + 1
    y = z[None]
    for name in plan.names[start:]:
        y = plan.steps_by_name()[name].op(y, training=False)
        np.testing.assert_allclose(frozen[name], np.asarray(y)[0], rtol=1e-4, atol=1e-5)


def test_frozen_is_keyword_only(lenet, digit):
    """A configuration given positionally is refused (a notebook's trace(m, raw, cfg) must not
    silently mean something else); frozen= freezes."""
    with pytest.raises(TypeError, match="positional"):
        api.trace(lenet, digit, {"conv1": [0]})  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        api.run(lenet, digit, {"conv1": [0]})  # type: ignore[misc]
    frozen, plain = api.trace(lenet, digit, frozen={"conv1": [0]}), api.trace(lenet, digit)
    assert not frozen["conv1"][..., 0].any() and plain["conv1"][..., 0].any()
    np.testing.assert_array_equal(frozen["conv1"][..., 1:], plain["conv1"][..., 1:])


def test_frozen_graph_is_built_once_per_set_of_layers(lenet, digit):
    api.trace(lenet, digit, frozen={"conv2": [1]})
    owned = dict(lenet.tracer._owned)
    api.trace(lenet, digit, frozen={"conv2": [2, 3]})
    assert dict(lenet.tracer._owned).keys() == owned.keys()
    assert owned[("frozen", ("conv2",))] is lenet.tracer._owned[("frozen", ("conv2",))]


def test_interventions_through_api_trace(lenet, digit):
    plain = api.trace(lenet, digit)
    scaled = api.trace(lenet, digit, frozen={"conv2": Intervention((4,), "scale", 2.0)})
    np.testing.assert_allclose(scaled["conv2"][..., 4], 2 * plain["conv2"][..., 4], rtol=1e-6)
    kept = api.trace(lenet, digit, frozen={"conv2": {"kind": "keep", "channels": [7]}})
    assert np.count_nonzero(kept["conv2"][..., np.arange(64) != 7]) == 0
    mean = api.trace(lenet, digit, frozen={"conv2": Intervention((4,), "mean")})
    means = probe_means(lenet, ("conv2",))["conv2"]
    np.testing.assert_allclose(mean["conv2"][..., 4], means[..., 4], rtol=1e-6)


def test_traces_are_read_only_views_and_remembered_ones_bounded(lenet, digit):
    shared = api.trace(lenet, digit, frozen={"conv2": [0]})["conv1"]
    with pytest.raises(ValueError, match="read-only"):
        shared[0, 0, 0] = 1.0
    fresh = api.trace(lenet, digit)["conv1"]  # a view of the engine's buffer, not a copy
    with pytest.raises(ValueError, match="read-only"):
        fresh[0, 0, 0] = 1.0
    mine = np.array(fresh)  # the documented way to edit one
    mine[0, 0, 0] = 1.0
    assert api.trace(lenet, digit)["conv1"][0, 0, 0] == fresh[0, 0, 0]
    for i in range(40):
        api.trace(lenet, np.full((28, 28), i, np.uint8), frozen={"conv2": [0]})
    assert lenet.tracer._recent_bytes <= lenet.tracer.RECENT_BYTES


def test_bad_freeze_configurations_list_what_is_valid(lenet, digit):
    with pytest.raises(LayerNameError, match="Valid names: .*conv2"):
        api.trace(lenet, digit, frozen={"nope": [0]})
    with pytest.raises(ValueError, match="channels 0..63"):
        api.trace(lenet, digit, frozen={"conv2": [64]})


def test_run_is_trace_probabilities_and_notes(lenet, digit):
    r = api.run(lenet, digit, frozen={"conv2": [0]})
    np.testing.assert_allclose(r.probabilities, r.trace["probabilities"], rtol=1e-5, atol=1e-6)
    assert isinstance(r.notes, list)


def test_saliency_auto_picks_a_layer_with_evidence(lenet, digit):
    s = api.saliency(lenet, digit, method="grad_cam")
    # LeNet's last conv block: conv2 (ReLU inside the layer), then pool2, ...
    assert s.layer == api.auto_cam_layers(lenet)[0] == "conv2"
    assert s.map.shape == (28, 28) and s.map.max() > 0
    g = api.saliency(lenet, digit, method="gradient", frozen={"conv1": [0, 1]})
    assert g.layer is None and g.map.shape == (28, 28) and np.isfinite(g.map).all()
    with pytest.raises(OptionError, match="expected one of: gradient, grad_cam"):
        api.saliency(lenet, digit, method="Gradient")
    with pytest.raises(LayerNameError, match="Grad-CAM needs a layer: 'auto' or one of .*conv2"):
        api.saliency(lenet, digit, method="grad_cam", layer=None)


def test_hear_filter_and_edit_on_the_spoken_digit_model():
    m = api.load("spoken_digits")
    from core.inputs.samples import speech_clips

    raw = speech_clips()[0].raw
    wave = apply_edits(raw[0], raw[1], [Edit("reverse", {})])
    np.testing.assert_array_equal(wave, raw[0][::-1])
    layer = m.card["spectrogram_layer"]
    heard = api.hear_filter(m, raw, layer, 0)
    assert heard.dtype == np.float32 and heard.shape == (int(m.card["input"]["shape"][0]),)
    assert np.abs(heard).max() > 0


@pytest.mark.slow
def test_frozen_graphs_per_model_are_bounded(lenet, digit):
    """Which layers are frozen comes from a link: a model shared by every session keeps at most
    FROZEN_GRAPHS compiled graphs, however many sets of layers are asked for."""
    layers = ["conv1", "pool1", "conv2", "pool2", "fc1"]  # 31 non-empty sets of them
    sets = [tuple(layers[j] for j in range(5) if i >> j & 1) for i in range(1, 32)]
    for s in sets + sets:
        api.trace(lenet, digit, frozen={n: [0] for n in s})
    kept = [k for k in lenet.tracer._owned if k[0] == "frozen"]
    assert len(kept) == FROZEN_GRAPHS
    assert kept[-1] == ("frozen", tuple(sorted(sets[-1])))  # the latest is kept
