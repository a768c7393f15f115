"""What the benchmarks share: their common options, best-of-n timing run alternately, and the
fixed-width table each prints (python -m bench gathers the ratios the benchmarks return)."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Sequence

Row = tuple[str, str, str, float]  # (benchmark, case, ratio, value): python -m bench's summary


def parser(doc: str, *, repeats: int, models: str | None = None) -> argparse.ArgumentParser:
    """The options every benchmark takes: --repeats (and --models, a comma-separated list, where
    the benchmark runs the built-in models); the caller adds its own before parsing."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=repeats)
    if models is not None:
        ap.add_argument("--models", default=models)
    return ap


def best_of(fns: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    """Best-of-n seconds of each function, run alternately: on a shared machine the least
    disturbed run is the closest to the code's own cost, and alternating exposes all of them
    to the same load."""
    ts: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, ts):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [min(t) for t in ts]


class Table:
    """A fixed-width table printed as its rows come (flushed: a long run shows its progress).

    columns: "title spec | title spec | ...", each spec a format spec of the column's values
    that starts with its width, e.g. "model 14 | forward s 9.3f | ok >5"; each title is as
    wide as its column, the first left-aligned, the others right-aligned.
    """

    def __init__(self, columns: str, *, indent: str = "") -> None:
        cells = [c.strip().rsplit(" ", 1) for c in columns.split("|")]
        self.specs = [spec for _, spec in cells]
        titles = [t.rjust(_width(s)) if i else t.ljust(_width(s)) for i, (t, s) in enumerate(cells)]
        self.titles = indent + " ".join(titles)
        self.indent = indent

    def header(self, note: str = "") -> None:
        """Prints the titles, then the note (units, targets) after two spaces."""
        print(self.titles + (f"  {note}" if note else ""), flush=True)

    def row(self, *values: object) -> None:
        """Prints one row: one value per column, in the columns' formats."""
        cells = [f"{v:{spec}}" for v, spec in zip(values, self.specs, strict=True)]
        print(self.indent + " ".join(cells), flush=True)


def _width(spec: str) -> int:
    """The width a format spec gives its values: "9.3f" -> 9, ">12" -> 12."""
    m = re.match(r"[<>^]?(\d+)", spec)
    if m is None:
        raise ValueError(f"a column's format spec starts with its width, got {spec!r}")
    return int(m[1])
