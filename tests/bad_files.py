"""Bad files a user might upload, made on the fly (never committed): models, images, audio.

Each maker returns (filename, bytes, a phrase the app's message must contain). Shared by the
core tests and the browser bad-input suite.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np

MODEL_MAX_MB = 64


def _keras_bytes(model, suffix: str = ".keras") -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"m{suffix}"
        model.save(path)
        return path.read_bytes()


def _small_cnn():
    import keras

    x = keras.Input((8, 8, 1))
    y = keras.layers.Conv2D(2, 3, name="conv")(x)
    y = keras.layers.Flatten()(y)
    return keras.Model(x, keras.layers.Dense(3, name="logits")(y))


def rewrite_member(data: bytes, name: str, change) -> bytes:
    """Rewrite a .keras archive with member `name`'s bytes replaced by change(bytes)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            dst.writestr(info.filename, change(payload) if info.filename == name else payload)
    return out.getvalue()


def rezip(data: bytes, edit) -> bytes:
    """Rewrite a .keras archive with its config.json changed by edit(config) in place."""

    def change(payload: bytes) -> bytes:
        cfg = json.loads(payload)
        edit(cfg)
        return json.dumps(cfg).encode()

    return rewrite_member(data, "config.json", change)


def _lambda_model():
    import keras

    x = keras.Input((8, 8, 1))
    y = keras.layers.Lambda(lambda t: t * 2, name="double")(x)
    return keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(y)))


def bad_models() -> list[tuple[str, bytes, str]]:
    import keras

    out = [
        ("lambda.keras", _keras_bytes(_lambda_model()), "is a Lambda"),
        ("lambda.h5", _keras_bytes(_lambda_model(), ".h5"), "is a Lambda"),
    ]

    # a config naming a non-Keras module
    def to_os(cfg):
        cfg["config"]["layers"][1]["module"] = "os"

    out.append(("evil.keras", rezip(_keras_bytes(_small_cnn()), to_os), "not part of Keras"))
    rng = np.random.default_rng(7)
    out.append(("junk.keras", rng.bytes(4096), "not a valid .keras file"))
    out.append(("junk.h5", rng.bytes(4096), "not an HDF5 file"))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\0" * (300 * 2**20))
    out.append(("bomb.keras", bomb.getvalue(), "zip bomb"))
    out.append(("huge.keras", b"PK" + bytes(MODEL_MAX_MB * 2**20 + 1024), "MB are accepted"))
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    two = keras.Model(
        [a, b], keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()([a, b])))
    )
    out.append(("two_inputs.keras", _keras_bytes(two), "has 2 inputs"))
    t = keras.Input((20,), dtype="int32")
    text = keras.Model(
        t,
        keras.layers.Dense(2)(
            keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 8)(t))
        ),
    )
    out.append(("text.keras", _keras_bytes(text), "token ids or text"))
    out.append(("empty.keras", b"", "is empty"))
    return out


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def bad_images() -> list[tuple[str, bytes, str]]:
    from PIL import Image

    # A decompression bomb: a tiny file declaring 30000 x 30000 pixels.
    big = io.BytesIO()
    Image.new("1", (30000, 30000)).save(big, format="PNG", optimize=True)
    jpg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        jpg, format="JPEG"
    )
    gif = io.BytesIO()
    Image.new("P", (20, 20)).save(gif, format="GIF")
    return [
        ("bomb.png", big.getvalue(), "pixels"),
        ("truncated.jpg", jpg.getvalue()[: len(jpg.getvalue()) // 2], "truncated"),
        ("empty.png", b"", "empty"),
        ("actually_a_gif.png", gif.getvalue(), "GIF"),
        ("paper.png", b"%PDF-1.7\n" + bytes(300), "is not an image: a PDF document"),
        ("notes.jpg", b"my digits, drawn on paper\n" * 20, "is not an image: a text file"),
    ]


def converted_images() -> list[tuple[str, bytes, str]]:
    """Unusual but valid images: accepted with a documented conversion note."""
    from PIL import Image, ImageDraw

    g = Image.new("I;16", (60, 60), 0)
    ImageDraw.Draw(g).line([(15, 10), (45, 10), (28, 52)], fill=60000, width=6)
    p = Image.new("RGB", (60, 60), "white")
    ImageDraw.Draw(p).line([(15, 10), (45, 10), (28, 52)], fill="black", width=6)
    return [
        ("sixteen_bit.png", _png(g), "16-bit"),
        ("palette.png", _png(p.convert("P", palette=Image.Palette.ADAPTIVE)), "palette"),
    ]


def _wav(y: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _nan_wav() -> bytes:
    data = _wav(np.zeros(8000, np.float32), 8000, "FLOAT")
    i = data.index(b"data") + 8
    return data[:i] + struct.pack("<f", float("nan")) * 100 + data[i + 400 :]


def bad_audio() -> list[tuple[str, bytes, str]]:
    rng = np.random.default_rng(3)
    return [
        ("long.wav", _wav(rng.normal(0, 0.1, 8000 * 40).astype(np.float32), 8000), "30 s"),
        ("click.wav", _wav(rng.normal(0, 0.3, 80).astype(np.float32), 8000), "too short"),
        ("silent.wav", _wav(np.zeros(8000, np.float32), 8000), "silent"),
        ("nan.wav", _nan_wav(), "NaN"),
        ("corrupt.mp3", b"\xff\xfb\x90\x00" + rng.bytes(3000), "MP3"),
        ("empty.wav", b"", "empty"),
    ]
