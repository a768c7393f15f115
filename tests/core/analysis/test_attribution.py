"""Attribution maps: every method runs on every kind of model; IG is complete; deletion and
insertion tell a faithful map from a random one; randomising the weights changes the map."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from core import api
from core.analysis.attribution import METHODS
from core.analysis.attribution.loaded import explainer
from core.errors import AttributionError, LayerNameError, OptionError
from core.inputs.samples import colour_scenes, gallery_digits, speech_clips

# attribution methods with their sanity checks: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spoken():
    return api.load("spoken_digits")


def _scores(m, raw, target):
    """score(x) and score(baseline), computed through the model outside the attribution code."""
    x, _ = api.prepare(m, raw)
    logits = keras.Model(m.model.inputs, m.model.get_layer(m.card["logits_layer"]).output)
    s = keras.ops.convert_to_numpy(logits(np.stack([x, np.zeros_like(x)]), training=False))
    return float(s[0, target]), float(s[1, target])


@pytest.mark.parametrize("spacing", ["uniform", "cubic"])
@pytest.mark.parametrize(
    "name,pool", [("lenet_mnist", gallery_digits), ("vgg_cifar10", colour_scenes)]
)
def test_integrated_gradients_is_complete(name, pool, spacing):
    m = api.load(name)
    raw = pool()[4].raw
    target = int(np.argmax(api.predict(m, raw)))
    a = api.attribution(
        m, raw, method="integrated_gradients", steps=256, target=target, spacing=spacing
    )
    s_x, s_b = _scores(m, raw, target)
    assert a.sum() == pytest.approx(s_x - s_b, rel=0.03)


def test_integrated_gradients_is_complete_over_the_spectrogram(spoken):
    """Baseline: the spectrogram's floor (silence); scores through the model from the
    spectrogram layer on, outside the attribution code."""
    import tensorflow as tf

    raw = speech_clips()[3].raw
    x, _ = api.prepare(spoken, raw)
    plan = spoken.tracer.plan
    spec = spoken.tracer(x[None])["spectrogram"]
    floor = np.full_like(spec, 10 * np.log10(spoken.card["stft"]["mel"]["min_power"]))
    sub = lambda v: dict(
        zip(
            plan.names,
            plan.run(  # noqa: E731
                tf.constant(x[None]), after=lambda n, y: tf.constant(v) if n == "spectrogram" else y
            ),
        )
    )
    target = int(np.argmax(api.predict(spoken, raw)))
    s_x, s_b = (float(sub(v)["logits"][0, target]) for v in (spec, floor))
    # 256 steps: the Riemann sum's error on this model is 5 % at 64 steps, 0.9 % at 128 and
    # 0.3 % at 256 (the shipped model of issue 18), well inside the 3 % asked.
    a = api.attribution(spoken, raw, method="integrated_gradients", steps=256, target=target)
    assert a.sum() == pytest.approx(s_x - s_b, rel=0.03)


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_finite_nonzero_map_for_images(lenet, method):
    raw = gallery_digits()[21].raw
    a = api.attribution(lenet, raw, method=method)
    assert a.shape == (28, 28) and a.dtype == np.float32
    assert np.isfinite(a).all() and np.abs(a).max() > 0


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_works_over_the_spectrogram(spoken, method):
    raw = speech_clips()[3].raw
    a = api.attribution(spoken, raw, method=method)
    assert a.shape == tuple(spoken.card["spectrogram_shape"][:2])
    assert np.isfinite(a).all() and np.abs(a).max() > 0


def test_every_method_works_on_colour_images(vgg):
    raw = colour_scenes()[0].raw
    for method in METHODS:
        a = api.attribution(vgg, raw, method=method, target=0)
        assert a.shape == (32, 32) and np.isfinite(a).all() and np.abs(a).max() > 0, method


def test_unknown_methods_options_and_layers_are_refused_with_the_valid_ones(lenet):
    raw = gallery_digits()[0].raw
    with pytest.raises(OptionError, match="expected one of: gradient, gradient_x_input"):
        api.attribution(lenet, raw, method="lime")
    with pytest.raises(OptionError, match="its options are: steps, baseline, spacing, batch_size"):
        api.attribution(lenet, raw, method="integrated_gradients", stepz=3)
    with pytest.raises(LayerNameError, match="Valid: auto, conv1, pool1, conv2, pool2"):
        api.attribution(lenet, raw, method="grad_cam", layer="fc1")
    with pytest.raises(OptionError, match="target .* from 0 to 9; got 10"):
        api.attribution(lenet, raw, method="gradient", target=10)
    with pytest.raises(OptionError, match="steps must be a whole number from 1 to 4096"):
        api.attribution(lenet, raw, method="integrated_gradients", steps=0)
    assert all(issubclass(e, ValueError) for e in (OptionError, AttributionError, LayerNameError))


def test_deletion_and_insertion_separate_a_good_map_from_random_on_digits(lenet):
    """Over the 10 style-1 gallery digits: IG's deletion AUC is far below a random order's,
    its insertion AUC far above."""
    digits = [s for s in gallery_digits() if s.name.endswith("(style 1)")]
    dels, ins = [], []
    for s in digits:
        a = api.attribution(lenet, s.raw, method="integrated_gradients")
        d, i = api.deletion_auc(lenet, s.raw, a), api.insertion_auc(lenet, s.raw, a)
        assert 0.0 <= d.auc <= 1.0 and 0.0 <= i.auc <= 1.0 and float(d) == d.auc
        assert d.fractions[0] == 0.0 and d.fractions[-1] == 1.0 and len(d.probabilities) == 21
        dels.append((d.auc, d.random_auc))
        ins.append((i.auc, i.random_auc))
    dels, ins = np.array(dels), np.array(ins)
    assert dels[:, 0].mean() < dels[:, 1].mean() - 0.25, dels
    assert ins[:, 0].mean() > ins[:, 1].mean() + 0.25, ins


def test_a_map_of_the_wrong_shape_is_refused(lenet):
    raw = gallery_digits()[0].raw
    with pytest.raises(AttributionError, match=r"shape \(10, 10\).*expected .* \(28, 28\)"):
        api.deletion_auc(lenet, raw, np.zeros((10, 10)))


def test_randomization_drops_the_gradient_maps_similarity_and_leaves_the_model_alone(lenet):
    raw = gallery_digits()[21].raw
    before = [w.copy() for w in lenet.model.get_weights()]
    sims = api.randomization_check(lenet, raw, method="gradient")
    assert [s.layer for s in sims] == ["logits", "fc2", "fc1", "conv2", "conv1"]
    assert sims[-1].spearman < 0.5 and sims[-1].spearman < sims[0].spearman
    after = lenet.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert sims == api.randomization_check(lenet, raw, method="gradient")  # seeded: repeatable


def test_grad_cam_on_a_model_without_spatial_layers_says_what_to_use():
    from core.analysis.attribution import Explainer, attribute
    from core.graph.engine import Plan

    keras.utils.set_random_seed(0)
    mlp = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    ex = Explainer(
        Plan(mlp),
        {
            "input": {"kind": "image", "range": [0.0, 1.0]},
            "labels": ["a", "b", "c"],
            "output": "probabilities",
        },
    )
    x = np.random.default_rng(0).random((8, 8, 1), dtype=np.float32)
    with pytest.raises(AttributionError, match="this model has none.*Use gradient"):
        attribute(ex, x, method="grad_cam")
    # No logits layer, but a Dense with softmax: the score is its logit before the softmax
    # (core.model.outputs.class_scores), and IG sums to that logit's difference.
    a = attribute(ex, x, method="integrated_gradients", target=1, steps=128)
    w, b = mlp.layers[-1].get_weights()
    z = np.stack([x, np.zeros_like(x)]).reshape(2, -1) @ w + b
    assert a.sum() == pytest.approx(z[0, 1] - z[1, 1], rel=0.02)


def test_randomization_measures_integrated_gradients_over_the_digit_not_its_black_background(
    lenet,
):
    """Issue 35 item 3: IG is exactly 0 on MNIST's black background in every model (input −
    baseline = 0 there), so a rank correlation over all pixels read 0.99 with every layer
    randomised. Over the cells that carry signal, Adebayo et al.'s three measures say the map
    changed."""
    from core.analysis.attribution.sanity import signal

    raw = gallery_digits()[21].raw
    sims = api.randomization_check(lenet, raw, method="integrated_gradients")
    last = sims[-1]
    assert last.layer == "conv1" and set(last._fields) == {"layer", "spearman", "ssim", "hog"}
    assert last.spearman < 0.9 and last.ssim < 0.8 and last.hog < 0.7, last
    a = api.attribution(lenet, raw, method="integrated_gradients")
    mask = signal(a, a)
    assert 0.05 < mask.mean() < 0.5  # the digit's strokes, not the background


@pytest.mark.slow
def test_the_default_deletion_baseline_is_not_a_feature_and_is_named(vgg):
    """Issue 35 item 3: black reads as "airplane" to the CIFAR-10 VGG, so deleting towards
    black made integrated gradients no better than a random order. The default is the
    baseline the model is least sure about, and every curve says which it used."""
    from core.analysis.attribution.faithfulness import BLACK, BLUR, PROBE_MEAN
    from core.inputs.samples import colour_scenes

    named, default = api.faithfulness_baselines(vgg)
    assert set(named) >= {BLACK, PROBE_MEAN} and default != BLACK
    ex = explainer(vgg)
    x0 = api.prepare(vgg, colour_scenes()[0].raw)[0]
    top = {n: float(ex.probabilities(x0, b[None]).max()) for n, b in named.items()}
    assert top[default] < top[BLACK], top
    margins = {"auto": [], BLACK: []}
    for s in colour_scenes():
        a = api.attribution(vgg, s.raw, method="integrated_gradients")
        for b in margins:
            d = api.deletion_auc(vgg, s.raw, a, baseline=b)
            assert d.baseline == (default if b == "auto" else b)
            margins[b].append(d.random_auc - d.auc)
    assert np.mean(margins["auto"]) > 0.04 > np.mean(margins[BLACK]) + 0.02, margins
    blur = api.insertion_auc(vgg, colour_scenes()[0].raw, a, baseline=BLUR)
    assert blur.baseline == BLUR and 0 <= blur.auc <= 1
