"""Testing with Concept Activation Vectors (TCAV, Kim et al. 2018): does a class use a concept?

For each layer: a linear classifier (scikit-learn's logistic regression) separates the
activations of the concept's inputs from those of random counterexamples; the normal of its
decision boundary, pointing towards the concept, is the CAV. Its accuracy on held-out thirds of
both sets says whether the concept is linearly present at that layer at all (a CAV no better
than chance is meaningless). The TCAV score of a class is the fraction of that class's inputs
whose class score (its logit, core.model.outputs.class_scores) increases along the CAV: the
directional derivative grad_layer(score) . CAV is positive.

Significance, as in the paper: the score is computed against `runs` different random sets; the
same is done for random sets against random sets (CAVs that mean nothing); a two-sided Welch
t-test compares the two lists of scores. Testing several layers is testing several hypotheses:
a result is called significant at alpha / number of layers (Bonferroni).

The computation is a function of (model, arrays), so a worker process can run it
(run_tcav(lm, concept_x, random_x, target_x, ...)); tcav() (api.tcav) turns raw inputs into arrays.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from core.errors import ConceptError, InputError, OptionError, integer
from core.graph.engine import Plan, Tracer
from core.inputs.prepare import prepare
from core.inputs.probe import probe_set, read_inputs
from core.model.load import LoadedModel
from core.model.outputs import class_scores, probabilities

ALPHA = 0.05
MIN_INPUTS = 6  # per set: a third is held out to measure the CAV's accuracy
BATCH = 32
MAX_PREDICTED = 200  # probe inputs scored for a class the probe set does not label


@dataclass(frozen=True, eq=False)
class TCAVResult:
    """One layer's answer for one concept and one class."""

    layer: str
    target: int
    scores: np.ndarray  # (runs,) TCAV score of the concept against random set i
    random_scores: np.ndarray  # (runs,) TCAV score of random set i' against random set i
    cav_accuracies: np.ndarray  # (runs,) held-out accuracy of each concept CAV
    random_accuracies: np.ndarray  # (runs,) the same of the random-vs-random CAVs
    p_value: float  # two-sided Welch t-test, scores vs random_scores
    chance_p: float  # one-sided binomial test: the concept CAVs beat a coin (0.5)
    alpha: float  # significance threshold after the Bonferroni correction
    n_concept: int
    n_random: int  # inputs in each random set
    n_target: int  # inputs of the target class scored

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        return float(self.scores.std())

    @property
    def random_mean(self) -> float:
        return float(self.random_scores.mean())

    @property
    def random_std(self) -> float:
        return float(self.random_scores.std())

    @property
    def cav_accuracy(self) -> float:
        """Mean held-out accuracy of the concept's CAVs (0.5 = chance)."""
        return float(self.cav_accuracies.mean())

    @property
    def meaningful(self) -> bool:
        """Whether the CAV separates the concept better than chance (binomial test, 0.05)."""
        return self.chance_p < ALPHA and self.cav_accuracy > 0.5

    @property
    def significant(self) -> bool:
        return self.meaningful and self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        if not self.meaningful:
            return (
                f"meaningless: the CAV separates the concept from random inputs no better "
                f"than chance (held-out accuracy {self.cav_accuracy:.0%})"
            )
        if self.significant:
            side = "increases" if self.mean > self.random_mean else "decreases"
            return f"significant: the concept {side} the class score (p = {self.p_value:.2g})"
        return f"not significant (p = {self.p_value:.2g} ≥ {self.alpha:.3g})"


def flat_activations(tracer: Tracer, x: np.ndarray, layers: list[str]) -> dict[str, np.ndarray]:
    """x (N, *input) -> {layer: (N, D) float32}: each layer's output flattened per input."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    for i in range(0, len(x), BATCH):
        tr = tracer(x[i : i + BATCH])
        for n in layers:
            parts[n].append(np.array(tr[n], np.float32).reshape(len(tr[n]), -1))
    return {n: np.concatenate(v) for n, v in parts.items()}


def score_gradients(
    plan: Plan, card: dict, x: np.ndarray, layers: list[str], target: int
) -> dict[str, np.ndarray]:
    """x (N, *input) -> {layer: (N, D)}: d class score / d layer output, per input, through
    the plan (one walk of the graph, eager, under a tape)."""
    out: dict[str, list[np.ndarray]] = {n: [] for n in layers}
    for i in range(0, len(x), BATCH):
        xt = tf.convert_to_tensor(np.asarray(x[i : i + BATCH], np.float32))
        seen: dict[str, tf.Tensor] = {}
        with tf.GradientTape() as tape:

            def after(name: str, y, tape=tape, seen=seen):
                if name in out:
                    tape.watch(y)
                    seen[name] = y
                return y

            outs = dict(zip(plan.names, plan.run(xt, after=after)))
            # Every input's own score: their sum's gradient is each one's (inference mode).
            score = tf.reduce_sum(class_scores(card, plan, outs)[:, target])
        grads = tape.gradient(score, [seen[n] for n in layers])
        for n, g in zip(layers, grads):
            g = np.zeros(seen[n].shape, np.float32) if g is None else g.numpy()
            out[n].append(g.reshape(len(g), -1))
    return {n: np.concatenate(v) for n, v in out.items()}


def fit_cav(pos: np.ndarray, neg: np.ndarray, *, seed: int) -> tuple[np.ndarray, int, int]:
    """A linear classifier of pos (label 1) against neg: (unit normal pointing to pos (D,),
    held-out inputs classified right, held-out inputs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x = np.concatenate([pos, neg]).astype(np.float64)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    xa, xb, ya, yb = train_test_split(x, y, test_size=1 / 3, stratify=y, random_state=seed)
    # Standardised by the training activations' overall scale, so C means the same at every layer.
    s = float(np.abs(xa).mean()) or 1.0
    # An L2-penalised linear classifier's normal lies in the span of its training inputs
    # (representer theorem): fit in an orthonormal basis of that span (as many axes as
    # inputs, not a layer's tens of thousands of units) and map the normal back; same answer.
    # The basis from the Gram matrix (inputs × inputs): cheaper than an SVD of the activations.
    xa = xa / s
    ev, vec = np.linalg.eigh(xa @ xa.T)
    keep = ev > max(ev.max(), 0) * 1e-10
    basis = (vec[:, keep].T @ xa) / np.sqrt(ev[keep])[:, None] if keep.any() else xa[:1] * 0
    xb = xb / s
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(xa @ basis.T, ya)
    w = clf.coef_[0] @ basis
    norm = float(np.linalg.norm(w))
    correct = int((clf.predict(xb @ basis.T) == yb).sum())
    return (w / norm if norm > 0 else w), correct, len(yb)


def _score(grads: np.ndarray, cav: np.ndarray) -> float:
    """Fraction of inputs whose class score increases along the CAV."""
    return float(np.mean(grads @ cav > 0))


def _t_test(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if a.std() == 0 and b.std() == 0:  # both constant: equal (no evidence) or certainly apart
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():  # one constant list (all runs 1.0) is a valid case here
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def run_tcav(
    lm: LoadedModel,
    concept_x: np.ndarray,
    random_x: np.ndarray,
    target_x: np.ndarray,
    *,
    layers: list[str],
    target: int,
    runs: int,
    seed: int = 0,
    alpha: float = ALPHA,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, TCAVResult]:
    """TCAV on model inputs (no raw conversion): concept_x (Nc, *input), random_x: the pool
    random sets are drawn from (without concept_x's inputs), target_x: the class's inputs."""
    n_set = min(len(concept_x), len(random_x) // 2)
    if len(concept_x) < MIN_INPUTS or n_set < MIN_INPUTS:
        raise ConceptError(
            f"TCAV needs at least {MIN_INPUTS} concept inputs and two random sets of as many "
            f"from the random pool; got {len(concept_x)} concept inputs and a pool of "
            f"{len(random_x)} (other than the concept's). Add inputs to the concept or to the "
            "random counterexamples."
        )
    total = 2 + runs * len(layers)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    rng = np.random.default_rng(seed)
    draws = [rng.permutation(len(random_x))[: 2 * n_set] for _ in range(runs)]
    # Only the pool's inputs some run draws are traced (a probe set holds thousands).
    used = np.unique(np.concatenate(draws))
    draws = [np.searchsorted(used, d) for d in draws]
    acts_c = flat_activations(lm.tracer, concept_x, layers)
    acts_r = flat_activations(lm.tracer, random_x[used], layers)
    tick()
    grads = score_gradients(lm.tracer.plan, lm.card, target_x, layers, target)
    tick()
    from scipy import stats
    from threadpoolctl import threadpool_limits

    out = {}
    # The fits are small matrix work: BLAS threads only contend for the cores (10x slower
    # on a busy 2-core machine than one thread).
    with threadpool_limits(1):
        for layer in layers:
            rows = {k: np.zeros(runs) for k in ("s", "rs", "acc", "racc")}
            right = tested = 0
            for i, d in enumerate(draws):
                r1, r2 = acts_r[layer][d[:n_set]], acts_r[layer][d[n_set:]]
                cav, ok, n = fit_cav(acts_c[layer], r1, seed=seed + i)
                rcav, rok, rn = fit_cav(r2, r1, seed=seed + i)
                rows["s"][i], rows["rs"][i] = _score(grads[layer], cav), _score(grads[layer], rcav)
                rows["acc"][i], rows["racc"][i] = ok / n, rok / rn
                right, tested = right + ok, tested + n
                tick()
            out[layer] = TCAVResult(
                layer=layer,
                target=target,
                scores=rows["s"],
                random_scores=rows["rs"],
                cav_accuracies=rows["acc"],
                random_accuracies=rows["racc"],
                p_value=_t_test(rows["s"], rows["rs"]),
                chance_p=float(stats.binomtest(right, tested, 0.5, alternative="greater").pvalue),
                alpha=alpha / len(layers),
                n_concept=len(concept_x),
                n_random=n_set,
                n_target=len(target_x),
            )
    return out


def _raws(m: LoadedModel, what: str, given: Any) -> list[Any]:
    """A list of raw inputs, or a path to a ZIP/folder of them (core.inputs.probe.read_inputs)."""
    if isinstance(given, (str, os.PathLike)):
        return read_inputs(given, m)
    if not isinstance(given, list) or not given:
        raise InputError(
            f"{what} must be a non-empty list of raw inputs or a path to a ZIP or folder of "
            f"{m.kind} files; got {type(given).__name__}{' (empty)' if given == [] else ''}."
        )
    return given


def _stack(m: LoadedModel, what: str, raws: list[Any]) -> np.ndarray:
    xs = []
    for i, r in enumerate(raws):
        try:
            xs.append(prepare(m, r)[0])
        except ValueError as e:
            raise InputError(f"{what} input {i}: {e}") from None
    return np.stack(xs)


def tcav(
    m: LoadedModel,
    concept: Any,
    *,
    layers: list[str] | tuple[str, ...],
    target: int | str,
    random: Any = None,
    inputs: list[Any] | None = None,
    runs: int = 10,
    seed: int = 0,
    executor: Any = None,
    on_progress=None,
) -> dict[str, TCAVResult]:
    """Does class `target` use a concept? {layer: TCAVResult} (core.analysis.tcav, Kim et al.
    2018): .scores (one per run) .mean .random_scores .p_value .cav_accuracy .significant.

    concept, random: lists of raw inputs, or paths to a ZIP or folder of image/audio files;
    random None draws the counterexamples from the model's probe set. inputs: the class's
    inputs to score (default: the probe set's inputs of that class, or where it names none,
    those the model classifies as it). target: a class index or
    name. executor: a concurrent.futures.Executor (or a Dask client) to run it on."""
    plan = m.tracer.plan
    if not isinstance(layers, (list, tuple)) or not layers:
        raise OptionError(
            f"layers must be a non-empty list of layer names, e.g. [{plan.names[0]!r}]; "
            f"got {layers!r}."
        )
    for name in layers:
        plan.index(name)  # unknown names list the valid ones
    if isinstance(target, str) and target in m.labels:
        target = m.labels.index(target)
    target = integer("target (a class index)", target, 0, len(m.labels) - 1)
    runs = integer("runs", runs, 2, 200)
    cx = _stack(m, "concept", _raws(m, "concept", concept))
    if random is None or inputs is None:
        probe = probe_set(m)
        probe_raws, probe_labels = probe.raws, probe.labels
    rx = _stack(m, "random", probe_raws if random is None else _raws(m, "random", random))
    # A random counterexample that is one of the concept's inputs would argue with itself.
    seen = {x.tobytes() for x in cx}
    rx = rx[[x.tobytes() not in seen for x in rx]] if len(rx) else rx
    if not len(rx):
        raise ConceptError(
            "The random counterexamples are the concept's own inputs, so no CAV can separate "
            "them. Draw the random inputs from other data (random=None: the probe set)."
        )
    if inputs is None:
        inputs = [r for r, y in zip(probe_raws, probe_labels) if y == target]
        if not inputs:  # a model whose classes the probe set does not name (an upload)
            px = _stack(m, "probe", probe_raws)
            y = np.concatenate(
                [m.tracer.forward(px[i : i + BATCH]) for i in range(0, len(px), BATCH)]
            )
            pred = probabilities(m.card, y).argmax(-1)
            inputs = [r for r, k in zip(probe_raws, pred) if k == target][:MAX_PREDICTED]
        if not inputs:
            raise ConceptError(
                f"The probe set has no inputs of class {m.labels[target]!r} (by label or by "
                "the model's prediction) to score; pass inputs=[...] (raw inputs of that class)."
            )
    tx = _stack(m, "target", _raws(m, "inputs", inputs))
    kw: dict[str, Any] = dict(layers=list(layers), target=target, runs=runs, seed=seed)
    if executor is None:
        return run_tcav(m, cx, rx, tx, on_progress=on_progress, **kw)
    # A progress callback draws on this process's page: it does not travel to a worker.
    return executor.submit(run_tcav, m, cx, rx, tx, **kw).result()


def results_table(results: dict[str, TCAVResult]):
    """One row per layer (for display and CSV export)."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "layer": r.layer,
                "TCAV score": r.mean,
                "score std": r.std,
                "random score": r.random_mean,
                "random std": r.random_std,
                "p value": r.p_value,
                "threshold": r.alpha,
                "CAV accuracy": r.cav_accuracy,
                "significant": r.significant,
                "verdict": r.verdict,
            }
            for r in results.values()
        ]
    )
