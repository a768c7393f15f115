"""Run every benchmark in one go: python -m bench [--repeats N]."""
from __future__ import annotations

import sys

from bench import attack, audio, freeze, trace

if __name__ == "__main__":
    for mod in (trace, freeze, audio, attack):
        print(f"\n== {mod.__name__}: {mod.__doc__.splitlines()[0]}")
        sys.stdout.flush()
        mod.main()
