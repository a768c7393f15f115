"""The spoken-digit CNN: raw 8 kHz waveform in, its log-mel spectrogram inside the graph.

keras.layers.MelSpectrogram (power in dB), a per-clip LayerNormalization over time x frequency,
then four d-DeVIS-style blocks (Conv2D 16 7x7, 16 5x5, 32 3x3, 64 3x3; each with BatchNorm,
ReLU, 2x2 max pooling and dropout), a dense layer, the ``logits`` and ``probabilities``. Only
built-in layers, so it loads with ``keras.saving.load_model(path, safe_mode=True)``. Training
runs a graph that shares these layers, cut at the logits, with SpecAugment masks inserted.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from training.audio.recipe import SR, N

FRAME_LENGTH = 256  # 32 ms window
FRAME_STEP = 64  # 8 ms hop
FFT_LENGTH = 512  # zero-padded FFT (15.6 Hz bins) so the low mel bands are not empty
N_MELS = 64
MEL_FMIN, MEL_FMAX = 50.0, 4000.0
MIN_POWER = 1e-5  # dB floor ~ -75 dBFS noise: digital silence and 16-bit hiss look alike
TOP_DB = 1000.0  # MelSpectrogram clips at max(batch) - top_db: off, or the batch would matter
BLOCKS = ((16, 7), (16, 5), (32, 3), (64, 3))  # (filters, kernel size) per block

# keras.layers.MelSpectrogram's mel options, written once: the layer is built with them and the
# card records them (core.show re-creates the front end from the card to hear a filter).
MEL = {
    "num_mel_bins": N_MELS,
    "min_freq": MEL_FMIN,
    "max_freq": MEL_FMAX,
    "power_to_db": True,
    "mag_exp": 2.0,
    "min_power": MIN_POWER,
    "ref_power": 1.0,
}
STFT_CARD = {  # the card's "stft": how core.show re-creates the front end for hearing a filter
    "frame_length": FRAME_LENGTH,
    "frame_step": FRAME_STEP,
    "fft_length": FFT_LENGTH,
    "window": "hann",
    "center": True,
    "padding": "reflect",
    "mel": {**MEL, "scale": "htk"},  # keras' mel scale is HTK's
}


def build_model(dropout: float = 0.2) -> keras.Model:
    """The untrained network: (batch, 8000) waveform -> (batch, 10) probabilities."""
    inp = keras.Input(shape=(N,), dtype="float32", name="waveform")
    x = layers.MelSpectrogram(
        fft_length=FFT_LENGTH,
        sequence_stride=FRAME_STEP,
        sequence_length=FRAME_LENGTH,
        window=STFT_CARD["window"],
        sampling_rate=SR,
        top_db=TOP_DB,
        name="mel_spectrogram",
        **MEL,
    )(inp)  # (mels, frames)
    x = layers.Permute((2, 1), name="time_major")(x)  # (frames, mels)
    x = layers.Reshape((x.shape[1], N_MELS, 1), name="spectrogram")(x)
    # Per-clip normalisation over time x frequency (no learned scale: block1_bn does that).
    x = layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, name="normalize")(x)
    for i, (filters, k) in enumerate(BLOCKS, start=1):
        x = layers.Conv2D(filters, k, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = layers.Dropout(dropout * (0.5 if i < 3 else 1.0), name=f"block{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="fc")(x)
    x = layers.Dropout(0.4, name="fc_dropout")(x)
    logits = layers.Dense(10, name="logits")(x)
    probs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inp, probs, name="spoken_digits")


def _bands(b: tf.Tensor, size: int, n: int, width: int) -> tf.Tensor:
    """(b, size) bool: per row, n random bands of 0..width positions each."""
    w = tf.random.uniform((b, n, 1), 0, width + 1, dtype=tf.int32)
    start = tf.cast(tf.random.uniform((b, n, 1)) * tf.cast(size - w + 1, tf.float32), tf.int32)
    pos = tf.range(size)[None, None, :]
    return tf.reduce_any((pos >= start) & (pos < start + w), axis=1)


class SpecMask(keras.layers.Layer):
    """SpecAugment-style masking (Park et al. 2019), in training only: per clip, n_time bands of
    0..max_time frames and n_freq bands of 0..max_freq mel bins set to 0, the mean of the
    per-clip normalised spectrogram. (B, frames, mels, 1) -> same shape."""

    def __init__(self, n_time: int, max_time: int, n_freq: int, max_freq: int, **kw) -> None:
        super().__init__(**kw)
        self.n_time, self.max_time, self.n_freq, self.max_freq = n_time, max_time, n_freq, max_freq

    def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training:
            return x
        b = tf.shape(x)[0]
        masked = (
            _bands(b, x.shape[1], self.n_time, self.max_time)[:, :, None]
            | _bands(b, x.shape[2], self.n_freq, self.max_freq)[:, None, :]
        )  # (B, frames, mels)
        return x * tf.cast(~masked, x.dtype)[..., None]


def training_graph(model: keras.Model, spec_mask: SpecMask | None = None) -> keras.Model:
    """The model up to its logits (the loss takes logits), with spec_mask inserted after the
    per-clip normalisation when given. Layers are shared: training it trains model."""
    if spec_mask is None:
        return keras.Model(model.inputs, model.get_layer("logits").output, name="train_logits")
    names = [layer.name for layer in model.layers]
    x = spec_mask(model.get_layer("normalize").output)
    for layer in model.layers[names.index("normalize") + 1 : names.index("logits") + 1]:
        x = layer(x)
    return keras.Model(model.inputs, x, name="train_logits")
