"""What a model card says about training, as tables a page can draw (no Streamlit).

    training_history(card) -> long DataFrame (epoch, measure, value, panel) or None
    validation_sets(card)  -> DataFrame (set, about, accuracy, n, low, high) or None

Cards written by the training scripts keep the history under "training" -> "history" (image
models) or "history" (the audio model), one dict per epoch, and name their validation sets
under "training" -> "validation_sets" with the numbers under "metrics".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

# Per-epoch keys that are not a measure to draw.
_NOT_MEASURES = {"epoch", "seconds", "lr", "learning_rate"}
_NAMES = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "accuracy": "training accuracy",
    "train_acc": "training accuracy",
    "val_acc": "validation accuracy",
    "val_accuracy": "validation accuracy",
}


def training_history(card: Mapping[str, Any]) -> pd.DataFrame | None:
    """Every numeric per-epoch measure in long form; panel is "loss" or "accuracy" (the rest:
    accuracies on named validation sets, named as the card names them)."""
    training = card.get("training") or {}
    rows = training.get("history") if isinstance(training, Mapping) else None
    rows = rows if isinstance(rows, list) else card.get("history")
    if not isinstance(rows, list) or not rows:
        return None
    sets = training.get("validation_sets") if isinstance(training, Mapping) else None
    labels = _set_labels(card)
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        epoch = row.get("epoch", i + 1)
        for k, v in row.items():
            if k in _NOT_MEASURES or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            name = _NAMES.get(k) or (
                f"validation: {labels.get(k, k)}" if isinstance(sets, Mapping) and k in sets else k
            )
            out.append(
                {
                    "epoch": int(epoch),
                    "measure": name,
                    "value": float(v),
                    "panel": "loss" if "loss" in k else "accuracy",
                }
            )
    return pd.DataFrame(out, columns=["epoch", "measure", "value", "panel"]) if out else None


def _set_labels(card: Mapping[str, Any]) -> dict[str, str]:
    metrics = card.get("metrics") or {}
    return {
        k: m["label"]
        for k, m in metrics.items()
        if isinstance(m, Mapping) and isinstance(m.get("label"), str)
    }


def validation_sets(card: Mapping[str, Any]) -> pd.DataFrame | None:
    """The card's validation sets with their accuracy (and size and 95 % interval where the
    card gives them): labelled metrics first, then sets only named under training."""
    metrics = card.get("metrics") or {}
    training = card.get("training") or {}
    about = training.get("validation_sets") if isinstance(training, Mapping) else None
    about = about if isinstance(about, Mapping) else {}
    plain = metrics.get("validation_accuracy")
    plain = plain if isinstance(plain, Mapping) else {}
    sizes = metrics.get("validation_sizes")
    sizes = sizes if isinstance(sizes, Mapping) else {}
    rows = []
    for k, m in metrics.items():
        if isinstance(m, Mapping) and isinstance(m.get("accuracy"), (int, float)):
            low, high = (m.get("wilson_95") or [None, None])[:2]
            rows.append(
                {
                    "set": m.get("label", k),
                    "about": about.get(k, m.get("method", "")),
                    "accuracy": float(m["accuracy"]),
                    "n": m.get("n", sizes.get(k)),
                    "low": low,
                    "high": high,
                }
            )
    seen = {k for k, m in metrics.items() if isinstance(m, Mapping) and "accuracy" in m}
    for k in [*about, *plain]:
        if k in seen or not isinstance(plain.get(k), (int, float)):
            continue
        seen.add(k)
        rows.append(
            {
                "set": k,
                "about": about.get(k, ""),
                "accuracy": float(plain[k]),
                "n": sizes.get(k),
                "low": None,
                "high": None,
            }
        )
    cols = ["set", "about", "accuracy", "n", "low", "high"]
    return pd.DataFrame(rows, columns=cols) if rows else None


# What each training script reads, for a user with a fresh clone (scripts/*.py --help).
DATA_NOTES = {
    "train_lenet.py": "MNIST downloads through keras.datasets (internet needed), or give "
    "--data <folder with the MNIST IDX .gz files>.",
    "train_vgg_cifar.py": "CIFAR-10 downloads through keras.datasets (internet needed), or give "
    "--data <folder>; about 46 min on a 2-core CPU (--max-minutes caps it).",
    "train_audio.py": "Give --data <folder> holding fsdd/ (git clone "
    "https://github.com/Jakobovski/free-spoken-digit-dataset) and sc09_more/, sc09_mini/ "
    "(Speech Commands digit clips with a manifest.csv of path, digit, speaker: "
    "training/data.py); synth_voices.py needs espeak-ng.",
}


def retrain_steps(card: Mapping[str, Any]) -> tuple[list[str], list[str]] | None:
    """The card's retrain chain as commands, one per line, and what data each script reads
    (None when the card gives no recipe)."""
    chain = card.get("retrain")
    if not isinstance(chain, str) or not chain.strip():
        return None
    steps = [c.strip() for c in chain.split("&&") if c.strip()]
    notes = [n for script, n in DATA_NOTES.items() if any(script in c for c in steps)]
    return steps, notes
