"""core.show.graph_layout: ranks and slots of the layer graph, and a layer's configuration."""

from __future__ import annotations

import keras

from core import api
from core.graph.structure import summarize
from core.show.graph_layout import layer_config, layout


def test_a_chain_is_one_column_in_execution_order():
    m = api.load("lenet_mnist")
    nodes, edges = layout(summarize(m.model))
    assert (nodes["slot"] == 0).all()
    assert list(nodes["rank"]) == list(range(len(nodes)))
    assert len(edges) == len(nodes) - 1 and (edges.y1 == edges.y0 + 1).all()


def test_a_residual_branch_sits_beside_its_sibling():
    x = keras.Input((8, 8, 3), name="x")
    a = keras.layers.Conv2D(3, 3, padding="same", name="a")(x)
    b = keras.layers.Conv2D(3, 1, name="b")(x)
    y = keras.layers.Add(name="add")([a, b])
    nodes, edges = layout(summarize(keras.Model(x, y)))
    n = nodes.set_index("name")
    assert n.loc["a", "rank"] == n.loc["b", "rank"] == 1 and n.loc["add", "rank"] == 2
    assert n.loc["a", "slot"] == -n.loc["b", "slot"] != 0
    assert set(edges[edges.target == "add"]["source"]) == {"a", "b"}
    assert n.loc["add", "family"] == "merge" and n.loc["a", "family"] == "convolution"


def test_layer_config_by_name_and_unknown_names():
    m = api.load("lenet_mnist")
    assert layer_config(m.model, "conv2")["filters"] == 64
    assert layer_config(m.model, "no_such_layer") == {}
