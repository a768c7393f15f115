"""Shared validators for keyword options: one message shape (received, expected, fix)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from core.errors import LayerLabError


class OptionError(LayerLabError):
    """A keyword option with a value (or a name) that the function does not take."""


def choice(what: str, value: Any, options: Iterable[str], *, fix: str = "") -> str:
    """`value` if it is one of `options`, else an OptionError that lists them."""
    opts = list(options)
    if value not in opts:
        raise OptionError(
            f"Unknown {what} {value!r}; expected one of: {', '.join(opts)}."
            + (f" {fix}" if fix else "")
        )
    return value


def integer(what: str, value: Any, lo: int, hi: int) -> int:
    """A whole number in [lo, hi] (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise OptionError(f"{what} must be a whole number from {lo} to {hi}; got {value!r}.")
    return int(value)


def number(what: str, value: Any, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or not lo <= value <= hi
    ):
        raise OptionError(f"{what} must be a number from {lo:g} to {hi:g}; got {value!r}.")
    return float(value)


def known_options(what: str, given: dict[str, Any], accepted: Iterable[str]) -> None:
    """Refuse keyword options a method does not take, naming the ones it does."""
    acc = list(accepted)
    bad = [k for k in given if k not in acc]
    if bad:
        raise OptionError(
            f"{what} takes no option{'s' * (len(bad) > 1)} {', '.join(bad)}; "
            f"its options are: {', '.join(acc) if acc else 'none'}."
        )
