"""Linear CKA: cka(m, m) is 1 on the diagonal and symmetric; it matches the feature-space
formula of Kornblith et al. 2019 computed directly."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.analysis.cka import centred_gram, cka_matrix, layer_grams
from core.errors import InputError
from core.inputs.samples import colour_scenes, gallery_digits

# CKA against a reference on real activations: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lenet():
    return api.load("lenet_mnist")


def _reference(x: np.ndarray, y: np.ndarray) -> float:
    """CKA = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) with column-centred features (their eq. 5)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_cka_of_a_model_with_itself(lenet):
    raws = [s.raw for s in gallery_digits()]
    r = api.cka(lenet, lenet, raws)
    assert r.layers_a == r.layers_b == ["input"] + lenet.tracer.plan.names
    assert r.matrix.shape == (len(r.layers_a),) * 2 and r.n == 30
    np.testing.assert_allclose(np.diag(r.matrix), 1.0, atol=1e-6)
    np.testing.assert_allclose(r.matrix, r.matrix.T, atol=1e-9)


def test_cka_matches_the_feature_space_reference(lenet):
    raws = [s.raw for s in gallery_digits()]
    r = api.cka(lenet, lenet, raws)
    x = np.stack([api.prepare(lenet, s)[0] for s in raws])
    tr = lenet.tracer(x)
    for a, b in [("conv1", "fc1"), ("input", "logits"), ("pool2", "conv2")]:
        got = r.matrix[r.layers_a.index(a), r.layers_b.index(b)]
        assert got == pytest.approx(_reference(tr[a], tr[b]), rel=1e-6)


def test_two_models_of_different_inputs_and_grouped_grams_agree(lenet):
    vgg = api.load("vgg_cifar10")
    raws = [s.raw for s in colour_scenes()] + [s.raw for s in gallery_digits()[:5]]
    r = api.cka(lenet, vgg, raws)
    assert r.matrix.shape == (len(r.layers_a), len(r.layers_b))
    assert np.nanmin(r.matrix) >= 0 and np.nanmax(r.matrix) <= 1
    # Many small groups give the same Grams as one big one.
    x = np.stack([api.prepare(vgg, s)[0] for s in raws])
    names, g_small = layer_grams(vgg.tracer, x, batch_size=4, max_bytes=200_000)
    _, g_big = layer_grams(vgg.tracer, x)
    np.testing.assert_allclose(g_small, g_big, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cka_matrix(g_big, g_big).diagonal(), 1.0, atol=1e-6)


def test_centred_gram_rows_sum_to_zero():
    g = centred_gram(np.random.default_rng(0).normal(size=(7, 5)))
    np.testing.assert_allclose(g.sum(0), 0, atol=1e-9)


def test_too_few_inputs_are_refused(lenet):
    with pytest.raises(InputError, match="at least 3"):
        api.cka(lenet, lenet, [gallery_digits()[0].raw])
