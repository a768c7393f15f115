"""Pictures as PNG data URLs (and other display data), memoised per session.

st.image sends a data URL as it is, but encodes an array (and decodes and re-encodes PNG bytes)
on every rerun: a page of tiles, patches and thumbnails spent most of a warm rerun doing that.
The memo is one bounded LRU in the session ("_png_urls", pages/_state.py), keyed by the
picture's content, so a user's pictures stay in their session and go with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core import cache
from core.graph.engine import digest
from core.show.render import feature_grid, png_url

ENTRIES = 256  # pictures a session keeps
BYTES = 8 * 1024 * 1024  # and at most about this much text


def frame_key(df: pd.DataFrame) -> tuple:
    """A content key for a DataFrame: its columns' names, dtypes and values (numbers by their
    bytes, anything else by its text)."""
    h = hashlib.blake2b(digest_size=16)
    for name in df.columns:
        col = df[name]
        h.update(f"\x1e{name}\x1f{col.dtype}\x1f".encode())
        if col.dtype.kind in "biufcmM":
            h.update(np.ascontiguousarray(col.to_numpy()).tobytes())
        else:
            h.update("\x1f".join(map(str, col.tolist())).encode())
    return "frame", df.shape, h.digest()


def remember(key: Hashable, make: Callable[[], Any], *, size: Callable[[Any], int] = len) -> Any:
    """make() once per key in this session (LRU, ENTRIES and BYTES bounded); size(value) in bytes."""
    return cache.session_memo("_png_urls", counted=False).get_or_make(
        key, make, size=size, entries=ENTRIES, max_bytes=BYTES
    )


def arrow_bytes(df: pd.DataFrame) -> bytes:
    """df as Arrow IPC stream bytes, the form in which Streamlit sends a chart's data."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.RecordBatchStreamWriter(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def dataset(df: pd.DataFrame, content: Hashable = None) -> bytes:
    """arrow_bytes(df), memoised on the frame's content: `content` where the caller has a key
    for it (a memoised frame: hashing one costs more than making its key), else frame_key(df).
    A chart spec that names a dataset of bytes ({"datasets": {name: bytes}}) is sent as it is;
    a DataFrame, or values inline in a spec, is converted to Arrow on every run (~5 ms for a
    spectrogram's 8000 cells)."""
    key = frame_key(df) if content is None else ("content", content)
    return remember(("arrow", key), lambda: arrow_bytes(df))


def png(img: np.ndarray, *, draw: Callable[[np.ndarray], np.ndarray] | None = None) -> str:
    """png_url(img) (core.show.render), memoised on the picture's content: give st.image this
    instead of img. draw: what to make of img first (a margin, a resize), run only when the
    memo lacks the picture (a rerun draws nothing again). The function itself is part of the
    key: give a module's function, not a lambda made on every run (it would never be found)."""
    return remember(
        ("png", draw, *digest(img)), lambda: png_url(img if draw is None else draw(img))
    )


def grid_png(maps: np.ndarray, *, dim: frozenset[int] = frozenset(), **options: Any) -> tuple:
    """feature_grid(maps, dim=dim, **options) as (PNG data URL, lo, hi), memoised on the maps'
    content and the options: a rerun drew the grid again and hashed the picture for png()."""
    key = ("grid", *digest(maps), tuple(sorted(dim)), tuple(sorted(options.items())))

    def make() -> tuple:
        img, lo, hi = feature_grid(maps, dim=dim, **options)
        return png_url(img), lo, hi

    return remember(key, make, size=lambda v: len(v[0]))
