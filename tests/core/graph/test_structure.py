"""core.graph.structure: layer rows, totals, flattening of nested models, DOT graph, weight histograms."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from core.errors import LayerNameError, UnsupportedModelError
from core.graph.structure import Structure, histogram, summarize, weight_summaries, weights


@pytest.fixture(scope="module")
def tiny_seq() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="img"),
            layers.Conv2D(8, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flat"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="tiny_seq",
    )


@pytest.fixture(scope="module")
def residual() -> keras.Model:
    """Branches, a merge by Add and by Concatenate, depthwise and separable convolutions."""
    inp = keras.Input((16, 16, 3), name="img")
    stem = layers.Conv2D(8, 3, padding="same", name="stem")(inp)
    sep = layers.SeparableConv2D(8, 3, padding="same", name="sep")(stem)
    dw = layers.DepthwiseConv2D(3, padding="same", name="dw")(stem)
    add = layers.Add(name="add")([sep, dw])
    cat = layers.Concatenate(name="cat")([add, stem])
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(cat))
    return keras.Model(inp, out, name="residual")


@pytest.fixture(scope="module")
def two_blocks() -> keras.Model:
    """A functional model holding a nested Sequential and a nested functional model."""
    block = keras.Sequential(
        [layers.Conv2D(4, 1, name="conv_a"), layers.ReLU(name="act")], name="block"
    )
    inner_in = keras.Input((8, 8, 4))
    inner_out = layers.Add(name="skip")(
        [inner_in, layers.Conv2D(4, 3, padding="same", name="conv_b")(inner_in)]
    )
    functional_block = keras.Model(inner_in, inner_out, name="fblock")
    inp = keras.Input((8, 8, 3), name="img")
    x = functional_block(block(inp))
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(x))
    return keras.Model(inp, out, name="outer")


@pytest.mark.parametrize("fixture", ["sequential_cnn", "branchy", "nested", "mobilenet"])
def test_shared_models(fixture: str, request: pytest.FixtureRequest) -> None:
    """The conftest models: totals match Keras, no nested model is a row, names are unique."""
    model = request.getfixturevalue(fixture)
    s = summarize(model)
    assert s.total_params == model.count_params() == sum(r.params for r in s.layers)
    assert s.layers[0].type == "InputLayer"
    assert not any(r.type in ("Sequential", "Functional") for r in s.layers)
    assert len({r.name for r in s.layers}) == s.n_layers == len(s.layers)
    assert all(r.inbound for r in s.layers[1:])


def _row(structure: Structure, name: str):
    return next(row for row in structure.layers if row.name == name)


def test_sequential_rows_and_totals(tiny_seq: keras.Model) -> None:
    s = summarize(tiny_seq)
    assert [r.name for r in s.layers] == ["img", "conv", "bn", "pool", "flat", "out"]
    assert [r.type for r in s.layers] == [
        "InputLayer",
        "Conv2D",
        "BatchNormalization",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    assert s.total_params == tiny_seq.count_params() == sum(r.params for r in s.layers)
    assert s.non_trainable_params == 16  # BatchNorm moving mean and variance
    assert s.trainable_params + s.non_trainable_params == s.total_params
    assert s.n_layers == 6
    conv = _row(s, "conv")
    assert (
        conv.output_shape,
        conv.activation,
        conv.kernel_size,
        conv.strides,
        conv.padding,
        conv.filters_or_units,
    ) == ("(None, 26, 26, 8)", "relu", "3×3", "1×1", "valid", "8")
    assert _row(s, "out").activation == "softmax"
    assert conv.inbound == ["img"]


def test_functional_branches_and_merges(residual: keras.Model) -> None:
    s = summarize(residual)
    assert s.layers[0].type == "InputLayer"
    assert _row(s, "add").inbound == ["sep", "dw"]
    assert _row(s, "cat").inbound == ["add", "stem"]
    assert s.total_params == residual.count_params()
    names = [r.name for r in s.layers]
    assert names.index("stem") < names.index("sep") < names.index("add") < names.index("cat")


def test_nested_models_are_flattened(two_blocks: keras.Model) -> None:
    s = summarize(two_blocks)
    names = [r.name for r in s.layers]
    assert names == [
        "img",
        "block/conv_a",
        "block/act",
        "fblock/conv_b",
        "fblock/skip",
        "flat",
        "head",
    ]
    assert "block" not in names and "fblock" not in names
    assert _row(s, "block/conv_a").parent == "block"
    assert _row(s, "block/conv_a").inbound == ["img"]
    # The nested functional's input layer is a pass-through: the outer producer feeds both uses.
    assert _row(s, "fblock/skip").inbound == ["block/act", "fblock/conv_b"]
    assert _row(s, "flat").inbound == ["fblock/skip"]
    assert s.total_params == two_blocks.count_params()


def test_dot_draws_clusters_and_shapes(two_blocks: keras.Model, residual: keras.Model) -> None:
    dot = summarize(two_blocks).dot
    assert dot.startswith("digraph") and "rankdir=TB" in dot
    assert 'subgraph "cluster_block"' in dot and 'subgraph "cluster_fblock"' in dot
    assert "block/conv_a" in dot
    assert 'label=" 8×8×3"' in dot  # img -> block/conv_a, batch axis dropped
    residual_dot = summarize(residual).dot
    assert "cluster" not in residual_dot
    assert residual_dot.count("-> n4 ") == 2  # the Add node (5th row) has two incoming edges


@pytest.mark.slow
def test_mobilenetv2() -> None:
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    s = summarize(model)
    assert s.total_params == model.count_params()
    assert s.n_layers == len([x for x in model.layers if not isinstance(x, keras.Model)])
    adds = [r for r in s.layers if r.type == "Add"]
    assert adds and all(len(r.inbound) == 2 for r in adds)
    assert _row(s, "Conv1_relu").activation == "relu (max 6)"


def test_weights_and_histograms(
    residual: keras.Model, two_blocks: keras.Model, tiny_seq: keras.Model
) -> None:
    conv = weights(residual, "stem")
    assert conv["kernel"].shape == (3, 3, 3, 8) and conv["bias"].shape == (8,)
    assert set(weights(residual, "sep")) == {"depthwise_kernel", "pointwise_kernel", "bias"}
    assert set(weights(tiny_seq, "bn")) == {"gamma", "beta", "moving_mean", "moving_variance"}
    assert weights(two_blocks, "block/conv_a")["kernel"].shape == (1, 1, 3, 4)

    hist = histogram(conv["kernel"], bins=12)
    assert list(hist.columns) == ["bin_start", "bin_end", "count"]
    assert len(hist) == 12 and hist["count"].sum() == conv["kernel"].size
    assert (hist["bin_start"] < hist["bin_end"]).all()

    summary = weight_summaries(residual, "stem", bins=10)["kernel"]
    assert summary.shape == (3, 3, 3, 8) and summary.size == 216
    assert summary.min <= summary.mean <= summary.max
    assert summary.histogram["count"].sum() == 216


def test_bad_inputs(residual: keras.Model) -> None:
    with pytest.raises(LayerNameError, match="nope"):
        weights(residual, "nope")
    with pytest.raises(UnsupportedModelError, match="never built"):
        summarize(keras.Sequential([layers.Dense(2)]))
