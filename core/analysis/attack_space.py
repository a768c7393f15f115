"""The space attacks work in and the units a page gives epsilon in.

Images are attacked in the [0, 1] image scale whatever scaling the model applies (the card's
scaling is part of the attacked function), audio in waveform amplitude within the card's
range. A page asks for epsilon in pixel levels of 255 or in dB relative to the clip
(epsilon_units); to_epsilon / from_epsilon convert between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InputError
from core.inputs.image import model_to_unit, unit_to_model
from core.model.load import LoadedModel


def bounds_of(m: LoadedModel) -> tuple[float, float]:
    """The attacked input's valid range: [0, 1] for images (the image scale), the card's
    range for audio."""
    if m.kind == "image":
        return 0.0, 1.0
    lo, hi = m.card["input"].get("range", [-1.0, 1.0])
    return float(lo), float(hi)


def to_attack_space(m: LoadedModel, x: Any) -> Any:
    """Model input -> the space attacks work in (images: [0, 1]; audio unchanged)."""
    return model_to_unit(x, m.card["input"]) if m.kind == "image" else x


def from_attack_space(m: LoadedModel, u: Any) -> Any:
    return unit_to_model(u, m.card["input"]) if m.kind == "image" else u


@dataclass(frozen=True)
class Units:
    label: str
    default: float
    min: float
    max: float
    step: float


def epsilon_units(m: LoadedModel, norm: str) -> Units:
    """How a page asks for epsilon: pixel levels of 255 for images, dB re the signal for audio."""
    if m.kind == "audio":
        # On the 20 built-in clips: LinfPGD at -30 dB fools 20, L2PGD at -25 dB 18 (-30: 16).
        what = "peak" if norm == "Linf" else "signal (L2)"
        default = -30.0 if norm == "Linf" else -25.0
        return Units(f"ε in dB relative to the clip's {what}", default, -80.0, 0.0, 1.0)
    # The literature's customary budgets, which fool our models on most built-in samples:
    # CIFAR-10 8/255; MNIST 0.3 (76.5 levels; LeNet resists FGSM at 32 on 29 of 30 digits).
    colour = m.card["input"].get("shape", [0])[-1] == 3
    if norm == "Linf":
        return Units(
            "ε: largest change per pixel, in levels of 255",
            8.0 if colour else 76.5,
            0.5,
            128.0,
            0.5,
        )
    return Units(
        "ε: RMS change per pixel, in levels of 255", 4.0 if colour else 16.0, 0.25, 64.0, 0.25
    )


def to_epsilon(m: LoadedModel, x: np.ndarray, norm: str, value: float) -> float:
    """A page's epsilon (epsilon_units) -> the attack space's units (x: a model input)."""
    lo, hi = bounds_of(m)
    x = np.asarray(x, np.float64)
    if m.kind == "audio":
        ref = np.abs(x).max() if norm == "Linf" else np.linalg.norm(x)
        if ref <= 0:
            raise InputError(
                "The clip is silent, so an epsilon relative to it is zero; pick a clip with sound."
            )
        return float(ref * 10 ** (value / 20))
    per_pixel = value / 255 * (hi - lo)
    return float(per_pixel if norm == "Linf" else per_pixel * np.sqrt(x.size))


def from_epsilon(m: LoadedModel, x: np.ndarray, norm: str, eps: float) -> float:
    """The inverse of to_epsilon (to show a perturbation's size in the page's units)."""
    lo, hi = bounds_of(m)
    x = np.asarray(x, np.float64)
    if m.kind == "audio":
        ref = np.abs(x).max() if norm == "Linf" else np.linalg.norm(x)
        return float(20 * np.log10(max(eps, 1e-12) / ref)) if ref > 0 else float("-inf")
    per_pixel = eps if norm == "Linf" else eps / np.sqrt(x.size)
    return float(per_pixel / (hi - lo) * 255)
