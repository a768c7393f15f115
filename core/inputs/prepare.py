"""Raw inputs (what a user has in hand) made into model inputs, one or a batch at a time.

`prepare` dispatches on the card's input kind to core.inputs.image / core.inputs.audio;
`stack` and `labelled` make batches for the analyses that scan many inputs; `gallery` and
`probe_raws` give the built-in inputs a model can be scanned with.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from core.errors import InputError, LayerLabError
from core.graph.interventions import channel_means
from core.inputs import samples
from core.inputs.audio import prepare_audio
from core.inputs.image import prepare_image
from core.inputs.probe import as_samples, probe_set
from core.model.load import LoadedModel


def prepare(m: LoadedModel, raw: Any) -> tuple[np.ndarray, list[str]]:
    """Raw input -> model input without batch axis, and notes of the conversions made."""
    kind = m.card["input"]["kind"]
    if kind == "image":
        if isinstance(raw, tuple):
            raise InputError(f"Model {m.name!r} takes images; got a (waveform, sample_rate) tuple.")
        x, notes = prepare_image(raw, m.card)
        if m.card["input"].get("squeeze_channel"):
            x = x[..., 0]
        return x, notes
    if kind == "audio":
        return prepare_audio(raw, m.card)
    raise InputError(f"Unknown input kind {kind!r} in the card of {m.name!r}.")


def stack(m: LoadedModel, raws: list[Any]) -> np.ndarray:
    """A non-empty list of raws -> model inputs (N, *input)."""
    if not isinstance(raws, list) or not raws:
        raise InputError(
            f"inputs must be a non-empty list of raw inputs; got "
            f"{type(raws).__name__}{' (empty)' if isinstance(raws, list) else ''}."
        )
    return np.stack([prepare(m, r)[0] for r in raws])


def labelled(
    m: LoadedModel, raws: list[Any], labels: list[Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw inputs -> (model inputs (N, *input), class indices (N,), -1 where unknown).

    labels: class names or indices, None for an unlabelled input; a name the model does not
    have counts as unknown (an uploaded model borrowing another model's samples)."""
    x = stack(m, raws)
    idx = [
        -1
        if y is None
        else int(y)
        if isinstance(y, (int, np.integer))
        else m.labels.index(y)
        if y in m.labels
        else -1
        for y in (labels or [None] * len(x))
    ]
    return x, np.asarray(idx, np.int64)


def probe_raws(m: LoadedModel, n: int) -> list[Any]:
    """n held-out raws, as many of each class as can be; the built-in gallery where no probe
    set of the model's kind ships."""
    try:
        return [s.raw for s in as_samples(m, probe_set(m), n)]
    except LayerLabError:
        return [s.raw for s in gallery(m)]


def gallery(m: LoadedModel) -> list:
    """The built-in samples that suit a model (digits, colour scenes or spoken digits)."""
    return {
        "digits": samples.gallery_digits,
        "scenes": samples.colour_scenes,
        "speech": samples.speech_clips,
    }[samples.gallery_kind(m.card)]()


def probe_means(m: LoadedModel, layers: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each layer's mean output over 200 held-out inputs (the probe set, or the built-in
    samples where none ships): what mean ablation substitutes. Kept per layer (not per set of
    layers, which a link chooses), so a model holds at most one mean map per layer."""

    def build(layer: str) -> np.ndarray:
        x = np.stack([prepare(m, r)[0] for r in probe_raws(m, 200)])
        return channel_means(m.tracer, x, [layer])[layer]

    return {n: m.tracer.owned(("probe_means", m.key, n), partial(build, n)) for n in layers}
