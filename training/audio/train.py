"""One stage of the spoken-digit recipe, run: data, k-fold by speaker, the final model, checks.

`run` is what scripts/train_audio.py calls. Every run of a stage (each fold model and the final
one) trains the same way from the same start and seed; the fold models leave out one k-th of the
real speakers and score their clips, so every real clip is scored once by a model that never
heard its speaker. The final model hears them all.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training import data as datasets
from training import runtime
from training.audio import card as cards
from training.audio.augment import Augmented, place
from training.audio.model import SpecMask, build_model, training_graph
from training.audio.recipe import (
    BATCH,
    SEED,
    VAL_SPEAKER,
    Stage,
    command,
    retrain,
    synth_command,
)
from training.kfold import scores, speaker_folds
from training.output import predict, save_checked, write_card

SMOKE_STEPS = 8  # --smoke: batches per epoch (and 1 epoch, small subsets, 2 folds)


@dataclass
class Data:
    """What a stage's runs read: training clips per source, and the held-out sets placed in
    their 1 s windows as the app places a recording (x (n, 8000) float32, digits (n,))."""

    fsdd: datasets.Clips  # FSDD, every speaker but VAL_SPEAKER
    synth: datasets.Clips  # espeak-ng voices of the train split (empty if not synthesised)
    real: datasets.Clips  # real recordings trained on (k-fold by speaker over them)
    real_x: np.ndarray  # (n_real, 8000) the real clips placed, for the fold models' scores
    val: dict[str, tuple[np.ndarray, np.ndarray]]  # held-out set name -> (x, digits)
    sources: list[str]  # the card's training-data lines
    n_fsdd: int  # FSDD clips drawn per epoch
    n_synth: int  # synthetic clips drawn per epoch


def _placed(c: datasets.Clips) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([place(y) for y in c.clips]), c.digits


def load_data(stage: Stage, *, root: Path, synth_dir: Path, smoke: bool) -> Data:
    """The stage's data from root (../shared/data) and synth_dir (scripts/synth_voices.py's
    output; without it, a warning and no synthetic voices). smoke: small seeded subsets."""
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    fsdd = datasets.load_fsdd(root / "fsdd")
    if VAL_SPEAKER not in set(fsdd.speakers):
        raise ValueError(f"FSDD in {root / 'fsdd'} has no speaker {VAL_SPEAKER!r} to hold out")
    tr, va = (
        np.flatnonzero(fsdd.speakers != VAL_SPEAKER),
        np.flatnonzero(fsdd.speakers == VAL_SPEAKER),
    )
    if smoke:
        tr, va = rng.permutation(tr)[:300], rng.permutation(va)[:100]
    val = {f"fsdd_{VAL_SPEAKER}": _placed(fsdd.take(va))}
    synth = datasets.load_synth(synth_dir, limit=600 if smoke else None, seed=SEED)
    if not synth:
        print(
            f"warning: no synthetic voices in {synth_dir} (run scripts/synth_voices.py first); "
            "training without them",
            flush=True,
        )
    synth_train = synth.get("train", datasets.concat([]))
    if synth and synth["val"].clips:
        val["synth_heldout"] = _placed(synth["val"])
    real = datasets.concat([datasets.load_manifest(root / d) for d in stage.real])
    if smoke and real.clips:
        real = real.take(rng.permutation(len(real.clips))[:60])
    if stage.real_val:
        val["real_heldout"] = _placed(
            datasets.concat([datasets.load_manifest(root / d) for d in stage.real_val])
        )
    n_fsdd, n_synth = stage.fsdd_per_epoch, min(stage.synth_per_epoch, len(synth_train.clips))
    n_spk = len(set(fsdd.speakers)) - 1
    sources = [f"FSDD ({len(tr)} clips of {n_spk} speakers, {n_fsdd} drawn per epoch)"]
    if real.clips:
        sources.append(
            f"real recordings ({len(real.clips)} clips, {len(set(real.speakers))} speakers: "
            f"{', '.join(stage.real)}; each x{stage.real_repeat} per epoch)"
        )
    if synth_train.clips:
        sources.append(
            f"espeak-ng synthetic voices ({len(synth_train.clips)} clips, "
            f"{len(set(synth_train.speakers))} voice+variant combinations, {n_synth} drawn per "
            "epoch)"
        )
    print(
        "data: "
        + "; ".join(sources)
        + "; validation "
        + ", ".join(f"{k} {len(v[1])}" for k, v in val.items())
        + f" (loaded in {time.time() - t0:.1f}s)",
        flush=True,
    )
    real_x = _placed(real)[0] if real.clips else np.zeros((0, 8000), np.float32)
    return Data(fsdd.take(tr), synth_train, real, real_x, val, sources, n_fsdd, n_synth)


def held_out(model: keras.Model, d: Data) -> dict[str, dict]:
    """scores() of model on each held-out set."""
    return {k: scores(y, predict(model, x).argmax(1)) for k, (x, y) in d.val.items()}


class Schedule(keras.callbacks.Callback):
    """Warm-up from lr/10 to lr over one epoch, then cosine decay to 2 % of lr; one line and a
    history entry per epoch; with select_best, the weights of the epoch whose mean accuracy over
    the held-out sets is best so far are kept in .best."""

    def __init__(
        self,
        model: keras.Model,
        d: Data,
        lr: float,
        steps: int,
        epochs: int,
        *,
        tag: str,
        select_best: bool,
    ) -> None:
        super().__init__()
        self.saved, self.d, self.lr, self.steps, self.epochs = model, d, lr, steps, epochs
        self.tag, self.select_best = tag, select_best
        self.total = max(1, epochs * steps)
        self.warm = min(steps, self.total // 4)
        self.step, self.t0 = 0, 0.0
        self.history: list[dict] = []  # one entry per epoch, as the card's history
        self.best: tuple[float, int, list[np.ndarray]] | None = None  # (score, epoch, weights)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.t0 = time.time()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.step < self.warm:
            lr = self.lr * (0.1 + 0.9 * self.step / self.warm)
        else:
            progress = min(1.0, (self.step - self.warm) / max(1, self.total - self.warm))
            lr = self.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
        self.model.optimizer.learning_rate.assign(lr)
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        el = time.time() - self.t0
        entry = {
            "epoch": epoch + 1,
            "loss": round(float(logs.get("loss", 0)), 4),
            "accuracy": round(float(logs.get("accuracy", 0)), 4),
            "seconds": round(el, 1),
        }
        if self.select_best:
            accs = {k: v["accuracy"] for k, v in held_out(self.saved, self.d).items()}
            entry.update(accs)
            score = float(np.mean(list(accs.values())))
            if self.best is None or score > self.best[0]:
                self.best = (score, epoch + 1, self.saved.get_weights())
        self.history.append(entry)
        print(
            f"{self.tag} epoch {epoch + 1}/{self.epochs} {el:5.1f}s ({self.steps} batches, "
            f"{1000 * el / (self.steps * BATCH):.1f} ms/clip) "
            + " ".join(f"{k} {v}" for k, v in entry.items() if k not in ("epoch", "seconds")),
            flush=True,
        )


def fit(
    stage: Stage,
    d: Data,
    real_idx: np.ndarray,
    *,
    tag: str,
    init: list | None,
    smoke: bool,
    score: bool = True,
) -> tuple[keras.Model, dict]:
    """One training run on FSDD + synthetic + the real clips real_idx, from init's weights (or
    from scratch): the model kept (the last epoch, or the best one with stage.select_best) and
    what happened; score: also its scores on the held-out sets."""
    keras.utils.set_random_seed(SEED)
    real = d.real.take(real_idx)
    clips = d.fsdd.clips + real.clips + d.synth.clips
    labels = np.concatenate([d.fsdd.digits, real.digits, d.synth.digits]).astype(int)
    a, b = len(d.fsdd.clips), len(d.fsdd.clips) + len(real.clips)
    groups = [
        (0, a, d.n_fsdd),
        (a, b, stage.real_repeat * len(real.clips)),
        (b, len(clips), d.n_synth),
    ]
    per_epoch = sum(n for _, _, n in groups)
    steps = SMOKE_STEPS if smoke else math.ceil(per_epoch / BATCH)
    epochs = 1 if smoke else stage.epochs
    seq = Augmented(clips, labels, groups, batch=BATCH, seed=SEED, steps=steps)
    model = build_model()
    if init is not None:
        model.set_weights(init)
    train_model = training_graph(model, SpecMask(*stage.spec_mask) if stage.spec_mask else None)
    train_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=stage.lr / 10),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    sched = Schedule(model, d, stage.lr, steps, epochs, tag=tag, select_best=stage.select_best)
    t0 = time.time()
    train_model.fit(seq, epochs=epochs, verbose=0, callbacks=[sched])
    info: dict = {}
    if sched.best is not None:
        model.set_weights(sched.best[2])
        info["best_epoch"] = sched.best[1]
    seconds = time.time() - t0
    held = held_out(model, d) if score else {}
    print(
        f"{tag}: {seconds:.0f}s; " + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in held.items()),
        flush=True,
    )
    info.update(
        seconds=round(seconds, 1),
        epochs=len(sched.history),
        epochs_planned=epochs,
        clips_per_epoch=per_epoch,
        history=sched.history,
        held_out=held,
    )
    return model, info


def cross_validate(stage: Stage, d: Data, folds: int, *, init: list | None, smoke: bool) -> dict:
    """k-fold by speaker over the real clips: every clip scored once by a fold model trained
    like the final one without that clip's speaker."""
    fold_of = speaker_folds(d.real.speakers, folds, SEED)
    pred = np.full(len(d.real.clips), -1)
    per_fold = []
    for k in range(folds):
        out_k = fold_of == k
        tag = f"fold {k + 1}/{folds}"
        model, info = fit(
            stage, d, np.flatnonzero(~out_k), tag=tag, init=init, smoke=smoke, score=False
        )
        pred[out_k] = predict(model, d.real_x[out_k]).argmax(1)
        s = scores(d.real.digits[out_k], pred[out_k])
        print(f"{tag}: held-out real speakers {s['correct']}/{s['n']}", flush=True)
        per_fold.append(
            {
                "fold": k + 1,
                "speakers": len(set(d.real.speakers[out_k])),
                "real_speakers": {m: s[m] for m in ("accuracy", "n", "correct")},
                **{m: info[m] for m in ("seconds", "epochs", "clips_per_epoch")},
            }
        )
    total = scores(d.real.digits, pred)
    print(
        f"k-fold held-out real speakers: {total['correct']}/{total['n']} = "
        f"{total['accuracy']:.4f} (Wilson 95 % {total['wilson_95']})",
        flush=True,
    )
    return {
        "folds": folds,
        "speakers": len(set(d.real.speakers)),
        "real_speakers": total,
        "per_fold": per_fold,
        "seconds": round(sum(f["seconds"] for f in per_fold), 1),
    }


def save_with_gradient(model: keras.Model, path: Path, x: np.ndarray) -> None:
    """save_checked on x (n, 8000), and check that a finite, non-zero gradient reaches the
    reloaded model's waveform input (attacks need it)."""
    loaded, _ = save_checked(model, path, x)
    xt = tf.convert_to_tensor(x[:4])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.math.log(loaded(xt, training=False)[:, 0] + 1e-9))
    g = tape.gradient(loss, xt)
    if g is None or not np.isfinite(g.numpy()).all() or not np.any(g.numpy()):
        raise RuntimeError(f"{path}: no finite gradient reaches the waveform")
    print(
        f"saved {path}; reload (safe_mode) OK, same predictions; waveform gradient OK", flush=True
    )


def run(
    stage: Stage,
    *,
    out: Path,
    init: str = "",
    root: Path = datasets.DATA,
    synth_dir: Path,
    folds: int = -1,
    smoke: bool = False,
    data_arg: str = "",
    synth_arg: str = "",
) -> dict:
    """One stage end to end: writes out/spoken_digits.keras and its card out/spoken_digits.json
    and returns the card. folds -1: the stage's (smoke: 2). data_arg, synth_arg: the --data and
    --synth given on the command line ("" for the default), as the card's retrain repeats them."""
    if stage.needs_init != bool(init):
        raise ValueError(
            f"--stage {stage.name} with --init {init!r}: expected "
            + (
                "the base model to start from, e.g. --init runs/spoken_digits_base/spoken_digits.keras"
                if stage.needs_init
                else "no --init (this stage trains from scratch)"
            )
        )
    n_folds = folds if folds >= 0 else (min(2, stage.folds) if smoke else stage.folds)
    t_start = time.time()
    runtime.setup()
    start = keras.saving.load_model(init, compile=False, safe_mode=True) if init else None
    d = load_data(stage, root=root, synth_dir=synth_dir, smoke=smoke)
    if n_folds and len(d.real.clips) == 0:
        raise ValueError(f"--folds {n_folds}: the stage trains on no real recordings to fold")
    weights = start.get_weights() if start is not None else None
    before = None
    if start is not None:  # the start on everything held out, and on the real clips
        before = held_out(start, d)
        if len(d.real.clips):
            before["real_speakers"] = scores(d.real.digits, predict(start, d.real_x).argmax(1))
        print("init model: " + " ".join(f"{k} {v['accuracy']:.4f}" for k, v in before.items()))
    cv = cross_validate(stage, d, n_folds, init=weights, smoke=smoke) if n_folds else None
    model, final = fit(
        stage, d, np.arange(len(d.real.clips)), tag="final", init=weights, smoke=smoke
    )
    out.mkdir(parents=True, exist_ok=True)
    save_with_gradient(model, out / "spoken_digits.keras", next(iter(d.val.values()))[0])
    this = command(
        stage, out=str(out), init=init, data=data_arg, synth=synth_arg, folds=folds, smoke=smoke
    )
    start_card = Path(init).with_suffix(".json") if init else None
    start_retrain = (
        json.loads(start_card.read_text()).get("retrain")
        if start_card is not None and start_card.is_file()
        else None
    )
    card = cards.card(
        stage,
        d,
        final=final,
        cv=cv,
        before=before,
        init=cards.init_text(init, start_retrain),
        retrain=retrain(start_retrain, this) if init else retrain(synth_command(synth_arg), this),
        seconds=time.time() - t_start,
        smoke=smoke,
        model=model,
    )
    path = write_card(out, "spoken_digits", card)
    print(f"wrote {path}; total {time.time() - t_start:.1f}s", flush=True)
    return card
