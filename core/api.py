"""The scripting API (DESIGN.md): usable from a notebook, the pages and the tests.

from core import api
m = api.load("lenet_mnist")
api.predict(m, raw)   # (n_classes,) probabilities
api.trace(m, raw)     # {"input": ..., layer: output, ...} in graph order, no batch axis

Heavy calls (@heavy) take executor=: None (the local worker pool, or LAYERLAB_DASK_SCHEDULER's
cluster), a concurrent.futures.Executor, core.work.INLINE or a dask.distributed.Client (core.work);
core.work.budget sizes their chunks to LAYERLAB_JOB_MB before anything is allocated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from core.analysis.attacks import AttackResult, attack_methods, in_raw_format, run_attack
from core.analysis.attacks import sweep as _sweep
from core.analysis.attribution import (
    Curve,
    Similarity,
    attribute,
    faithfulness,
    method_names,
)
from core.analysis.attribution import randomization_check as _randomization_check
from core.analysis.attribution.loaded import explain_input, explainer, faithfulness_baselines
from core.analysis.attribution.methods import grad_cam
from core.analysis.cka import cka as _cka
from core.analysis.compare import layer_distances, substantive_layers
from core.analysis.evaluation import Evaluation, evaluate  # issue 38: where a model fails
from core.analysis.exemplars import Exemplars, exemplar_inputs, scan
from core.analysis.exemplars import top_inputs as _top
from core.analysis.failures import channel_means, error_filters, layer_map
from core.analysis.featvis import synthesise
from core.analysis.frozen import frozen_trace
from core.analysis.importance import filter_importance
from core.analysis.tcav import tcav  # issue 39: concepts (TCAV) and one unit's arithmetic
from core.analysis.unit import unit
from core.errors import LayerNameError, choice
from core.graph.structure import summarize
from core.inputs.prepare import labelled, prepare, stack
from core.inputs.probe import probe_set as _probe
from core.model.load import LoadedModel, builtin_names, load, load_bytes
from core.model.onnx import NodeCheck, compare_file
from core.model.outputs import probabilities
from core.share.lab import delete_share, open_share, share
from core.show.audio_view import hear_filter as _hear
from core.work import budget, shards
from core.work.run import heavy

__all__ = [
    "load",
    "load_bytes",
    "builtin_names",
    "predict",
    "trace",
    "run",
    "saliency",
    "hear_filter",
    "structure",
    "importance",
    "sweep",
    "distances",
    "attack_methods",
    "attack",
    "LoadedModel",
    "attribution_methods",
    "grad_cam_layers",
    "auto_cam_layers",
    "attribution",
    "deletion_auc",
    "insertion_auc",
    "randomization_check",
    "cka",
    "probe_set",
    "filter_index",
    "top_inputs",
    "exemplars",
    "Exemplars",
    "class_profile",
    "visualize",
    "compare_onnx",
    "share",
    "open_share",
    "delete_share",
    "unit",
    "tcav",
    "evaluate",
    "Evaluation",
    "layer_summaries",
    "error_filters",
    "layer_map",
]

_BATCH = 256


class Run(NamedTuple):
    """One input through the model: what the pages show (api.run)."""

    trace: dict[str, np.ndarray]  # as api.trace
    probabilities: np.ndarray  # (n_classes,), read off the trace's output layer
    notes: list[str]  # the conversions prepare() made (resize, resample, ...)


class Saliency(NamedTuple):
    map: np.ndarray  # (H, W) image / spectrogram cells; (T,) a waveform model
    layer: str | None  # Grad-CAM's layer (the one "auto" picked); None: gradient


SALIENCY_METHODS = ("gradient", "grad_cam")


def predict(m: LoadedModel, raw: Any) -> np.ndarray:
    """One raw -> (n_classes,) probabilities; a list of raws -> (N, n_classes)."""
    many = isinstance(raw, list)
    xs = np.stack([prepare(m, r)[0] for r in (raw if many else [raw])])
    # The model's own compiled forward pass (owned by its tracer), in batches.
    y = np.concatenate([m.tracer.forward(xs[i : i + _BATCH]) for i in range(0, len(xs), _BATCH)])
    p = probabilities(m.card, y)
    return p if many else p[0]


def trace(
    m: LoadedModel, raw: Any, *, frozen: Mapping[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """{"input": model input, layer: output, ...}: every layer, graph order, no batch axis.

    frozen: {layer: [channels]} zeroes those output channels (NeuralVis' freezing), or
    {layer: Intervention} (core.graph.interventions: mean ablation, scaling, keep-only). Only layers from
    the earliest frozen one on are recomputed, by a compiled graph kept per set of frozen
    layers; the rest is the unfrozen trace of this input, remembered for the last few inputs.

    Every array is read-only: a view of the engine's output buffer, not a copy (copying
    MobileNetV2's 16 MB of outputs costs a tenth of its forward pass), and, when frozen,
    shared with other callers. To edit one, copy it first: np.array(tr[name]).
    """
    x, _ = prepare(m, raw)
    return frozen_trace(m, x, frozen)


def run(m: LoadedModel, raw: Any, *, frozen: Mapping[str, Any] | None = None) -> Run:
    """(trace, probabilities, notes) of one raw input: one forward pass (api.trace)."""
    x, notes = prepare(m, raw)
    tr = frozen_trace(m, x, frozen)
    return Run(tr, probabilities_from_trace(m, tr), notes)


def probabilities_from_trace(m: LoadedModel, tr: dict[str, np.ndarray]) -> np.ndarray:
    """The model's prediction, read off a trace (no second forward pass)."""
    return probabilities(m.card, tr[m.tracer.plan.output_name][None])[0]


def saliency(
    m: LoadedModel,
    raw: Any,
    *,
    method: str,
    target: int | None = None,
    layer: str | None = "auto",
    frozen: Mapping[str, Any] | None = None,
) -> Saliency:
    """The Freeze page's two maps, through api.attribution: "gradient" (|d score / d input|,
    max over channels; audio: over the spectrogram's cells) or "grad_cam" on `layer` ("auto":
    the last convolution block's first output with positive evidence), normalised to [0, 1],
    with the layer it used. Under a freeze configuration, of the frozen model."""
    choice("saliency method", method, SALIENCY_METHODS, fix="api.attribution has more.")
    if method == "gradient":
        return Saliency(attribution(m, raw, method="gradient", target=target, frozen=frozen), None)
    if layer is None:
        raise LayerNameError(
            f"Grad-CAM needs a layer: 'auto' or one of {', '.join(grad_cam_layers(m))}; got None."
        )
    ex, x, z, t, tfs = explain_input(m, raw, target, frozen)
    cam, name = grad_cam(ex, x, z, t, layer=layer, frozen=tfs)
    top = cam.max()
    return Saliency(cam / top if top > 0 else cam, name)


def hear_filter(
    m: LoadedModel,
    raw: Any,
    layer: str,
    channel: int,
    *,
    method: str = "phase",
    frozen: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """What one filter of an audio model hears in a clip (d-DeVIS), under a freeze
    configuration: float32 audio as long as the model's input (core.show.audio_view.hear_filter)."""
    return _hear(m, trace(m, raw, frozen=frozen), layer, channel, method=method)


@heavy(shard=shards.IMPORTANCE)
def importance(
    m: LoadedModel,
    raws: list[Any],
    layer: str,
    *,
    labels: list[Any] | None = None,
    channels: list[int] | None = None,
    on_progress=None,
    executor: Any = None,
):
    """Rank the channels of `layer` (or only `channels`) by the damage freezing each one alone
    does (the drop in the predicted class's logit and probability for raws[0], the accuracy
    drop over the labelled raws): a DataFrame sorted by logit_drop (core.analysis.importance)."""
    x, idx = labelled(m, raws, labels)
    chunk = budget.importance_chunk(m.tracer, len(x))
    kw = dict(labels=idx, card=m.card, channels=channels, chunk=chunk, on_progress=on_progress)
    return filter_importance(m.tracer, x, layer, **kw)


@heavy(shard=shards.SWEEP)
def sweep(
    m: LoadedModel,
    raws: list[Any],
    *,
    method: str,
    epsilons: list[float],
    on_progress=None,
    executor: Any = None,
):
    """Success rate of an untargeted attack against each epsilon (the attack space, see
    core.analysis.attacks.to_epsilon) over a batch of raws: (DataFrame epsilon, success_rate, n;
    seconds)."""
    chunk = budget.sweep_chunk(m.tracer)
    xs = stack(m, raws)
    return _sweep(m, xs, method=method, epsilons=epsilons, chunk=chunk, on_progress=on_progress)


def distances(m: LoadedModel, raw_a: Any, raw_b: Any, *, frozen: Mapping[str, Any] | None = None):
    """Where two inputs part ways, both traced under `frozen`: compare.layer_distances, the
    substantive layers marked (compare.substantive_layers: what parting_layer looks at)."""
    ta, tb = trace(m, raw_a, frozen=frozen), trace(m, raw_b, frozen=frozen)
    return layer_distances(ta, tb, substantive=substantive_layers(m.tracer.plan, m.card))


def structure(m: LoadedModel):
    """Layer table, graph and weight statistics of a model (core.graph.structure.summarize)."""
    return summarize(m.tracer.plan)


def attack(
    m: LoadedModel,
    raw: Any,
    *,
    method: str,
    epsilon: float,
    target: int | None = None,
    steps: int | None = None,
    executor: Any = None,
) -> AttackResult:
    """An adversarial version of one raw input (foolbox; see core.analysis.attacks).

    epsilon: images in the [0, 1] image scale whatever the model's own input scaling (8/255 =
    8 pixel levels); audio in waveform amplitude. .adversarial has the raw input's format: an
    image at the model's resolution, uint8 if the raw was uint8 (2-D if the raw was 2-D), else
    float in [0, 1]; audio as (waveform, sample_rate), the model's window. For a uint8 image the prediction after, the label and success are those of the rounded
    pixels (what a saved PNG gives); .adversarial_input keeps the exact float model input.
    A failed attack returns success=False with the best attempt; it does not raise.
    """
    x, _ = prepare(m, raw)
    kw = dict(method=method, epsilon=epsilon, target=target, steps=steps, executor=executor)
    return in_raw_format(m, run_attack(m, x, **kw), raw)


def compare_onnx(source: str | os.PathLike | bytes, *, seed: int = 0) -> list[NodeCheck]:
    """Every node of an .onnx file converted (as api.load does) and run by Keras and by
    onnxruntime on one random input: one NodeCheck per node (.node .op .layer .shape .max_abs
    .relative .ok), in graph order, the Keras output moved back to ONNX's axis order."""
    return compare_file(source, seed=seed)


# ---- explanations (attribution, faithfulness, sanity checks, model vs model) ----------------------
def attribution_methods() -> list[str]:
    """The attribution methods, by the names their papers use."""
    return method_names()


def grad_cam_layers(m: LoadedModel) -> list[str]:
    """Layers Grad-CAM can use: (height, width, channels) outputs after the attribution domain
    ((time, channels) ones for a waveform model without a spectrogram layer)."""
    return list(explainer(m).cam_layers)


def auto_cam_layers(m: LoadedModel) -> list[str]:
    """Grad-CAM's "auto" layer as candidates in order: the last convolution block's outputs
    (activation first); a map uses the first whose map is not all zero."""
    return list(explainer(m).auto_cam_layers)


@heavy(progress=None)
def attribution(
    m: LoadedModel,
    raw: Any,
    *,
    method: str,
    target: int | None = None,
    frozen: Mapping[str, Any] | None = None,
    executor: Any = None,
    **options: Any,
) -> np.ndarray:
    """Which input cells drive class `target` (default: the predicted class): (H, W) float32.

    Images: at the model input's resolution. Audio: over the card's spectrogram layer,
    (time frames, frequency bins). Methods and their keyword options: core.analysis.attribution.METHODS
    (gradient, gradient_x_input, integrated_gradients, smoothgrad, smoothgrad_squared, grad_cam,
    grad_cam_plus_plus, occlusion). Scores are the target's logit (card "logits_layer") or its
    log-probability. frozen: a freeze configuration (as api.trace's): the map of the frozen
    model, its predicted class the default target.
    """
    ex, x, _, t, tfs = explain_input(m, raw, target, frozen)
    options = budget.attribution_options(m.tracer, method, options)
    return attribute(ex, x, method=method, target=t, frozen=tfs, **options)


@heavy(progress=None)
def deletion_auc(
    m: LoadedModel, raw: Any, attribution: np.ndarray, *, executor: Any = None, **options: Any
) -> Curve:
    """Deletion curve (most-attributed cells set to the baseline first): .auc in [0, 1], lower
    is more faithful, beside .random_auc. Options (target, steps=20, baseline="auto": the
    default of faithfulness_baselines, one of its names, "blurred input", ...): faithfulness()."""
    x, named = prepare(m, raw)[0], faithfulness_baselines(m)
    options = budget.forward_options(m.tracer, options)
    return faithfulness(explainer(m), x, attribution, kind="deletion", named=named, **options)


@heavy(progress=None)
def insertion_auc(
    m: LoadedModel, raw: Any, attribution: np.ndarray, *, executor: Any = None, **options: Any
) -> Curve:
    """Insertion curve (most-attributed cells copied onto the baseline first): as deletion_auc's,
    but a higher .auc is more faithful."""
    x, named = prepare(m, raw)[0], faithfulness_baselines(m)
    options = budget.forward_options(m.tracer, options)
    return faithfulness(explainer(m), x, attribution, kind="insertion", named=named, **options)


@heavy()
def randomization_check(
    m: LoadedModel,
    raw: Any,
    *,
    method: str,
    target: int | None = None,
    executor: Any = None,
    **options: Any,
) -> list[Similarity]:
    """[Similarity(layer, spearman, ssim, hog)]: the map against the trained model's as layers
    are re-initialised, output first, cumulatively, on a clone (attribution.sanity)."""
    # Two copies of the weights (trained, re-initialised) besides the map's own batches.
    weights = 2 * 4 * int(m.model.count_params())
    options = budget.attribution_options(m.tracer, method, options, fixed=weights)
    x, _ = prepare(m, raw)
    return _randomization_check(m.model, m.card, x, method=method, target=target, **options)


@heavy()
def cka(
    m_a: LoadedModel, m_b: LoadedModel, inputs: list[Any], *, on_progress=None, executor: Any = None
):
    """Linear CKA (Kornblith et al. 2019) between every layer of m_a and every layer of m_b over
    the same raw inputs (each model converts them its own way): .matrix (layers_a × layers_b),
    .layers_a, .layers_b. At least 3 inputs; passes and groups of layers fit LAYERLAB_JOB_MB."""
    n = len(inputs) if isinstance(inputs, list) else 0
    batch, group = budget.cka_plan(m_a.tracer, m_b.tracer, n) if n >= 3 else (50, 2**28)
    xa = np.stack([prepare(m_a, r)[0] for r in inputs]) if inputs else None
    # The same model twice (its layers against each other): convert the inputs once.
    xb = xa if m_b is m_a else np.stack([prepare(m_b, r)[0] for r in inputs]) if inputs else None
    kw = dict(batch_size=batch, max_bytes=group, on_progress=on_progress)
    return _cka(m_a.tracer, m_b.tracer, xa, xb, **kw)


def layer_summaries(
    m: LoadedModel, raws: list[Any], *, on_progress=None, executor: Any = None
) -> dict[str, np.ndarray]:
    """{layer: (N, C) channel means} of raw inputs (an Evaluation's .raws) at every layer with
    channels, one pass (core.analysis.failures): what layer_map and error_filters read."""
    return channel_means(m, stack(m, raws), on_progress=on_progress, executor=executor)


# ---- what a filter responds to ------------------------------------------------------------------
def probe_set(m: LoadedModel) -> tuple[list[Any], np.ndarray]:
    """(raws, labels): held-out inputs the model never trained on (assets/models/*.probe.npz).

    labels are class indices into m.labels, -1 where a probe's class is not one of the model's
    (an uploaded model borrows the probe set of its input kind, matched by class name).
    """
    p = _probe(m)
    return p.raws, p.labels


@heavy(shard=shards.SCAN)
def filter_index(
    m: LoadedModel,
    *,
    inputs: list[Any] | None = None,
    labels: np.ndarray | None = None,
    on_progress=None,
    executor: Any = None,
):
    """Scan a batch (default: the probe set) once: an index of every channel of every layer
    (core.analysis.exemplars.FilterIndex) for top_inputs, class profiles and dead filters."""
    if inputs is None:
        inputs, labels = probe_set(m)
    chunk = budget.scan_chunk(m.tracer, len(inputs), len(m.labels))
    kw = dict(labels=labels, n_classes=len(m.labels), on_progress=on_progress, chunk=chunk)
    return scan(m.tracer, stack(m, inputs), **kw)


def top_inputs(
    m: LoadedModel,
    layer: str,
    channel: int,
    *,
    inputs: list[Any] | None = None,
    k: int = 9,
    index=None,
    executor: Any = None,
) -> list:
    """The k inputs (default: the probe set) whose largest activation of the channel (max over
    positions) is highest, best first: .index .value .position .box (receptive field in
    model-input units, half-open (y0, x0, y1, x1); (t0, t1) for a waveform) .label.

    index: a FilterIndex from filter_index() over the same inputs, so that repeated queries
    do not scan again (the app caches it per model).
    """
    ix = index if index is not None else filter_index(m, inputs=inputs, executor=executor)
    local = m.card.get("spectrogram_layer") if m.kind == "audio" else None
    return _top(m.tracer, ix, layer, channel, k=k, local_origin=local)


def exemplars(
    m: LoadedModel,
    layer: str,
    channels: list[int],
    *,
    k: int = 9,
    index=None,
    probe=None,
    executor: Any = None,
) -> Exemplars:
    """top_inputs for several channels, each exemplar cut to its receptive field.
    index/probe: a filter_index and the ProbeSet it was built from (default: the model's
    probe set)."""
    from core.show.exemplar_view import patches

    probe = probe if probe is not None else _probe(m)
    ix = index or filter_index(m, inputs=probe.raws, labels=probe.labels, executor=executor)
    tops = {c: top_inputs(m, layer, c, k=k, index=ix) for c in channels}
    xs, specs = exemplar_inputs(m, probe.raws, tops)
    return Exemplars(tops, patches(m.card, xs, specs, tops), xs, specs)


def class_profile(m: LoadedModel, layer: str, *, index=None):
    """(channels × classes DataFrame of mean activation, dead channel indices) over the probe
    set (or the batch the index was built from)."""
    ix = index if index is not None else filter_index(m)
    return ix.class_profile(layer, m.labels)


@heavy()
def visualize(
    m: LoadedModel,
    layer: str,
    channel: int,
    *,
    steps: int = 256,
    seed: int = 0,
    on_progress=None,
    max_seconds: float | None = None,
    executor: Any = None,
):
    """An input synthesised by gradient ascent to maximise the channel's mean activation
    (core.analysis.featvis): .raw in the raw input's format, .value, .domain, .steps, .seconds."""
    from core.settings import MAX_JOB_SECONDS

    budget.gradient_batch(f"Feature visualisation on {m.name}", m.tracer, 1)
    return synthesise(
        m,
        layer,
        channel,
        steps=steps,
        seed=seed,
        on_progress=on_progress,
        max_seconds=MAX_JOB_SECONDS if max_seconds is None else max_seconds,
    )
