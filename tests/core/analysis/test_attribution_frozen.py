"""The Freeze page's saliency: api.saliency and api.attribution's `frozen=` option, one stack."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import LayerNameError, OptionError
from core.inputs.samples import gallery_digits


@pytest.fixture(scope="module")
def lenet():
    return api.load("lenet_mnist")


def test_gradient_saliency_has_input_shape_and_is_not_zero(lenet):
    s = api.saliency(lenet, gallery_digits()[7].raw, method="gradient", target=2)
    assert s.layer is None and s.map.shape == (28, 28)
    assert s.map.max() > 0 and np.isfinite(s.map).all()
    # The same map as api.attribution's gradient: one implementation.
    a = api.attribution(lenet, gallery_digits()[7].raw, method="gradient", target=2)
    np.testing.assert_array_equal(s.map, a)


def test_grad_cam_is_normalised_at_input_resolution(lenet):
    s = api.saliency(lenet, gallery_digits()[7].raw, method="grad_cam", layer="conv2", target=2)
    assert s.layer == "conv2" and s.map.shape == (28, 28)
    assert s.map.max() == pytest.approx(1.0) and s.map.min() >= 0


def test_grad_cam_refuses_dense_and_unknown_layers(lenet):
    raw = gallery_digits()[0].raw
    for layer in ("fc1", "nope"):
        with pytest.raises(LayerNameError, match=r"Valid: auto, .*conv2"):
            api.saliency(lenet, raw, method="grad_cam", layer=layer)
    with pytest.raises(OptionError, match="expected one of: gradient, grad_cam"):
        api.saliency(lenet, raw, method="Gradient")


def test_frozen_attribution_is_the_frozen_models(lenet):
    raw = gallery_digits()[3].raw
    every = {"conv1": list(range(32))}  # all 32 of conv1
    # Every first-layer filter frozen: the score no longer depends on the input at all.
    for method in ("gradient", "integrated_gradients"):
        assert np.abs(api.attribution(lenet, raw, method=method, target=3)).max() > 0
        frozen = api.attribution(lenet, raw, method=method, target=3, frozen=every)
        assert not np.abs(frozen).any()
    # Some filters frozen: a different, non-zero map, and the unfrozen map is untouched after.
    some = api.attribution(lenet, raw, method="gradient", target=3, frozen={"conv1": [0, 1]})
    plain = api.attribution(lenet, raw, method="gradient", target=3)
    assert some.max() > 0 and not np.allclose(some, plain)
    np.testing.assert_array_equal(
        plain, api.attribution(lenet, raw, method="gradient", target=3, frozen={})
    )


def test_gradient_saliency_with_respect_to_the_spectrogram(spoken):
    from core.inputs.samples import speech_clips

    clip = next(s for s in speech_clips() if s.label == "4")
    s = api.saliency(spoken, clip.raw, method="gradient", target=4)
    assert s.map.shape == tuple(spoken.card["spectrogram_shape"][:2]) and s.map.max() > 0
    cam = api.saliency(spoken, clip.raw, method="grad_cam", layer="block3_relu", target=4)
    assert cam.map.shape == s.map.shape and cam.map.max() == pytest.approx(1.0)
