from __future__ import annotations

import keras
import numpy as np
import pytest

from bench.baseline import reference_trace
from core.errors import LayerNameError, UnsupportedModelError
from core.graph.engine import XLA_MAX_LAYERS, XLA_MAX_MACS, Plan, Tracer, suits_xla, xla_or


def _batch(model: keras.Model, rng: np.random.Generator, n: int = 2) -> np.ndarray:
    return rng.random((n, *model.inputs[0].shape[1:]), dtype=np.float32)


@pytest.mark.parametrize(
    "fixture",
    ["sequential_cnn", "branchy", "nested", pytest.param("mobilenet", marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("n", [1, 2])  # batch 1 may run under XLA (engine.suits_xla)
def test_trace_equals_one_submodel_per_layer(fixture, n, request, rng):
    model = request.getfixturevalue(fixture)
    x = _batch(model, rng, n)
    got = Tracer(model)(x)
    want = reference_trace(model, x)
    assert list(got) == list(want)  # same names, same (graph) order, "input" first
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)
    # The last entry is the model's own output.
    np.testing.assert_allclose(
        list(got.values())[-1], model(x, training=False), rtol=1e-5, atol=1e-6
    )


def test_nested_names_are_flattened(nested):
    names = Tracer(nested).names
    assert names == [
        "pre",
        "block/conv_in",
        "block/bn_in",
        "pool",
        "head/squeeze",
        "head/flat",
        "probs",
    ]


def test_layer_types_name_each_flattened_layer_class(nested):
    types = Tracer(nested).plan.layer_types()
    assert types["pre"] == "Conv2D" and types["block/bn_in"] == "BatchNormalization"
    assert types["head/flat"] == "Flatten" and types["probs"] == "Dense"
    assert list(types) == Tracer(nested).plan.names


def test_parents_follow_the_dag(branchy, nested):
    plan = Plan(branchy)
    assert plan.parents("residual") == ("stem", "sep_bn")
    assert plan.parents("concat") == ("left", "right")
    assert plan.parents("stem") == ("input",)
    assert Plan(nested).parents("head/squeeze") == ("pool",)
    assert Plan(nested).output_name == "probs"


def test_dropout_and_batchnorm_run_in_inference_mode(sequential_cnn, rng):
    x = _batch(sequential_cnn, rng)
    tracer = Tracer(sequential_cnn)
    a, b = tracer(x), tracer(x)
    np.testing.assert_array_equal(a["out"], b["out"])  # dropout would make these differ
    np.testing.assert_array_equal(a["drop"], a["gap"])


def test_unknown_layer_lists_valid_names(branchy):
    with pytest.raises(LayerNameError, match=r"No layer named 'nope'.*Valid names: stem, sep"):
        Plan(branchy).index("nope")


def test_two_inputs_are_refused():
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(UnsupportedModelError, match="has 2 inputs.*exactly one input"):
        Plan(model)


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), np.float32))
    with pytest.raises(UnsupportedModelError, match="subclassed"):
        Plan(net)


def test_eager_run_from_cached_prefix_matches(branchy, rng):
    """Re-running only downstream of a layer (freezing's strategy) gives the same outputs."""
    x = _batch(branchy, rng)
    plan = Plan(branchy)
    full = plan.outputs(x)
    prefix = {n: full[n] for n in plan.names[: plan.index("residual")]}
    again = plan.outputs(x, values=prefix)
    for n in plan.names:
        np.testing.assert_allclose(again[n], full[n], rtol=1e-5, atol=1e-6)


def test_xla_suits_small_fixed_shape_models_and_not_depthwise_large_or_free_ones(
    sequential_cnn, branchy, nested
):
    assert suits_xla(Plan(sequential_cnn)) and suits_xla(Plan(nested))
    assert not suits_xla(Plan(branchy))  # separable + depthwise convolutions

    def conv(shape, filters):
        inp = keras.Input(shape)
        return keras.Model(inp, keras.layers.Conv2D(filters, 3, padding="same")(inp))

    # 3*3*64*64 multiply-adds per output position: 64x64 of them is 151 M, 96x96 is 340 M.
    assert 3 * 3 * 64 * 64 * 64 * 64 <= XLA_MAX_MACS < 3 * 3 * 64 * 64 * 96 * 96
    assert suits_xla(Plan(conv((64, 64, 64), 64)))
    assert not suits_xla(Plan(conv((96, 96, 64), 64)))
    assert not suits_xla(Plan(conv((None, None, 64), 64)))  # XLA compiles for one shape

    def chain(depth):
        return keras.Sequential([keras.Input((8,))] + [keras.layers.Dense(8) for _ in range(depth)])

    assert suits_xla(Plan(chain(XLA_MAX_LAYERS))) and not suits_xla(Plan(chain(XLA_MAX_LAYERS + 1)))


def test_xla_rule_reads_odd_custom_layer_attributes_without_failing():
    class Odd(keras.layers.Layer):  # an upload's layer: "kernel" and "groups" not Keras'
        kernel = "not a variable"
        groups = "two"

        def call(self, x):
            return x * 2.0

    inp = keras.Input((4,))
    assert suits_xla(Plan(keras.Model(inp, keras.layers.Dense(2)(Odd()(inp)))))


def test_xla_or_keeps_the_graph_where_xla_cannot_build_or_compile():
    def plain(x):
        return x

    def cannot_build():
        raise RuntimeError("XLA lacks this op")

    def cannot_compile(x):
        raise ValueError("unsupported op in XLA")

    assert xla_or(plain, cannot_build, 1.0) is plain
    assert xla_or(plain, lambda: cannot_compile, 1.0) is plain

    def fused(x):
        return x

    assert xla_or(plain, lambda: fused, 1.0) is fused


def test_two_tracers_of_one_model_give_the_same_bits(sequential_cnn, rng):
    # The XLA choice comes from the model, not from timing: a page's export (the server) and a
    # notebook's api.trace (another process) must agree exactly.
    x = _batch(sequential_cnn, rng, 1)
    a, b = Tracer(sequential_cnn), Tracer(sequential_cnn)
    assert a.xla and b.xla
    for name, y in a(x).items():
        np.testing.assert_array_equal(b(x)[name], y, err_msg=name)


def test_batch_one_forward_matches_the_batched_graph(sequential_cnn, rng):
    tracer = Tracer(sequential_cnn)
    x = _batch(sequential_cnn, rng, 3)
    batched = tracer.forward(x)
    for i in range(3):
        np.testing.assert_allclose(
            tracer.forward(x[i : i + 1]), batched[i : i + 1], rtol=1e-5, atol=1e-6
        )


def test_a_model_with_free_dimensions_traces_and_freezes_any_size_one_at_a_time(rng):
    # XLA compiles for one shape: a model whose input has free dimensions must keep working
    # when one input of another size follows (a corrected card, a script).
    from core.graph.interventions import compile_frozen, run_frozen

    inp = keras.Input((None, None, 1))
    y = keras.layers.Conv2D(4, 3, name="conv")(inp)
    y = keras.layers.GlobalAveragePooling2D(name="pool")(y)
    model = keras.Model(inp, keras.layers.Dense(3, name="out")(y))
    tracer = Tracer(model)
    assert not tracer.xla
    fn = compile_frozen(tracer.plan, ("conv",))
    for size in (8, 12, 8):
        x = rng.random((1, size, size, 1), dtype=np.float32)
        got = tracer(x)
        np.testing.assert_allclose(got["out"], model(x, training=False), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(tracer.forward(x), got["out"], rtol=1e-5, atol=1e-6)
        base = {k: v[0] for k, v in got.items()}
        frozen = run_frozen(tracer.plan, x, base, {"conv": (0,)}, compiled=fn)
        assert frozen["conv"].shape == (size - 2, size - 2, 4)
        assert not frozen["conv"][..., 0].any()


def test_map_convs_leave_out_a_convolution_over_its_whole_input():
    # A classifier head written as a conv (7x4 kernel on a 7x4 map -> 1x1), as the fc of a
    # packed ensemble is: no map to show, so never "the last convolution" of a page or Grad-CAM.
    from core.analysis.attribution.explainer import auto_cam_layers

    inp = keras.Input((14, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(6, (7, 4), activation="relu", name="head")(x)  # (1, 1, 6)
    x = keras.layers.Flatten(name="flat")(x)
    plan = Plan(keras.Model(inp, keras.layers.Dense(3, name="out")(x)))
    assert plan.map_convs(["input", *plan.names]) == ["conv"]  # trace keys start at "input"
    assert auto_cam_layers(plan, ["conv", "relu", "pool", "head"])[:2] == ["relu", "conv"]
    free = keras.Input((None, None, 1))
    free_plan = Plan(keras.Model(free, keras.layers.Conv2D(2, 3, name="c")(free)))
    assert free_plan.map_convs(free_plan.names) == ["c"]
