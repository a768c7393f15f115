"""The sandboxed first load, run in a child process forked by core.safety.zygote.

Loads the file with Keras, builds the tracer, checks the trace size from the graph's symbolic
shapes, runs one trace of a zero input and sends a verdict (a dict) back. First the address
space is capped at the child's size then plus `extra` bytes (TensorFlow reserves gigabytes of
address space at import, so an absolute cap would fail before any model code ran). A memory
bomb ends here as a MemoryError or a crash; the server only reads the verdict.
"""

from __future__ import annotations

import time

from core.safety.proc import cap_address_space


def _convert(path: str, onnx_out: str, filename: str) -> dict:
    """An .onnx file parsed, converted, checked against onnxruntime and saved as .keras."""
    from pathlib import Path

    from core.model.onnx import convert_bytes
    from core.settings import limits

    conv = convert_bytes(Path(path).read_bytes(), filename, limits())
    conv.model.save(onnx_out)
    return conv.facts()


def run(
    path: str, trace_limit: int, extra: int, onnx_out: str | None = None, filename: str = ""
) -> dict:
    import keras
    import numpy as np

    from core.errors import LayerLabError
    from core.graph.engine import Tracer
    from core.safety.runtime import keras_settings

    cap_address_space(extra)
    t0 = time.monotonic()
    before = keras_settings()
    stage = "load"
    facts = None
    try:
        if onnx_out:
            stage = "convert"
            try:
                facts = _convert(path, onnx_out, filename or "model.onnx")
            except LayerLabError as e:  # a refusal that names the operator, node or limit
                return {
                    "ok": False,
                    "stage": stage,
                    "error": str(e)[:4000],
                    "type": type(e).__name__,
                }
            path, stage = onnx_out, "load"
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        changed = [k for k, v in keras_settings().items() if before[k] != v]
        if changed:
            return {"ok": False, "stage": "settings", "error": ", ".join(changed)}
        if not isinstance(model, keras.Model) or len(model.inputs) != 1:
            return {
                "ok": True,
                "params": 0,
                "trace_bytes": 0,
                "skipped_trace": True,
                "onnx": facts,
                "seconds": time.monotonic() - t0,
            }
        stage = "tracer"
        tracer = Tracer(model)
        trace_bytes = 0
        for out in tracer.flat.outputs:
            dims = [d for d in out.shape[1:] if d is not None]
            trace_bytes += int(np.prod(dims, dtype=np.float64)) * np.dtype(out.dtype).itemsize
        if trace_bytes > trace_limit:
            return {"ok": False, "stage": "trace_size", "trace_bytes": trace_bytes}
        shape = tuple(model.inputs[0].shape[1:])
        if (
            any(d is None for d in shape)
            or "int" in str(model.inputs[0].dtype)
            or "string" in str(model.inputs[0].dtype)
        ):
            return {
                "ok": True,
                "params": int(model.count_params()),
                "trace_bytes": trace_bytes,
                "skipped_trace": True,
                "onnx": facts,
                "seconds": time.monotonic() - t0,
            }
        stage = "trace"
        tracer(np.zeros((1, *shape), np.float32))
        changed = [k for k, v in keras_settings().items() if before[k] != v]
        if changed:
            return {"ok": False, "stage": "settings", "error": ", ".join(changed)}
        return {
            "ok": True,
            "params": int(model.count_params()),
            "trace_bytes": trace_bytes,
            "seconds": time.monotonic() - t0,
            "onnx": facts,
        }
    except MemoryError:
        return {"ok": False, "stage": stage, "memory": True, "error": "out of memory"}
    except Exception as e:  # noqa: BLE001 - every failure is the file's, reported as a verdict
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        return {
            "ok": False,
            "stage": stage,
            "error": msg,
            "type": type(e).__name__,
            "memory": "RESOURCE_EXHAUSTED" in str(e) or "bad_alloc" in str(e),
        }
