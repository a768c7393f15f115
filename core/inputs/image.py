"""Raw images -> model input. Decoding uploads, MNIST-style digit framing, size/channel conversion.

A raw image is what a user has in hand: uint8 (H, W) or (H, W, C), or floats in [0, 1].
The model card decides the rest (shape, channels, value range, digit framing).
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from core.errors import InputError, upload_size

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Pillow refuses larger images itself (DecompressionBombError), we refuse earlier with a message.
MAX_PIXELS = 40_000_000
_ACCEPTED_FORMATS = {"PNG", "JPEG", "BMP", "WEBP"}


# What a file is, by its first bytes, for the message when it is not an accepted picture.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a .keras / Office file)"),
    (b"\x89HDF", "an HDF5 file (e.g. a .h5 Keras model)"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"<svg", "an SVG drawing (vector, not pixels)"),
    (b"<?xml", "an XML file (an SVG drawing?)"),
)


def what_file(data: bytes) -> str:
    """A short description of a file from its first bytes, e.g. "a PDF document"."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV audio file"
    if head[4:8] == b"ftyp":
        return "an MP4/HEIC file (HEIC photos are not supported)"
    for magic, what in _MAGIC:
        if head.lstrip().startswith(magic):
            return what
    try:
        text = data[:200].decode("utf-8")
    except UnicodeDecodeError:
        return f"an unknown binary file ({len(data):,} bytes, starting {head[:8].hex(' ')})"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"a text file ({len(data):,} bytes, starting {first!r})"


def decode_image(data: bytes, *, filename: str = "upload") -> tuple[np.ndarray, list[str]]:
    """Decode PNG/JPEG/BMP/WebP bytes -> uint8 (H, W) or (H, W, 3), plus notes of what was done."""
    upload_size(
        data,
        filename,
        limit=MAX_UPLOAD_BYTES,
        what="images",
        empty="Upload a PNG or JPEG image.",
        big="Downscale or re-encode it.",
    )
    notes: list[str] = []
    try:
        im: Image.Image  # the opened file, then its upright copy (exif_transpose)
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in _ACCEPTED_FORMATS:
                raise InputError(
                    f"{filename!r} is a {im.format or 'unknown'} file; expected PNG, JPEG, BMP "
                    "or WebP. Convert it (e.g. save as PNG) and upload again."
                )
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputError(
                    f"{filename!r} is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); at most "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted. Downscale it first."
                )
            im = ImageOps.exif_transpose(im)
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit greyscale: keep the full range, scale to 8 bits.
                arr = np.asarray(im, dtype=np.float64)
                # I;16 is 16-bit by definition (a dark 16-bit scan must stay dark); plain "I"
                # (32-bit) may hold 8- or 16-bit data, so guess from its values.
                top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
                arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                notes.append("converted 16-bit greyscale to 8 bits")
            elif mode in ("L", "1"):
                arr = np.asarray(im.convert("L"))
            elif mode in ("LA", "RGBA", "PA", "P"):
                rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
                if (rgba[..., 3] < 255).any():
                    notes.append("flattened transparency onto a white background")
                alpha = rgba[..., 3:4] / 255.0
                rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
                arr = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
                if mode in ("LA",):
                    arr = arr[..., 0]
                elif mode in ("P", "PA"):
                    notes.append("expanded a palette image to RGB")
            else:
                arr = np.asarray(im.convert("RGB"))
                if mode not in ("RGB",):
                    notes.append(f"converted {mode} to RGB")
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(
            f"{filename!r} declares a huge image ({e}); refused. "
            "Upload an image of at most 40 megapixels."
        ) from None
    except Image.UnidentifiedImageError:
        raise InputError(
            f"{filename!r} is not an image: {what_file(data)}. Accepted: PNG, JPEG, BMP or "
            "WebP pictures; export it as PNG and upload again."
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        # PIL names the buffer it read from (<_io.BytesIO object at 0x...>): say "the file".
        why = re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the file", str(e))
        raise InputError(
            f"{filename!r} could not be decoded as an image ({type(e).__name__}: {why}). "
            "The file may be truncated or not an image; export it again as PNG or JPEG."
        ) from None
    if (
        arr.ndim == 3
        and np.array_equal(arr[..., 0], arr[..., 1])
        and np.array_equal(arr[..., 0], arr[..., 2])
    ):
        arr = arr[..., 0]  # an RGB file holding a grey picture
    return np.ascontiguousarray(arr), notes


def to_float01(raw: np.ndarray) -> np.ndarray:
    """uint8 or [0, 1] floats -> float32 in [0, 1]; anything else is refused with a message."""
    a = np.asarray(raw)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == bool:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError(
                "The image contains NaN or infinite values; expected finite floats "
                "in [0, 1] or uint8 pixels."
            )
        if a.size and (a.min() < -1e-6 or a.max() > 1 + 1e-6):
            raise InputError(
                f"Float image values span [{a.min():.3g}, {a.max():.3g}]; expected [0, 1]. "
                "Divide uint8-range floats by 255, or pass a uint8 array."
            )
        return np.clip(a, 0.0, 1.0).astype(np.float32)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise InputError(
                f"Integer image values span [{a.min()}, {a.max()}]; expected uint8 0..255."
            )
        return a.astype(np.float32) / 255.0
    raise InputError(f"Image dtype {a.dtype} is not supported; expected uint8 or float in [0, 1].")


def mnist_style(gray: np.ndarray, *, threshold: float = 0.1) -> np.ndarray:
    """Frame a bright-on-dark digit the way MNIST was made -> uint8 (28, 28).

    LeCun et al.: the digit's bounding box is scaled (aspect kept, anti-aliased) to fit 20×20,
    then placed in 28×28 so that its centre of mass is at the centre.
    """
    g = to_float01(gray)
    if g.ndim == 3:
        g = g.mean(axis=-1)
    if g.ndim != 2:
        raise InputError(f"Expected a 2-D greyscale digit, got shape {g.shape}.")
    ys, xs = np.nonzero(g > threshold)
    if ys.size == 0:
        raise InputError(
            "The drawing is empty: no ink was found. Draw a digit (bright strokes "
            "on the dark pad) and try again."
        )
    crop = g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    # LANCZOS on a float image keeps thin strokes grey instead of dropping them (like MNIST's AA).
    small = np.asarray(
        Image.fromarray(crop.astype(np.float32), mode="F").resize(
            (nw, nh), Image.Resampling.LANCZOS
        ),
        dtype=np.float32,
    )
    small = np.clip(small, 0.0, 1.0)
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    canvas[top : top + nh, left : left + nw] = small
    # Shift so the centre of mass sits at the grid centre (13.5, 13.5) (integer shift, as MNIST).
    total = canvas.sum()
    cy = (canvas.sum(axis=1) * np.arange(28)).sum() / total
    cx = (canvas.sum(axis=0) * np.arange(28)).sum() / total
    dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
    # Keep the digit inside the frame even for lopsided strokes.
    dy = int(np.clip(dy, -top, 28 - (top + nh)))
    dx = int(np.clip(dx, -left, 28 - (left + nw)))
    canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return (canvas * 255.0 + 0.5).astype(np.uint8)


def paint_to_rgb(rgba: np.ndarray, background: str) -> np.ndarray:
    """A colour sketchpad's RGBA pixels (H, W, 4) composited over its background colour ("#rrggbb")
    -> uint8 (H, W, 3). Refuses an untouched pad."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[-1] != 4:
        raise InputError(f"Expected the pad's RGBA pixels (H, W, 4); got shape {a.shape}.")
    if not (isinstance(background, str) and len(background) == 7 and background[0] == "#"):
        raise InputError(f"background must be a colour like '#87b5e0'; got {background!r}.")
    bg = np.array([int(background[i : i + 2], 16) for i in (1, 3, 5)], np.float32)
    alpha = a[..., 3:4].astype(np.float32) / 255.0
    rgb = a[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    out = (rgb + 0.5).astype(np.uint8)
    if np.all(out == out[0, 0]):
        raise InputError("The pad is one flat colour: paint something on it.")
    return out


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """float (H, W[, C]) in [0, 1] -> (h, w[, C]); area-averaging when shrinking."""
    chans = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[-1])]
    out = [
        np.asarray(
            Image.fromarray(c.astype(np.float32), mode="F").resize(
                (w, h),
                Image.Resampling.BOX
                if (c.shape[0] > h and c.shape[1] > w)
                else Image.Resampling.BILINEAR,
            ),
            dtype=np.float32,
        )
        for c in chans
    ]
    return out[0] if a.ndim == 2 else np.stack(out, axis=-1)


def prepare_image(raw: Any, card: dict) -> tuple[np.ndarray, list[str]]:
    """Raw image -> model input (H, W, C) float32 in the card's range, and notes on conversions."""
    spec = card["input"]
    h, w, c = spec["shape"]
    a = np.asarray(raw)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise InputError(
            f"Got an array of shape {a.shape}; expected an image (H, W) or (H, W, 1|3|4). "
            f"This model takes {h}×{w}×{c}."
        )
    if min(a.shape[:2]) < 1:
        raise InputError(f"Got an empty image of shape {a.shape}.")
    notes: list[str] = []
    x = to_float01(a)
    if x.ndim == 3 and x.shape[-1] == 4:
        x = x[..., :3] * x[..., 3:] + (1.0 - x[..., 3:])  # RGBA over white
        notes.append("flattened transparency onto white")
    if spec.get("digit_style") == "mnist":
        g = x if x.ndim == 2 else x.mean(axis=-1)
        if x.ndim == 3:
            notes.append("converted colour to greyscale")
        if g.shape != (28, 28):
            # A photo/scan of a digit: MNIST has bright ink on black, most scans are the reverse.
            if np.median(g) > 0.5:
                g = 1.0 - g
                notes.append("inverted dark-on-light to MNIST's light-on-dark")
            try:
                g = to_float01(mnist_style(g))
            except InputError:
                raise InputError(
                    "No digit found in the image: after conversion to light ink on "
                    "black it is blank. Upload a picture of a single digit."
                ) from None
            notes.append(
                f"framed MNIST-style: cropped to the digit, scaled into 20×20, centred "
                f"by centre of mass in 28×28 (from {a.shape[1]}×{a.shape[0]})"
            )
        x = g
    else:
        if x.shape[:2] != (h, w):
            notes.append(
                f"resized from {x.shape[1]}×{x.shape[0]} to {w}×{h}"
                + (
                    " (aspect ratio not kept)"
                    if abs(x.shape[1] / x.shape[0] - w / h) > 0.01
                    else ""
                )
            )
            x = _resize(x, h, w)
    if c == 1 and x.ndim == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)
        notes.append("converted colour to greyscale")
    if c == 3 and x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=-1)
        notes.append("repeated greyscale into 3 colour channels")
    if x.ndim == 2:
        x = x[..., None]
    return np.asarray(unit_to_model(x, spec), np.float32), notes


def unit_to_model(u: Any, spec: dict) -> Any:
    """An image in [0, 1] (..., H, W, C) -> what the model takes, per the card's scaling:
    (lo + (hi - lo) * u[channel order] - mean) / std. Works on NumPy arrays and tensors."""
    lo, hi = spec.get("range", [0.0, 1.0])
    x = lo + (hi - lo) * u
    if spec.get("channel_order") == "BGR":
        x = x[..., ::-1]
    if "mean" in spec:
        x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(
            spec.get("std", 1.0), np.float32
        )
    return x


def model_to_unit(x: Any, spec: dict) -> Any:
    """The inverse of unit_to_model: a model input -> the image in [0, 1]."""
    lo, hi = spec.get("range", [0.0, 1.0])
    if "mean" in spec:
        x = x * np.asarray(spec.get("std", 1.0), np.float32) + np.asarray(spec["mean"], np.float32)
    if spec.get("channel_order") == "BGR":
        x = x[..., ::-1]
    return (x - lo) / (hi - lo)


def model_to_raw(x: np.ndarray, spec: dict) -> np.ndarray:
    """A model input (H, W[, C]) in the card's scaling -> the raw image it came from: float32
    in [0, 1], RGB, (H, W) for one channel, so prepare_image gives x back (an adversarial
    added to the samples is traced, compared and exported like any other image)."""
    u = np.clip(np.asarray(model_to_unit(np.asarray(x, np.float32), spec), np.float32), 0, 1)
    return u[..., 0] if u.ndim == 3 and u.shape[-1] == 1 else u


def to_display(x: np.ndarray, card: dict) -> np.ndarray:
    """Model input (H, W, C) in the card's scaling -> uint8 (H, W) or (H, W, 3) for showing."""
    a = np.clip(model_to_unit(np.asarray(x, np.float32), card["input"]), 0, 1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return (a * 255 + 0.5).astype(np.uint8)
