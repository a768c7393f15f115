"""Load an untrusted model first in a child process, never in the server.

`Sandbox` asks a zygote process (core.safety.zygote, with Keras imported) to fork a fresh child
for each check (core.safety.child) with an address-space cap, under a timeout. A crash,
hang or memory error there is a clear refusal here, and the server process lives on. Only a
file whose first load and trace passed is then loaded in the server. The app's Sandbox
(core.cache.sandbox) uses the process's shared zygote; a script that passes none gets a one-off one.
"""

from __future__ import annotations

import signal
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import (
    BudgetError,
    ModelRefusedError,
    ModelUnreadableError,
    OnnxMismatchError,
    OnnxUnsupportedError,
)
from core.safety.spawn import Zygote
from core.settings import Limits, human_bytes

# Refusals of an ONNX conversion in the child, raised here as the same classes.
_CONVERT_ERRORS: dict[str, type[ModelRefusedError]] = {
    c.__name__: c
    for c in (
        BudgetError,
        ModelRefusedError,
        ModelUnreadableError,
        OnnxMismatchError,
        OnnxUnsupportedError,
    )
}


@dataclass(frozen=True)
class SandboxReport:
    params: int
    trace_bytes: int
    seconds: float
    converted: bytes | None = None  # an .onnx upload: the .keras file the child converted it to
    onnx: dict[str, Any] | None = None  # and the conversion's facts (core.model.onnx.door)


class Sandbox:
    """Upload checks in children of a zygote (core.safety.spawn): the process's shared one
    (the app passes spawn.shared()), or its own, ended by close()."""

    def __init__(self, zygote: Zygote | None = None) -> None:
        self._own = zygote is None
        self.zygote = zygote if zygote is not None else Zygote()

    def verdict(
        self, path: Path, limits: Limits, *, onnx_out: Path | None = None, filename: str = ""
    ) -> dict[str, Any]:
        """The zygote's reply for one file: {"verdict", "code", "timeout"}. onnx_out: path is
        an .onnx file, to be converted (and saved there as .keras) before the load."""
        req = {
            "op": "check",
            "path": str(path),
            "trace_limit": limits.trace_bytes,
            "extra": limits.sandbox_bytes,
            "seconds": limits.sandbox_seconds,
            "onnx_out": str(onnx_out) if onnx_out else None,
            "filename": filename,
        }
        reply = self.zygote.request(req, limits.sandbox_seconds + 30)
        if reply is None:  # the zygote itself died or is stuck: replace it
            self.zygote.close()
            return {"verdict": None, "code": None, "timeout": True}
        return reply

    def close(self) -> None:
        if self._own:
            self.zygote.close()


def first_load(
    data: bytes, fmt: str, filename: str, limits: Limits, sandbox: Sandbox | None = None
) -> SandboxReport:
    """Load and trace the (already scanned) file in a child; raise a refusal saying why not."""
    own = sandbox is None
    box = sandbox if sandbox is not None else Sandbox()
    try:
        with tempfile.TemporaryDirectory(prefix="layerlab_sandbox_") as tmp:
            path = Path(tmp) / {"keras": "model.keras", "onnx": "model.onnx"}.get(fmt, "model.h5")
            path.write_bytes(data)
            out = Path(tmp) / "converted.keras" if fmt == "onnx" else None
            try:
                reply = box.verdict(path, limits, onnx_out=out, filename=filename)
            except ModelRefusedError as e:
                raise ModelRefusedError(f"{filename!r} {e}; try again in a minute.") from None
            report = _report(reply, filename, limits)
            if out is not None:
                converted = out.read_bytes() if out.is_file() else None
                if converted is None:
                    raise ModelRefusedError(
                        f"{filename!r}: the sandbox converted it but wrote no Keras file; refused."
                    )
                report = replace(report, converted=converted, onnx=reply["verdict"].get("onnx"))
    finally:
        if own:
            box.close()
    return report


def _report(reply: dict[str, Any], filename: str, limits: Limits) -> SandboxReport:
    verdict, code = reply.get("verdict"), reply.get("code")
    if reply.get("timeout"):
        raise ModelRefusedError(
            f"{filename!r} did not finish loading and tracing within "
            f"{limits.sandbox_seconds:g} s in the sandbox (LAYERLAB_SANDBOX_SECONDS); a model "
            "this slow to load is too large for this server. Refused."
        )
    if verdict is None:
        how = (
            f"was killed by signal {-code} ({signal.Signals(-code).name})"
            if code is not None and code < 0
            else f"exited with status {code}"
        )
        raise ModelRefusedError(
            f"{filename!r} crashed the sandbox that loads uploads first: the process {how}. "
            "It most likely needs more memory than the "
            f"{human_bytes(limits.sandbox_bytes)} allowed there (LAYERLAB_SANDBOX_MEMORY_MB). "
            "The server was not affected; refused."
        )
    if verdict.get("ok"):
        return SandboxReport(
            int(verdict.get("params", 0)),
            int(verdict.get("trace_bytes", 0)),
            float(verdict.get("seconds", 0.0)),
        )
    stage = verdict.get("stage")
    if stage == "convert" and verdict.get("type") in _CONVERT_ERRORS:
        raise _CONVERT_ERRORS[verdict["type"]](verdict.get("error"))
    if stage == "trace_size":
        raise ModelRefusedError(
            f"{filename!r}: this model's trace needs {human_bytes(verdict['trace_bytes'])} "
            f"(every layer's output for one input); the limit here is "
            f"{human_bytes(limits.trace_bytes)} (LAYERLAB_MAX_TRACE_MB)."
        )
    if stage == "settings":
        raise ModelRefusedError(
            f"{filename!r} changed Keras' process-wide settings while loading "
            f"({verdict.get('error')}); a model file must not. Refused."
        )
    if verdict.get("memory"):
        raise ModelRefusedError(
            f"{filename!r} ran out of memory in the sandbox during {stage} (more than "
            f"{human_bytes(limits.sandbox_bytes)}, LAYERLAB_SANDBOX_MEMORY_MB); refused."
        )
    if stage == "load":
        raise ModelUnreadableError(
            f"Keras could not read {filename!r}: {verdict.get('error')}. Try loading it where it "
            "was made and saving it again with Keras 3 as .keras (model.save('name.keras'))."
        )
    raise ModelRefusedError(
        f"{filename!r} loaded in the sandbox, but its {stage} failed "
        f"({verdict.get('type')}: {verdict.get('error')})."
    )
