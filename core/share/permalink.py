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
    probe    a built-in held-out input by its index in the model's probe set ("held-out #3")
    drawing  a drawn picture of another size (a colour painting): "HxWxC." + zlib, base64url
    channel  the channel a page opened large; scale: the colour scale ("shared"/"per-channel")
    lost_model, lost_sample, lost_b   what the sender saw that a URL cannot carry (an uploaded
             model's name; a sample as "source:name"), so the receiver is told, not misled
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


def _inflate(text: str, n: int) -> bytes:
    """base64url + zlib -> at most n + 1 bytes (a bomb stays small: zlib.decompress's bufsize
    is only a first guess, so the digit used to inflate whatever the link held)."""
    return zlib.decompressobj().decompress(
        base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), n + 1
    )


def decode_digit(text: str) -> np.ndarray:
    """The inverse of encode_digit; a clear error for anything else."""
    if not isinstance(text, str) or not text or len(text) > MAX_PARAM_CHARS:
        raise InputError("The link's drawn digit is empty or too long; draw the digit again.")
    try:
        data = _inflate(text, 784)
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


def encode_drawing(raw: np.ndarray) -> str:
    """A drawn uint8 (H, W) or (H, W, 3) picture (at most 64×64) -> 'HxWxC.<zlib base64url>'."""
    a = np.asarray(raw)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or max(a.shape[:2]) > 64:
        raise InputError(
            f"Only drawn uint8 pictures up to 64×64 go into a link; got {a.shape} {a.dtype}."
        )
    shape = "x".join(map(str, a.shape if a.ndim == 3 else (*a.shape, 1)))
    text = base64.urlsafe_b64encode(zlib.compress(a.tobytes(), 9)).decode().rstrip("=")
    return f"{shape}.{text}"


def decode_drawing(text: str) -> np.ndarray:
    """The inverse of encode_drawing; a clear error for anything else."""
    head, _, body = (text or "").partition(".")
    m = re.fullmatch(r"(\d{1,2})x(\d{1,2})x([13])", head)
    h, w, c = map(int, m.groups()) if m else (0, 0, 0)
    if not m or not body or len(text) > MAX_PARAM_CHARS or not 0 < max(h, w) <= 64:
        raise InputError(
            "The link's drawing is not 'HxWxC.<data>' (C 1 or 3, at most 64×64, "
            f"{MAX_PARAM_CHARS} characters); draw the picture again."
        )
    try:
        data = _inflate(body, h * w * c)
    except (ValueError, zlib.error):
        raise InputError("The link's drawing is damaged; draw the picture again.") from None
    if len(data) != h * w * c:
        raise InputError(f"The link's drawing has {len(data)} values; expected {h}×{w}×{c}.")
    a = np.frombuffer(data, np.uint8).reshape(h, w, c).copy()
    return a[..., 0] if c == 1 else a


def encode_lost(source: str, name: str) -> str:
    """A sample that cannot travel, named for the receiver: 'source:name'."""
    return f"{source}:{name}"[:200]


def decode_lost(text: str) -> tuple[str, str]:
    """'recorded:Recording 1' -> ('recorded', 'Recording 1'); a clear error for anything else."""
    source, sep, name = (text or "").partition(":")
    if not sep or not re.fullmatch(r"[\w-]{1,32}", source) or not name or len(text) > 200:
        raise InputError(
            f"The link's note on a sample it could not carry, {text[:80]!r}, is not 'source:name'."
        )
    return source, name


def decode_choice(text: str, key: str, valid: tuple[str, ...]) -> str:
    """One of a few words (a colour scale): a clear error for anything else."""
    if text not in valid:
        raise InputError(f"The link's {key} {text[:40]!r} is not one of {', '.join(valid)}.")
    return text


def decode_index(text: str, key: str) -> int:
    """A channel or probe index: a non-negative integer."""
    if not re.fullmatch(r"\d{1,6}", text or ""):
        raise InputError(f"The link's {key} {text[:40]!r} is not a whole number >= 0.")
    return int(text)


def what_source(source: str) -> str:
    """A sample's source in words ("an uploaded file", "a recording", ...)."""
    return {
        "upload": "an uploaded file",
        "recorded": "a recording",
        "edited": "an edited clip",
        "adversarial": "an adversarial input",
        "mnist-test": "a downloaded MNIST image",
        "cifar10-test": "a downloaded CIFAR-10 image",
        "drawn": "a drawing",
        "file": "a file",
    }.get(source, f"a {source} sample")


def describe_missing(source: str, name: str) -> str | None:
    """Why a sample cannot travel in a link (None if it can)."""
    if source in ("upload", "recorded", "edited", "adversarial", "mnist-test", "cifar10-test"):
        return (
            f"{name!r} is {what_source(source)}: it cannot travel in a link. The receiver is "
            "told, and sees the same view on the first built-in sample; **Share** below "
            "carries it (stored on this server), or send the file along."
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
