#!/usr/bin/env python
"""Train the built-in LeNet-5 on MNIST and write its model card.

Run from the repository root:

    python scripts/train_lenet.py --data ../shared/data/mnist

Writes ``<out>/lenet_mnist.keras`` and ``<out>/lenet_mnist.json``.

Data: the MNIST IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``)
in ``--data``; the last 5,000 training images are held out for validation. If the folder
``--data`` does not exist, ``keras.datasets.mnist.load_data()`` is used instead (needs
internet) and the model is also evaluated on the real MNIST test set. If the ``--data``
folder holds the test files (``t10k-*``) they are evaluated too.

Augmentation (random rotation, shift, zoom, slight shear/aspect, stroke thickness and
contrast) runs in the tf.data pipeline only: the saved model contains no augmentation
layers and uses only built-in Keras layers, so it loads with
``keras.saving.load_model(path, compile=False, safe_mode=True)``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SEED = 1234
N_VAL = 5000
BATCH = 128
DEFAULT_EPOCHS = 20
LABELS = [str(i) for i in range(10)]

# Augmentation ranges.
ROT_DEG = 12.0  # rotation +-degrees
SHIFT_PX = 2.5  # translation +-pixels (each axis)
ZOOM = 0.10  # isotropic scale 1 +- ZOOM
ASPECT = 0.05  # extra per-axis scale 1 +- ASPECT
SHEAR_DEG = 6.0  # shear +-degrees
P_THICK = 0.15  # probability of thickening strokes (2x2 max filter)
P_THIN = 0.10  # probability of thinning strokes (2x2 min filter)
GAIN = (0.9, 1.25)  # contrast gain, result clipped to [0, 1]

AUGMENTATION_TEXT = (
    f"tf.data pipeline, not in the model: random affine per image (rotation +-{ROT_DEG:g} deg, "
    f"shift +-{SHIFT_PX:g} px, zoom +-{ZOOM:.0%}, aspect +-{ASPECT:.0%}, shear +-{SHEAR_DEG:g} deg, "
    f"bilinear); stroke thickening (2x2 max filter, {P_THICK:.0%} of images) or thinning "
    f"(2x2 min filter, {P_THIN:.0%}); contrast gain {GAIN[0]:g}-{GAIN[1]:g} clipped to [0, 1]"
)


# ---------------------------------------------------------------------------- data


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        buf = f.read()
    return np.frombuffer(buf, np.uint8, offset=offset)


def load_idx_folder(folder: Path, prefix: str):
    images = folder / f"{prefix}-images-idx3-ubyte.gz"
    labels = folder / f"{prefix}-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        return None
    x = _read_idx(images, 16).reshape(-1, 28, 28)
    y = _read_idx(labels, 8)
    if len(x) != len(y):
        raise ValueError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return x, y


def load_data(data_dir: Path):
    """Return (x_train, y_train, test) with test either None or (x_test, y_test), plus the source."""
    if data_dir.is_dir():
        train = load_idx_folder(data_dir, "train")
        if train is None:
            sys.exit(
                f"error: {data_dir} has no train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz"
            )
        test = load_idx_folder(data_dir, "t10k")
        return train[0], train[1], test, f"IDX files in {data_dir}"
    print(f"{data_dir} not found: falling back to keras.datasets.mnist.load_data()", flush=True)
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return x_train, y_train, (x_test, y_test), "keras.datasets.mnist"


# ---------------------------------------------------------------------------- model


def build_model():
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1), dtype="float32", name="input")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.4, name="dropout1")(x)
    x = layers.Dense(128, activation="relu", name="fc2")(x)
    x = layers.Dropout(0.3, name="dropout2")(x)
    logits = layers.Dense(10, name="logits")(x)
    probs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, probs, name="lenet_mnist")


# ---------------------------------------------------------------------------- augmentation


def make_augment(tf):
    c = 13.5  # centre of a 28x28 image in pixel coordinates

    def augment(images, labels, seed):
        """images: (B, 28, 28) uint8 -> (B, 28, 28, 1) float32 in [0, 1], augmented."""
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        b = tf.shape(x)[0]
        s = tf.stack([seed, tf.constant(0, tf.int64)])

        def uni(i, lo, hi, shape=None):
            return tf.random.stateless_uniform(
                shape if shape is not None else [b], seed=s + [0, i], minval=lo, maxval=hi
            )

        # Stroke thickness: a few images thicker (max filter) or thinner (min filter).
        u = uni(1, 0.0, 1.0)[:, None, None, None]
        thick = tf.nn.max_pool2d(x, 2, 1, "SAME")
        thin = -tf.nn.max_pool2d(-x, 2, 1, "SAME")
        x = tf.where(u < P_THICK, thick, tf.where(u > 1.0 - P_THIN, thin, x))

        # Random affine: output pixel p comes from input pixel c + A^-1 (p - c - t).
        theta = uni(2, -ROT_DEG, ROT_DEG) * (math.pi / 180.0)
        shear = uni(3, -SHEAR_DEG, SHEAR_DEG) * (math.pi / 180.0)
        zoom = uni(4, 1.0 - ZOOM, 1.0 + ZOOM)
        sx = zoom * uni(5, 1.0 - ASPECT, 1.0 + ASPECT)
        sy = zoom * uni(6, 1.0 - ASPECT, 1.0 + ASPECT)
        tx = uni(7, -SHIFT_PX, SHIFT_PX)
        ty = uni(8, -SHIFT_PX, SHIFT_PX)
        cos, sin, sh = tf.cos(theta), tf.sin(theta), tf.tan(shear)
        # A = R(theta) @ [[1, sh], [0, 1]] @ diag(sx, sy)
        a11, a12 = cos * sx, (cos * sh - sin) * sy
        a21, a22 = sin * sx, (sin * sh + cos) * sy
        det = a11 * a22 - a12 * a21
        i11, i12, i21, i22 = a22 / det, -a12 / det, -a21 / det, a11 / det
        ox, oy = c + tx, c + ty  # output coordinates of the image centre
        a2 = c - i11 * ox - i12 * oy
        b2 = c - i21 * ox - i22 * oy
        zeros = tf.zeros_like(a11)
        transforms = tf.stack([i11, i12, a2, i21, i22, b2, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x,
            transforms=transforms,
            output_shape=tf.constant([28, 28], tf.int32),
            fill_value=tf.constant(0.0, tf.float32),
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )

        # Contrast gain.
        x = tf.clip_by_value(x * uni(9, GAIN[0], GAIN[1])[:, None, None, None], 0.0, 1.0)
        return x, labels

    return augment


# ---------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        default="../shared/data/mnist",
        help="folder with the MNIST IDX .gz files (default: ../shared/data/mnist); "
        "if missing, keras.datasets.mnist.load_data() is used",
    )
    ap.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"training epochs (default: {DEFAULT_EPOCHS})",
    )
    ap.add_argument("--out", default="assets/models", help="output folder (default: assets/models)")
    ap.add_argument(
        "--lr", type=float, default=1e-3, help="peak Adam learning rate (default: 1e-3)"
    )
    ap.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    args = ap.parse_args(argv)

    import keras
    import tensorflow as tf

    ncpu = os.cpu_count() or 1
    tf.config.threading.set_intra_op_parallelism_threads(ncpu)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, ncpu))
    keras.utils.set_random_seed(args.seed)

    x_all, y_all, test, source = load_data(Path(args.data))
    if len(x_all) <= N_VAL:
        sys.exit(f"error: only {len(x_all)} training images")
    x_tr, y_tr = x_all[:-N_VAL], y_all[:-N_VAL]
    x_val, y_val = x_all[-N_VAL:], y_all[-N_VAL:]
    print(
        f"data: {source}; train {len(x_tr)}, validation {len(x_val)}"
        + (f", test {len(test[0])}" if test is not None else ""),
        flush=True,
    )

    def to_float(x):
        return (x.astype(np.float32) / 255.0)[..., None]

    steps = math.ceil(len(x_tr) / BATCH)
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr.astype(np.int32)))
        .shuffle(len(x_tr), seed=args.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(BATCH)
    )
    train_ds = (
        tf.data.Dataset.zip((train_ds, tf.data.Dataset.random(seed=args.seed)))
        .map(
            lambda xy, s: make_augment(tf)(xy[0], xy[1], s),
            num_parallel_calls=2,
            deterministic=True,
        )
        .prefetch(4)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((to_float(x_val), y_val.astype(np.int32))).batch(
        512
    )

    model = build_model()
    model.summary(print_fn=lambda s, **_: print(s, flush=True))
    # Train on the logits (numerically stable loss); the weights are shared with `model`.
    train_model = keras.Model(model.inputs, model.get_layer("logits").output, name="lenet_logits")
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.lr / 10,
        decay_steps=args.epochs * steps - steps // 2,
        alpha=0.01,
        warmup_target=args.lr,
        warmup_steps=steps // 2,
    )
    train_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            print(
                f"epoch {epoch + 1}/{args.epochs}  {time.time() - self.t0:5.1f}s  "
                f"loss {logs.get('loss', 0):.4f}  acc {logs.get('accuracy', 0):.4f}  "
                f"val_loss {logs.get('val_loss', 0):.4f}  val_acc {logs.get('val_accuracy', 0):.4f}",
                flush=True,
            )

    t0 = time.time()
    train_model.fit(
        train_ds,
        epochs=args.epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        shuffle=False,
        verbose=0,
        callbacks=[EpochLog()],
    )
    seconds = time.time() - t0
    print(f"training took {seconds:.1f}s", flush=True)

    # Metrics from the full (softmax) model.
    def evaluate(x, y):
        probs = model.predict(to_float(x), batch_size=1000, verbose=0)
        pred = probs.argmax(axis=1)
        acc = float((pred == y).mean())
        per = {LABELS[k]: round(float((pred[y == k] == k).mean()), 4) for k in range(10)}
        return acc, per, probs

    val_acc, val_per, val_probs = evaluate(x_val, y_val)
    metrics = {"validation_accuracy": round(val_acc, 4), "validation_per_class_accuracy": val_per}
    print(f"validation accuracy {val_acc:.4f}; per class {val_per}", flush=True)
    if test is not None:
        test_acc, test_per, _ = evaluate(*test)
        metrics["test_accuracy"] = round(test_acc, 4)
        metrics["test_per_class_accuracy"] = test_per
        print(f"test accuracy {test_acc:.4f}; per class {test_per}", flush=True)

    # Save and check that it loads safely and predicts the same.
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "lenet_mnist.keras"
    model.save(model_path)
    loaded = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    re_probs = loaded.predict(to_float(x_val), batch_size=1000, verbose=0)
    if not (
        np.allclose(re_probs, val_probs, atol=1e-5)
        and (re_probs.argmax(1) == val_probs.argmax(1)).all()
    ):
        sys.exit("error: the reloaded model predicts differently")
    names = [layer.name for layer in loaded.layers]
    print(
        f"saved {model_path} ({model_path.stat().st_size} bytes); reload OK; layers {names}",
        flush=True,
    )

    if ncpu == 1:
        machine = "1-core CPU"
    else:
        machine = f"{ncpu}-core CPU"
    if tf.config.list_physical_devices("GPU"):
        machine += " + GPU"
    card = {
        "name": "lenet_mnist",
        "title": "LeNet-5 on MNIST",
        "description": (
            "A small LeNet-5-style convolutional network (two conv/max-pool stages, two dense "
            "layers) that classifies 28x28 grayscale handwritten digits 0-9."
        ),
        "labels": LABELS,
        "input": {
            "kind": "image",
            "shape": [28, 28, 1],
            "range": [0.0, 1.0],
            "raw_range": [0, 255],
            "color": "grayscale",
            "background": "black",
            "digit_style": "mnist",
        },
        "output": "probabilities",
        "logits_layer": "logits",
        "preprocessing": (
            "uint8 pixels / 255 (float32 in [0, 1]); white ink on a black background; drawn "
            "digits are cropped to their bounding box, scaled to fit 20x20 keeping the aspect "
            "ratio, and centred by centre of mass in a 28x28 image (as MNIST was made)."
        ),
        "training": {
            "data": f"MNIST training set (first {len(x_tr):,} images), LeCun & Cortes, CC BY-SA 3.0",
            "validation": f"last {N_VAL:,} training images",
            "epochs": args.epochs,
            "augmentation": AUGMENTATION_TEXT,
            "optimizer": (
                f"Adam, batch {BATCH}, learning rate warm-up to {args.lr:g} over half an epoch "
                f"then cosine decay to {args.lr * 0.01:g}; sparse cross-entropy on the logits; "
                f"seed {args.seed}"
            ),
            "seconds": round(seconds, 1),
            "machine": machine,
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
        },
        "metrics": metrics,
        "retrain": f"python scripts/train_lenet.py --data {args.data}"
        + (f" --epochs {args.epochs}" if args.epochs != DEFAULT_EPOCHS else ""),
    }
    card_path = out / "lenet_mnist.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {card_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
