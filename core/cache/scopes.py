"""The two cache scopes (see core/cache/__init__.py): the global Streamlit caches for what every
user shares, per-session LRU memos for the rest, and `with_progress` for long calls."""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from core.graph.engine import digest
from core.graph.interventions import Freeze
from core.inputs.edits import Edit
from core.inputs.samples import Sample
from core.model.load import LoadedModel
from core.settings import limits

_HASH: dict[str | type[Any], Callable[[Any], Any]] = {  # Streamlit's HashFuncsDict
    LoadedModel: lambda lm: lm.key,
    Sample: lambda s: s.key,
    Edit: lambda e: (e.name, tuple(sorted(e.params.items()))),
    Freeze: repr,  # its items in layer order: equal configurations hash alike
}
# Samples every user has (shipped with the app, or public test sets): safe to share results of.
SHARED_SOURCES = {"gallery", "mnist-test", "cifar10-test", "probe"}
# The per-session memo: at most this many results and about this many bytes of arrays.
SESSION_ENTRIES = 24
SESSION_BYTES = 256 * 1024 * 1024
_MEMO = "_session_cache"


def is_shared(value: Any) -> bool:
    """True for arguments that are the same for every user (built-in models and samples,
    plain settings); False for uploaded models, user inputs and raw arrays."""
    if isinstance(value, LoadedModel):
        return value.source == "builtin"
    if isinstance(value, Sample):
        return value.source in SHARED_SOURCES
    if isinstance(value, np.ndarray):
        return False
    if isinstance(value, (tuple, list)):
        return all(is_shared(v) for v in value)
    return True


def _key(value: Any) -> Any:
    if isinstance(value, (LoadedModel, Sample, Edit)):
        return _HASH[type(value)](value)
    if isinstance(value, np.ndarray):
        return digest(value)
    if isinstance(value, (tuple, list)):
        return tuple(_key(v) for v in value)
    return value


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, Sample):
        return _nbytes(value.raw)
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


def session_memo(name: str, *, counted: bool = True) -> SessionMemo:
    """This session's memo under st.session_state[name]; counted: in total_cached_bytes."""
    memo = st.session_state.get(name)
    if memo is None:
        memo = st.session_state[name] = SessionMemo()
        if counted:
            _ledger()[id(memo)] = memo
    return memo


@st.cache_resource(show_spinner=False)
def _ledger() -> weakref.WeakValueDictionary[int, SessionMemo]:
    """Every live session memo by id (a memo leaves with its session: weak references)."""
    return weakref.WeakValueDictionary()


def total_cached_bytes() -> int:
    """Bytes held by all sessions' memos in this process."""
    return sum(m.nbytes for m in list(_ledger().values()))


def scoped(cached: Callable) -> Callable:
    """Call a global Streamlit cache when every argument is shared, else a per-session LRU memo
    of the same function (bounded by SESSION_ENTRIES and SESSION_BYTES)."""
    # Streamlit's CachedFunc gets __wrapped__ from functools.update_wrapper; no type declares it.
    fn = cached.__wrapped__  # type: ignore[attr-defined]

    @functools.wraps(fn)
    def call(*args, **kwargs):
        # Like Streamlit's caches, keyword arguments named _x (progress callbacks) are no key.
        keyed = {k: v for k, v in kwargs.items() if not k.startswith("_")}
        if is_shared(args) and is_shared(tuple(keyed.values())):
            return cached(*args, **kwargs)
        key = (fn.__name__, _key(args), _key(tuple(sorted(keyed.items()))))
        return session_memo(_MEMO).get_or_make(
            key,
            lambda: fn(*args, **kwargs),
            size=_nbytes,
            entries=SESSION_ENTRIES,
            max_bytes=SESSION_BYTES,
            over=lambda: total_cached_bytes() > limits().cache_bytes,
        )

    return call


class _Slot:
    """One shared result, computed once under a lock (see with_progress)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


def with_progress(max_entries: int) -> Callable:
    """scoped() for long calls that report progress through a `_on_progress` callback.

    Streamlit records the elements a cached function touches and refuses callbacks that update
    an element made outside it; so the global cache holds a slot per key, filled outside the
    cached call (once, under its lock), and the callback draws on the caller's progress bar.
    """

    def deco(fn: Callable) -> Callable:
        @st.cache_resource(max_entries=max_entries, ttl=3600, show_spinner=False, hash_funcs=_HASH)
        @functools.wraps(fn)
        def slot(*args, **kwargs) -> _Slot:
            return _Slot()

        @functools.wraps(fn)
        def shared(*args, **kwargs):
            box = slot(*args, **kwargs)
            with box.lock:
                if not box.done:
                    box.value, box.done = fn(*args, **kwargs), True
            return box.value

        shared.__wrapped__ = fn
        return scoped(shared)

    return deco
