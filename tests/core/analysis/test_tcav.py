"""TCAV (core.analysis.tcav, api.tcav) on a model built here whose answer is known: class "red"
reads the red channel only, so redness is a concept it uses and greenness one it ignores."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest

from core import api
from core.analysis.tcav import results_table, score_gradients
from core.errors import ConceptError, InputError, OptionError
from core.graph.engine import Tracer
from core.model.card import infer_card
from core.model.load import LoadedModel


@pytest.fixture(scope="module")
def red_model() -> LoadedModel:
    """(8, 8, 3) in [0, 1] -> 1×1 conv "feat" (the channels as they are) -> mean per channel ->
    logits [2.5 - 5 r, 5 r - 2.5] (r: the mean red) -> softmax. Green and blue are ignored."""
    x = keras.Input((8, 8, 3))
    feat = keras.layers.Conv2D(3, 1, activation="relu", name="feat")
    logits = keras.layers.Dense(2, name="logits")
    y = keras.layers.GlobalAveragePooling2D(name="gap")(feat(x))
    model = keras.Model(x, keras.layers.Activation("softmax", name="probs")(logits(y)))
    feat.set_weights([np.eye(3, dtype=np.float32)[None, None], np.zeros(3, np.float32)])
    w = np.zeros((3, 2), np.float32)
    w[0] = [-5, 5]
    logits.set_weights([w, np.array([2.5, -2.5], np.float32)])
    card = infer_card(model, "red.keras")
    card["labels"] = ["not red", "red"]
    return LoadedModel(
        model=model, card=card, name="red", sha256="0", source="file", tracer=Tracer(model)
    )


def _images(rng: np.random.Generator, n: int, strong: int | None = None) -> list[np.ndarray]:
    """n random float images; channel `strong` drawn from [0.6, 1] instead of [0, 1]."""
    xs = rng.random((n, 8, 8, 3)).astype(np.float32)
    if strong is not None:
        xs[..., strong] = 0.6 + 0.4 * xs[..., strong]
    return list(xs)


def test_the_gradient_is_the_class_scores_derivative(red_model, rng):
    x = np.stack(_images(rng, 5))
    g = score_gradients(red_model.tracer.plan, red_model.card, x, ["feat", "gap"], 1)
    assert g["gap"] == pytest.approx(np.tile([5, 0, 0], (5, 1)))
    per_cell = g["feat"].reshape(5, 8, 8, 3)
    assert per_cell[..., 0] == pytest.approx(np.full((5, 8, 8), 5 / 64))
    assert not per_cell[..., 1:].any()


@pytest.mark.slow
def test_a_concept_the_class_uses_is_significant_and_one_it_ignores_is_not(red_model):
    rng = np.random.default_rng(0)
    pool, scored = _images(rng, 120), _images(rng, 30)
    kw = dict(layers=["feat", "gap"], target="red", random=pool, inputs=scored, runs=20)
    red = api.tcav(red_model, _images(rng, 30, strong=0), **kw)
    green = api.tcav(red_model, _images(rng, 30, strong=1), **kw)
    for layer in ("feat", "gap"):
        assert red[layer].meaningful and green[layer].meaningful  # both concepts are present
        assert red[layer].cav_accuracy > 0.8 and green[layer].cav_accuracy > 0.8
        assert red[layer].mean == 1.0 and red[layer].significant, red[layer].verdict
        assert red[layer].p_value < red[layer].alpha == 0.025  # Bonferroni over 2 layers
        assert not green[layer].significant, green[layer].verdict
        assert len(red[layer].scores) == len(red[layer].random_scores) == 20
    table = results_table(red)
    assert list(table["layer"]) == ["feat", "gap"] and table["significant"].all()


@pytest.mark.slow
def test_random_against_random_is_not_significant_in_most_runs(red_model):
    rng = np.random.default_rng(1)
    pool, scored = _images(rng, 120), _images(rng, 20)
    hits = low_p = 0
    for seed in range(8):
        r = api.tcav(
            red_model,
            _images(rng, 24),
            layers=["gap"],
            target=1,
            random=pool,
            inputs=scored,
            runs=6,
            seed=seed,
        )["gap"]
        hits += r.significant
        low_p += r.p_value < 0.05
        assert r.cav_accuracy < 0.8  # nothing to separate
    assert hits <= 1 and low_p <= 3, (hits, low_p)


def test_identical_sets_are_refused(red_model, rng):
    same = _images(rng, 20)
    with pytest.raises(ConceptError, match="the concept's own inputs"):
        api.tcav(red_model, same, layers=["gap"], target=1, random=list(same), inputs=same)
    with pytest.raises(ConceptError, match="at least 6 concept inputs"):
        api.tcav(
            red_model, same[:3], layers=["gap"], target=1, random=_images(rng, 40), inputs=same
        )


def test_wrong_inputs_and_options_are_refused_with_a_message(red_model, rng):
    ok = dict(layers=["gap"], target=1, random=_images(rng, 20), inputs=_images(rng, 5))
    clip = (np.zeros(8000, np.float32), 8000)
    with pytest.raises(InputError, match="concept input 1: .*takes images"):
        api.tcav(red_model, [_images(rng, 1)[0], clip], **ok)
    with pytest.raises(InputError, match=r"random input 2: Got an array of shape \(8, 8, 7\)"):
        api.tcav(
            red_model, _images(rng, 10), **{**ok, "random": [*_images(rng, 2), np.zeros((8, 8, 7))]}
        )
    with pytest.raises(InputError, match="concept must be a non-empty list"):
        api.tcav(red_model, [], **ok)
    with pytest.raises(InputError, match="neither a ZIP file nor a folder"):
        api.tcav(red_model, "/no/such/concept", **ok)
    with pytest.raises(KeyError, match="Valid names"):
        api.tcav(red_model, _images(rng, 10), **{**ok, "layers": ["nope"]})
    with pytest.raises(OptionError, match="layers must be a non-empty list"):
        api.tcav(red_model, _images(rng, 10), **{**ok, "layers": "gap"})
    with pytest.raises(OptionError, match="target .* from 0 to 1; got 2"):
        api.tcav(red_model, _images(rng, 10), **{**ok, "target": 2})
    with pytest.raises(OptionError, match="runs must be a whole number from 2"):
        api.tcav(red_model, _images(rng, 10), **{**ok, "runs": 1})


def test_a_folder_concept_and_an_executor_give_the_local_answer(red_model, rng, tmp_path):
    from PIL import Image

    concept = [(np.asarray(x) * 255).round().astype(np.uint8) for x in _images(rng, 12, strong=0)]
    for i, x in enumerate(concept):
        Image.fromarray(x).save(tmp_path / f"{i:02d}.png")
    kw = dict(layers=["gap"], target=1, random=_images(rng, 40), inputs=_images(rng, 10), runs=3)
    local = api.tcav(red_model, concept, **kw)["gap"]
    folder = api.tcav(red_model, str(tmp_path), **kw)["gap"]
    with ThreadPoolExecutor(1) as pool:
        remote = api.tcav(red_model, concept, executor=pool, **kw)["gap"]
    for r in (folder, remote):
        assert np.array_equal(r.scores, local.scores)
        assert np.array_equal(r.cav_accuracies, local.cav_accuracies)


@pytest.mark.slow
def test_an_uploaded_model_scores_the_inputs_it_classifies_as_the_class(branchy, tmp_path):
    """A model file whose classes the probe set does not name: the class's inputs are the
    probe inputs the model classifies as it; api.unit explains it as well."""
    path = tmp_path / "branchy.keras"
    branchy.save(path)
    m = api.load(str(path))
    raws, labels = api.probe_set(m)
    assert (labels == -1).all()  # borrowed CIFAR-10 scenes, none of branchy's 5 classes
    pred = api.predict(m, raws[:200]).argmax(-1)
    k = int(np.bincount(pred, minlength=5).argmax())
    res = api.tcav(m, raws[:20], layers=["stem", "concat"], target=k, runs=3)
    assert set(res) == {"stem", "concat"} and res["stem"].n_target > 0
    u = api.unit(m, raws[0], "sep", 2, (0, 11))
    assert u.kind == "SeparableConv2D" and u.error <= 1e-5 * (np.abs(u.products).sum() + 1)
