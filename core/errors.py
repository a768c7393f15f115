"""One error type per kind of mistake, and the shared validators that raise them.

Every error is a ValueError subclass (DESIGN.md contract) whose message says what was received,
what was expected and how to fix it. The validators check keyword options at the boundary
(a name among choices, a whole number or a number in a range) so that every module words its
refusals the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

V = TypeVar("V")


class LayerLabError(ValueError):
    """Base class: a message that says what was received, what was expected, how to fix it."""


class ModelRefusedError(LayerLabError):
    """A model file was refused before loading (size, unsafe layers, unreadable file)."""


class UnsupportedModelError(LayerLabError):
    """A model loaded, but its inputs/outputs are not something Layer Lab can visualise."""


class InputError(LayerLabError):
    """A raw input (image, audio) cannot be converted to what the model expects."""


class LayerNameError(LayerLabError, KeyError):
    """A layer name that the model does not have."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ModelUnreadableError(ModelRefusedError):
    """Keras itself could not read a model file (not a safety refusal): say Keras' reason."""


class BudgetError(ModelRefusedError):
    """A model that would need more memory, disk or time than this server allows."""


class CardError(LayerLabError):
    """A model card (or a correction to one) that does not fit the model."""


class FreezeConfigError(LayerLabError):
    """A freeze configuration names a layer or channel the model does not have."""


class AttributionError(LayerLabError):
    """An attribution method, option or map that does not fit the model."""


class UnitError(LayerLabError):
    """A unit whose arithmetic cannot be explained (its layer kind, or its axis)."""


class ConceptError(LayerLabError):
    """A concept test (TCAV) whose inputs cannot give an answer (too few, identical sets)."""


class JobBudgetError(LayerLabError):
    """A heavy job whose estimated peak memory is over the per-job limit (LAYERLAB_JOB_MB) even
    in the smallest chunks: the message gives the numbers and what to make smaller."""


class JobError(LayerLabError):
    """A heavy job that did not finish in its worker: the worker died (killed, out of memory)
    or the job was cancelled. Only that job is lost; the next one gets a fresh worker."""


class OptionError(LayerLabError):
    """A keyword option with a value (or a name) that the function does not take."""


class OnnxUnsupportedError(ModelRefusedError):
    """An ONNX file uses something the converter does not map (an operator, an attribute, a
    shape, external data, a custom domain): named with its node, with what is supported."""


class OnnxMismatchError(ModelRefusedError):
    """A converted ONNX model disagrees with onnxruntime: the first node that differs is named."""


class ShareError(LayerLabError):
    """A share that cannot be made or opened (the store's refusals and faults)."""


class ShareIdError(ShareError):
    """A share id that is not one Layer Lab makes (32 hexadecimal characters)."""


class ShareNotFoundError(ShareError):
    """A well-formed share id that is unknown, expired or deleted."""


class ShareDamagedError(ShareError):
    """A stored blob whose bytes no longer match their sha256, or a manifest that does not parse."""


class ShareLimitError(ShareError):
    """A share over a limit (its size, the store's size, shares per minute); says the numbers."""


class StoreUnavailableError(ShareError):
    """The share store cannot be reached or written (down, read-only, a newer schema)."""


def choice(what: str, value: Any, options: Iterable[str], *, fix: str = "") -> str:
    """`value` if it is one of `options`, else an OptionError that lists them."""
    opts = list(options)
    if value not in opts:
        raise OptionError(
            f"Unknown {what} {value!r}; expected one of: {', '.join(opts)}."
            + (f" {fix}" if fix else "")
        )
    return value


def layer_named(table: Mapping[str, V], name: str, *, where: str) -> V:
    """table[name] for a layer name a caller gave, else a LayerNameError listing the names
    `where` (e.g. "model 'lenet'", "the exemplar index") has."""
    try:
        return table[name]
    except KeyError:
        raise LayerNameError(
            f"No layer named {name!r} in {where}. Valid names: {', '.join(table)}."
        ) from None


def integer(
    what: str, value: Any, lo: int, hi: int, *, error: type[LayerLabError] = OptionError
) -> int:
    """A whole number in [lo, hi] (bools and floats refused), else `error` giving the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise error(f"{what} must be a whole number from {lo} to {hi}; got {value!r}.")
    return int(value)


def number(
    what: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    unit: str = "",
    error: type[LayerLabError] = OptionError,
) -> float:
    """A finite number in [lo, hi] (bools refused), else `error` giving the range and unit."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or not lo <= value <= hi
    ):
        u = f" {unit}" if unit else ""
        raise error(f"{what} must be a number from {lo:g} to {hi:g}{u}; got {value!r}.")
    return float(value)


def upload_size(
    data: bytes,
    filename: str,
    *,
    limit: int,
    what: str,
    empty: str,
    big: str,
    error: type[LayerLabError] = InputError,
) -> None:
    """Refuse an empty upload (`empty`: what to upload instead) or one over `limit` bytes
    (`what`: the kind of file, e.g. "images"; `big`: how to make it fit), naming its size."""
    if not data:
        raise error(f"{filename!r} is empty (0 bytes). {empty}")
    if len(data) > limit:
        raise error(
            f"{filename!r} is {len(data) / 2**20:.1f} MB; {what} up to {limit // 2**20} MB are "
            f"accepted. {big}"
        )


def known_options(what: str, given: dict[str, Any], accepted: Iterable[str]) -> None:
    """Refuse keyword options a method does not take, naming the ones it does."""
    acc = list(accepted)
    bad = [k for k in given if k not in acc]
    if bad:
        raise OptionError(
            f"{what} takes no option{'s' * (len(bad) > 1)} {', '.join(bad)}; "
            f"its options are: {', '.join(acc) if acc else 'none'}."
        )
