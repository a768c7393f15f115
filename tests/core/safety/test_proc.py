from __future__ import annotations

import os
import subprocess
import sys
import time

from core.safety.proc import status_bytes, tree_bytes


def test_a_process_tree_counts_its_children():
    """A child holding 200 MB of touched memory adds about that to its parent's tree, resident
    and proportional alike (its pages are its own)."""
    code = "import sys; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); sys.stdin.read()"
    me = os.getpid()
    alone_rss, alone_pss = tree_bytes(me), tree_bytes(me, proportional=True)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        for _ in range(200):  # until the child has touched its pages
            if status_bytes("VmRSS", child.pid) > 200 * 2**20:
                break
            time.sleep(0.05)
        rss, pss = tree_bytes(me), tree_bytes(me, proportional=True)
        assert rss - alone_rss > 190 * 2**20
        assert pss - alone_pss > 190 * 2**20
        assert pss <= rss  # shared pages count once in all, not once per process
    finally:
        child.communicate(b"")
    assert status_bytes("VmSize") > status_bytes("VmRSS") > 0
