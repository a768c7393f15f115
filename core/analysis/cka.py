"""Model vs model: linear CKA between every layer of two networks (Kornblith et al. 2019).

Over the same n inputs, layer L's activations are X (n, p). Its centred Gram matrix is
K = H X Xᵀ H (H = I − 1/n), and linear CKA(K, L) = <K, L>_F / (‖K‖_F ‖L‖_F): invariant to
rotations and isotropic scaling of the features, so two networks (or layers of different
widths) can be compared. With n×n Grams, all layers_a × layers_b values are one matrix
product of the normalised, flattened Grams: cheap for a few hundred inputs, whatever p is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import InputError, integer
from core.graph.engine import Tracer

MIN_INPUTS = 3


@dataclass(frozen=True)
class CKAResult:
    matrix: np.ndarray  # (len(layers_a), len(layers_b)) in [0, 1]; NaN for a constant layer
    layers_a: list[str]
    layers_b: list[str]
    n: int  # inputs compared


def centred_gram(x: np.ndarray) -> np.ndarray:
    """(n, ...) activations -> (n, n) float64 centred Gram matrix H X Xᵀ H."""
    f = np.asarray(x, np.float32).reshape(len(x), -1)
    k = (f @ f.T).astype(np.float64)  # float32 product (p may be large), float64 after
    return k - k.mean(0) - k.mean(1)[:, None] + k.mean()


def layer_grams(
    tracer: Tracer,
    x: np.ndarray,
    *,
    batch_size: int = 50,
    max_bytes: int = 256 * 2**20,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Every traced layer's centred Gram over the inputs x (n, *input): (names, (L, n, n)).

    A Gram needs all n rows of a layer at once; holding every layer of n inputs can take
    gigabytes (a VGG: ~700k values per input; a ResNet50: 141 MB per input). Within max_bytes
    they are held in memory; past it, each pass of the tracer appends every layer's rows to a
    file of its own, and the Grams are then made one layer at a time from the files, so memory
    holds one pass's trace or one layer's activations, and the inputs pass through once.
    """
    n = len(x)
    first = tracer(x[:1])
    names = list(first)
    total = sum(int(np.prod(v.shape[1:])) * 4 * n for v in first.values())
    grams = np.empty((len(names), n, n))
    passes = int(np.ceil(n / batch_size))
    with tempfile.TemporaryDirectory(prefix="layerlab_cka_") as tmp:
        spill = total > max_bytes
        files = [os.path.join(tmp, f"{i}.f32") for i in range(len(names))]
        acts = {} if spill else {k: np.empty((n, *first[k].shape[1:]), np.float32) for k in names}
        for done, i in enumerate(range(0, n, batch_size), 1):
            out = tracer(x[i : i + batch_size])
            for j, k in enumerate(names):
                if spill:  # written, not memory-mapped: the page cache is not this process's
                    with open(files[j], "ab") as f:
                        f.write(np.ascontiguousarray(out[k], np.float32).tobytes())
                else:
                    acts[k][i : i + batch_size] = out[k]
            del out
            if on_progress is not None:
                on_progress(done, passes)
        for j, k in enumerate(names):
            a = (
                np.fromfile(files[j], np.float32).reshape(n, *first[k].shape[1:])
                if spill
                else acts.pop(k)
            )
            grams[j] = centred_gram(a)
            del a
    return names, grams


def cka_matrix(grams_a: np.ndarray, grams_b: np.ndarray) -> np.ndarray:
    """(La, n, n), (Lb, n, n) centred Grams -> (La, Lb) linear CKA: normalised Frobenius
    inner products, all pairs in one product of the flattened Grams."""
    fa = grams_a.reshape(len(grams_a), -1)
    fb = grams_b.reshape(len(grams_b), -1)
    na, nb = np.linalg.norm(fa, axis=1), np.linalg.norm(fb, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = (fa @ fb.T) / np.outer(na, nb)
    m[(na == 0)[:, None] | (nb == 0)[None, :]] = np.nan  # a constant layer: undefined
    return np.clip(m, 0.0, 1.0)


def cka(
    tracer_a: Tracer,
    tracer_b: Tracer,
    x_a: np.ndarray | None,
    x_b: np.ndarray | None,
    *,
    batch_size: int = 50,
    max_bytes: int = 256 * 2**20,
    on_progress: Callable[[int, int], None] | None = None,
) -> CKAResult:
    """Linear CKA between every layer of model A and of model B. x_a, x_b: the same inputs,
    each prepared for its model ((n, *input_a), (n, *input_b)); "input" rows are included.
    batch_size inputs per pass and max_bytes of activations per group of layers bound the
    peak memory (core.work.budget.cka_plan picks them)."""
    n = 0 if x_a is None else len(x_a)
    if x_a is None or x_b is None or n < MIN_INPUTS or len(x_b) != n:
        raise InputError(
            f"CKA compares layers over the same inputs: got {n} for model A and "
            f"{0 if x_b is None else len(x_b)} for model B; expected the same "
            f"number, at least {MIN_INPUTS} (a few hundred is typical)."
        )
    batch_size = integer("batch_size", batch_size, 1, 4096)
    names_a, ga = layer_grams(
        tracer_a,
        x_a,
        batch_size=batch_size,
        max_bytes=max_bytes,
        on_progress=None if on_progress is None else lambda i, k: on_progress(i, 2 * k),
    )
    if tracer_b is tracer_a and np.array_equal(x_a, x_b):
        names_b, gb = names_a, ga
    else:
        names_b, gb = layer_grams(
            tracer_b,
            x_b,
            batch_size=batch_size,
            max_bytes=max_bytes,
            on_progress=None if on_progress is None else lambda i, k: on_progress(k + i, 2 * k),
        )
    if on_progress is not None:
        on_progress(1, 1)
    return CKAResult(matrix=cka_matrix(ga, gb), layers_a=names_a, layers_b=names_b, n=n)
