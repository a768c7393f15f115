"""What a model will cost, from its config alone, before anything is allocated.

Three numbers, each against a limit of core.settings:
- the input size (a 30000×30000 input is refused before a pixel exists);
- parameters, estimated from every layer's declared sizes and its input shape (build_config),
  and compared with the weights the file actually stores (a Dense(units=10**9) edited into a
  small model's config would otherwise be allocated at build time);
- the bytes of one trace: every tensor of the graph (the __keras_tensor__ shapes a functional
  config records, the input shapes of a Sequential's layers), float32, batch 1.
The sandboxed first load (core.safety.sandbox) measures the same from the built graph; this is
the check that needs no memory at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import BudgetError, ModelRefusedError
from core.settings import Limits, human_bytes

_BYTES_PER_VALUE = 4  # float32 activations


@dataclass(frozen=True)
class Budget:
    input_shape: tuple[int, ...] | None
    params: int  # estimated from the config
    stored_params: int  # weights the file stores
    trace_bytes: int  # one input through every layer

    def describe(self) -> str:
        return (
            f"about {self.params:,} parameters ({self.stored_params:,} stored), one trace "
            f"about {human_bytes(self.trace_bytes)}"
        )


def _ints(v: Any) -> list[int]:
    return [int(v)] if isinstance(v, (int, float)) else [int(x) for x in v]


def _shape(v: Any) -> list[int | None] | None:
    """A serialized shape [null, 28, 28, 1] (or a __tuple__ of it) -> list; None if unknown."""
    if isinstance(v, dict) and v.get("class_name") == "__tuple__":
        v = (v.get("config") or {}).get("value")
    if isinstance(v, list) and all(x is None or isinstance(x, (int, float)) for x in v):
        return [None if x is None else int(x) for x in v]
    return None


def _size(shape: list[int | None]) -> int:
    dims = [d for d in shape[1:] if d is not None]
    return int(np.prod(dims, dtype=np.float64)) if dims else 0


def _input_shapes(cfg: dict) -> list[list[int | None]]:
    """The shapes a layer's build_config says it was built for (one per input)."""
    s = (
        (cfg.get("build_config") or {}).get("input_shape")
        if isinstance(cfg.get("build_config"), dict)
        else None
    )
    one = _shape(s)
    if one is not None:
        return [one]
    if isinstance(s, list):
        return [x for x in (_shape(v) for v in s) if x is not None]
    return []


def _params(cls: str, conf: dict, shapes: list[list[int | None]]) -> int:
    """Parameters a layer of this class allocates when built for these input shapes."""
    if not shapes:
        return 0
    shape = shapes[0]
    first = conf.get("data_format") == "channels_first"
    c = shape[1] if first and len(shape) > 1 else shape[-1]
    c = int(c or 0)
    bias = 1 if conf.get("use_bias", True) else 0
    name = cls.replace("Convolution", "Conv")
    try:
        if name == "Dense":
            u = int(conf["units"])
            return c * u + bias * u
        if name in ("Conv1D", "Conv2D", "Conv3D"):
            k = int(np.prod(_ints(conf["kernel_size"])))
            f, g = int(conf["filters"]), max(1, int(conf.get("groups", 1) or 1))
            return k * (c // g) * f + bias * f
        if name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
            k, f = int(np.prod(_ints(conf["kernel_size"]))), int(conf["filters"])
            return k * c * f + bias * f
        if name in ("DepthwiseConv1D", "DepthwiseConv2D"):
            k, dm = int(np.prod(_ints(conf["kernel_size"]))), int(conf.get("depth_multiplier", 1))
            return k * c * dm + bias * c * dm
        if name in ("SeparableConv1D", "SeparableConv2D"):
            k, dm = int(np.prod(_ints(conf["kernel_size"]))), int(conf.get("depth_multiplier", 1))
            f = int(conf["filters"])
            return k * c * dm + c * dm * f + bias * f
        if name == "Embedding":
            return int(conf["input_dim"]) * int(conf["output_dim"])
        if name in ("LSTM", "GRU", "SimpleRNN"):
            u, gates = int(conf["units"]), {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[name]
            return gates * (c * u + u * u + 2 * u)
        if name in ("BatchNormalization", "LayerNormalization", "GroupNormalization"):
            return 4 * c
        if name == "MultiHeadAttention":
            hk = int(conf["num_heads"]) * int(conf["key_dim"])
            return 4 * c * hk + 4 * hk
    except (KeyError, TypeError, ValueError):
        raise ModelRefusedError(
            f"the {cls} layer {conf.get('name', '?')!r} has a malformed "
            "config (missing or non-numeric sizes)"
        ) from None
    return 0


def _walk_layers(node: Any, prefix: str, tensors: dict, totals: dict) -> None:
    """Visit every layer config (nested models included) and record tensors and parameters."""
    if isinstance(node, dict):
        cls, conf = node.get("class_name"), node.get("config")
        if (
            isinstance(cls, str)
            and isinstance(conf, dict)
            and "layers" in conf
            and isinstance(conf["layers"], list)
        ):
            name = conf.get("name", "?")
            for layer in conf["layers"]:
                _walk_layer(layer, f"{prefix}{name}/", tensors, totals)
            return
        for v in node.values():
            _walk_layers(v, prefix, tensors, totals)
    elif isinstance(node, list):
        for v in node:
            _walk_layers(v, prefix, tensors, totals)


def _walk_layer(layer: Any, prefix: str, tensors: dict, totals: dict) -> None:
    if not isinstance(layer, dict):
        return
    cls, conf = layer.get("class_name"), layer.get("config")
    if not isinstance(conf, dict):
        return
    if cls in ("InputLayer",) or "batch_input_shape" in conf:
        s = _shape(conf.get("batch_shape", conf.get("batch_input_shape")))
        if s is not None:
            totals["inputs"].append(s)
            tensors[(prefix, "input", conf.get("name"))] = _size(s)
    if isinstance(conf.get("layers"), list):  # a nested model
        _walk_layers(layer, prefix, tensors, totals)
        return
    shapes = _input_shapes(layer)
    for node in layer.get("inbound_nodes") or []:
        for kt in _keras_tensors(node):
            s = _shape(kt.get("shape"))
            hist = kt.get("keras_history")
            if s is not None:
                key = (prefix, *map(str, hist)) if isinstance(hist, list) else (prefix, id(kt))
                tensors[key] = _size(s)
                if not shapes:
                    shapes = [s]
    if not layer.get("inbound_nodes"):  # Sequential: a layer's input is the previous output
        for i, s in enumerate(shapes):
            tensors[(prefix, "seq_in", conf.get("name"), i)] = _size(s)
    totals["params"] += _params(str(cls), conf, shapes)
    for wrapped in ("layer", "forward_layer", "backward_layer"):  # wrappers hold a layer config
        if isinstance(conf.get(wrapped), dict):
            inner = dict(conf[wrapped])
            inner.setdefault("build_config", layer.get("build_config"))
            _walk_layer(inner, prefix, tensors, totals)


def _keras_tensors(node: Any):
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__" and isinstance(node.get("config"), dict):
            yield node["config"]
            return
        for v in node.values():
            yield from _keras_tensors(v)
    elif isinstance(node, list):
        for v in node:
            yield from _keras_tensors(v)


def _check_input(shape: list[int | None], limits: Limits, filename: str) -> None:
    dims = [d for d in shape[1:] if d is not None]
    if any(d < 0 for d in dims):
        raise BudgetError(f"{filename!r} declares a negative input size {shape[1:]}")
    if len(dims) >= 2 and not (len(dims) == 2 and dims[1] == 1):
        h, w = dims[0], dims[1]
        if h * w > limits.input_pixels:
            side = int(limits.input_pixels**0.5)
            raise BudgetError(
                f"{filename!r} takes a {h}×{w} input ({h * w:,} pixels); the limit here is "
                f"{side}×{side} ({limits.input_pixels:,} pixels, LAYERLAB_MAX_INPUT_PIXELS). "
                "Save the model with a smaller input shape."
            )
    elif dims and dims[0] > limits.audio_samples:
        raise BudgetError(
            f"{filename!r} takes {dims[0]:,} samples per input; the limit here is "
            f"{limits.audio_samples:,} (LAYERLAB_MAX_AUDIO_SAMPLES)."
        )


def check_budget(config: dict, stored_params: int, limits: Limits, filename: str) -> Budget:
    """Refuse, with the numbers, a model that would not fit; else what it will cost."""
    tensors: dict = {}
    totals: dict = {"params": 0, "inputs": []}
    _walk_layers(config, "", tensors, totals)
    for s in totals["inputs"]:
        _check_input(s, limits, filename)
    params = int(totals["params"])
    trace_bytes = int(sum(tensors.values())) * _BYTES_PER_VALUE
    if params > limits.params:
        raise BudgetError(
            f"{filename!r} declares about {params:,} parameters; the limit here is "
            f"{limits.params:,} (LAYERLAB_MAX_PARAMS)."
        )
    # Layer sizes edited far beyond the stored weights would be allocated at build time.
    if params > 1.25 * stored_params + 10_000:
        raise BudgetError(
            f"{filename!r}: its config declares about {params:,} parameters but the file "
            f"stores only {stored_params:,} weights, so its layers are larger than its weights; "
            "save the model again with model.save()."
        )
    if trace_bytes > limits.trace_bytes:
        raise BudgetError(
            f"{filename!r}: this model's trace needs {human_bytes(trace_bytes)} (every layer's "
            f"output for one input); the limit here is {human_bytes(limits.trace_bytes)} "
            "(LAYERLAB_MAX_TRACE_MB). Use a smaller input size or a smaller model."
        )
    inp = totals["inputs"][0] if totals["inputs"] else None
    return Budget(
        tuple(d for d in inp[1:] if d is not None) if inp else None,
        params,
        stored_params,
        trace_bytes,
    )
