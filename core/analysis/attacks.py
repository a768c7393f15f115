"""Adversarial inputs with foolbox 3, the same way for every method, image or audio.

    attack_methods()                         -> the offered names (foolbox's own)
    run_attack(m, x, method=, epsilon=, ...) -> AttackResult (never raises for a failed attack)
    sweep(m, xs, labels, method=, epsilons=) -> success rate per epsilon

Images are attacked in the [0, 1] image scale, whatever scaling the model applies (0-255,
caffe or torch mean subtraction: the card's scaling is part of the attacked function), so
epsilon is in that scale (8/255 is 8 pixel levels) and the bounds are [0, 1]; audio in waveform
amplitude within the card's range. The pages convert from pixel levels or dB. The attacks see
the logits (core.model.outputs.class_scores: a one-unit binary model as two logits). Labels are int64: foolbox 3.3.4's eagerpy calls np.find_common_type (gone in NumPy 2)
when int32 labels meet int64 predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.analysis.attack_space import bounds_of, from_attack_space, to_attack_space
from core.errors import InputError, integer
from core.inputs.image import model_to_raw
from core.inputs.prepare import prepare
from core.model.load import LoadedModel
from core.model.outputs import class_scores, probabilities
from core.settings import MAX_JOB_SECONDS
from core.work import budget
from core.work.run import heavy

MAX_STEPS = 1000  # iterations of an iterative attack
MAX_EPSILONS = 12  # epsilons in one sweep


@dataclass(frozen=True)
class Method:
    name: str
    norm: str  # "Linf" | "L2" (how epsilon is measured)
    kind: str  # "gradient" | "minimization" | "decision" | "noise"
    targeted: bool  # foolbox supports a target class
    default_steps: int | None
    make: Callable[..., Any]
    about: str


def _methods() -> dict[str, Method]:
    import foolbox as fb

    A = fb.attacks
    return {
        m.name: m
        for m in [
            Method(
                "FGSM",
                "Linf",
                "gradient",
                False,
                None,
                lambda s: A.FGSM(),
                "Fast Gradient Sign Method (Goodfellow et al. 2015): one step of size epsilon "
                "along the sign of the loss gradient.",
            ),
            Method(
                "LinfPGD",
                "Linf",
                "gradient",
                True,
                40,
                lambda s: A.LinfPGD(steps=s, rel_stepsize=2.5 / s),
                "Projected Gradient Descent in L∞ (Madry et al. 2018): many small signed steps, "
                "projected back into the epsilon box, from a random start.",
            ),
            Method(
                "L2PGD",
                "L2",
                "gradient",
                True,
                40,
                lambda s: A.L2PGD(steps=s, rel_stepsize=2.5 / s),
                "Projected Gradient Descent in L2: steps along the normalised gradient, "
                "projected into the epsilon ball.",
            ),
            Method(
                "LinfBasicIterative",
                "Linf",
                "gradient",
                False,
                10,
                lambda s: A.LinfBasicIterativeAttack(steps=s),
                "Basic Iterative Method (Kurakin et al. 2017): iterated FGSM without a random "
                "start.",
            ),
            Method(
                "L2DeepFool",
                "L2",
                "minimization",
                False,
                50,
                lambda s: A.L2DeepFoolAttack(steps=s, candidates=None),
                "DeepFool (Moosavi-Dezfooli et al. 2016): the smallest step to the nearest "
                "decision boundary of the linearised model, repeated.",
            ),
            Method(
                "LinfDeepFool",
                "Linf",
                "minimization",
                False,
                50,
                lambda s: A.LinfDeepFoolAttack(steps=s, candidates=None),
                "DeepFool measured in L∞.",
            ),
            Method(
                "L2CarliniWagner",
                "L2",
                "minimization",
                True,
                100,
                lambda s: A.L2CarliniWagnerAttack(binary_search_steps=5, steps=s, stepsize=0.01),
                "Carlini & Wagner (2017) L2: optimises a small perturbation that changes the "
                "logits' order, with a binary search over the trade-off constant.",
            ),
            Method(
                "BoundaryAttack",
                "L2",
                "decision",
                False,
                200,
                lambda s: A.BoundaryAttack(steps=s),
                "Boundary Attack (Brendel et al. 2018): decision-based, needs only the predicted "
                "label; starts from a misclassified noise image and walks towards the input.",
            ),
            Method(
                "SaltAndPepperNoise",
                "L2",
                "noise",
                False,
                100,
                lambda s: A.SaltAndPepperNoiseAttack(steps=s),
                "Sets more and more values to the minimum or maximum until the label changes.",
            ),
            Method(
                "L2AdditiveGaussianNoise",
                "L2",
                "noise",
                False,
                None,
                lambda s: A.L2AdditiveGaussianNoiseAttack(),
                "Gaussian noise scaled to L2 norm epsilon: a baseline, not an optimisation.",
            ),
        ]
    }


def attack_methods() -> list[str]:
    """The offered attacks, by foolbox's names."""
    return list(_methods())


def default_method(m: LoadedModel) -> str:
    """The attack a page starts with: FGSM for images; for audio LinfPGD (FGSM's one step
    fools 1 of the 20 built-in clips at -30 dB, LinfPGD all 20)."""
    return "LinfPGD" if m.kind == "audio" else "FGSM"


def method_info(name: str) -> Method:
    methods = _methods()
    if name not in methods:
        raise InputError(f"Unknown attack {name!r}; choose one of {', '.join(methods)}.")
    return methods[name]


@dataclass
class AttackResult:
    """What an attack did; a failure is a result too (success False, the best attempt)."""

    method: str
    epsilon: float
    norm: str
    success: bool
    # Model input, no batch axis (the best attempt if failed); api.attack gives the raw input's
    # format instead: an image array, or audio as (waveform, sample_rate).
    adversarial: np.ndarray | tuple[np.ndarray, int]
    original_label: int
    adversarial_label: int
    probabilities_before: np.ndarray
    probabilities_after: np.ndarray
    l2: float  # of adversarial - input
    linf: float
    target: int | None
    steps: int | None
    seconds: float
    message: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    adversarial_input: np.ndarray | None = None  # the exact model input (api.attack sets it)


class _Timeout(Exception):
    pass


def _logits_fn(m: LoadedModel) -> Callable[[Any], Any]:
    """u (batch, attack space) -> logits (batch, classes) through the flattened plan, as one
    compiled graph built once per model and card (kept by its tracer)."""
    import tensorflow as tf

    plan = m.tracer.plan

    def build() -> Callable[[Any], Any]:
        def f(u: Any) -> Any:
            outs = plan.outputs(from_attack_space(m, u), training=False)
            return class_scores(m.card, plan, outs)

        return tf.function(f, reduce_retracing=True)

    return m.tracer.owned(("attack_logits", m.key), build)


def _fmodel(m: LoadedModel, deadline: float, on_step: Callable[[], None] | None = None):
    import foolbox as fb

    logits = _logits_fn(m)

    def f(x):
        if time.monotonic() > deadline:
            raise _Timeout
        if on_step is not None:
            on_step()  # progress, and where a cancelled page stops the attack
        return logits(x)

    return fb.TensorFlowModel(f, bounds=bounds_of(m), device="/CPU:0")


def _probs(m: LoadedModel, u: np.ndarray) -> np.ndarray:
    """Class probabilities (batch, classes) of attack-space inputs."""
    return probabilities(m.card, m.tracer.forward(np.asarray(from_attack_space(m, u), np.float32)))


def _check(m: LoadedModel, method: str, epsilon: Any, target: Any, steps: Any) -> Method:
    info = method_info(method)
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, (int, float, np.floating))
        or not np.isfinite(epsilon)
        or epsilon <= 0
    ):
        raise InputError(
            f"epsilon must be a positive number (images: the [0, 1] scale; audio: "
            f"waveform units); got "
            f"{epsilon!r}."
        )
    if target is not None:
        if not info.targeted:
            targeted = [k for k, v in _methods().items() if v.targeted]
            raise InputError(
                f"{method} is untargeted in foolbox; for a target class use one "
                f"of {', '.join(targeted)}, or leave target empty."
            )
        integer("target (a class index)", target, 0, len(m.labels) - 1, error=InputError)
    if steps is not None:
        if info.default_steps is None:
            raise InputError(f"{method} takes no steps; leave steps empty.")
        integer("steps", steps, 1, MAX_STEPS, error=InputError)
    return info


@heavy(progress="on_step")
def run_attack(
    m: LoadedModel,
    x_model: np.ndarray,
    *,
    method: str,
    epsilon: float,
    target: int | None = None,
    steps: int | None = None,
    max_seconds: float = MAX_JOB_SECONDS,
    on_step: Callable[[], None] | None = None,
    executor: Any = None,
) -> AttackResult:
    """Attack one model input (no batch axis). Untargeted: any other class than the
    model's prediction; targeted: class `target`. Never raises for a failed attack.
    The result's .adversarial is a model input; norms are in the attack space.
    executor: where it runs (core.work; None: the default: the local worker pool)."""
    import foolbox as fb
    import tensorflow as tf

    info = _check(m, method, epsilon, target, steps)
    budget.gradient_batch(f"{method} on {m.name}", m.tracer, 1)
    lo, hi = bounds_of(m)
    x = np.asarray(to_attack_space(m, np.asarray(x_model, np.float32)), np.float32)
    if not np.isfinite(x).all() or x.min() < lo - 1e-6 or x.max() > hi + 1e-6:
        raise InputError(
            f"The input must be finite and within the model's bounds [{lo}, {hi}]; "
            f"got [{x.min():.3g}, {x.max():.3g}]."
        )
    x = np.clip(x, lo, hi)
    n_steps = steps if steps is not None else info.default_steps
    p0 = _probs(m, x[None])[0]
    label = int(np.argmax(p0))
    t0 = time.monotonic()
    fmodel = _fmodel(m, t0 + max_seconds, on_step)
    xt = tf.convert_to_tensor(x[None])
    # int64: see the module note (NumPy 2 + eagerpy).
    crit = (
        fb.criteria.TargetedMisclassification(tf.constant([target], tf.int64))
        if target is not None
        else fb.criteria.Misclassification(tf.constant([label], tf.int64))
    )
    message = ""
    try:
        raw, clipped, _ = info.make(n_steps)(fmodel, xt, crit, epsilons=[float(epsilon)])
        adv = clipped[0].numpy()[0]
        if info.kind != "gradient":
            # Minimisation attacks find the smallest adversarial they can; if it lies beyond
            # epsilon, say how far it needed (the clipped one within epsilon is kept).
            r = np.clip(raw[0].numpy()[0], lo, hi)
            r_label = int(np.argmax(_probs(m, r[None])[0]))
            if (r_label == target) if target is not None else (r_label != label):
                d = (r - x).ravel().astype(np.float64)
                need = np.linalg.norm(d) if info.norm == "L2" else np.abs(d).max()
                if need > epsilon * (1 + 1e-3):
                    message = (
                        f"{method} found an adversarial at {info.norm} = {need:.4g}, "
                        f"beyond epsilon {epsilon:.4g}."
                    )
    except _Timeout:
        adv = x.copy()
        message = (
            f"Stopped after {max_seconds:g} s (the time limit for one attack): "
            "fewer steps or a faster method will finish."
        )
    except (ValueError, RuntimeError) as e:  # e.g. Boundary attack's init finds no start
        adv = x.copy()
        message = f"{method} could not run on this input: {str(e).splitlines()[0][:200]}"
    seconds = time.monotonic() - t0
    adv = np.clip(adv, lo, hi).astype(np.float32)
    p1 = _probs(m, adv[None])[0]
    adv_label = int(np.argmax(p1))
    success = (adv_label == target) if target is not None else (adv_label != label)
    delta = (adv - x).ravel().astype(np.float64)
    if not success:
        message = (
            f"No adversarial within epsilon {epsilon:.4g} ({info.norm}): the best attempt "
            "is shown. "
            + (message + " " if message else "")
            + "Try a larger epsilon or more steps."
        )
    return AttackResult(
        method=method,
        epsilon=float(epsilon),
        norm=info.norm,
        success=bool(success),
        adversarial=np.asarray(from_attack_space(m, adv), np.float32),
        original_label=label,
        adversarial_label=adv_label,
        probabilities_before=p0,
        probabilities_after=p1,
        l2=float(np.linalg.norm(delta)),
        linf=float(np.abs(delta).max()) if delta.size else 0.0,
        target=target,
        steps=n_steps,
        seconds=seconds,
        message=message,
        settings={
            "method": method,
            "epsilon": float(epsilon),
            "norm": info.norm,
            "target": target,
            "steps": n_steps,
            "bounds": [lo, hi],
        },
    )


def sweep(
    m: LoadedModel,
    xs: np.ndarray,
    *,
    method: str,
    epsilons: list[float],
    steps: int | None = None,
    max_seconds: float = MAX_JOB_SECONDS,
    chunk: int = 10,
    on_progress: Callable[[int, int], None] | None = None,
):
    """Success rate of an untargeted attack against each epsilon over a batch xs (N, *input)
    of model inputs; epsilons in the attack space (see to_epsilon).

    Only inputs the model classifies as their batch's own prediction are attacked (there is no
    ground truth here): success means the prediction changed. One foolbox call with all
    epsilons per chunk of inputs; returns a DataFrame epsilon, success_rate, n.
    """
    import foolbox as fb
    import pandas as pd
    import tensorflow as tf

    info = _check(m, method, 1.0, None, steps)
    eps = [float(e) for e in epsilons]
    if not eps or len(eps) > MAX_EPSILONS or any(not np.isfinite(e) or e <= 0 for e in eps):
        raise InputError(f"Give 1 to {MAX_EPSILONS} positive epsilons; got {epsilons!r}.")
    lo, hi = bounds_of(m)
    xs = np.clip(np.asarray(to_attack_space(m, np.asarray(xs, np.float32)), np.float32), lo, hi)
    labels = np.argmax(_probs(m, xs), axis=1).astype(np.int64)
    t0 = time.monotonic()
    fmodel = _fmodel(m, t0 + max_seconds)
    attack = info.make(steps if steps is not None else info.default_steps)
    hits = np.zeros(len(eps))
    done = 0
    for i in range(0, len(xs), chunk):
        xb = tf.convert_to_tensor(xs[i : i + chunk])
        crit = fb.criteria.Misclassification(tf.constant(labels[i : i + chunk]))
        try:
            _, _, ok = attack(fmodel, xb, crit, epsilons=eps)
        except _Timeout:
            break
        hits += np.asarray(ok.numpy(), np.float64).sum(axis=1)
        done += len(xb)
        if on_progress is not None:
            on_progress(done, len(xs))
    return pd.DataFrame(
        {"epsilon": eps, "success_rate": hits / max(done, 1), "n": [done] * len(eps)}
    ), time.monotonic() - t0


def in_raw_format(m: LoadedModel, r: AttackResult, raw: Any) -> AttackResult:
    """run_attack's result (.adversarial a model input) with .adversarial in the raw input's
    format: an image at the model's resolution, uint8 if the raw was uint8 (2-D if the raw was
    2-D), else float in [0, 1]; audio as (waveform, sample_rate). For a uint8 image the
    prediction, label and success are those of the rounded pixels (what a saved PNG gives);
    .adversarial_input keeps the exact float model input."""
    adv = np.asarray(r.adversarial)  # run_attack's: the model input
    if m.kind == "audio":
        sound = (adv.reshape(-1).copy(), int(m.card["input"]["sample_rate"]))
        return replace(r, adversarial=sound, adversarial_input=adv)
    img = model_to_raw(adv, m.card["input"])  # [0, 1] RGB, (H, W) for one channel
    if np.ndim(raw) == 3 and img.ndim == 2:
        img = img[..., None]
    out = replace(r, adversarial=img, adversarial_input=adv)
    if np.asarray(raw).dtype != np.uint8:
        return out
    out.adversarial = img = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    p = probabilities(m.card, m.tracer.forward(prepare(m, img)[0][None]))[0]
    label = int(np.argmax(p))
    ok = (label == r.target) if r.target is not None else (label != r.original_label)
    if r.success and not ok:
        out.message = (
            "The float adversarial succeeds, but rounded to 8-bit pixels it no "
            "longer does: use a larger epsilon, or .adversarial_input."
        )
    out.probabilities_after, out.adversarial_label, out.success = p, label, ok
    return out
