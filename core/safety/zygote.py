"""The zygote: `python -m core.safety.zygote`, started by core.safety.spawn.Zygote.

It imports Keras (and the analysis code) once, then answers JSON lines on stdin, each with an
"id" that its reply (one JSON line on stdout, written whole, so replies never interleave:
see _reply) carries back:
- {"op": "check", path, trace_limit, extra, seconds}: a waiter process forks a fresh child that
  runs core.safety.child.run under a timeout and replies {"verdict": dict | null, "code": exit
  code, "timeout": bool}; the zygote itself never loads a model and is free at once;
- {"op": "worker", address, memory, threads, nice}: forks a worker of the heavy-job pool
  (core.work.worker.main) and replies {"pid": ...}.
Forking from an imported Keras makes a check or a new worker cost a fraction of a second
instead of a TensorFlow import. When stdin closes (the server ended, even killed: the kernel
closes its end) the zygote kills its whole process group, workers and checks included.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time

_LOCK: list[int] = []  # a file the zygote's children lock (lockf: per process) to reply


def _reply(rid: object, body: dict) -> None:
    """One whole line on stdout: a line past PIPE_BUF (4 KB) takes several writes, so the
    writers take turns."""
    import fcntl

    data = (json.dumps({"id": rid, **body}) + "\n").encode()
    fcntl.lockf(_LOCK[0], fcntl.LOCK_EX)
    try:
        while data:
            data = data[os.write(1, data) :]
    finally:
        fcntl.lockf(_LOCK[0], fcntl.LOCK_UN)


def _check(req: dict) -> dict:
    """In the waiter: fork the checking child, wait for its verdict within the time limit."""
    from core.safety.child import run

    r, w = os.pipe()
    tmp = tempfile.mkdtemp(prefix="layerlab_check_")  # its temporary files, removed below
    pid = os.fork()
    if pid == 0:  # the child: one check, then exit without running any cleanup of the zygote
        os.close(r)
        tempfile.tempdir = tmp
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
    shutil.rmtree(tmp, ignore_errors=True)  # the child ended by os._exit: no atexit cleanup
    code = os.waitstatus_to_exitcode(status)
    try:
        verdict = json.loads(b"".join(chunks)) if chunks and not timed_out else None
    except ValueError:
        verdict = None
    return {"verdict": verdict, "code": code, "timeout": timed_out}


def _fork(req: dict) -> int:
    pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; its children do not
    os.close(0)  # stdin is the zygote's lifeline, not theirs
    code = 0
    try:
        if req["op"] == "check":
            _reply(req["id"], _check(req))
        else:
            from core.work.worker import main

            main(
                req["address"],
                int(req["memory"]),
                int(req["threads"]),
                int(req["nice"]),
                req["tmp"],
            )
    except BaseException:  # noqa: BLE001 - a forked process never returns into the zygote
        code = 1
    os._exit(code)


def main() -> None:
    import keras  # noqa: F401 - imported once here, inherited by every forked child
    import onnxruntime  # noqa: F401 - an .onnx upload is converted and checked in a child

    import core.api  # noqa: F401 - what workers run, imported once for all of them
    import core.graph.engine  # noqa: F401
    import core.model.onnx  # noqa: F401
    import core.safety.child  # noqa: F401
    import core.work.worker  # noqa: F401

    # Forked children share the imported heap copy-on-write; a collection in a child would
    # write every object's GC header and copy the pages, so the imports are frozen.
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # waiters and workers are reaped by the kernel
    fd, path = tempfile.mkstemp(prefix="layerlab_zygote_")
    os.unlink(path)  # the open file is enough to lock
    _LOCK.append(fd)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        req = json.loads(line)
        pid = _fork(req)
        if req["op"] == "worker":
            _reply(req["id"], {"pid": pid})
    # stdin closed: the server is gone. End everything this zygote started, then itself.
    os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    main()
