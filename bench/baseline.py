"""The slow reference: one sub-model per layer (what NeuralVis did), for tests and benchmarks.

Each layer's output is computed by its own keras.Model from the model input to that layer, so
the cost is quadratic in depth. Nested models are opened the same way, with "outer/inner" names.
"""

from __future__ import annotations

import keras
import numpy as np


def _graph(model: keras.Model):
    return model._functional if isinstance(model, keras.Sequential) else model


def _nodes(fn):
    # Nodes of this graph in execution order (deepest first), as keras' own executor runs them.
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def per_layer_submodels(model: keras.Model) -> list[tuple[str, keras.Model]]:
    """[(flattened name, sub-model from model input to that layer's output)] in graph order."""
    out: list[tuple[str, keras.Model]] = []

    def walk(fn, prefix: str, head: keras.Model | None):
        # head: maps the outer model input to fn's input (None at top level).
        for node in _nodes(fn):
            op = node.operation
            if isinstance(op, keras.Model):
                inner_in = keras.Model(_single(fn.inputs), node.input_tensors[0])
                walk(_graph(op), f"{prefix}{op.name}/", _chain(head, inner_in))
            else:
                sub = keras.Model(_single(fn.inputs), node.output_tensors)
                out.append((prefix + op.name, _chain(head, sub)))

    walk(_graph(model), "", None)
    return out


def _chain(head: keras.Model | None, tail: keras.Model) -> keras.Model:
    if head is None:
        return tail
    x = keras.Input(shape=head.inputs[0].shape[1:], dtype=head.inputs[0].dtype)
    return keras.Model(x, tail(head(x)))


def reference_trace(
    model: keras.Model, x: np.ndarray, submodels: list[tuple[str, keras.Model]] | None = None
) -> dict[str, np.ndarray]:
    """{"input": x, name: output} with one sub-model call per layer."""
    result = {"input": np.asarray(x)}
    for name, sub in submodels or per_layer_submodels(model):
        result[name] = keras.ops.convert_to_numpy(sub(x, training=False))
    return result


def _single(inputs: list):
    # A one-input model built from a bare tensor takes a bare tensor (no structure warning).
    return inputs[0] if len(inputs) == 1 else inputs


def reference_frozen(
    model: keras.Model, x: np.ndarray, frozen: dict[str, list[int]]
) -> dict[str, np.ndarray]:
    """NeuralVis' semantics through keras' own graph executor: each layer is re-called in order
    and its output has the frozen channels zeroed before later layers consume it."""
    result: dict[str, np.ndarray] = {"input": np.asarray(x)}

    def run(fn, inputs, prefix: str):
        def call(op):
            def f(*args, **kwargs):
                if isinstance(op, keras.Model):
                    return run(_graph(op), list(args), f"{prefix}{op.name}/")
                y = (
                    op(*args, **{**kwargs, "training": False})
                    if "training" in getattr(op, "_call_context_args", ())
                    else op(*args, **kwargs)
                )
                name = prefix + op.name
                if name in frozen:
                    mask = np.ones(y.shape[-1], np.float32)
                    mask[list(frozen[name])] = 0.0
                    y = y * mask
                result[name] = keras.ops.convert_to_numpy(y)
                return y

            return f

        return fn._run_through_graph(inputs, operation_fn=call)  # packed like fn's outputs

    run(_graph(model), [keras.ops.convert_to_tensor(x)], "")
    return result
