"""Small ONNX graphs built with onnx.helper, one operator (or a short chain) each, for the
converter's tests: `graph(...)` makes a one-input model whose weights are seeded random values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class G:
    """A graph under construction: input 'x', nodes appended, initializers by value."""

    def __init__(self, shape: Sequence[int | str], seed: int = 0):
        self.shape = list(shape)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.last = "x"
        self.n = 0

    def const(self, value: Any, dtype: Any = np.float32) -> str:
        name = f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def rand(self, *shape: int, scale: float = 0.5) -> str:
        return self.const(self.rng.standard_normal(shape) * scale)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> str:
        """Append a node; inputs default to the last output. Returns its first output's name."""
        self.n += 1
        outs = [f"v{self.n}_{i}" for i in range(outputs)]
        ins = list(inputs) if inputs or op_type == "Constant" else [self.last]
        self.nodes.append(
            helper.make_node(op_type, ins, outs, name=f"/block/{op_type}_{self.n}", **attrs)
        )
        self.last = outs[0]
        return outs[0]

    def model(self, opset: int = OPSET, output: str | None = None) -> onnx.ModelProto:
        out = output or self.last
        g = helper.make_graph(
            self.nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            initializer=self.inits,
        )
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        m.producer_name = "layerlab-tests"
        return m
