"""ONNX graph -> Keras functional model of built-in layers, channels-last.

Each ONNX value is either a constant (a NumPy array, known at conversion: initializers, Constant
nodes, and shape arithmetic such as Shape -> Gather -> Concat -> Reshape, evaluated here with
ONNX's reference implementation) or a `Sym`: a Keras tensor plus the order in which it holds
the ONNX axes. Images are kept channels-last (N, H, W, C) for (N, C, H, W); a Transpose only
changes that order (no data moves) and a Permute layer is inserted where an operator needs
another order, e.g. before a Flatten, which keeps PyTorch's NCHW flatten order so the first
Dense layer's weights line up. Every ONNX node that computes on a tensor becomes at least one
Keras layer named after the node (sanitised; helper layers get a suffix), so a user recognises
their layers in every view.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import onnx
import onnx.reference
from onnx import numpy_helper

from core.errors import OnnxUnsupportedError
from core.model.onnx.read import Parsed


@dataclass(frozen=True)
class Sym:
    """A Keras tensor holding an ONNX value: Keras axis j holds ONNX axis perm[j]."""

    t: Any  # KerasTensor, batch first
    perm: tuple[int, ...]  # perm[0] == 0: the batch axis never moves

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def shape(self) -> tuple[int, ...]:
        """The ONNX shape, batch as 1 (what shape arithmetic in the graph sees)."""
        ks = (1, *(int(d) for d in self.t.shape[1:]))
        return tuple(ks[self.perm.index(i)] for i in range(self.rank))

    def axis(self, onnx_axis: int) -> int:
        """The Keras axis holding an ONNX axis (negative counts from the end)."""
        return self.perm.index(onnx_axis % self.rank)


@dataclass(frozen=True)
class Flat:
    """A tensor reshaped to one axis together with its batch axis (how torch.export writes
    as_strided: Reshape to (-1,), then Gather at constant indices): only such a Gather may
    read it, and it becomes a reshape or a selection of the tensor's own values."""

    src: Sym


Value = Sym | Flat | np.ndarray


def channels_last(rank: int) -> tuple[int, ...]:
    """(0, 2, ..., rank-1, 1): NCHW -> NHWC, NCT -> NTC; rank <= 2 is already in order."""
    return (0, *range(2, rank), 1) if rank >= 3 else tuple(range(rank))


def plain(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def same_memory(shape: Sequence[int], a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two axis orders lay the data out alike (they differ only in size-1 axes)."""

    def big(p: Sequence[int]) -> list[int]:
        return [i for i in p if i == 0 or shape[i] != 1]

    return big(a) == big(b)


def sanitise(name: str) -> str:
    """A Keras layer name for an ONNX node name: '/layer1/layer1.0/conv1/Conv' ->
    'layer1.layer1.0.conv1.Conv' (Keras forbids '/'; TensorFlow scopes allow [A-Za-z0-9_.-])."""
    s = re.sub(r"[^A-Za-z0-9_.\-]", "_", name.strip("/").replace("/", "."))
    return s if s[:1].isalnum() else f"n{s}"


@dataclass(frozen=True)
class NodeLayer:
    """Where an ONNX node's output is in the Keras model."""

    node: str  # the ONNX node's name
    op: str  # its operator
    layer: str  # the Keras layer that produces its first output
    output: str  # the ONNX value name of that output
    perm: tuple[int, ...]  # Keras axis j of the layer's output holds ONNX axis perm[j]


@dataclass
class Converted:
    model: keras.Model
    nodes: list[NodeLayer]  # in graph order: one per node that computes on a tensor
    opset: int
    producer: str  # e.g. "pytorch 2.14.1"
    input_dims: tuple[int, ...]  # ONNX input shape, batch 1
    final_op: str  # the last computing operator before the output (Softmax, Gemm...)
    output_perm: tuple[int, ...]  # Keras axis j of the output holds ONNX axis output_perm[j]
    seconds: float = 0.0  # conversion time
    relative_error: float = float("nan")  # against onnxruntime, once checked

    def facts(self) -> dict[str, Any]:
        """What a card and a note say about the conversion (JSON: it crosses the sandbox)."""
        return {
            "opset": self.opset,
            "producer": self.producer,
            "input_dims": list(self.input_dims),
            "final_op": self.final_op,
            "nodes": len(self.nodes),
            "layers": len(self.model.layers) - 1,
            "seconds": self.seconds,
            "relative_error": self.relative_error,
        }


# Operators that only pass a tensor on or reorder its axes: the output kind of a model is read
# from the last operator before them.
PASS_THROUGH = {
    "Identity",
    "Dropout",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Cast",
}


@dataclass
class Converter:
    """One conversion: values by ONNX name, layer names taken, the node -> layer map."""

    parsed: Parsed
    max_elements: int  # folded constants may not exceed the weight budget
    values: dict[str, Value] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    nodes: list[NodeLayer] = field(default_factory=list)
    node: onnx.NodeProto | None = None  # the node being converted
    index: int = 0

    # -- naming and errors -------------------------------------------------------------------
    @property
    def node_name(self) -> str:
        assert self.node is not None
        return self.node.name or f"{self.node.op_type}_{self.index}"

    def name(self, suffix: str = "") -> str:
        base = sanitise(self.node_name) + (f"_{suffix}" if suffix else "")
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def refuse(self, what: str, fix: str = "") -> OnnxUnsupportedError:
        assert self.node is not None
        msg = f"ONNX operator {self.node.op_type!r} (node {self.node_name!r}): {what}."
        return OnnxUnsupportedError(msg + (f" {fix}" if fix else ""))

    # -- building layers ---------------------------------------------------------------------
    def apply(
        self,
        layer: keras.layers.Layer,
        inputs: Sym | list[Sym],
        perm: tuple[int, ...],
        weights: list[np.ndarray] | None = None,
    ) -> Sym:
        """Call a layer on Keras tensors; set its weights (ONNX's, transposed) once built."""
        xs = inputs if isinstance(inputs, list) else [inputs]
        try:
            t = layer([x.t for x in xs] if isinstance(inputs, list) else xs[0].t)
            if weights is not None:
                layer.set_weights([np.asarray(w, np.float32) for w in weights])
        except (ValueError, TypeError, NotImplementedError) as e:
            raise self.refuse(
                f"its Keras equivalent {type(layer).__name__} could not be built "
                f"({str(e).splitlines()[0][:200]})"
            ) from None
        return Sym(t, perm)

    def reorder(self, x: Sym, perm: tuple[int, ...], suffix: str) -> Sym:
        """x with its Keras axes holding the ONNX axes in `perm` order."""
        if x.perm == perm:
            return x
        shape = x.shape
        if same_memory(shape, x.perm, perm):  # only size-1 axes move: a free reshape
            target = tuple(shape[i] for i in perm[1:])
            return self.apply(keras.layers.Reshape(target, name=self.name(suffix)), x, perm)
        dims = tuple(x.perm.index(q) for q in perm[1:])
        return self.apply(keras.layers.Permute(dims, name=self.name(suffix)), x, perm)

    def nhwc(self, x: Sym) -> Sym:
        return self.reorder(x, channels_last(x.rank), "to_channels_last")

    def nchw(self, x: Sym) -> Sym:
        return self.reorder(x, plain(x.rank), "to_onnx_order")

    def identity(self, x: Sym, perm: tuple[int, ...] | None = None) -> Sym:
        """The node as a layer of its own (so it has a trace entry), data unchanged."""
        return self.apply(keras.layers.Identity(name=self.name()), x, perm or x.perm)

    def fold(self, node: onnx.NodeProto, ins: list[Value | None]) -> list[np.ndarray]:
        """A node whose inputs are all constants, evaluated now by ONNX's reference runtime."""
        feeds = {n: v for n, v in zip(node.input, ins) if n and v is not None}
        try:
            ev = onnx.reference.ReferenceEvaluator(node, opsets={"": self.parsed.opset})
            outs = ev.run(None, feeds)
        except Exception as e:  # noqa: BLE001 - whatever the reference runtime says, refuse
            raise self.refuse(f"its constant inputs could not be evaluated ({e})") from None
        arrays = [np.asarray(o) for o in outs]
        if sum(a.size for a in arrays) > self.max_elements:
            raise self.refuse(
                f"it makes a constant of {sum(a.size for a in arrays):,} values, over the "
                f"budget of {self.max_elements:,}"
            )
        return arrays

    # -- the graph ---------------------------------------------------------------------------
    def constant(self, v: Value | None, what: str) -> np.ndarray:
        if not isinstance(v, np.ndarray):
            raise self.refuse(
                f"its {what} must be a constant (an initializer), not a computed tensor",
                "Layer Lab maps operators whose weights are stored in the file.",
            )
        return v

    def convert(self) -> tuple[keras.Model, Sym]:
        from core.model.onnx.ops import OPS, supported

        p = self.parsed
        graph = p.proto.graph
        for t in graph.initializer:
            self.values[t.name] = numpy_helper.to_array(t)
        rank = len(p.input_dims)
        perm = channels_last(rank)
        onnx_shape = (None, *p.input_dims[1:])
        inp = keras.Input(shape=tuple(onnx_shape[i] for i in perm[1:]), name=sanitise(p.input_name))
        self.taken.add(inp.name)
        self.values[p.input_name] = Sym(inp, perm)
        for self.index, self.node in enumerate(graph.node):
            node = self.node
            ins: list[Value | None] = []
            for n in node.input:
                if n and n not in self.values:
                    raise self.refuse(
                        f"its input {n!r} is not produced by any node the converter ran (an "
                        "unused output of another node, or a graph input of a subgraph)"
                    )
                ins.append(self.values[n] if n else None)
            if node.op_type == "Constant":
                outs: list[Value] = list(self.fold(node, ins))
            elif all(v is None or isinstance(v, np.ndarray) for v in ins):
                outs = list(self.fold(node, ins))
            else:
                handler = OPS.get(node.op_type)
                if handler is None:
                    raise OnnxUnsupportedError(
                        f"ONNX operator {node.op_type!r} (node {self.node_name!r}) is not "
                        f"supported; supported: {', '.join(supported())}."
                    )
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
                attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
                outs = handler(self, ins, attrs)
                first = outs[0]
                if isinstance(first, Sym):
                    layer = first.t._keras_history[0].name
                    self.nodes.append(
                        NodeLayer(self.node_name, node.op_type, layer, node.output[0], first.perm)
                    )
            for name, v in zip(node.output, outs):
                if name:
                    self.values[name] = v
        out = self.values.get(p.output_name)
        if not isinstance(out, Sym):
            raise OnnxUnsupportedError(
                f"The graph output {p.output_name!r} does not depend on the input; nothing "
                "to trace."
            )
        model = keras.Model(inp, out.t, name=sanitise(p.proto.graph.name or "onnx_model"))
        return model, out


def final_op(proto: onnx.ModelProto, output: str) -> str:
    """The operator that computes the output, looking through reshapes and identities."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    name = output
    while name in producer:
        node = producer[name]
        if node.op_type not in PASS_THROUGH or not node.input:
            return node.op_type
        name = node.input[0]
    return ""


def convert(parsed: Parsed, *, max_elements: int) -> Converted:
    """The Keras model of a parsed ONNX file (see core.model.onnx.read.parse)."""
    import time

    t0 = time.perf_counter()
    cv = Converter(parsed, max_elements)
    model, out = cv.convert()
    proto = parsed.proto
    producer = " ".join(s for s in (proto.producer_name, proto.producer_version) if s)
    return Converted(
        model=model,
        nodes=cv.nodes,
        opset=parsed.opset,
        producer=producer or "unknown",
        input_dims=(1, *(int(d) for d in parsed.input_dims[1:] if d is not None)),
        final_op=final_op(proto, parsed.output_name),
        output_perm=out.perm,
        seconds=time.perf_counter() - t0,
    )
