"""pages/_images.py: the per-session memo of pictures and chart data stays within its bounds."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import sys

    import numpy as np

    sys.path.insert(0, ".")
    from pages._images import BYTES, ENTRIES, png, remember

    # More entries than ENTRIES, and more bytes than BYTES, than the memo may hold.
    for i in range(ENTRIES + 40):
        remember(("big", i), lambda: "x" * (BYTES // 100))
    img = np.zeros((4, 4), np.uint8)
    assert png(img) is png(img.copy())  # same content: the same memoised URL


def test_the_memo_is_bounded_by_entries_and_bytes():
    from pages._images import BYTES, ENTRIES

    at = AppTest.from_function(_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    memo = at.session_state["_png_urls"]
    assert len(memo) <= ENTRIES and memo.nbytes <= BYTES
    assert memo.nbytes == sum(n for _, n in memo.values())
    assert ("big", ENTRIES + 39) in memo and ("big", 0) not in memo  # oldest dropped first
