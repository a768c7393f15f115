"""The sandbox's zygote: `python -m core.safety.zygote`, started by core.safety.sandbox.

It imports Keras once, then for each request (one JSON line on stdin: path, trace_limit,
extra, seconds) forks a fresh child that runs core.safety.child.run and dies; the zygote itself
never loads a model. It answers one JSON line per request: {"verdict": dict | null, "code":
exit code, "timeout": bool}. Forking from an imported Keras makes a check cost a fraction of a
second instead of a TensorFlow import.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time


def _serve(req: dict) -> dict:
    from core.safety.child import run

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one check, then exit without running any cleanup of the zygote
        os.close(r)
        try:
            out = json.dumps(
                run(
                    req["path"],
                    int(req["trace_limit"]),
                    int(req["extra"]),
                    req.get("onnx_out"),
                    req.get("filename", ""),
                )
            )
        except BaseException as e:  # noqa: BLE001 - anything at all becomes a verdict
            out = json.dumps(
                {
                    "ok": False,
                    "stage": "load",
                    "error": str(e)[:300],
                    "type": type(e).__name__,
                    "memory": isinstance(e, MemoryError),
                }
            )
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + float(req["seconds"])
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    try:
        verdict = json.loads(b"".join(chunks)) if chunks and not timed_out else None
    except ValueError:
        verdict = None
    return {"verdict": verdict, "code": code, "timeout": timed_out}


def main() -> None:
    import keras  # noqa: F401 - imported once here, inherited by every forked child
    import onnxruntime  # noqa: F401 - an .onnx upload is converted and checked in a child

    import core.graph.engine  # noqa: F401
    import core.model.onnx  # noqa: F401
    import core.safety.child  # noqa: F401

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        reply = _serve(json.loads(line))
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
