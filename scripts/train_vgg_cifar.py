#!/usr/bin/env python
"""Train a small VGG-style CNN on CIFAR-10 and write its model card.

Run from the repository root:

    python scripts/train_vgg_cifar.py --data ../shared/data/cifar10

(about 46 min on a 2-core CPU with the defaults: width 48, 30 epochs, mixed_bfloat16;
add `--max-minutes N` to cap the wall time, `--no-mixed` on CPUs without bf16 support)

Writes ``<out>/vgg_cifar10.keras`` and ``<out>/vgg_cifar10.json``.

Data: ``train_images_{1..5}.npy`` (50000x32x32x3 uint8) and ``train_labels.npy`` in ``--data``;
the last 5,000 training images are held out (fixed) for validation. If the ``--data`` folder
does not exist, ``keras.datasets.cifar10.load_data()`` is used instead (needs internet) and
the model is also evaluated on the real CIFAR-10 test set. If the folder holds
``test_images.npy``/``test_labels.npy`` they are evaluated too.

The network takes float32 RGB in [0, 1] (uint8 / 255); the per-channel mean/std
normalisation is a built-in ``Normalization`` layer (``normalize``) inside the model.
Augmentation (4-px reflect padding + random 32x32 crop, horizontal flip) runs in the
tf.data pipeline only. The saved model holds only built-in Keras layers, so it loads with
``keras.saving.load_model(path, compile=False, safe_mode=True)``.

The learning-rate schedule (linear warm-up, then linear decay to zero) is wall-clock aware:
with ``--max-minutes`` the script measures the epoch time and, when the planned epochs would
not fit, shortens the schedule (the decay then reaches zero earlier); if even one more epoch
does not fit it stops. The best-by-validation weights are kept and saved either way; the card
records whether the planned schedule finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SEED = 1234
N_VAL = 5000
LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
PAD = 4

AUGMENTATION_TEXT = (
    f"tf.data pipeline, not in the model: {PAD}-px reflect padding + random 32x32 crop, "
    "random horizontal flip (p=0.5)"
)


# ---------------------------------------------------------------------------- data
def load_data(data_dir: Path):
    """Return (x_train, y_train, x_val, y_val, x_test, y_test, source) as uint8 arrays."""
    x_test = y_test = None
    if data_dir.is_dir():
        x = np.concatenate([np.load(data_dir / f"train_images_{k}.npy") for k in range(1, 6)])
        y = np.load(data_dir / "train_labels.npy").reshape(-1)
        if (data_dir / "test_images.npy").exists() and (data_dir / "test_labels.npy").exists():
            x_test = np.load(data_dir / "test_images.npy")
            y_test = np.load(data_dir / "test_labels.npy").reshape(-1)
        source = f"CIFAR-10 training set from {data_dir}"
    else:
        import keras

        print(f"{data_dir} not found; falling back to keras.datasets.cifar10", flush=True)
        (x, y), (x_test, y_test) = keras.datasets.cifar10.load_data()
        y, y_test = y.reshape(-1), y_test.reshape(-1)
        source = "CIFAR-10 training set from keras.datasets.cifar10"
    x = np.asarray(x, dtype=np.uint8)
    y = np.asarray(y, dtype=np.int32)
    assert x.shape[1:] == (32, 32, 3), x.shape
    xt, yt = x[:-N_VAL], y[:-N_VAL]
    xv, yv = x[-N_VAL:], y[-N_VAL:]
    if x_test is not None:
        x_test = np.asarray(x_test, dtype=np.uint8)
        y_test = np.asarray(y_test, dtype=np.int32)
    return xt, yt, xv, yv, x_test, y_test, source


def make_train_ds(tf, x, y, batch: int):
    """Shuffled, batched uint8 -> augmented float32 [0, 1] batches (vectorised per batch)."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=SEED, reshuffle_each_iteration=True)
    ds = ds.batch(batch, drop_remainder=True)

    idx = tf.range(32)

    def augment(xb, yb):
        b = tf.shape(xb)[0]
        xp = tf.pad(xb, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]], mode="REFLECT")
        oy = tf.random.uniform([b], 0, 2 * PAD + 1, dtype=tf.int32)
        ox = tf.random.uniform([b], 0, 2 * PAD + 1, dtype=tf.int32)
        rows = oy[:, None] + idx[None, :]
        cols = ox[:, None] + idx[None, :]
        xc = tf.gather(xp, rows, axis=1, batch_dims=1)
        xc = tf.gather(xc, cols, axis=2, batch_dims=1)
        flip = tf.random.uniform([b]) < 0.5
        xc = tf.where(flip[:, None, None, None], tf.reverse(xc, axis=[2]), xc)
        return tf.cast(xc, tf.float32) / 255.0, yb

    ds = ds.map(augment, num_parallel_calls=1)
    return ds.prefetch(2)


# ---------------------------------------------------------------------------- model
def build_model(width: int, convs: list[int], fc: int, drops: list[float], fc_drop: float):
    import keras
    from keras import layers

    reg = None
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Normalization(mean=MEAN.tolist(), variance=(STD**2).tolist(), name="normalize")(inp)
    for b, n in enumerate(convs, start=1):
        filters = width * 2 ** (b - 1)
        for i in range(1, n + 1):
            x = layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                kernel_regularizer=reg,
                kernel_initializer="he_normal",
                name=f"block{b}_conv{i}",
            )(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{i}")(x)
            x = layers.Activation("relu", name=f"block{b}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        if drops[b - 1] > 0:
            x = layers.Dropout(drops[b - 1], name=f"block{b}_drop")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(fc, use_bias=False, kernel_initializer="he_normal", name="fc1")(x)
    x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    if fc_drop > 0:
        x = layers.Dropout(fc_drop, name="fc1_drop")(x)
    logits = layers.Dense(10, dtype="float32", name="logits")(x)
    probs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inp, probs, name="vgg_cifar10")


def count_weight_layers(model) -> int:
    return sum(1 for layer in model.layers if layer.__class__.__name__ in ("Conv2D", "Dense"))


# ---------------------------------------------------------------------------- training
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default="../shared/data/cifar10")
    ap.add_argument("--out", default="assets/models")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=int, default=48, help="filters of block 1 (doubled per block)")
    ap.add_argument("--convs", default="2,3,3", help="3x3 convolutions per block")
    ap.add_argument("--fc", type=int, default=256)
    ap.add_argument("--drops", default="0.1,0.1,0.2", help="dropout after each block")
    ap.add_argument("--fc-drop", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="peak learning rate (SGD)")
    ap.add_argument("--wd", type=float, default=5e-4, help="decoupled weight decay (x lr)")
    ap.add_argument("--warmup", type=float, default=0.15, help="warm-up fraction of the schedule")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="wall-clock budget for training (0 = none); the schedule is shortened to fit",
    )
    ap.add_argument(
        "--bench-steps", type=int, default=0, help="only time this many training steps and exit"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--steps-per-epoch", type=int, default=0, help="(smoke tests) cap the steps per epoch"
    )
    ap.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    ap.add_argument(
        "--mixed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train with mixed_bfloat16 (about 2.5x faster on CPUs with AVX512-BF16/AMX); "
        "the saved model is float32",
    )
    args = ap.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    keras.utils.set_random_seed(SEED)
    if args.mixed:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    convs = [int(c) for c in args.convs.split(",")]
    drops = [float(d) for d in args.drops.split(",")]
    assert len(drops) == len(convs)
    data_dir = Path(args.data)
    out_dir = Path(args.out)

    xt, yt, xv, yv, x_test, y_test, source = load_data(data_dir)
    print(
        f"train {xt.shape} val {xv.shape} test {None if x_test is None else x_test.shape}",
        flush=True,
    )
    xv_f = xv.astype(np.float32) / 255.0

    model = build_model(args.width, convs, args.fc, drops, args.fc_drop)
    n_params = model.count_params()
    n_weight_layers = count_weight_layers(model)
    print(f"params {n_params:,}; weight layers {n_weight_layers}", flush=True)

    steps_per_epoch = len(xt) // args.batch
    if args.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, args.steps_per_epoch)
    train_ds = make_train_ds(tf, xt, yt, args.batch)

    opt = keras.optimizers.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=args.wd)
    opt.exclude_from_weight_decay(var_names=["bn", "bias", "normalize"])
    # Label smoothing on the logits (the model's last layer is the softmax; train on logits).
    train_model = keras.Model(model.input, model.get_layer("logits").output)
    train_model.compile(
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=args.label_smoothing
        ),
        metrics=["accuracy"],
        jit_compile=args.jit,
    )
    one_hot = lambda xb, yb: (xb, tf.one_hot(yb, 10))  # noqa: E731
    train_ds = train_ds.map(one_hot)

    if args.bench_steps:
        n = args.bench_steps
        warm = min(20, n // 4)
        opt.learning_rate.assign(0.01)
        it = iter(train_ds.repeat())
        t0 = None
        for s in range(n):
            if s == warm:
                t0 = time.perf_counter()
            xb, yb = next(it)
            train_model.train_on_batch(xb, yb)
        dt = (time.perf_counter() - t0) / (n - warm)
        print(
            f"BENCH width={args.width} convs={convs} jit={args.jit}: {dt * 1000:.1f} ms/step, "
            f"~{dt * steps_per_epoch:.0f} s/epoch ({steps_per_epoch} steps)",
            flush=True,
        )
        return 0

    state = {
        "planned_epochs": args.epochs,
        "epochs_run": 0,
        "best_acc": -1.0,
        "best_epoch": 0,
        "best_weights": None,
        "epoch_times": [],
        "shortened": False,
        "stopped_early": False,
        "history": [],
    }
    budget_s = args.max_minutes * 60.0 if args.max_minutes > 0 else None
    t_start = time.time()

    def lr_at(step: int) -> float:
        total = state["planned_epochs"] * steps_per_epoch
        warm = max(1, int(args.warmup * args.epochs * steps_per_epoch))
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * max(0.0, (total - step) / max(1, total - warm))

    class Control(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0
            self.t_epoch = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.t_epoch = time.time()

        def on_train_batch_begin(self, batch, logs=None):
            opt.learning_rate.assign(lr_at(self.step))
            self.step += 1

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            state["epochs_run"] = epoch + 1
            val_logits = train_model.predict(xv_f, batch_size=500, verbose=0)
            val_acc = float(np.mean(np.argmax(val_logits, 1) == yv))
            et = time.time() - self.t_epoch
            state["epoch_times"].append(et)
            elapsed = time.time() - t_start
            if val_acc > state["best_acc"]:
                state["best_acc"], state["best_epoch"] = val_acc, epoch + 1
                state["best_weights"] = [w.copy() for w in model.get_weights()]
            state["history"].append(
                {
                    "epoch": epoch + 1,
                    "loss": round(float(logs.get("loss", 0)), 4),
                    "train_acc": round(float(logs.get("accuracy", 0)), 4),
                    "val_acc": round(val_acc, 4),
                    "seconds": round(et, 1),
                }
            )
            print(
                f"epoch {epoch + 1}/{state['planned_epochs']} loss {logs.get('loss', 0):.4f} "
                f"acc {logs.get('accuracy', 0):.4f} val_acc {val_acc:.4f} lr {float(opt.learning_rate.numpy()):.4f} "
                f"{et:.0f}s (elapsed {elapsed / 60:.1f} min)",
                flush=True,
            )
            if epoch + 1 >= state["planned_epochs"]:
                self.model.stop_training = True
                return
            if budget_s is not None:
                # Projected time of one more epoch (last epoch time, slightly padded).
                per = max(state["epoch_times"][-2:]) * 1.05
                fit = int((budget_s - elapsed) // per)
                left = state["planned_epochs"] - (epoch + 1)
                if fit <= 0:
                    print("time budget reached: stopping", flush=True)
                    state["stopped_early"] = True
                    self.model.stop_training = True
                elif fit < left:
                    state["planned_epochs"] = epoch + 1 + fit
                    state["shortened"] = True
                    print(
                        f"time budget: schedule shortened to {state['planned_epochs']} epochs",
                        flush=True,
                    )

    train_model.fit(
        train_ds.repeat(),
        epochs=args.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[Control()],
        verbose=2,
    )
    train_seconds = time.time() - t_start
    print(
        f"training {train_seconds:.0f} s; best val_acc {state['best_acc']:.4f} at epoch {state['best_epoch']}",
        flush=True,
    )

    # ---------------------------------------------------------------- export (uncompiled)
    keras.mixed_precision.set_global_policy("float32")
    export = build_model(args.width, convs, args.fc, drops, args.fc_drop)
    export.set_weights(state["best_weights"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "vgg_cifar10.keras"
    export.save(path)
    probs = export.predict(xv_f, batch_size=500, verbose=0)
    reloaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    probs2 = reloaded.predict(xv_f, batch_size=500, verbose=0)
    max_diff = float(np.max(np.abs(probs - probs2)))
    same_argmax = bool(np.array_equal(probs.argmax(1), probs2.argmax(1)))
    print(f"reload check: max |diff| {max_diff:.2e}, same argmax {same_argmax}", flush=True)
    if not same_argmax or max_diff > 1e-5:
        print("ERROR: reloaded model disagrees", file=sys.stderr)
        return 1

    pred = probs2.argmax(1)
    val_acc = float(np.mean(pred == yv))
    per_class = {LABELS[c]: round(float(np.mean(pred[yv == c] == c)), 4) for c in range(10)}
    metrics = {"validation_accuracy": round(val_acc, 4), "validation_per_class_accuracy": per_class}
    if x_test is not None:
        tp = reloaded.predict(x_test.astype(np.float32) / 255.0, batch_size=500, verbose=0).argmax(
            1
        )
        metrics["test_accuracy"] = round(float(np.mean(tp == y_test)), 4)
        metrics["test_per_class_accuracy"] = {
            LABELS[c]: round(float(np.mean(tp[y_test == c] == c)), 4) for c in range(10)
        }
        print(f"test accuracy {metrics['test_accuracy']:.4f}", flush=True)

    completed = (
        (not state["stopped_early"])
        and (not state["shortened"])
        and state["epochs_run"] >= args.epochs
    )
    mean_epoch = float(np.mean(state["epoch_times"]))
    widths = [args.width * 2**i for i in range(len(convs))]
    arch = (
        ", ".join(
            f"block{b + 1}: {n}x conv3x3({w})+BN+ReLU, maxpool 2x2"
            + (f", dropout {drops[b]:g}" if drops[b] > 0 else "")
            for b, (n, w) in enumerate(zip(convs, widths))
        )
        + f"; global average pooling; fc1 Dense({args.fc})+BN+ReLU"
        + (f", dropout {args.fc_drop:g}" if args.fc_drop > 0 else "")
        + "; logits Dense(10); softmax"
    )
    card = {
        "name": "vgg_cifar10",
        "title": "VGG-style CNN on CIFAR-10",
        "description": (
            f"A small VGG-style convolutional network for 32x32 RGB images: {sum(convs)} 3x3 convolutions "
            f"with BatchNorm and ReLU in {len(convs)} blocks (widths {'-'.join(map(str, widths))}), each block "
            f"ending in 2x2 max pooling and dropout, then global average pooling, one dense layer and the "
            f"10-way logits ({n_weight_layers} weight layers, {n_params:,} parameters). Classifies the 10 "
            f"CIFAR-10 classes."
        ),
        "labels": LABELS,
        "input": {
            "kind": "image",
            "shape": [32, 32, 3],
            "range": [0.0, 1.0],
            "raw_range": [0, 255],
            "color": "rgb",
        },
        "output": "probabilities",
        "logits_layer": "logits",
        "preprocessing": (
            "uint8 RGB pixels / 255 (float32 in [0, 1]); the per-channel mean/std normalisation "
            f"(mean {[round(float(m), 4) for m in MEAN]}, std {[round(float(s), 4) for s in STD]}) is inside the model, layer `normalize`."
        ),
        "architecture": arch,
        "parameters": int(n_params),
        "weight_layers": int(n_weight_layers),
        "training": {
            "data": f"{source} (first 45,000 images), Krizhevsky 2009",
            "validation": "last 5,000 training images (fixed hold-out)",
            "epochs": state["epochs_run"],
            "epochs_planned": args.epochs,
            "best_epoch": state["best_epoch"],
            "schedule_completed": bool(completed),
            "schedule_note": (
                "planned schedule finished"
                if completed
                else (
                    f"wall-clock budget of {args.max_minutes:g} min: "
                    + (
                        "schedule shortened (LR decay compressed) to fit"
                        if state["shortened"]
                        else ""
                    )
                    + ("; " if state["shortened"] and state["stopped_early"] else "")
                    + ("stopped before the schedule ended" if state["stopped_early"] else "")
                )
            ),
            "augmentation": AUGMENTATION_TEXT,
            "optimizer": (
                f"SGD, Nesterov momentum 0.9, batch {args.batch}, learning rate linear warm-up to "
                f"{args.lr:g} over the first {args.warmup:.0%} of the schedule then linear decay to 0; "
                f"decoupled weight decay {args.wd:g} (not on BN/bias); cross-entropy on the logits with "
                f"label smoothing {args.label_smoothing:g}; "
                + (
                    "mixed_bfloat16 compute (float32 weights, saved as float32); "
                    if args.mixed
                    else ""
                )
                + f"best-by-validation weights kept; seed {SEED}"
            ),
            "seconds": round(train_seconds, 1),
            "seconds_per_epoch": round(mean_epoch, 1),
            "command": " ".join(["python", "scripts/train_vgg_cifar.py"] + sys.argv[1:]),
            "machine": "2-core CPU",
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "history": state["history"],
        },
        "metrics": metrics,
        "file_bytes": path.stat().st_size,
        "retrain": "python scripts/train_vgg_cifar.py --data ../shared/data/cifar10",
        "reference": "NeuralVis' VGG on CIFAR-10 reached 86.8% test accuracy",
    }
    card_path = out_dir / "vgg_cifar10.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {card_path}", flush=True)
    print(json.dumps(metrics, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
