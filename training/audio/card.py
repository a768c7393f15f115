"""The spoken-digit model's card: what the app reads about the model, and how it was made.

The card gives the input (raw 8 kHz waveform, 1 s) and the in-graph front end (so the app can
hear a filter), the labels, the preprocessing, the data and recipe, the held-out scores (the
k-fold score over real speakers first) and the chain of commands that rebuilds the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from training.audio.augment import AUGMENTATION_TEXT
from training.audio.model import BLOCKS, STFT_CARD
from training.audio.recipe import BATCH, LABELS, SECONDS, SEED, SR, VAL_SPEAKER, WORDS, N, Stage
from training.output import provenance

if TYPE_CHECKING:
    from training.audio.train import Data

TITLE = "Spoken digits (raw waveform, in-model log-mel spectrogram)"
DESCRIPTION = (
    "A d-DeVIS-style CNN that recognises one spoken English digit (zero to nine) in a 1 s, "
    "8 kHz mono clip. The model takes the raw waveform and computes its log-mel spectrogram "
    "(keras MelSpectrogram, dB) inside the graph, normalises it per clip, then four "
    "Conv2D/BatchNorm/ReLU/MaxPool/Dropout blocks ("
    + ", ".join(f"{f} {k}x{k}" for f, k in BLOCKS)
    + ") and a dense layer."
)
PREPROCESSING = (
    "Any recording -> mono (channels averaged) -> 8 kHz (soxr_hq) -> the spoken word "
    "found (frames within 35 dB of the loudest, above the noise floor) and placed in a 1 s "
    "window centred on its energy centroid, zero-padded or cut (core.inputs.audio.to_mono + "
    "place_word). float32 samples in [-1, 1], no gain normalisation: the model's "
    "per-clip LayerNormalization makes it level-independent."
)
SETS = {  # held-out set -> (what it is, its label in the app)
    f"fsdd_{VAL_SPEAKER}": (
        f"FSDD speaker {VAL_SPEAKER} (never trained on)",
        f"FSDD speaker {VAL_SPEAKER}",
    ),
    "synth_heldout": (
        "espeak-ng voices/variants never trained on (see scripts/synth_voices.py HELD_VOICES, "
        "HELD_VARIANTS)",
        "unheard synthetic voices",
    ),
    "real_heldout": (
        "real recordings never trained on (Speech Commands SC09 sample, sc09_mini: 30 clips, "
        "29 speakers, many microphones)",
        "real speakers (sc09_mini)",
    ),
}


def augmentation_text(stage: Stage) -> str:
    """The card's training.augmentation of a stage."""
    if stage.spec_mask is None:
        return AUGMENTATION_TEXT
    n_t, max_t, n_f, max_f = stage.spec_mask
    return (
        f"{AUGMENTATION_TEXT}; in the training graph only, SpecAugment-style masking of the "
        f"normalised spectrogram: {n_t} time bands of 0-{max_t} frames and {n_f} frequency "
        f"bands of 0-{max_f} mel bins per clip set to 0"
    )


def optimizer_text(stage: Stage) -> str:
    """The card's training.optimizer of a stage."""
    kept = (
        "the epoch with the best mean accuracy over the held-out sets is kept"
        if stage.select_best
        else "the last epoch is kept (no selection on a held-out set)"
    )
    return (
        f"Adam, batch {BATCH}, learning rate warm-up to {stage.lr:g} over one epoch then "
        f"cosine decay to 2 % over the epochs; sparse cross-entropy on the logits; {kept}; "
        f"seed {SEED}"
    )


def kfold_text(folds: int, clips: int, speakers: int) -> str:
    """How the k-fold score over real speakers was measured."""
    return (
        f"{folds}-fold cross-validation by speaker over the {clips} real clips ({speakers} "
        "speakers): each clip scored once by a fold model trained like the final one (same data "
        "mix, augmentation, start and seed) without that clip's speaker, for the same epochs; "
        "the final model heard them all"
    )


def init_text(init: str, start_retrain: str | None) -> str | None:
    """The card's training.init: the start's path and, from its card, how it was made."""
    if not init:
        return None
    if start_retrain is None:
        return f"weights of {init} (no card beside it: how it was made is not recorded)"
    return f"weights of {init} (its training: {start_retrain})"


def card(
    stage: Stage,
    d: Data,
    *,
    final: dict,
    cv: dict | None,
    before: dict | None,
    init: str | None,
    retrain: str,
    seconds: float,
    smoke: bool,
    model: keras.Model,
) -> dict:
    """The card of a stage's final model. final: fit()'s info; cv: cross_validate()'s report
    (None without folds); before: the start's scores on the same sets (None from scratch)."""
    metrics: dict = {}
    about = {k: SETS[k][0] for k in d.val}
    if cv is not None:
        method = kfold_text(cv["folds"], cv["real_speakers"]["n"], cv["speakers"])
        about["real_speakers_kfold"] = method
        metrics["held_out_real_speakers"] = {
            **cv["real_speakers"],
            "method": method,
            "per_fold": cv["per_fold"],
            "label": f"real speakers ({cv['folds']}-fold by speaker)",
        }
    chosen = "; its epoch was chosen by the mean accuracy over these sets" * stage.select_best
    for k, v in final["held_out"].items():
        metrics[k] = {
            **v,
            "method": f"the final model (this file), never trained on this set{chosen}",
            "label": SETS[k][1],
        }
    metrics["validation_accuracy"] = {
        **({"real_speakers_kfold": cv["real_speakers"]["accuracy"]} if cv else {}),
        **{k: v["accuracy"] for k, v in final["held_out"].items()},
    }
    if before is not None:
        metrics["before"] = {
            k: {m: v[m] for m in ("accuracy", "n", "wilson_95")} for k, v in before.items()
        }
    training = {
        "data": d.sources,
        "held_out_speaker": VAL_SPEAKER,
        "validation_sets": about,
        "init": init,
        "augmentation": augmentation_text(stage),
        "optimizer": optimizer_text(stage),
        "epochs": final["epochs"],
        "epochs_planned": final["epochs_planned"],
        **({"best_epoch": final["best_epoch"]} if "best_epoch" in final else {}),
        "clips_per_epoch": final["clips_per_epoch"],
        "seconds": round(seconds, 1),
        "seconds_final_model": final["seconds"],
        **provenance(),
        "smoke": smoke,
    }
    return {
        "name": "spoken_digits",
        "title": TITLE,
        "description": DESCRIPTION,
        "labels": LABELS,
        "words": WORDS,
        "input": {
            "kind": "audio",
            "shape": [N],
            "sample_rate": SR,
            "seconds": SECONDS,
            "range": [-1.0, 1.0],
        },
        "stft": STFT_CARD,
        "output": "probabilities",
        "logits_layer": "logits",
        "spectrogram_layer": "spectrogram",
        "spectrogram_shape": list(model.get_layer("spectrogram").output.shape[1:]),
        "spectrogram_axes": ["time", "frequency", "channel"],
        "spectrogram_units": "dB (10 log10 power), floor 10 log10(min_power)",
        "preprocessing": PREPROCESSING,
        "training": training,
        "metrics": metrics,
        "history": final["history"],
        "retrain": retrain,
    }
