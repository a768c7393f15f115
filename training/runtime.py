"""TensorFlow set up for training on a CPU box, and the line a card gives about the machine."""

from __future__ import annotations

import os

import tensorflow as tf


def cores() -> int:
    """The cores this process may use (taskset); sched_getaffinity is Linux-only."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def setup(threads: int | None = None) -> None:
    """TensorFlow's thread pools: `threads` (default: every core this process may use) for one
    op, at most 2 ops at a time. Already started (a second recipe in one process): left as is."""
    n = threads or cores()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n))
    except RuntimeError:  # TensorFlow already ran in this process (a test calling a recipe)
        pass


def machine() -> str:
    """e.g. "2-core CPU" or "16-core CPU + GPU": what a card says trained the model."""
    gpu = " + GPU" if tf.config.list_physical_devices("GPU") else ""
    return f"{cores()}-core CPU{gpu}"
