"""The VGG-style CIFAR-10 recipe: model, augmentation, a wall-clock-aware schedule, its card.

The network takes float32 RGB in [0, 1] (uint8 / 255); the per-channel mean/std normalisation is
a built-in ``Normalization`` layer (``normalize``) inside the model. Augmentation (4-px reflect
padding + random 32x32 crop, horizontal flip) runs in the tf.data pipeline only. The last 5,000
training images are held out (N_VAL) and pick the epoch kept. The learning rate rises linearly,
then falls linearly to zero; with a time budget (``max_minutes``) the schedule is shortened to
fit once the epoch time is known, and training stops when not even one more epoch fits.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from training import output, runtime
from training.data import DATA, hold_out, load_cifar10
from training.logits import fit_logits

SEED = 1234
N_VAL = 5000
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
PAD = 4
WIDTH = 48  # filters of block 1, doubled per block
CONVS = (2, 3, 3)  # 3x3 convolutions per block
DROPS = (0.1, 0.1, 0.2)  # dropout after each block
FC, FC_DROP = 256, 0.2
BATCH = 128
EPOCHS = 30
LR = 0.1  # peak SGD learning rate
WD = 5e-4  # decoupled weight decay (x lr), not on BatchNorm, biases or the normalisation
WARMUP = 0.15  # warm-up fraction of the schedule
LABEL_SMOOTHING = 0.1
THREADS = 2
SMOKE_STEPS = 4  # --smoke: batches per epoch, one epoch
DATA_TEXT = "CIFAR-10 train split (keras.datasets.cifar10), first 45,000 of its 50,000 images; Krizhevsky 2009"

AUGMENTATION_TEXT = (
    f"tf.data pipeline, not in the model: {PAD}-px reflect padding + random 32x32 crop, "
    "random horizontal flip (p=0.5)"
)


def build_model(width: int = WIDTH) -> keras.Model:
    """(batch, 32, 32, 3) float32 in [0, 1] -> (batch, 10) probabilities."""
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Normalization(mean=MEAN.tolist(), variance=(STD**2).tolist(), name="normalize")(inp)
    for b, n in enumerate(CONVS, start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(
                width * 2 ** (b - 1),
                3,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=f"block{b}_conv{i}",
            )(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{i}")(x)
            x = layers.Activation("relu", name=f"block{b}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = layers.Dropout(DROPS[b - 1], name=f"block{b}_drop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(FC, use_bias=False, kernel_initializer="he_normal", name="fc1")(x)
    x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    x = layers.Dropout(FC_DROP, name="fc1_drop")(x)
    logits = layers.Dense(10, dtype="float32", name="logits")(x)
    probs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inp, probs, name="vgg_cifar10")


def train_batches(x: np.ndarray, y: np.ndarray) -> tf.data.Dataset:
    """Shuffled batches, uint8 -> augmented float32 in [0, 1], one-hot labels; endless."""
    idx = tf.range(32)

    def augment(xb: tf.Tensor, yb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        b = tf.shape(xb)[0]
        xp = tf.pad(xb, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]], mode="REFLECT")
        oy = tf.random.uniform([b], 0, 2 * PAD + 1, dtype=tf.int32)
        ox = tf.random.uniform([b], 0, 2 * PAD + 1, dtype=tf.int32)
        xc = tf.gather(xp, oy[:, None] + idx[None, :], axis=1, batch_dims=1)
        xc = tf.gather(xc, ox[:, None] + idx[None, :], axis=2, batch_dims=1)
        flip = tf.random.uniform([b]) < 0.5
        xc = tf.where(flip[:, None, None, None], tf.reverse(xc, axis=[2]), xc)
        return tf.cast(xc, tf.float32) / 255.0, tf.one_hot(yb, 10)

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
    ds = ds.batch(BATCH, drop_remainder=True).map(augment, num_parallel_calls=1)
    return ds.prefetch(2).repeat()


class Control(keras.callbacks.Callback):
    """The learning rate per step; per epoch the validation accuracy, the best weights so far
    (of `saved`, the float32 model the training graph shares layers with) and, with a time
    budget, a schedule shortened to fit or a stop."""

    def __init__(
        self,
        saved: keras.Model,
        xv: np.ndarray,
        yv: np.ndarray,
        *,
        epochs: int,
        steps: int,
        budget_s: float | None,
    ) -> None:
        super().__init__()
        self.saved, self.xv, self.yv, self.steps, self.budget_s = saved, xv, yv, steps, budget_s
        self.planned, self.first_plan = epochs, epochs
        self.step, self.t_epoch, self.t_start = 0, 0.0, time.time()
        self.best_acc, self.best_epoch, self.best_weights = -1.0, 0, saved.get_weights()
        self.epoch_times: list[float] = []
        self.history: list[dict] = []
        self.shortened = self.stopped_early = False

    def lr_at(self, step: int) -> float:
        total = self.planned * self.steps
        warm = max(1, int(WARMUP * self.first_plan * self.steps))
        if step < warm:
            return LR * (step + 1) / warm
        return LR * max(0.0, (total - step) / max(1, total - warm))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.t_epoch = time.time()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate.assign(self.lr_at(self.step))
        self.step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        val_logits = self.model.predict(self.xv, batch_size=500, verbose=0)
        val_acc = float(np.mean(np.argmax(val_logits, 1) == self.yv))
        et = time.time() - self.t_epoch
        self.epoch_times.append(et)
        if val_acc > self.best_acc:
            self.best_acc, self.best_epoch = val_acc, epoch + 1
            self.best_weights = [w.copy() for w in self.saved.get_weights()]
        self.history.append(
            {
                "epoch": epoch + 1,
                "loss": round(float(logs.get("loss", 0)), 4),
                "train_acc": round(float(logs.get("accuracy", 0)), 4),
                "val_acc": round(val_acc, 4),
                "seconds": round(et, 1),
            }
        )
        print(f"epoch {epoch + 1}/{self.planned} val_acc {val_acc:.4f} {et:.0f}s", flush=True)
        if epoch + 1 >= self.planned:
            self.model.stop_training = True
        elif self.budget_s is not None:
            per = max(self.epoch_times[-2:]) * 1.05  # one more epoch, slightly padded
            fit = int((self.budget_s - (time.time() - self.t_start)) // per)
            if fit <= 0:
                self.stopped_early = self.model.stop_training = True
            elif fit < self.planned - (epoch + 1):
                self.planned, self.shortened = epoch + 1 + fit, True


def train(
    *,
    data: Path = DATA / "cifar10",
    out: Path,
    epochs: int = EPOCHS,
    width: int = WIDTH,
    max_minutes: float = 0.0,
    mixed: bool = True,
    smoke: bool = False,
    command: str = "",
) -> dict:
    """Train (mixed_bfloat16 compute unless mixed is False: about 2.5x faster on CPUs with
    AVX512-BF16/AMX), save out/vgg_cifar10.keras in float32 (checked to reload safely and
    predict the same) and its card; returns the card. command: the command line as run."""
    runtime.setup(THREADS)
    keras.utils.set_random_seed(SEED)
    if mixed:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    images = load_cifar10(data)
    tr, val = hold_out(images.train, N_VAL)
    test = images.test
    print(f"data: {images.source}; train {len(tr.x)}, validation {len(val.x)}", flush=True)
    xv = val.x.astype(np.float32) / 255.0
    steps = SMOKE_STEPS if smoke else len(tr.x) // BATCH
    epochs = 1 if smoke else epochs
    model = build_model(width)
    opt = keras.optimizers.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=WD)
    opt.exclude_from_weight_decay(var_names=["bn", "bias", "normalize"])
    ctl = Control(model, xv, val.y, epochs=epochs, steps=steps, budget_s=max_minutes * 60 or None)
    fit_logits(
        model,
        train_batches(tr.x, tr.y),
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=LABEL_SMOOTHING
        ),
        epochs=epochs,
        steps=steps,
        callbacks=[ctl],
    )
    seconds = time.time() - ctl.t_start

    keras.mixed_precision.set_global_policy("float32")
    export = build_model(width)
    export.set_weights(ctl.best_weights)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "vgg_cifar10.keras"
    reloaded, probs = output.save_checked(export, path, xv)
    val_acc, val_per = output.class_accuracy(probs.argmax(1), val.y, LABELS)
    metrics: dict = {
        "validation_accuracy": round(val_acc, 4),
        "validation_per_class_accuracy": val_per,
    }
    if test is not None:
        tp = output.predict(reloaded, test.x.astype(np.float32) / 255.0).argmax(1)
        test_acc, test_per = output.class_accuracy(tp, test.y, LABELS)
        metrics["test_accuracy"] = round(test_acc, 4)
        metrics["test_per_class_accuracy"] = test_per
    print(f"training {seconds:.0f}s; {json.dumps(metrics)}", flush=True)
    card = _card(
        export,
        ctl,
        metrics,
        seconds=seconds,
        width=width,
        mixed=mixed,
        smoke=smoke,
        command=command,
    )
    card["file_bytes"] = path.stat().st_size
    print(f"wrote {path} and {output.write_card(out, 'vgg_cifar10', card)}", flush=True)
    return card


def _card(
    model: keras.Model,
    ctl: Control,
    metrics: dict,
    *,
    seconds: float,
    width: int,
    mixed: bool,
    smoke: bool,
    command: str,
) -> dict:
    """The card of the trained model; the plan (epochs, time budget) and how it went are
    ctl's."""
    n_params = model.count_params()
    n_weight = sum(isinstance(layer, layers.Conv2D | layers.Dense) for layer in model.layers)
    widths = [width * 2**i for i in range(len(CONVS))]
    epochs = ctl.first_plan
    completed = not ctl.stopped_early and not ctl.shortened and len(ctl.history) >= epochs
    max_minutes = (ctl.budget_s or 0.0) / 60
    budget = f"wall-clock budget of {max_minutes:g} min: " + "; ".join(
        t
        for t, on in (
            ("schedule shortened (LR decay compressed) to fit", ctl.shortened),
            ("stopped before the schedule ended", ctl.stopped_early),
        )
        if on
    )
    card = output.image_card(
        "vgg_cifar10",
        "VGG-style CNN on CIFAR-10",
        (
            f"A small VGG-style convolutional network for 32x32 RGB images: {sum(CONVS)} 3x3 "
            f"convolutions with BatchNorm and ReLU in {len(CONVS)} blocks (widths "
            f"{'-'.join(map(str, widths))}), each block ending in 2x2 max pooling and dropout, "
            "then global average pooling, one dense layer and the 10-way logits "
            f"({n_weight} weight layers, {n_params:,} parameters). Classifies the 10 CIFAR-10 "
            "classes."
        ),
        labels=LABELS,
        shape=[32, 32, 3],
        color="rgb",
        preprocessing=(
            "uint8 RGB pixels / 255 (float32 in [0, 1]); the per-channel mean/std normalisation "
            f"(mean {[round(float(m), 4) for m in MEAN]}, std {[round(float(s), 4) for s in STD]})"
            " is inside the model, layer `normalize`."
        ),
    )
    return card | {
        "architecture": (
            ", ".join(
                f"block{b + 1}: {n}x conv3x3({w})+BN+ReLU, maxpool 2x2, dropout {DROPS[b]:g}"
                for b, (n, w) in enumerate(zip(CONVS, widths))
            )
            + f"; global average pooling; fc1 Dense({FC})+BN+ReLU, dropout {FC_DROP:g}"
            "; logits Dense(10); softmax"
        ),
        "parameters": int(n_params),
        "weight_layers": int(n_weight),
        "training": {
            "data": DATA_TEXT,
            "validation": "last 5,000 training images (fixed hold-out)",
            "epochs": len(ctl.history),
            "epochs_planned": epochs,
            "best_epoch": ctl.best_epoch,
            "schedule_completed": bool(completed),
            "schedule_note": "planned schedule finished" if completed else budget,
            "augmentation": AUGMENTATION_TEXT,
            "optimizer": (
                f"SGD, Nesterov momentum 0.9, batch {BATCH}, learning rate linear warm-up to "
                f"{LR:g} over the first {WARMUP:.0%} of the schedule then linear decay to 0; "
                f"decoupled weight decay {WD:g} (not on BN/bias); cross-entropy on the logits "
                f"with label smoothing {LABEL_SMOOTHING:g}; "
                + ("mixed_bfloat16 compute (float32 weights, saved as float32); " if mixed else "")
                + f"best-by-validation weights kept; seed {SEED}"
            ),
            "seconds": round(seconds, 1),
            "seconds_per_epoch": round(float(np.mean(ctl.epoch_times)), 1),
            "command": command,
            **output.provenance(),
            "history": ctl.history,
            **({"smoke": True} if smoke else {}),
        },
        "metrics": metrics,
        # What a fresh clone runs (the defaults are the shipped recipe; without the data
        # folder the script downloads CIFAR-10).
        "retrain": "python scripts/train_vgg_cifar.py",
        "reference": "NeuralVis' VGG on CIFAR-10 reached 86.8% test accuracy",
    }
