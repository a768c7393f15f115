"""What /proc says about a process's memory, and the address-space cap of a forked child.

The sandbox's child (core.safety.child) and the pool's workers (core.work.worker) cap their
address space at their size when they start plus what a job may add; the workers report their
resident memory after each job. bench/ and the memory tests measure a server with everything
it forked (tree_bytes: resident, or proportional so that shared pages count once).
"""

from __future__ import annotations

import resource


def status_bytes(field: str, pid: int | str = "self") -> int:
    """A memory line of /proc/<pid>/status in bytes, e.g. "VmRSS" (resident) or "VmSize"
    (address space); 0 when the process has no such line (a zombie)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return 0


def cap_address_space(extra: int) -> None:
    """Limit this process's address space to its size now plus `extra` bytes (TensorFlow
    reserves gigabytes of address space at import, so an absolute cap would fail at once)."""
    limit = status_bytes("VmSize") + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def tree_bytes(pid: int, *, proportional: bool = False) -> int:
    """Memory of a process and all its descendants, in bytes: resident (VmRSS), or proportional
    (Pss of smaps_rollup: a page shared by n processes counts 1/n in each). Processes that end
    while it reads are skipped."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            if proportional:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    total += next(int(ln.split()[1]) for ln in f if ln.startswith("Pss:")) * 1024
            else:
                total += status_bytes("VmRSS", p)
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, StopIteration, ProcessLookupError, PermissionError):
            continue
    return total
