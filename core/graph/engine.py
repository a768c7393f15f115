"""The trace engine: every layer's output from one forward pass of one multi-output model.

A `Plan` is the model's graph walked once and flattened: nested models (Sequential or
functional, any depth) are opened up and their layers named "outer/inner". Executing the plan
on symbolic tensors builds one flat multi-output `keras.Model`; executing it eagerly from a
given layer onwards is how later features (filter freezing) re-run only what is downstream.
Every step's output can be multiplied by a channel mask as it is produced, so masks can be
inserted after any layer without another graph walk.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import tree

from core.errors import UnsupportedModelError, layer_named


@dataclass(frozen=True)
class _Alias:
    """Route values across a nested-model boundary: dst tensor ids take src tensor ids' values."""

    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Step:
    """One layer call of the flattened graph."""

    name: str  # flattened name, "outer/inner" inside nested models
    op: Any  # the keras Layer/Operation (shared with the original model)
    node: Any  # the keras Node whose arguments say which tensors feed it
    parents: tuple[
        str, ...
    ]  # flattened names of the steps feeding this one ("input" = model input)


def _is_model(op: Any) -> bool:
    return isinstance(op, keras.Model)


def _functional_of(model: keras.Model):
    """The functional graph of a Functional or built Sequential model."""
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise UnsupportedModelError(
                f"The nested Sequential {model.name!r} has no input shape, so its graph is "
                "unknown. Build it with an Input layer (keras.Input(shape=...)) and save again."
            )
        return fn
    if hasattr(model, "_nodes_by_depth") and getattr(model, "_inputs", None) is not None:
        return model
    raise UnsupportedModelError(
        f"Model {model.name!r} is a subclassed keras.Model ({type(model).__name__}); its layer "
        "graph is Python code, not data, so it cannot be traced. Use a Sequential or functional "
        "model (keras.Model(inputs, outputs))."
    )


class Plan:
    """The flattened graph of a single-input model, in execution order."""

    def __init__(self, model: keras.Model):
        fn = _functional_of(model)
        if len(fn.inputs) != 1:
            raise UnsupportedModelError(
                f"Model {model.name!r} has {len(fn.inputs)} inputs; Layer Lab traces models with "
                "exactly one input (an image or an audio waveform)."
            )
        self.model = model
        self.input_id: int = id(fn.inputs[0])
        self.steps: list[Step | _Alias] = []
        self._producer: dict[int, str] = {self.input_id: "input"}
        self._counts: dict[str, int] = {}
        self.output_ids: list[int] = self._walk(fn, prefix="")
        # The step whose output is the model's output (what predict() returns).
        self.output_name: str = self._producer[self.output_ids[0]]
        self.names: list[str] = [s.name for s in self.steps if isinstance(s, Step)]
        self._index = {n: i for i, n in enumerate(self.names)}
        self._by_name = {s.name: s for s in self.steps if isinstance(s, Step)}

    def _unique(self, name: str) -> str:
        # A layer called at several places (shared weights) gets "#2", "#3"... on later calls.
        k = self._counts.get(name, 0) + 1
        self._counts[name] = k
        return name if k == 1 else f"{name}#{k}"

    def _walk(self, fn, prefix: str) -> list[int]:
        """Append fn's nodes (deepest first, as keras' Function._run_through_graph does)."""
        known = {id(x) for x in fn.inputs}
        for depth in sorted(fn._nodes_by_depth, reverse=True):
            for node in fn._nodes_by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                if any(id(x) not in known for x in node.input_tensors):
                    continue
                op = node.operation
                if _is_model(op):
                    inner = _functional_of(op)
                    src = [id(x) for x in node.input_tensors]
                    if len(src) != len(inner.inputs):
                        raise UnsupportedModelError(
                            f"Nested model {op.name!r} is called with {len(src)} tensors but has "
                            f"{len(inner.inputs)} inputs."
                        )
                    self.steps.append(_Alias(tuple(zip([id(x) for x in inner.inputs], src))))
                    for d, s in zip(inner.inputs, src):
                        self._producer[id(d)] = self._producer[s]
                    inner_out = self._walk(inner, prefix=f"{prefix}{op.name}/")
                    self.steps.append(
                        _Alias(tuple((id(x), o) for x, o in zip(node.output_tensors, inner_out)))
                    )
                    for x, o in zip(node.output_tensors, inner_out):
                        self._producer[id(x)] = self._producer[o]
                else:
                    name = self._unique(prefix + op.name)
                    parents = tuple(
                        dict.fromkeys(self._producer[id(x)] for x in node.input_tensors)
                    )
                    self.steps.append(Step(name, op, node, parents))
                    for x in node.output_tensors:
                        self._producer[id(x)] = name
                known.update(id(x) for x in node.output_tensors)
        missing = [x for x in fn.outputs if id(x) not in known]
        if missing:
            raise UnsupportedModelError(
                f"Model {fn.name!r} has outputs not connected to its input."
            )
        return [id(x) for x in fn.outputs]

    def index(self, name: str) -> int:
        """Position of a layer in execution order; unknown names list the valid ones."""
        return layer_named(self._index, name, where=f"model {self.model.name!r}")

    def parents(self, name: str) -> tuple[str, ...]:
        return self._by_name[name].parents

    def inputs_of(self, name: str) -> list[tuple[str, Any]]:
        """(producer's flattened name, symbolic tensor) for each tensor a step consumes, in
        argument order ("input" = the model input; across nested-model boundaries, the
        outer layer that produced it)."""
        return [
            (self._producer[id(t)], t)
            for t in self._by_name[name].node.input_tensors
            if id(t) in self._producer
        ]

    def needed_before(self, start: int) -> list[str]:
        """Names of steps before `start` whose outputs steps from `start` on consume."""
        later = self.names[start:]
        need = {p for n in later for p in self._by_name[n].parents}
        return [n for n in self.names[:start] if n in need]

    def reads_input(self, start: int) -> bool:
        """Whether a step from `start` on consumes the model input itself."""
        return any("input" in self._by_name[n].parents for n in self.names[start:])

    def steps_by_name(self) -> dict[str, Step]:
        """{flattened name: Step} (a copy: the plan itself is shared by caches)."""
        return dict(self._by_name)

    def layer_types(self) -> dict[str, str]:
        """{flattened name: the layer's class name}, e.g. {"conv1": "Conv2D"}."""
        return {n: type(s.op).__name__ for n, s in self._by_name.items()}

    def map_convs(self, names: list[str]) -> list[str]:
        """The convolutions among names, in their order, whose output is a map (more than one
        position, or a free size); names that are no layer (the trace key "input") are skipped.
        A convolution over its whole input, a dense layer written as a conv (a packed
        ensemble's fc: (7, 4, C) -> (1, 1, units)), is no map to show."""
        out = []
        for n in names:
            step = self._by_name.get(n)
            if step is None:
                continue
            positions = tuple(step.node.outputs[0].shape)[1:-1]  # (H, W), (T,), ...
            if "Conv" in type(step.op).__name__ and any(d is None or d > 1 for d in positions):
                out.append(n)
        return out

    def run(
        self,
        x: Any,
        *,
        values: Mapping[str, Any] | None = None,
        after: Callable[[str, Any], Any] | None = None,
        training: bool | None = False,
        start: int = 0,
    ) -> list[Any]:
        """Execute the plan; returns one output per step (a tensor, or a list for multi-output ops).

        x: the model input (symbolic KerasTensor or a batch tensor).
        values: precomputed step outputs by name; those steps are not re-run (a cached prefix).
        after: called with (name, output) after each step; its return value replaces the output
               (where masks are inserted).
        start: steps before this index are not run (their output is None) unless in values;
               values must then hold every prefix output that later steps consume
               (see needed_before).
        """
        td: dict[int, Any] = {self.input_id: x}
        outs: list[Any] = []
        values = values or {}
        for step in self.steps:
            if isinstance(step, _Alias):
                for d, s in step.pairs:
                    if s in td:
                        td[d] = td[s]
                continue
            if len(outs) < start and step.name not in values:
                outs.append(None)
                continue
            if step.name in values:
                y = values[step.name]
            else:
                args, kwargs = step.node.arguments.fill_in(td)
                if training is not None and "training" in getattr(
                    step.op, "_call_context_args", ()
                ):
                    kwargs = {**kwargs, "training": training}
                y = step.op(*args, **kwargs)
                if after is not None:
                    y = after(step.name, y)
            for ref, val in zip(step.node.output_tensors, tree.flatten(y)):
                td[id(ref)] = val
            outs.append(y)
        return outs

    def outputs(self, x: Any, **options: Any) -> dict[str, Any]:
        """`run` as {step name: output}, in graph order (options as run's)."""
        return dict(zip(self.names, self.run(x, **options)))


def _compiled(model: keras.Model) -> Callable[[np.ndarray], Any]:
    """model(x, training=False) as one graph function for any batch size (the batch axis is
    None), far cheaper per call than eager layer-by-layer execution."""
    if keras.backend.backend() != "tensorflow":
        return lambda x: model(x, training=False)
    import tensorflow as tf

    inp = model.inputs[0]
    spec = tf.TensorSpec((None, *inp.shape[1:]), inp.dtype)
    # The concrete function itself: calling it skips tf.function's per-call signature
    # matching (about 0.3 ms, a quarter of a LeNet forward pass).
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


# Batch-1 calls (one input: what pages, api.trace and api.predict run) compile under XLA where
# it suits the model. A small model's graph call is dispatch-bound and XLA fuses it (batch 1,
# xla/graph on this machine: LeNet trace 0.65, VGG 0.73, spoken digits 0.97). Not suited:
# depthwise or grouped convolutions (XLA's CPU kernels for them are slow: MobileNetV2 96x96
# 1.9), deep or large graphs (over XLA_MAX_LAYERS or XLA_MAX_MACS: compile time and memory
# grow, and the gain turns erratic: ResNet50 at 32/64/96 px 1.22/2.92/0.84), input shapes that
# are not fixed (XLA compiles for one shape). The choice comes from the model alone, never from
# timing, so every process computes the same bits for the same input (a page's export equals
# api.trace in a notebook; a timed choice flips under load).
XLA_MAX_LAYERS = 64
XLA_MAX_MACS = 250e6
_GROUPED = (
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)


def suits_xla(plan: Plan) -> bool:
    """Whether this model's batch-1 calls compile under XLA (see XLA_MAX_LAYERS)."""
    if keras.backend.backend() != "tensorflow":
        return False
    if any(d is None for d in plan.model.inputs[0].shape[1:]) or len(plan.names) > XLA_MAX_LAYERS:
        return False
    macs = 0
    for step in plan.steps_by_name().values():
        # An uploaded custom layer may carry any attributes: read them defensively.
        op, groups = step.op, getattr(step.op, "groups", 1)
        if isinstance(op, _GROUPED) or (isinstance(groups, int) and groups > 1):
            return False
        kernel = getattr(getattr(op, "kernel", None), "shape", None)
        if kernel is None or not step.node.output_tensors:
            continue
        # Multiply-adds: each output position (N, *spatial, C) applies the whole kernel
        # (a bound for transposed convolutions, which skip the strides' zeros).
        out = step.node.output_tensors[0].shape
        macs += int(np.prod(kernel)) * int(np.prod([d or 1 for d in out[1:-1]]))
    return macs <= XLA_MAX_MACS


def xla_or(plain: Callable[..., Any], build_xla: Callable[[], Callable[..., Any]], *args: Any):
    """The function build_xla() returns (the same graph under XLA, for these argument shapes),
    compiled by one call on args; `plain` where XLA cannot compile it (an op it lacks)."""
    try:
        xla = build_xla()
        xla(*args)  # XLA compiles on the first call
    except Exception:  # noqa: BLE001 - XLA reports unsupported ops with many error types
        return plain
    return xla


def numpy_view(y: Any) -> np.ndarray:
    """A read-only NumPy view of an eager output, without a copy.

    np.asarray on an EagerTensor shares its buffer; .numpy() copies it (1.5 ms of a 16 ms
    MobileNetV2 trace, whose 155 outputs hold 16 MB). The view keeps the tensor alive.
    Callers that need to write copy first."""
    if hasattr(y, "numpy"):
        return np.asarray(y)
    return keras.ops.convert_to_numpy(y)


def digest(x: np.ndarray) -> tuple:
    """A content key for an array: shape, dtype and a 16-byte BLAKE2b of its bytes (the one
    array digest: the tracer's memory, the caches and the pages' picture memo use it)."""
    return (
        x.shape,
        x.dtype.str,
        hashlib.blake2b(np.ascontiguousarray(x).data, digest_size=16).digest(),
    )


class Tracer:
    """A model's compiled functions, built once and owned here (so pages, scripts and tests
    share them): the trace (one flat multi-output model over every layer), the forward pass
    (predict), and helpers other modules build on the plan (`owned`: frozen downstream graphs,
    gradient functions, attack logits).

    Built once per model (cache it): the symbolic replay adds nodes to the original layers,
    which is harmless for computation but should not happen per request. Safe to share between
    threads: what it remembers is guarded by a lock and read-only.
    """

    RECENT_BYTES = 32 * 2**20  # traces of recent inputs kept for freezing (see `recent`)

    def __init__(self, model: keras.Model):
        self.plan = Plan(model)
        inp = model.inputs[0]
        x = keras.Input(shape=tuple(inp.shape[1:]), dtype=inp.dtype, name="layerlab_input")
        outs = self.plan.run(x, training=None)
        self.names: list[str] = []
        flat_outs: list[Any] = []
        for name, y in zip(self.plan.names, outs):
            ys = tree.flatten(y)
            if len(ys) == 1:
                self.names.append(name)
                flat_outs.append(ys[0])
            else:  # multi-output op: name each output
                for k, yk in enumerate(ys):
                    self.names.append(f"{name}:{k}")
                    flat_outs.append(yk)
        self.flat = keras.Model(x, flat_outs, name=f"{model.name}_trace")
        self.dtype = np.dtype(keras.backend.standardize_dtype(inp.dtype))
        self._call = _compiled(self.flat)
        self._one_calls: dict[bool, Callable[[np.ndarray], Any]] = {}  # batch 1, see _one
        self.xla = suits_xla(self.plan)  # batch 1 runs under XLA (see XLA_MAX_LAYERS)
        self._forward = _compiled(model)
        self._lock = threading.RLock()
        self._owned: OrderedDict[tuple, Any] = OrderedDict()
        self._recent: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()
        self._recent_bytes = 0

    def owned(self, key: tuple, build: Callable[[], Any], *, keep: int | None = None) -> Any:
        """A helper built from this model once and kept with it (e.g. the compiled gradient
        functions of core.analysis.attribution), so every caller of the same loaded model shares it.

        key: a tuple whose first item names the kind of helper. keep: at most this many of
        that kind are kept, the least recently used dropped first; a kind whose keys come
        from user input (which layers a link freezes) must set it, since a built-in model's
        tracer is shared by every session."""
        with self._lock:
            if key in self._owned:
                self._owned.move_to_end(key)
                return self._owned[key]
            value = self._owned[key] = build()
            if keep is not None:
                same = [k for k in self._owned if k[0] == key[0]]
                for k in same[: max(0, len(same) - keep)]:
                    del self._owned[k]
            return value

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, *input_shape) -> the model's own output (N, ...), compiled."""
        x = np.asarray(x, dtype=self.dtype)
        one = len(x) == 1 and self.xla
        return numpy_view((self._one(x, forward=True) if one else self._forward)(x))

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """x: (N, *input_shape) batch -> {"input": x, name: (N, ...) output} in graph order."""
        x = np.asarray(x, dtype=self.dtype)
        result: dict[str, np.ndarray] = {"input": x}
        call = self._one(x) if len(x) == 1 and self.xla else self._call
        for name, y in zip(self.names, call(x)):
            result[name] = numpy_view(y)
        return result

    def _one(self, x: np.ndarray, *, forward: bool = False) -> Callable[[np.ndarray], Any]:
        """The trace (or forward) function for batch 1 under XLA, what pages, api.trace and
        api.predict of one input run: compiled on the first such call."""
        with self._lock:
            if forward not in self._one_calls:
                import tensorflow as tf

                model = self.plan.model if forward else self.flat
                spec = tf.TensorSpec(x.shape, x.dtype)
                self._one_calls[forward] = xla_or(
                    self._forward if forward else self._call,
                    lambda: tf.function(
                        lambda t: model(t, training=False), jit_compile=True
                    ).get_concrete_function(spec),
                    x,
                )
            return self._one_calls[forward]

    def recent(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The trace of one input x (*input_shape, no batch axis), remembered for the last few
        inputs (RECENT_BYTES in all): freezing re-runs only what is downstream of a frozen
        layer and reads the rest from here. The arrays are read-only (shared by every caller)."""
        key = digest(np.asarray(x, dtype=self.dtype))
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return dict(self._recent[key])
        tr = {k: v[0] for k, v in self(np.asarray(x)[None]).items()}
        for v in tr.values():
            v.flags.writeable = False
        n = sum(v.nbytes for v in tr.values())
        with self._lock:
            if n <= self.RECENT_BYTES and key not in self._recent:
                self._recent[key] = tr
                self._recent_bytes += n
                while self._recent_bytes > self.RECENT_BYTES:
                    _, old = self._recent.popitem(last=False)
                    self._recent_bytes -= sum(v.nbytes for v in old.values())
        return dict(tr)
