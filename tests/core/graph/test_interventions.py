"""Freezing against NeuralVis' semantics run through keras' own graph executor."""

from __future__ import annotations

import numpy as np
import pytest

from bench.baseline import reference_frozen
from core.errors import FreezeConfigError, LayerNameError
from core.graph.engine import Tracer
from core.graph.interventions import parse_config, run_frozen, validate

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
        np.testing.assert_allclose(got[name], want[name][0], rtol=1e-4, atol=1e-5, err_msg=name)
    for name, chans in frozen.items():
        assert not got[name][..., list(chans)].any()


def test_compiled_downstream_run_equals_eager(branchy, rng):
    from core.graph.interventions import compile_frozen

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
    assert parse_config(
        [{"layer_name": "c", "feature_index": 2}, {"layer_name": "c", "feature_index": 5}]
    ) == {"c": [2, 5]}
    with pytest.raises(FreezeConfigError, match="NeuralVis form"):
        parse_config([{"layer": "c"}])


# ---- interventions beyond zeroing ------------------------------------------------------------------
def _by_hand(model, x, layer, edit):
    """Reference: run keras' own graph executor and replace `layer`'s output by edit(y)."""
    import keras

    from bench.baseline import _graph

    fn = _graph(model)

    def call(op):
        def f(*args, **kwargs):
            y = (
                op(*args, **{**kwargs, "training": False})
                if "training" in getattr(op, "_call_context_args", ())
                else op(*args, **kwargs)
            )
            return edit(keras.ops.convert_to_numpy(y)) if op.name == layer else y

        return f

    out = fn._run_through_graph([keras.ops.convert_to_tensor(x)], operation_fn=call)
    return keras.ops.convert_to_numpy(out)


def test_mean_ablation_equals_substituting_the_probe_mean_by_hand(sequential_cnn, rng):
    from core.graph.interventions import Intervention, channel_means

    tracer = Tracer(sequential_cnn)
    probe = rng.random((12, 16, 16, 1), dtype=np.float32)
    x = rng.random((1, 16, 16, 1), dtype=np.float32)
    base = {k: v[0] for k, v in tracer(x).items()}
    means = channel_means(tracer, probe, ["conv_a"], batch_size=5)
    mean_a = sequential_cnn.layers[0](probe).numpy().mean(axis=0)  # (14, 14, 4) by hand
    np.testing.assert_allclose(means["conv_a"], mean_a, rtol=1e-5, atol=1e-6)

    def edit(y):
        y = y.copy()
        y[..., [1, 3]] = mean_a[..., [1, 3]]
        return y

    got = run_frozen(tracer.plan, x, base, {"conv_a": Intervention((1, 3), "mean")}, means=means)
    np.testing.assert_allclose(
        got["out"], _by_hand(sequential_cnn, x, "conv_a", edit)[0], rtol=1e-5, atol=1e-6
    )


def test_scale_and_keep_only(sequential_cnn, rng):
    from core.graph.interventions import Intervention, compile_frozen

    tracer = Tracer(sequential_cnn)
    x = rng.random((1, 16, 16, 1), dtype=np.float32)
    base = {k: v[0] for k, v in tracer(x).items()}
    fn = compile_frozen(tracer.plan, ("conv_b",))
    for iv, edit in [
        (Intervention((0, 2), "scale", 2.5), lambda y: y * [2.5, 1, 2.5, 1, 1, 1]),
        (Intervention((4,), "keep"), lambda y: y * [0, 0, 0, 0, 1, 0]),
        (Intervention((5,), "zero"), lambda y: y * [1, 1, 1, 1, 1, 0]),
    ]:
        want = _by_hand(sequential_cnn, x, "conv_b", lambda y: edit(y).astype(np.float32))[0]
        for compiled in (None, fn):  # one compiled graph serves every kind
            got = run_frozen(tracer.plan, x, base, {"conv_b": iv}, compiled=compiled)
            np.testing.assert_allclose(got["out"], want, rtol=1e-5, atol=1e-6, err_msg=iv.kind)


def test_mean_ablation_without_means_is_refused(sequential_cnn, rng):
    from core.graph.interventions import Intervention

    tracer = Tracer(sequential_cnn)
    x = rng.random((1, 16, 16, 1), dtype=np.float32)
    base = {k: v[0] for k, v in tracer(x).items()}
    with pytest.raises(
        FreezeConfigError, match=r"mean output over a probe set, shape \(14, 14, 4\)"
    ):
        run_frozen(tracer.plan, x, base, {"conv_a": Intervention((0,), "mean")})


def test_configs_with_interventions_round_trip_and_old_ones_still_load():
    from core.graph.interventions import Intervention, kinds_of, to_config, with_kinds

    cfg = {"c1": [0, 3], "c2": Intervention((1,), "scale", 0.5), "c3": Intervention((2,), "mean")}
    doc = to_config(cfg, model="m", model_sha256="x")
    assert doc["frozen"] == {
        "c1": [0, 3],
        "c2": {"kind": "scale", "channels": [1], "factor": 0.5},
        "c3": {"kind": "mean", "channels": [2]},
    }
    back = parse_config(doc)
    assert back["c1"] == [0, 3] and back["c2"] == cfg["c2"] and back["c3"] == cfg["c3"]
    assert kinds_of(back) == {
        "c2": {"kind": "scale", "factor": 0.5},
        "c3": {"kind": "mean", "factor": 1.0},
    }
    assert with_kinds({"c1": [0]}, {})["c1"] == Intervention((0,), "zero")
    assert parse_config({"frozen": {"c": [1]}}) == {"c": [1]}  # today's files
    with pytest.raises(
        FreezeConfigError,
        match="Unknown intervention 'halve'; expected one of zero, mean, scale, keep",
    ):
        parse_config({"c": {"kind": "halve", "channels": [1]}})


def test_freeze_is_one_hashable_value_the_engine_takes_as_it_is():
    from core import api
    from core.graph.interventions import Freeze, Intervention
    from core.inputs.samples import gallery_digits

    a = Freeze({"conv2": [3, 1, 1], "conv1": [0]}, {"conv2": {"kind": "scale", "factor": 0.5}})
    b = Freeze({"conv1": (0,), "conv2": Intervention((1, 3), "scale", 0.5), "fc1": []})
    assert a == b and hash(a) == hash(b) and list(a) == ["conv1", "conv2"]  # fc1: no channels
    assert a["conv2"] == Intervention((1, 3), "scale", 0.5) and not Freeze({"fc1": []})
    assert a != Freeze({"conv1": [0], "conv2": [1, 3]})  # same channels, another kind
    m = api.load("lenet_mnist")
    raw = gallery_digits()[5].raw
    got, want = api.trace(m, raw, frozen=a), api.trace(m, raw, frozen=dict(a))
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    with pytest.raises(FreezeConfigError, match="must be a list of integers"):
        Freeze({"conv1": ["x"]})
