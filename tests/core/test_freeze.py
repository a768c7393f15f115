"""Freezing against NeuralVis' semantics run through keras' own graph executor."""
from __future__ import annotations

import numpy as np
import pytest

from bench.baseline import reference_frozen
from core.engine import Tracer
from core.errors import LayerNameError
from core.freeze import FreezeConfigError, parse_config, run_frozen, validate

CASES = {
    "sequential_cnn": {"conv_a": [0, 2], "conv_b": [5]},
    "branchy": {"stem": [1, 3], "left": [0]},
    "nested": {"block/conv_in": [0, 1], "pool": [3]},
}


def _trace(model, x):
    t = Tracer(model)
    return t, {k: v[0] for k, v in t(x).items()}


@pytest.mark.parametrize("fixture", list(CASES))
def test_freezing_matches_layer_by_layer_reference(fixture, request, rng):
    model = request.getfixturevalue(fixture)
    x = rng.random((1, *model.inputs[0].shape[1:]), dtype=np.float32)
    tracer, base = _trace(model, x)
    frozen = validate(tracer.plan, base, CASES[fixture])
    got = run_frozen(tracer.plan, x, base, frozen)
    want = reference_frozen(model, x, CASES[fixture])
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name][0],
                                   rtol=1e-4, atol=1e-5, err_msg=name)
    for name, chans in frozen.items():
        assert not got[name][..., list(chans)].any()


def test_compiled_downstream_run_equals_eager(branchy, rng):
    from core.freeze import compile_frozen

    x = rng.random((1, 12, 12, 3), dtype=np.float32)
    tracer, base = _trace(branchy, x)
    fn = compile_frozen(tracer.plan, ("left", "stem"))
    for cfg in ({"stem": (1,), "left": (0,)}, {"stem": (0, 2), "left": (3,)}):  # same graph
        eager = run_frozen(tracer.plan, x, base, cfg)
        compiled = run_frozen(tracer.plan, x, base, cfg, compiled=fn)
        for name in eager:
            np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-5, atol=1e-6)


def test_freezing_nothing_is_the_plain_trace(branchy, rng):
    x = rng.random((1, 12, 12, 3), dtype=np.float32)
    tracer, base = _trace(branchy, x)
    got = run_frozen(tracer.plan, x, base, validate(tracer.plan, base, {"stem": []}))
    for name in base:
        np.testing.assert_array_equal(got[name], base[name])


def test_prefix_is_reused_not_recomputed(branchy, rng):
    x = rng.random((1, 12, 12, 3), dtype=np.float32)
    tracer, base = _trace(branchy, x)
    got = run_frozen(tracer.plan, x, base, {"left": (0,)})
    assert got["stem"] is base["stem"] and got["residual"] is base["residual"]


def test_freezing_every_channel_zeroes_the_layer(sequential_cnn, rng):
    x = rng.random((1, 16, 16, 1), dtype=np.float32)
    tracer, base = _trace(sequential_cnn, x)
    got = run_frozen(tracer.plan, x, base, validate(tracer.plan, base, {"conv_b": range(6)}))
    assert not got["conv_b"].any() and not got["gap"].any()


def test_errors_list_what_is_valid(sequential_cnn, rng):
    x = rng.random((1, 16, 16, 1), dtype=np.float32)
    tracer, base = _trace(sequential_cnn, x)
    with pytest.raises(LayerNameError, match=r"Cannot freeze 'conv_z'.*Valid names: conv_a"):
        validate(tracer.plan, base, {"conv_z": [0]})
    with pytest.raises(FreezeConfigError, match=r"'conv_a' has channels 0..3; got \[4\]"):
        validate(tracer.plan, base, {"conv_a": [4]})


def test_parse_config_accepts_ours_and_neuralvis():
    assert parse_config({"frozen": {"c": [1]}}) == {"c": [1]}
    assert parse_config([{"layer_name": "c", "feature_index": 2},
                         {"layer_name": "c", "feature_index": 5}]) == {"c": [2, 5]}
    with pytest.raises(FreezeConfigError, match="NeuralVis form"):
        parse_config([{"layer": "c"}])
