"""What the caches key on, and the bounded memo a session keeps (core.cache uses them).

A cached call's arguments are keyed by content, never by name: a model by its file's sha256
and card (LoadedModel.key), a sample by its content hash, an array by its digest. is_shared
says which arguments are the same for every user (built-in models and samples), whose results
may be cached for everyone; the rest go to the caller's own SessionMemo, an LRU bounded in
entries and bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from core.graph.engine import digest
from core.graph.interventions import Freeze
from core.inputs.edits import Edit
from core.inputs.probe import ProbeSet
from core.inputs.samples import Sample
from core.model.load import LoadedModel

HASH: dict[str | type[Any], Callable[[Any], Any]] = {  # Streamlit's HashFuncsDict
    LoadedModel: lambda lm: lm.key,
    Sample: lambda s: s.key,
    Edit: lambda e: (e.name, tuple(sorted(e.params.items()))),
    Freeze: repr,  # its items in layer order: equal configurations hash alike
    ProbeSet: lambda p: p.key,  # a probe file's name, or a user's batch's content hash
}
# Samples every user has (shipped with the app, or public test sets): safe to share results of.
SHARED_SOURCES = {"gallery", "mnist-test", "cifar10-test", "probe"}
# The per-session memo: at most this many results and about this many bytes of arrays.
SESSION_ENTRIES = 24
SESSION_BYTES = 256 * 1024 * 1024


def is_shared(value: Any) -> bool:
    """True for arguments that are the same for every user (built-in models and samples,
    plain settings); False for uploaded models, user inputs and raw arrays."""
    if isinstance(value, LoadedModel):
        return value.source == "builtin"
    if isinstance(value, Sample):
        return value.source in SHARED_SOURCES
    if isinstance(value, ProbeSet):
        return value.key.startswith("probe:")
    if isinstance(value, np.ndarray):
        return False
    if isinstance(value, (tuple, list)):
        return all(is_shared(v) for v in value)
    return True


def key_of(value: Any) -> Any:
    """A hashable key of a call's argument: content hashes of models, samples and arrays."""
    if isinstance(value, (LoadedModel, Sample, Edit, ProbeSet)):
        return HASH[type(value)](value)
    if isinstance(value, np.ndarray):
        return digest(value)
    if isinstance(value, (tuple, list)):
        return tuple(key_of(v) for v in value)
    return value


def nbytes(value: Any) -> int:
    """The bytes of the arrays a result holds (what a memo's byte budget counts)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v) for v in value)
    if isinstance(value, Sample):
        return nbytes(value.raw)
    return 0


class SessionMemo(OrderedDict):
    """One session's LRU memo: key -> (value, bytes); `nbytes` is kept up to date."""

    nbytes = 0

    def get_or_make(
        self,
        key: Any,
        make: Callable[[], Any],
        *,
        size: Callable[[Any], int],
        entries: int,
        max_bytes: int,
        over: Callable[[], bool] = lambda: False,
    ) -> Any:
        """make() once per key; the least recently used go first past entries or max_bytes
        (or while over() says a wider budget is exceeded)."""
        if key in self:
            self.move_to_end(key)
            return self[key][0]
        value = make()
        n = size(value)
        self[key] = (value, n)
        self.nbytes += n
        while len(self) > 1 and (len(self) > entries or self.nbytes > max_bytes or over()):
            _, (_, dropped) = self.popitem(last=False)
            self.nbytes -= dropped
        return value
