"""A view as URL query parameters, and back: what a shared link carries.

Pure Python (no Streamlit). Keys (all optional):
    model    a built-in model name
    sample   a built-in sample's name (gallery digit, colour scene, spoken digit)
    digit    a drawn 28×28 digit: zlib-compressed, base64url (a few hundred characters)
    frozen   freeze configuration "layer:1.5.7;other/layer:3"; other interventions than
             zeroing name their kind: "layer:mean:1.5", "layer:keep:2", "layer:scale=0.5:4"
    layer    the layer a page shows
    b        the second sample of a comparison (built-in name)
    attack   "method,epsilon,steps,target" (epsilon in the page's units; empty = default)
    methods  the Explain page's attribution methods, "integrated_gradients,grad_cam"
    model_b  the Compare models page's second model (a built-in name)
Uploads and recordings cannot travel in a URL; `describe_missing` names them.
"""

from __future__ import annotations

import base64
import re
import zlib

import numpy as np

from core.errors import InputError

MAX_PARAM_CHARS = 4000
_LAYER = re.compile(r"^[\w./ -]+$")


def encode_digit(raw: np.ndarray) -> str:
    """A drawn uint8 (28, 28) digit -> a compact URL-safe string."""
    a = np.asarray(raw)
    if a.shape != (28, 28) or a.dtype != np.uint8:
        raise InputError(f"Only drawn 28×28 uint8 digits go into a link; got {a.shape} {a.dtype}.")
    return base64.urlsafe_b64encode(zlib.compress(a.tobytes(), 9)).decode().rstrip("=")


def decode_digit(text: str) -> np.ndarray:
    """The inverse of encode_digit; a clear error for anything else."""
    if not isinstance(text, str) or not text or len(text) > MAX_PARAM_CHARS:
        raise InputError("The link's drawn digit is empty or too long; draw the digit again.")
    try:
        data = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), bufsize=784)
    except (ValueError, zlib.error):
        raise InputError(
            "The link's drawn digit is damaged (not the encoding Layer Lab "
            "writes); draw the digit again."
        ) from None
    if len(data) != 784:
        raise InputError(f"The link's drawn digit has {len(data)} pixels; expected 28×28 = 784.")
    return np.frombuffer(data, np.uint8).reshape(28, 28).copy()


def encode_frozen(
    config: dict[str, list[int]], kinds: dict[str, dict[str, str | float]] | None = None
) -> str:
    """{layer: [channels]} (+ {layer: {"kind", "factor"}} for interventions other than
    zeroing) -> 'conv1:3;conv2:mean:1.5;fc1:scale=0.5:7' (zeroing keeps the original form)."""

    def kind(k: str) -> str:
        kd = (kinds or {}).get(k) or {}
        name = kd.get("kind", "zero")
        if name == "zero":
            return ""
        return f"scale={float(kd.get('factor', 1.0)):g}:" if name == "scale" else f"{name}:"

    return ";".join(
        f"{k}:{kind(k)}{'.'.join(str(int(c)) for c in sorted(set(v)))}"
        for k, v in sorted(config.items())
        if v
    )


_KIND = re.compile(r"^(zero|mean|keep|scale=(-?\d+(\.\d+)?(e-?\d+)?))$")


def _frozen_parts(text: str):
    """Each 'layer[:kind]:1.2.3' part as (layer, kind or '', channels)."""
    for part in filter(None, (text or "").split(";")):
        bits = part.split(":")
        layer, chans = bits[0], bits[-1]
        kind = bits[1] if len(bits) == 3 else ""
        if (
            len(bits) not in (2, 3)
            or not layer
            or not _LAYER.match(layer)
            or not re.fullmatch(r"\d+(\.\d+)*", chans)
            or (kind and not _KIND.match(kind))
        ):
            raise InputError(
                f"The link's freeze configuration {part!r} is not 'layer:1.2.3' "
                "or 'layer:kind:1.2.3' (kind: mean, keep or scale=<factor>)."
            )
        yield layer, kind, sorted({int(c) for c in chans.split(".")})


def decode_frozen(text: str) -> dict[str, list[int]]:
    """'conv2:1.5;conv1:3' -> {'conv2': [1, 5], 'conv1': [3]} (layer names checked later);
    the channels of 'layer:kind:...' parts too (their kinds: decode_kinds)."""
    return {layer: chans for layer, _, chans in _frozen_parts(text)}


def decode_kinds(text: str) -> dict[str, dict[str, object]]:
    """The interventions other than zeroing: 'fc1:scale=0.5:7' -> {'fc1': {'kind': 'scale',
    'factor': 0.5}}."""
    out: dict[str, dict[str, object]] = {}
    for layer, kind, _ in _frozen_parts(text):
        if kind.startswith("scale="):
            out[layer] = {"kind": "scale", "factor": float(kind.split("=", 1)[1])}
        elif kind and kind != "zero":
            out[layer] = {"kind": kind, "factor": 1.0}
    return out


def encode_attack(method: str, epsilon: float | None, steps: int | None, target: str | None) -> str:
    return ",".join(
        [
            "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
            for v in (method, epsilon, steps, target)
        ]
    )


def decode_attack(text: str) -> dict[str, object]:
    parts = (text or "").split(",")
    if len(parts) != 4:
        raise InputError(f"The link's attack settings {text!r} are not 'method,ε,steps,target'.")
    method, eps, steps, target = parts
    try:
        return {
            "method": method or None,
            "epsilon": float(eps) if eps else None,
            "steps": int(steps) if steps else None,
            "target": target or None,
        }
    except ValueError:
        raise InputError(
            f"The link's attack settings {text!r} have a non-numeric ε or steps."
        ) from None


def describe_missing(source: str, name: str) -> str | None:
    """Why a sample cannot travel in a link (None if it can)."""
    if source in ("upload", "recorded", "edited", "adversarial", "mnist-test", "cifar10-test"):
        what = {
            "upload": "an uploaded file",
            "recorded": "a recording",
            "edited": "an edited clip",
            "adversarial": "an adversarial input",
            "mnist-test": "a downloaded MNIST image",
            "cifar10-test": "a downloaded CIFAR-10 image",
        }[source]
        return (
            f"{name!r} is {what}: it cannot travel in a link. The link opens the same view "
            "on the first built-in sample; send the file along (or use the page's export)."
        )
    return None


def decode_methods(text: str, valid: list[str]) -> list[str]:
    """'integrated_gradients,grad_cam' -> those names; each must be one of `valid`."""
    names = [n for n in (text or "").split(",") if n]
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise InputError(
            f"The link's methods {text!r} are not a comma-separated list of {', '.join(valid)}."
        )
    return names
