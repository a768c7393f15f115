"""One worker of the local pool, forked by the zygote (core.safety.zygote): `main` never returns.

It lowers its priority (os.nice), sizes TensorFlow's thread pools before the runtime starts,
caps its address space at its size then plus `memory` bytes (a job that outgrows it ends here
as a MemoryError or a crash, never in the server), connects to the pool's socket and runs jobs
one after another: (function, args, kwargs, progress keyword, grant) in (grant: the bytes
the pool left the job of the server's memory, and why: core.work.budget.allowance),
("progress", args) while it runs, then ("done", result, rss) or ("error", exception, rss) out. Models arrive as references
(core.work.refs) and stay warm. A thread watches the socket: when the server ends, even
killed, the worker ends too.
"""

from __future__ import annotations

import os
import pickle
import select
import socket
import tempfile
import threading
from contextlib import nullcontext
from multiprocessing.connection import Connection
from typing import Any

from core.safety.proc import cap_address_space, status_bytes


def _lifeline(fd: int) -> None:
    """Exit when the server's end of the socket closes (POLLRDHUP: no data is consumed)."""
    poll = select.poll()
    poll.register(fd, select.POLLRDHUP | select.POLLHUP)
    while True:
        if poll.poll():
            os._exit(0)


def _sendable(e: BaseException) -> BaseException:
    try:
        pickle.dumps(e)
        return e
    except Exception:  # noqa: BLE001 - a TensorFlow error may not pickle: send its words
        return RuntimeError(f"{type(e).__name__}: {str(e)[:500]}")


def main(address: str, memory: int, threads: int, nice: int, tmp: str) -> None:
    # Temporary files (TensorFlow's autograph sources, CKA's spill files) go to the worker's
    # own folder, which the pool removes with the worker: a worker ends by os._exit or a kill,
    # never by the atexit hooks that would clean up.
    tempfile.tempdir = tmp
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stdout is the zygote's reply pipe
    os.nice(nice)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    conn = Connection(sock.detach())
    threading.Thread(target=_lifeline, args=(conn.fileno(),), daemon=True).start()
    cap_address_space(memory)
    conn.send(("ready", os.getpid(), status_bytes("VmRSS")))
    _serve(conn)


def _serve(conn: Connection) -> None:
    from core.work.budget import allowance
    from core.work.refs import from_refs

    while True:
        try:
            fn, args, kwargs, progress_kw, grant = conn.recv()
        except (EOFError, OSError):
            return
        try:
            args, kwargs = from_refs(args), from_refs(kwargs)
            if progress_kw:
                kwargs[progress_kw] = lambda *a: conn.send(("progress", a))
            with allowance(*grant) if grant else nullcontext():
                out: Any = fn(*args, **kwargs)
            conn.send(("done", out, status_bytes("VmRSS")))
        except MemoryError:
            conn.send(("memory", None, status_bytes("VmRSS")))
            return  # its heap is in an unknown state: the pool starts a fresh worker
        except BaseException as e:  # noqa: BLE001 - the job's failure goes to its caller
            conn.send(("error", _sendable(e), status_bytes("VmRSS")))
