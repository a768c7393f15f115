"""Model cards: what a model takes and gives, inferred from the graph and correctable.

`infer_card(model, name)` reads what the graph tells (input kind and shape, input range from a
leading Rescaling/Normalization or a keras.applications name, audio sample rate, output kind)
and records how each was found in card["inferred"], so the sidebar can say it. `merge_card`
applies a partial card (from the user, a JSON beside the model or one uploaded with it) over
it, checked by `check_card`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from core.errors import CardError, UnsupportedModelError
from core.model.outputs import KINDS

# Input scalings a user can pick; the last two are keras.applications' preprocess_input modes.
# x01 is the image in [0, 1]; the model gets (range_lo + (hi - lo) * x01[order] - mean) / std.
PREPROCESSING: dict[str, dict[str, Any]] = {
    "0-1": {"range": [0.0, 1.0]},
    "0-255": {"range": [0.0, 255.0]},
    "-1-1": {"range": [-1.0, 1.0]},
    "caffe": {
        "range": [0.0, 255.0],
        "channel_order": "BGR",
        "mean": [103.939, 116.779, 123.68],
        "std": [1.0, 1.0, 1.0],
    },
    "torch": {"range": [0.0, 1.0], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
}
PREPROCESSING_TEXT = {
    "0-1": "values in [0, 1] (pixel / 255)",
    "0-255": "raw pixel values 0–255 (the model rescales itself)",
    "-1-1": "values in [−1, 1] (keras.applications 'tf' mode: pixel / 127.5 − 1)",
    "caffe": "keras.applications 'caffe' mode: BGR, 0–255 minus the ImageNet mean",
    "torch": "keras.applications 'torch' mode: [0, 1] minus the ImageNet mean, over its std",
}
_SCALING_KEYS = ("range", "channel_order", "mean", "std")
# keras.applications families by model name -> the preprocess_input they expect.
_APPLICATION_FAMILIES = [
    (r"^(vgg16|vgg19|resnet(50|101|152))$", "caffe"),
    (
        r"^(resnet\d+v2|inception_v3|inception_resnet_v2|xception|mobilenet(v2)?[_\d.]*|"
        r"nasnet_(mobile|large))",
        "-1-1",
    ),
    (r"^densenet\d+$", "torch"),
]
AUDIO_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
DEFAULT_AUDIO_RATE = 16000


def _first_layers(model: keras.Model, n: int = 3) -> list[keras.layers.Layer]:
    """The first few layers after the input, nested models opened (transfer learning)."""
    out: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            out.extend(_first_layers(layer, n))
        else:
            out.append(layer)
        if len(out) >= n:
            break
    return out[:n]


def _range_of(model: keras.Model) -> tuple[str, str]:
    """(preprocessing key, how it was found) for an image model."""
    for layer in _first_layers(model):
        if isinstance(layer, keras.layers.Rescaling):
            s = float(np.mean(np.asarray(layer.scale, np.float64)))
            return "0-255", (
                f"its first layer {layer.name!r} rescales by {s:.4g}, so it takes raw 0–255 pixels"
            )
        if isinstance(layer, keras.layers.Normalization):
            mean = float(np.mean(keras.ops.convert_to_numpy(layer.mean)))
            key = "0-255" if mean > 2.0 else "0-1"
            return key, (
                f"its first layer {layer.name!r} normalises with mean {mean:.3g}, so it "
                f"takes {'0–255 pixels' if key == '0-255' else 'values in [0, 1]'}"
            )
        if not isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.Resizing)):
            break
    names = [model.name] + [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    for name in names:
        for pattern, key in _APPLICATION_FAMILIES:
            if re.match(pattern, name.lower()):
                return key, (
                    f"the model {name!r} looks like keras.applications' {name}, whose "
                    f"preprocess_input is {PREPROCESSING_TEXT[key]}"
                )
    return "0-1", (
        "nothing in the graph says; assumed values in [0, 1] — correct it if the "
        "model was trained on 0–255 or another scaling"
    )


def _input_spec(model: keras.Model) -> tuple[dict[str, Any], dict[str, str]]:
    """The card's "input" entry and how each part was found; refuse what is not image/audio."""
    if len(model.inputs) != 1:
        raise UnsupportedModelError(
            f"Model {model.name!r} has {len(model.inputs)} inputs "
            f"({', '.join(str(tuple(i.shape)) for i in model.inputs)}). Supported: one input that "
            "is an image (H, W, C) with C = 1 or 3, or an audio waveform (samples,) or "
            "(samples, 1). Not supported: several inputs, text/token sequences, tabular data."
        )
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise UnsupportedModelError(
            f"Model {model.name!r} has outputs {[tuple(o.shape) for o in model.outputs]}. "
            "Supported: one output of shape (batch, classes), a classifier."
        )
    inp = model.inputs[0]
    shape = tuple(inp.shape[1:])
    dtype = str(inp.dtype)
    if "int" in dtype or "string" in dtype:
        raise UnsupportedModelError(
            f"Model {model.name!r} takes {dtype} input of shape {shape}: token ids or text. "
            "Supported: images (H, W, C) with C = 1 or 3, or audio waveforms (samples,)."
        )
    if any(d is None for d in shape):
        raise UnsupportedModelError(
            f"Model {model.name!r} has input shape {shape} with unknown sizes; Layer Lab needs a "
            "fixed size, e.g. keras.Input(shape=(28, 28, 1))."
        )
    how: dict[str, str] = {}
    if (len(shape) == 3 and shape[-1] in (1, 3)) or (len(shape) == 2 and min(shape) >= 8):
        h, w = shape[:2]
        c = shape[2] if len(shape) == 3 else 1
        spec: dict[str, Any] = {"kind": "image", "shape": [h, w, c]}
        if len(shape) == 2:
            spec["squeeze_channel"] = True
        key, how["range"] = _range_of(model)
        spec.update(copy.deepcopy(PREPROCESSING[key]), preprocessing=key)
        how["kind"] = f"its input is {h}×{w}×{c}: {'a colour' if c == 3 else 'a greyscale'} image"
        if (h, w, c) == (28, 28, 1):
            spec["digit_style"] = "mnist"
            how["kind"] += "; 28×28×1 is MNIST's format, so drawings are framed like MNIST digits"
        return spec, how
    if (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) and shape[0] >= 1000:
        n = int(shape[0])
        rate = n if n in AUDIO_RATES else DEFAULT_AUDIO_RATE
        how["kind"] = f"its input is {n} samples of one channel: an audio waveform"
        how["sample_rate"] = (
            f"{n} samples is most likely 1 s at {n} Hz"
            if n in AUDIO_RATES
            else f"{n} samples match no common 1 s window; assumed "
            f"{DEFAULT_AUDIO_RATE} Hz ({n / DEFAULT_AUDIO_RATE:.2f} s)"
        )
        return {
            "kind": "audio",
            "shape": list(shape),
            "sample_rate": rate,
            "samples": n,
            "seconds": n / rate,
            "range": [-1.0, 1.0],
        }, how
    raise UnsupportedModelError(
        f"Model {model.name!r} takes input of shape {shape}. Supported: images (H, W, C) with "
        "C = 1 (greyscale) or 3 (RGB), or audio waveforms (samples,) / (samples, 1) of at least "
        "1000 samples. Not supported: other channel counts, sequences, tabular or text input."
    )


def _activation_name(layer: keras.layers.Layer) -> str:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", "") or ""


def _output_kind(model: keras.Model) -> tuple[str, str]:
    units = int(model.outputs[0].shape[-1])
    last = model.outputs[0]._keras_history[0]  # the layer that produced the output
    while isinstance(last, keras.Model):  # a nested model's output: its own last layer
        last = last.outputs[0]._keras_history[0]
    act = _activation_name(last)
    where = f"the last layer {last.name!r} ({type(last).__name__}"
    where += f", activation {act})" if act and not isinstance(last, keras.layers.Softmax) else ")"
    if units == 1:
        if act == "sigmoid":
            return "binary_probability", (
                f"{where} gives one sigmoid unit: a binary classifier, "
                "shown as two classes p(not) and p(class)"
            )
        return "binary_logit", (
            f"{where} gives one unit without a sigmoid: a binary classifier's "
            "logit, shown as two classes through σ(z)"
        )
    if act == "softmax":
        return "probabilities", f"{where} gives probabilities (shown as they are)"
    if act == "log_softmax":
        return "log_probabilities", f"{where} gives log-probabilities (exponentiated)"
    if act == "sigmoid":
        return "logits", (
            f"{where} gives {units} independent sigmoid units; shown as a softmax "
            "over their values (Layer Lab treats outputs as one choice of class)"
        )
    return "logits", f"{where} gives {units} unnormalised scores (logits), softmaxed for display"


def infer_card(model: keras.Model, name: str) -> dict[str, Any]:
    """The card of a model that came without one, with card["inferred"] saying how."""
    spec, how = _input_spec(model)
    kind, how["output"] = _output_kind(model)
    units = int(model.outputs[0].shape[-1])
    labels = ["not class", "class"] if kind.startswith("binary") else [str(i) for i in range(units)]
    how["labels"] = (
        "no class names in the file: give them in the card (one per line)"
        if units > 1
        else "a binary model: name the positive class in the card"
    )
    return {
        "name": name,
        "title": name,
        "description": "An uploaded model; its card was inferred from the graph.",
        "labels": labels,
        "input": spec,
        "output": kind,
        "inferred": how,
    }


def n_classes(model: keras.Model, kind: str) -> int:
    return 2 if kind.startswith("binary") else int(model.outputs[0].shape[-1])


def check_card(card: Mapping[str, Any], model: keras.Model) -> None:
    """Refuse a card that contradicts the model, saying what was given and what fits."""
    kind = card.get("output")
    if kind not in KINDS and kind != "scores":
        raise CardError(f"output {kind!r} is not one of {', '.join(KINDS)}.")
    units = int(model.outputs[0].shape[-1])
    if kind.startswith("binary") and units != 1:
        raise CardError(f"output {kind!r} is for a one-unit model; this one has {units} units.")
    n = n_classes(model, kind)
    labels = card.get("labels")
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise CardError(f"labels must be a list of class names; got {type(labels).__name__}.")
    if len(labels) != n:
        raise CardError(
            f"{len(labels)} labels given ({', '.join(labels[:5])}"
            f"{', …' if len(labels) > 5 else ''}); this model has {n} classes. Give "
            f"exactly {n} names"
            + (" (or one: the positive class)" if n == 2 and units == 1 else "")
            + "."
        )
    spec = card.get("input", {})
    if spec.get("kind") == "audio":
        rate = spec.get("sample_rate")
        if isinstance(rate, bool) or not isinstance(rate, int) or not 1000 <= rate <= 192000:
            raise CardError(
                f"sample_rate must be a whole number of Hz from 1000 to 192000; got {rate!r}."
            )
    elif spec.get("kind") == "image":
        lo, hi = spec.get("range", [0.0, 1.0])
        if not (np.isfinite([lo, hi]).all() and hi > lo):
            raise CardError(f"input range must be [low, high] with high > low; got {[lo, hi]}.")
        for key in ("mean", "std"):
            if key in spec and len(spec[key]) != spec["shape"][-1]:
                raise CardError(
                    f"input {key} needs one value per channel "
                    f"({spec['shape'][-1]}); got {spec[key]}."
                )


MAX_CARD_CHARS = 1_000_000  # a card or labels file is a few KB; this bounds a hostile one


def card_from_text(text: str, filename: str) -> dict[str, Any]:
    """A card JSON or a labels file (uploaded beside a model) -> a partial card."""
    if len(text) > MAX_CARD_CHARS:
        raise CardError(
            f"{filename!r} is {len(text):,} characters; a card or labels file of "
            f"at most {MAX_CARD_CHARS:,} is accepted."
        )
    if not filename.lower().endswith(".json"):
        return {"labels": labels_from_text(text)}
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise CardError(f"{filename!r} is not valid JSON ({str(e)[:120]}).") from None
    if isinstance(parsed, list):
        return {"labels": [str(x) for x in parsed]}
    if not isinstance(parsed, dict):
        raise CardError(
            f"{filename!r} holds a JSON {type(parsed).__name__}; expected an object "
            "(a card) or a list (class names)."
        )
    return parsed


def labels_from_text(text: str) -> list[str]:
    """Class names from a labels file: a JSON list, or one name per line (blank lines ignored)."""
    s = text.strip()
    if s.startswith("["):
        try:
            out = json.loads(s)
        except ValueError as e:
            raise CardError(
                f"The labels look like JSON but are not valid JSON ({e}); give a "
                "JSON list of names or one name per line."
            ) from None
        if not isinstance(out, list):
            raise CardError("The labels JSON must be a list of names.")
        return [str(x) for x in out]
    return [ln.strip() for ln in s.splitlines() if ln.strip()]


def merge_card(
    base: Mapping[str, Any], override: Mapping[str, Any] | None, model: keras.Model
) -> dict[str, Any]:
    """base with a partial card over it: "input" merged key by key, a preprocessing name
    expanded to its scaling, one label for a binary model read as the positive class."""
    card = copy.deepcopy(dict(base))
    if not override:
        return card
    if not isinstance(override, Mapping):
        raise CardError(f"A card must be a JSON object (a dict); got {type(override).__name__}.")
    over = copy.deepcopy(dict(override))
    spec = over.pop("input", None)
    if spec is not None:
        if not isinstance(spec, Mapping):
            raise CardError(f"card['input'] must be an object; got {type(spec).__name__}.")
        fixed = sorted(
            k
            for k in ("kind", "shape", "samples")
            if k in spec and spec[k] != card.get("input", {}).get(k)
        )
        if fixed:  # the graph decides these; a card saying otherwise would resize inputs to it
            raise CardError(
                f"card['input'] may not change {', '.join(fixed)}: they come from "
                "the model's input layer. Give labels, scaling or sample_rate."
            )
        merged = dict(card.get("input", {}))
        if "preprocessing" in spec:
            key = spec["preprocessing"]
            if key not in PREPROCESSING:
                raise CardError(
                    f"input preprocessing {key!r} is not one of {', '.join(PREPROCESSING)}."
                )
            for k in _SCALING_KEYS:
                merged.pop(k, None)
            merged.update(copy.deepcopy(PREPROCESSING[key]))
        elif "range" in spec:
            for k in _SCALING_KEYS:
                merged.pop(k, None)
            merged["preprocessing"] = "custom"
        merged.update(spec)
        if merged.get("kind") == "audio" and "sample_rate" in spec:
            merged["seconds"] = merged["shape"][0] / merged["sample_rate"]
        card["input"] = merged
    labels = over.get("labels")
    kind = over.get("output", card.get("output"))
    if isinstance(labels, list) and len(labels) == 1 and str(kind).startswith("binary"):
        over["labels"] = [f"not {labels[0]}", str(labels[0])]
    card.update(over)
    if "output" in over or spec is not None or "labels" in over:
        inferred = dict(card.get("inferred", {}))
        for k in ("output", "labels"):
            if k in over:
                inferred[k] = "given in the card"
        if spec is not None:
            inferred["range" if "sample_rate" not in spec else "sample_rate"] = "given in the card"
        card["inferred"] = inferred
    if kind != base.get("output") and "labels" not in over and isinstance(kind, str):
        n = n_classes(model, kind)  # (not a str: check_card below says what is expected)
        card["labels"] = (
            ["not class", "class"] if str(kind).startswith("binary") else [str(i) for i in range(n)]
        )
    check_card(card, model)
    return card
