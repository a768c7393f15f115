"""What a filter responds to: dataset exemplars, class profiles and dead filters.

One scan of a batch fills a `FilterIndex` for every channel of every layer at once: per chunk
of inputs one forward pass of the tracer's multi-output model, reduced inside the same
compiled graph to each channel's max over positions, where that max is, and its spatial mean.
The index keeps, per channel, the K_MAX inputs with the highest max (best first) and per-class
sums, so it is small (kilobytes per layer) whatever the batch size; queries are then instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras
import numpy as np
import pandas as pd

from core.errors import InputError, layer_named
from core.graph.engine import Tracer
from core.graph.receptive import as_yxyx, receptive_field
from core.inputs.prepare import prepare
from core.model.load import LoadedModel

_IDENTITY = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
}
K_MAX = 64  # exemplars kept per channel: top_inputs(k=...) accepts up to this many
CHUNK = 128  # inputs per forward pass during a scan


@dataclass(frozen=True, eq=False)
class LayerIndex:
    """One layer's part of the index. C channels, K = min(K_MAX, N) kept inputs."""

    top_value: np.ndarray  # (K, C) float32: the channel's max over positions, best first
    top_input: np.ndarray  # (K, C) int32: which input (row of the scanned batch)
    top_pos: np.ndarray  # (K, C) int32: where the max is, flat over the map's positions
    map_shape: tuple[int, ...]  # spatial shape of the layer's output, () for a vector
    class_mean: np.ndarray  # (n_classes, C) float32: mean over a class's inputs of the
    #                          channel's spatial mean activation (NaN for an empty class)
    fire_rate: np.ndarray  # (C,) float32: fraction of inputs whose max is > 0
    best_mean: np.ndarray  # (C,) float32: the highest spatial mean over the inputs (what
    #                          feature visualisation maximises, for comparison)

    @property
    def channels(self) -> int:
        return int(self.top_value.shape[1])

    @property
    def dead(self) -> np.ndarray:
        """Channels that are never positive anywhere on any scanned input."""
        return np.flatnonzero(self.top_value[0] <= 0)

    def selectivity(self) -> np.ndarray:
        """(C,) class selectivity (Morcos et al. 2018): (μ_best − μ_rest) / (μ_best + μ_rest)
        over the class means; 0 = no preference, 1 = one class only. A channel with negative
        class means (a layer before its activation) is shifted so its lowest class mean is 0."""
        mu = np.nan_to_num(self.class_mean, nan=0.0)  # (n_classes, C)
        mu = mu - np.minimum(mu.min(axis=0), 0.0)
        best = mu.max(axis=0)
        rest = (mu.sum(axis=0) - best) / max(mu.shape[0] - 1, 1)
        return np.where(best + rest > 0, (best - rest) / np.maximum(best + rest, 1e-12), 0.0)


@dataclass(frozen=True, eq=False)
class FilterIndex:
    """Every layer's LayerIndex for one scanned batch."""

    layers: dict[str, LayerIndex]
    labels: np.ndarray  # (N,) int64 true classes, -1 where unknown
    predictions: np.ndarray  # (N,) int64 the model's predicted classes
    grouped_by: str  # what the class profiles group by: "label", "prediction", or both
    seconds: float

    @property
    def n_inputs(self) -> int:
        return int(len(self.labels))

    @property
    def nbytes(self) -> int:
        return (
            sum(
                a.nbytes
                for li in self.layers.values()
                for a in (
                    li.top_value,
                    li.top_input,
                    li.top_pos,
                    li.class_mean,
                    li.fire_rate,
                    li.best_mean,
                )
            )
            + self.labels.nbytes
            + self.predictions.nbytes
        )

    def layer(self, name: str) -> LayerIndex:
        return layer_named(self.layers, name, where="the exemplar index")

    def class_profile(self, name: str, labels: list[str]) -> tuple[pd.DataFrame, list[int]]:
        """(channels × classes DataFrame of layer `name`'s mean activation per class, the
        indices of its dead channels); labels: the class names, in index order."""
        li = self.layer(name)
        df = pd.DataFrame(li.class_mean.T, columns=labels)
        df.index.name = "channel"
        return df, [int(c) for c in li.dead]


class Exemplars(NamedTuple):
    """What api.exemplars finds for some channels of a layer."""

    tops: dict[int, list]  # channel -> [Exemplar], best first (top_inputs)
    patches: dict[int, list[np.ndarray]]  # channel -> uint8 RGB cut to each receptive field
    inputs: dict[int, np.ndarray]  # probe row -> model input
    spectrograms: dict[int, np.ndarray] | None  # probe row -> (T, F); None for images


def exemplar_inputs(
    m: LoadedModel, raws: list[Any], tops: dict[int, list]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray] | None]:
    """The model inputs of the rows top_inputs picked ({row: input}), and for an audio model
    with a spectrogram layer their spectrograms ({row: (T, F)}, one batched trace; else None)."""
    rows = sorted({e.index for exs in tops.values() for e in exs})
    xs = {i: prepare(m, raws[i])[0] for i in rows}
    spec_layer = m.card.get("spectrogram_layer") if m.kind == "audio" else None
    if not (spec_layer and rows):
        return xs, None
    spec_all = m.tracer(np.stack([xs[i] for i in rows]))[spec_layer][..., 0]
    return xs, dict(zip(rows, spec_all))


@dataclass(frozen=True)
class Exemplar:
    """One of a channel's top inputs."""

    index: int  # row in the scanned batch (probe set order)
    value: float  # the channel's max over positions for this input
    position: tuple[int, ...]  # where in the map the max is, e.g. (row, col)
    box: tuple[int, ...]  # receptive field in model-input units: (y0, x0, y1, x1)
    #                                 for images, (t0, t1) samples for a waveform; half-open
    label: int  # true class, -1 if unknown
    local_box: tuple[int, ...] | None = None  # audio: the field in the model's spectrogram
    #                                 cells (frame0, bin0, frame1, bin1), normalisation local


def indexable(tracer: Tracer) -> list[str]:
    """Layers whose outputs have a channel axis: (N, C) vectors or (N, ..., C) maps; not
    Flatten, whose "channels" are every position of the map before it."""
    types = tracer.plan.layer_types()
    outs = tracer.flat.outputs
    return [
        n for n, y in zip(tracer.names, outs) if len(y.shape) >= 2 and types.get(n) != "Flatten"
    ]


def _reducer(tracer: Tracer, names: list[str]) -> Callable[[np.ndarray], list[Any]]:
    """The compiled scan step: x (n, *input) -> per layer (max, argmax, mean), each (n, C)."""
    pick = [tracer.names.index(n) for n in names]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # plain tf ops: keras.ops.argmax/max here cost 2x the scan

        reshape, vmax, vmean = tf.reshape, tf.reduce_max, tf.reduce_mean
        shape0 = lambda y: tf.shape(y)[0]  # noqa: E731
        vargmax = lambda r: tf.argmax(r, axis=1, output_type=tf.int32)  # noqa: E731
    else:
        ops = keras.ops
        reshape, vmax, vmean = ops.reshape, ops.max, ops.mean
        shape0 = lambda y: ops.shape(y)[0]  # noqa: E731
        vargmax = lambda r: ops.cast(ops.argmax(r, axis=1), "int32")  # noqa: E731

    def reduce(x):
        outs = tracer.flat(x, training=False)
        res = []
        for i in pick:
            y = outs[i]
            r = reshape(y, (shape0(y), -1, y.shape[-1]))  # (n, P, C)
            res.append((vmax(r, axis=1), vargmax(r), vmean(r, axis=1)))
        return res

    if keras.backend.backend() == "tensorflow":
        inp = tracer.flat.inputs[0]
        spec = tf.TensorSpec((None, *inp.shape[1:]), inp.dtype)
        return tf.function(reduce, input_signature=[spec], reduce_retracing=True)
    return reduce


@dataclass(frozen=True, eq=False)
class CompiledScan:
    """The scan's compiled step for one tracer (build once with compile_scan, reuse)."""

    names: list[str]  # every indexed layer
    same: dict[str, str]  # identity-at-inference layer -> the layer whose result it shares
    reduced: list[str]  # the layers the step reduces, in its output order
    fn: Callable[[np.ndarray], list[Any]]


def compile_scan(tracer: Tracer) -> CompiledScan:
    names = indexable(tracer)
    # Layers that are the identity at inference share their parent's reduction (no 2nd pass).
    types = tracer.plan.layer_types()
    same = {
        n: tracer.plan.parents(n)[0]
        for n in names
        if types.get(n) in _IDENTITY
        and len(tracer.plan.parents(n)) == 1
        and tracer.plan.parents(n)[0] in names
    }
    for nm in same:  # a chain of them: all share the first real one
        while same[nm] in same:
            same[nm] = same[same[nm]]
    reduced = [n for n in names if n not in same]
    return CompiledScan(names, same, reduced, _reducer(tracer, reduced))


@dataclass
class ScanPart:
    """What a scan of some consecutive rows gathered (its rows numbered in the whole batch);
    parts of consecutive row ranges merge (merge_parts) into what one scan of them gives."""

    n: int  # rows scanned
    top: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # (values, rows, positions)
    sums: dict[str, np.ndarray]  # (n_classes, C) float64 sums of spatial means per class
    fires: dict[str, np.ndarray]  # (C,) inputs whose max is > 0
    best: dict[str, np.ndarray]  # (C,) highest spatial mean
    preds: np.ndarray  # (n,) int64 predicted classes
    counts: np.ndarray  # (n_classes,) int64 inputs per class group


def _merge_top(kept, new):
    """Best K_MAX of kept (earlier rows) then new, ties kept in row order (a stable sort)."""
    if kept is None:
        v, r, p = new
    else:
        v, r, p = (np.concatenate([a, b]) for a, b in zip(kept, new))
    order = np.argsort(-v, axis=0, kind="stable")[:K_MAX]
    return tuple(np.take_along_axis(a, order, axis=0) for a in (v, r, p))


def merge_parts(parts: list[ScanPart]) -> ScanPart:
    """Parts of consecutive row ranges, in order, as one."""
    out = parts[0]
    for q in parts[1:]:
        out = ScanPart(
            out.n + q.n,
            {nm: _merge_top(out.top[nm], q.top[nm]) for nm in out.top},
            {nm: out.sums[nm] + q.sums[nm] for nm in out.sums},
            {nm: out.fires[nm] + q.fires[nm] for nm in out.fires},
            {nm: np.maximum(out.best[nm], q.best[nm]) for nm in out.best},
            np.concatenate([out.preds, q.preds]),
            out.counts + q.counts,
        )
    return out


def _labels(n: int, labels: np.ndarray | None) -> np.ndarray:
    if n == 0:
        raise InputError("The batch to scan is empty; give at least one input.")
    lab = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    if lab.shape != (n,):
        raise InputError(
            f"Got {lab.shape[0] if lab.ndim else 'scalar'} labels for {n} inputs; "
            "expected one label (or -1) per input."
        )
    return lab


def scan_part(
    tracer: Tracer,
    x: np.ndarray,
    *,
    labels: np.ndarray | None,
    n_classes: int,
    first_row: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
    compiled: CompiledScan | None = None,
) -> ScanPart:
    """Scan the rows x (n, *input), numbered from first_row, one pass per chunk."""
    n = int(len(x))
    lab = _labels(n, labels)
    step = compiled or compile_scan(tracer)
    out_name = tracer.plan.output_name
    part: ScanPart | None = None
    for i0 in range(0, n, chunk):
        xb = np.asarray(x[i0 : i0 + chunk], tracer.flat.inputs[0].dtype)
        res = {
            nm: tuple(keras.ops.convert_to_numpy(t) for t in r)
            for nm, r in zip(step.reduced, step.fn(xb))
        }
        res.update({nm: res[p] for nm, p in step.same.items()})
        m = len(xb)
        preds = np.zeros(m, np.int64)
        if out_name in res:
            preds = np.argmax(res[out_name][2], axis=1).astype(np.int64)
        group = np.where(lab[i0 : i0 + m] >= 0, lab[i0 : i0 + m], preds)
        onehot = np.eye(n_classes, dtype=np.float64)[np.clip(group, 0, n_classes - 1)]  # (m, K)
        rows = np.arange(first_row + i0, first_row + i0 + m, dtype=np.int32)[:, None]
        this = ScanPart(
            m,
            {
                nm: _merge_top(None, (mx, np.broadcast_to(rows, mx.shape), am))
                for nm, (mx, am, _) in res.items()
            },
            {nm: onehot.T @ mean.astype(np.float64) for nm, (_, _, mean) in res.items()},
            {nm: (mx > 0).sum(axis=0) for nm, (mx, _, _) in res.items()},
            {nm: mean.max(axis=0) for nm, (_, _, mean) in res.items()},
            preds,
            onehot.sum(axis=0).astype(np.int64),
        )
        part = this if part is None else merge_parts([part, this])
        if on_progress is not None:
            on_progress(min(i0 + m, n), n)
    assert part is not None  # n >= 1
    return part


def finish(
    tracer: Tracer, part: ScanPart, labels: np.ndarray | None, seconds: float
) -> FilterIndex:
    """The index from a whole batch's (merged) scan."""
    lab = _labels(part.n, labels)
    names = list(part.top)
    shapes = {
        nm: tuple(int(d) for d in tracer.flat.outputs[tracer.names.index(nm)].shape[1:-1])
        for nm in names
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        layers = {
            nm: LayerIndex(
                top_value=part.top[nm][0].astype(np.float32),
                top_input=part.top[nm][1].astype(np.int32),
                top_pos=part.top[nm][2].astype(np.int32),
                map_shape=shapes[nm],
                class_mean=(part.sums[nm] / part.counts[:, None]).astype(np.float32),
                fire_rate=(part.fires[nm] / part.n).astype(np.float32),
                best_mean=part.best[nm].astype(np.float32),
            )
            for nm in names
        }
    known = lab >= 0
    grouped = (
        "label"
        if known.all()
        else "prediction"
        if not known.any()
        else "label where known, else prediction"
    )
    return FilterIndex(layers, lab, part.preds, grouped, seconds)


def scan(
    tracer: Tracer,
    x: np.ndarray,
    *,
    labels: np.ndarray | None,
    n_classes: int,
    on_progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
    compiled: CompiledScan | None = None,
) -> FilterIndex:
    """Index every channel of every layer over the batch x (N, *input), one pass per chunk.

    labels: (N,) true classes or -1; the class profiles group inputs by their label where
    known, else by the model's prediction.
    compiled: from compile_scan(tracer), to scan several batches with one compiled step.
    """
    t0 = time.perf_counter()
    part = scan_part(
        tracer,
        x,
        labels=labels,
        n_classes=n_classes,
        on_progress=on_progress,
        chunk=chunk,
        compiled=compiled,
    )
    return finish(tracer, part, labels, time.perf_counter() - t0)


def top_inputs(
    tracer: Tracer,
    index: FilterIndex,
    layer: str,
    channel: int,
    *,
    k: int = 9,
    local_origin: str | None = None,
) -> list[Exemplar]:
    """The k inputs whose max activation of the channel is highest, best first, with the
    position of that max and its receptive field (see core.graph.receptive)."""
    li = index.layer(layer)
    if (
        isinstance(channel, bool)
        or not isinstance(channel, (int, np.integer))
        or not 0 <= int(channel) < li.channels
    ):
        raise InputError(
            f"Channel {channel!r} does not exist in {layer!r}; expected an integer "
            f"0..{li.channels - 1}."
        )
    kept = li.top_value.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= K_MAX:
        raise InputError(f"k={k!r} exemplars were asked for; expected an integer 1..{K_MAX}.")
    out = []
    for j in range(min(int(k), kept)):
        pos = (
            tuple(int(v) for v in np.unravel_index(int(li.top_pos[j, channel]), li.map_shape))
            if li.map_shape
            else ()
        )
        box = as_yxyx(receptive_field(tracer.plan, layer, pos, channel=int(channel)))
        local = None
        if (
            local_origin is not None
            and li.map_shape
            and tracer.plan.index(local_origin) < tracer.plan.index(layer)
        ):
            local = as_yxyx(
                receptive_field(
                    tracer.plan, layer, pos, channel=int(channel), origin=local_origin, local=True
                )
            )
        row = int(li.top_input[j, channel])
        out.append(
            Exemplar(row, float(li.top_value[j, channel]), pos, box, int(index.labels[row]), local)
        )
    return out
