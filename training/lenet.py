"""The LeNet-5 recipe on MNIST: model, augmentation, training and its card.

The last 5,000 training images are held out for validation (N_VAL). Augmentation (random
rotation, shift, zoom, slight shear/aspect, stroke thickness and contrast) runs in the tf.data
pipeline only: the saved model holds only built-in Keras layers and loads with
``keras.saving.load_model(path, compile=False, safe_mode=True)``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from training import output, runtime
from training.data import DATA, hold_out, load_mnist
from training.logits import fit_logits

SEED = 1234
N_VAL = 5000
BATCH = 128
EPOCHS = 20
LR = 1e-3  # peak Adam learning rate
LABELS = [str(i) for i in range(10)]
SMOKE_STEPS = 4  # --smoke: batches per epoch, one epoch

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


def build_model() -> keras.Model:
    """(batch, 28, 28, 1) float32 in [0, 1] -> (batch, 10) probabilities."""
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


def augment(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """images (B, 28, 28) uint8 -> (B, 28, 28, 1) float32 in [0, 1], augmented (stateless,
    from seed)."""
    c = 13.5  # centre of a 28x28 image in pixel coordinates
    x = tf.cast(images, tf.float32)[..., None] / 255.0
    b = tf.shape(x)[0]
    s = tf.stack([seed, tf.constant(0, tf.int64)])

    def uni(i: int, lo: float, hi: float) -> tf.Tensor:
        return tf.random.stateless_uniform([b], seed=s + [0, i], minval=lo, maxval=hi)

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


def _float(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32) / 255.0)[..., None]


def train(
    *,
    data: Path = DATA / "mnist",
    out: Path,
    epochs: int = EPOCHS,
    smoke: bool = False,
    data_arg: str = str(DATA / "mnist"),
) -> dict:
    """Train, save out/lenet_mnist.keras (checked to reload safely and predict the same) and
    its card out/lenet_mnist.json; returns the card. data_arg: --data as given (the retrain)."""
    runtime.setup()
    keras.utils.set_random_seed(SEED)
    images = load_mnist(data)
    tr, val = hold_out(images.train, N_VAL)
    test = images.test
    print(
        f"data: {images.source}; train {len(tr.x)}, validation {len(val.x)}"
        + (f", test {len(test.x)}" if test is not None else ""),
        flush=True,
    )
    steps = SMOKE_STEPS if smoke else math.ceil(len(tr.x) / BATCH)
    epochs = 1 if smoke else epochs
    train_ds = (
        tf.data.Dataset.from_tensor_slices((tr.x, tr.y))
        .shuffle(len(tr.x), seed=SEED, reshuffle_each_iteration=True)
        .repeat()
        .batch(BATCH)
    )
    train_ds = (
        tf.data.Dataset.zip((train_ds, tf.data.Dataset.random(seed=SEED)))
        .map(lambda xy, s: augment(xy[0], xy[1], s), num_parallel_calls=2, deterministic=True)
        .prefetch(4)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((_float(val.x), val.y)).batch(512)
    model = build_model()
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=LR / 10,
        decay_steps=epochs * steps - steps // 2,
        alpha=0.01,
        warmup_target=LR,
        warmup_steps=steps // 2,
    )
    t0 = time.time()
    fit_logits(
        model,
        train_ds,
        optimizer=keras.optimizers.Adam(learning_rate=schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        epochs=epochs,
        steps=steps,
        name="lenet_logits",
        validation_data=val_ds,
    )
    seconds = time.time() - t0

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "lenet_mnist.keras"
    _, val_probs = output.save_checked(model, model_path, _float(val.x))
    val_acc, val_per = output.class_accuracy(val_probs.argmax(1), val.y, LABELS)
    metrics: dict = {
        "validation_accuracy": round(val_acc, 4),
        "validation_per_class_accuracy": val_per,
    }
    if test is not None:
        test_acc, test_per = output.class_accuracy(
            output.predict(model, _float(test.x)).argmax(1), test.y, LABELS
        )
        metrics["test_accuracy"] = round(test_acc, 4)
        metrics["test_per_class_accuracy"] = test_per
    print(f"training {seconds:.1f}s; {json.dumps(metrics)}", flush=True)
    card = output.image_card(
        "lenet_mnist",
        "LeNet-5 on MNIST",
        (
            "A small LeNet-5-style convolutional network (two conv/max-pool stages, two dense "
            "layers) that classifies 28x28 grayscale handwritten digits 0-9."
        ),
        labels=LABELS,
        shape=[28, 28, 1],
        color="grayscale",
        background="black",
        digit_style="mnist",
        preprocessing=(
            "uint8 pixels / 255 (float32 in [0, 1]); white ink on a black background; drawn "
            "digits are cropped to their bounding box, scaled to fit 20x20 keeping the aspect "
            "ratio, and centred by centre of mass in a 28x28 image (as MNIST was made)."
        ),
    )
    card |= {
        "training": {
            "data": f"MNIST training set (first {len(tr.x):,} images), LeCun & Cortes, CC BY-SA 3.0",
            "validation": f"last {N_VAL:,} training images",
            "epochs": epochs,
            "augmentation": AUGMENTATION_TEXT,
            "optimizer": (
                f"Adam, batch {BATCH}, learning rate warm-up to {LR:g} over half an epoch "
                f"then cosine decay to {LR * 0.01:g}; sparse cross-entropy on the logits; "
                f"seed {SEED}"
            ),
            "seconds": round(seconds, 1),
            **output.provenance(),
            **({"smoke": True} if smoke else {}),
        },
        "metrics": metrics,
        # What a fresh clone runs: without the data folder the script downloads MNIST.
        "retrain": "python scripts/train_lenet.py"
        + (f" --data {data_arg}" if data_arg != str(DATA / "mnist") else "")
        + (f" --epochs {epochs}" if epochs != EPOCHS else ""),
    }
    print(f"wrote {model_path} and {output.write_card(out, 'lenet_mnist', card)}", flush=True)
    return card
