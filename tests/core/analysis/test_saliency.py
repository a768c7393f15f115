from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.analysis.saliency import grad_cam, gradient_saliency
from core.errors import LayerLabError, LayerNameError
from core.inputs.samples import gallery_digits


@pytest.fixture(scope="module")
def lenet():
    return api.load("lenet_mnist")


def test_gradient_saliency_has_input_shape_and_is_not_zero(lenet):
    raw = gallery_digits()[7].raw
    x, _ = api.prepare(lenet, raw)
    s = gradient_saliency(lenet.tracer.plan, x, 2, card=lenet.card)
    assert s.shape == (28, 28)
    assert s.max() > 0 and np.isfinite(s).all()


def test_grad_cam_is_normalised_at_input_resolution(lenet):
    x, _ = api.prepare(lenet, gallery_digits()[7].raw)
    cam = grad_cam(lenet.tracer.plan, x, 2, "conv2", card=lenet.card)
    assert cam.shape == (28, 28)
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0


def test_grad_cam_refuses_dense_and_unknown_layers(lenet):
    x, _ = api.prepare(lenet, gallery_digits()[0].raw)
    with pytest.raises(
        LayerLabError, match="needs a layer whose output has positions and channels"
    ):
        grad_cam(lenet.tracer.plan, x, 0, "fc1")
    with pytest.raises(LayerNameError, match="Valid names"):
        grad_cam(lenet.tracer.plan, x, 0, "nope")


def test_gradient_saliency_with_respect_to_the_spectrogram(spoken):
    from core.inputs.samples import speech_clips

    clip = next(s for s in speech_clips() if s.label == "4")
    x, _ = api.prepare(spoken, clip.raw)
    spec = spoken.card["spectrogram_layer"]
    s = gradient_saliency(spoken.tracer.plan, x, 4, card=spoken.card, wrt=spec)
    assert s.shape == tuple(spoken.card["spectrogram_shape"][:2]) and s.max() > 0
    cam = grad_cam(spoken.tracer.plan, x, 4, "block3_relu", card=spoken.card, size=s.shape)
    assert cam.shape == s.shape and cam.max() == pytest.approx(1.0)
