"""core.inputs.image: MNIST-style framing, card-driven preparation, decoding uploads (and refusing bad ones)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.errors import InputError
from core.inputs.image import decode_image, mnist_style, prepare_image, to_float01

MNIST_CARD = {
    "input": {"kind": "image", "shape": [28, 28, 1], "range": [0.0, 1.0], "digit_style": "mnist"}
}
RGB32_CARD = {"input": {"kind": "image", "shape": [32, 32, 3], "range": [0.0, 1.0]}}


# ----------------------------------------------------------------------------- helpers


def _pad(draw_fn, size=(280, 280), bg=0, ink=255, mode="L") -> np.ndarray:
    im = Image.new(mode, size, bg)
    draw_fn(ImageDraw.Draw(im), ink)
    return np.asarray(im)


def _seven_in_corner(d: ImageDraw.ImageDraw, ink) -> None:
    """A thick "7" squeezed into the top-left of the pad: far from centred."""
    d.line([(20, 20), (110, 20), (55, 140)], fill=ink, width=14, joint="curve")


def _ink_bbox(a: np.ndarray, thr: int = 0) -> tuple[int, int]:
    ys, xs = np.nonzero(a > thr)
    return ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


def _centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    f = a.astype(np.float64)
    idx = np.arange(a.shape[0])
    return (f.sum(axis=1) @ idx) / f.sum(), (f.sum(axis=0) @ idx) / f.sum()


def _encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _blank_1bit_png(w: int, h: int) -> bytes:
    """A valid all-black 1-bit PNG of w×h, built row by row: tiny on disk, huge in memory."""
    row = b"\x00" * (1 + (w + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(h // 1000)]
    parts += [comp.compress(row * (h % 1000)), comp.flush()]
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


# ----------------------------------------------------------------------------- mnist_style


def test_mnist_style_shape_and_dtype():
    out = mnist_style(_pad(_seven_in_corner))
    assert out.shape == (28, 28)
    assert out.dtype == np.uint8
    assert out.max() > 200 and out[0].max() == 0 and out[:, 0].max() == 0  # ink inside a margin


@pytest.mark.parametrize("shape", ["tall", "wide"])
def test_mnist_style_fits_bounding_box_in_20x20(shape):
    if shape == "tall":
        drawing = _pad(lambda d, ink: d.line([(150, 30), (140, 250)], fill=ink, width=16))
    else:
        drawing = _pad(lambda d, ink: d.ellipse((20, 100, 260, 170), outline=ink, width=14))
    h, w = _ink_bbox(mnist_style(drawing))
    assert max(h, w) == pytest.approx(20, abs=1)
    assert min(h, w) <= 20
    if shape == "tall":
        assert h > w
    else:
        assert w > h


def test_mnist_style_centres_mass_of_off_centre_drawing():
    drawing = _pad(_seven_in_corner)
    cy0, cx0 = _centre_of_mass(drawing)
    assert cy0 < 100 and cx0 < 100  # really off-centre on the 280×280 pad
    cy, cx = _centre_of_mass(mnist_style(drawing))
    assert cy == pytest.approx(13.5, abs=1.0)
    assert cx == pytest.approx(13.5, abs=1.0)


def test_mnist_style_accepts_float_and_rgb_drawings():
    gray = _pad(_seven_in_corner)
    ref = mnist_style(gray)
    assert np.array_equal(mnist_style(gray.astype(np.float32) / 255.0), ref)
    assert np.array_equal(mnist_style(np.repeat(gray[..., None], 3, axis=-1)), ref)


def test_mnist_style_empty_drawing_is_refused():
    with pytest.raises(InputError, match="empty"):
        mnist_style(np.zeros((280, 280), np.uint8))


# ----------------------------------------------------------------------------- prepare_image


def test_prepare_image_mnist_card_inverts_and_frames_a_dark_on_light_photo():
    photo = _pad(
        lambda d, ink: d.line([(30, 10), (70, 10), (45, 52)], fill=ink, width=5),
        size=(100, 60),
        bg=(250, 248, 240),
        ink=(20, 20, 30),
        mode="RGB",
    )
    assert photo.shape == (60, 100, 3)
    x, notes = prepare_image(photo, MNIST_CARD)
    assert x.shape == (28, 28, 1)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x.max() > 0.8  # ink is bright after inversion
    assert x[0].max() == 0 and x[-1].max() == 0  # background is black
    text = " | ".join(notes)
    assert "invert" in text
    assert "framed MNIST-style" in text and "100×60" in text


def test_prepare_image_mnist_card_refuses_a_blank_photo():
    with pytest.raises(InputError, match="No digit found"):
        prepare_image(np.full((60, 100), 255, np.uint8), MNIST_CARD)


def test_prepare_image_generic_card_resizes_and_repeats_channels(rng):
    gray = rng.integers(0, 256, (48, 64), dtype=np.uint8)  # 64 wide, 48 high
    x, notes = prepare_image(gray, RGB32_CARD)
    assert x.shape == (32, 32, 3)
    assert x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 0], x[..., 2])
    text = " | ".join(notes)
    assert "resized from 64×48 to 32×32" in text
    assert "aspect ratio not kept" in text
    assert "3 colour channels" in text


def test_prepare_image_maps_range_minus_one_to_one():
    card = {"input": {"kind": "image", "shape": [4, 4, 1], "range": [-1.0, 1.0]}}
    raw = np.array([[0, 255, 0, 255]] * 4, np.uint8)
    x, notes = prepare_image(raw, card)
    assert x.shape == (4, 4, 1) and x.dtype == np.float32
    assert np.all(x[:, 0::2] == -1.0)
    assert np.all(x[:, 1::2] == 1.0)
    assert notes == []


def test_prepare_image_refuses_a_non_image_array():
    with pytest.raises(InputError, match="expected an image"):
        prepare_image(np.zeros((4, 4, 7), np.uint8), RGB32_CARD)


# ----------------------------------------------------------------------------- to_float01


def test_to_float01_refuses_floats_outside_unit_range():
    with pytest.raises(InputError, match="expected \\[0, 1\\]"):
        to_float01(np.array([[0.0, 255.0]], np.float32))
    with pytest.raises(InputError, match="expected \\[0, 1\\]"):
        prepare_image(np.full((28, 28), -0.5), MNIST_CARD)


def test_to_float01_refuses_nan():
    a = np.zeros((28, 28), np.float32)
    a[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        to_float01(a)
    with pytest.raises(InputError, match="NaN"):
        prepare_image(a, MNIST_CARD)


# ----------------------------------------------------------------------------- decode_image


def test_decode_image_truncated_jpeg(rng):
    im = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = _encode(im, "JPEG", quality=90)
    with pytest.raises(InputError, match="could not be decoded"):
        decode_image(data[: len(data) // 2], filename="photo.jpg")


@pytest.mark.parametrize(
    "data,what",
    [
        (b"definitely not an image" * 10, "a text file (230 bytes, starting 'definitely not"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj" + bytes(200), "a PDF document"),
        (b"PK\x03\x04" + bytes(100), "a ZIP archive"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "a WAV audio file"),
        (bytes(range(256)) * 2, "an unknown binary file (512 bytes"),
    ],
)
def test_a_non_image_says_what_the_file_is_and_what_is_accepted(data, what):
    with pytest.raises(InputError, match="Accepted: PNG, JPEG, BMP or WebP") as e:
        decode_image(data, filename="x.png")
    assert f"'x.png' is not an image: {what}" in str(e.value)
    assert "BytesIO" not in str(e.value) and "0x" not in str(e.value)


def test_decode_image_empty_bytes():
    with pytest.raises(InputError, match="empty"):
        decode_image(b"", filename="blank.png")


def test_decode_image_gif_renamed_png():
    data = _encode(Image.new("P", (8, 8), 1), "GIF")
    with pytest.raises(InputError, match="GIF"):
        decode_image(data, filename="digit.png")


def test_decode_image_16bit_png():
    a = np.array([[0, 257 * 128], [65535, 257 * 10]], np.uint16)
    arr, notes = decode_image(_encode(Image.fromarray(a)), filename="scan16.png")
    assert arr.dtype == np.uint8 and arr.shape == (2, 2)
    assert arr.tolist() == [[0, 128], [255, 10]]
    assert any("16-bit" in n for n in notes)


def test_decode_image_dark_16bit_png_stays_dark():
    """All values <= 255 in a 16-bit file are still out of 65535: a near-black image."""
    a = np.array([[0, 100], [200, 255]], np.uint16)
    arr, _ = decode_image(_encode(Image.fromarray(a)), filename="dark16.png")
    assert arr.max() <= 1


def test_decode_image_palette_png():
    im = Image.new("P", (6, 4), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((2, 1), 1)
    arr, notes = decode_image(_encode(im), filename="pal.png")
    assert arr.shape == (4, 6, 3) and arr.dtype == np.uint8
    assert arr[1, 2].tolist() == [255, 0, 0]
    assert arr[0, 0].tolist() == [0, 0, 0]
    assert any("palette" in n for n in notes)


def test_decode_image_grey_palette_png_becomes_2d():
    im = Image.new("P", (5, 5), 0)
    im.putpalette([0, 0, 0, 200, 200, 200] + [0] * 762)
    im.putpixel((1, 1), 1)
    arr, _ = decode_image(_encode(im), filename="pal_grey.png")
    assert arr.shape == (5, 5)
    assert arr[1, 1] == 200 and arr[0, 0] == 0


def test_decode_image_rgba_transparency_flattened_on_white():
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 3] = 0  # fully transparent ...
    a[1, 1] = [10, 20, 30, 255]  # ... except one opaque pixel
    arr, notes = decode_image(_encode(Image.fromarray(a, "RGBA")), filename="t.png")
    assert arr.shape == (4, 4, 3)
    assert arr[0, 0].tolist() == [255, 255, 255]
    assert arr[1, 1].tolist() == [10, 20, 30]
    assert any("transparency" in n for n in notes)


def test_decode_image_opaque_rgba_has_no_transparency_note():
    a = np.full((3, 3, 4), 255, np.uint8)
    a[..., 0] = 40
    arr, notes = decode_image(_encode(Image.fromarray(a, "RGBA")), filename="o.png")
    assert arr.shape == (3, 3, 3) and arr[0, 0].tolist() == [40, 255, 255]
    assert not any("transparency" in n for n in notes)


@pytest.mark.parametrize("side", [7_000, 10_000])
def test_decode_image_refuses_decompression_bomb(side):
    data = _blank_1bit_png(side, side)
    assert len(data) < 200_000  # small on disk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(InputError, match="megapixels"):
            decode_image(data, filename="bomb.png")


def test_decode_image_refuses_huge_declared_size_before_pillow_does():
    # 20000×20000 is past Pillow's own hard limit (DecompressionBombError); still our message.
    data = _blank_1bit_png(20_000, 20_000)
    with pytest.raises(InputError, match="megapixels"):
        decode_image(data, filename="bomb2.png")


def test_decode_image_grey_rgb_file_becomes_2d_and_round_trips_through_prepare():
    drawing = _pad(_seven_in_corner)
    rgb = np.repeat(drawing[..., None], 3, axis=-1)
    arr, notes = decode_image(_encode(Image.fromarray(rgb)), filename="pad.png")
    assert arr.shape == (280, 280) and np.array_equal(arr, drawing)
    assert notes == []
    x, _ = prepare_image(arr, MNIST_CARD)
    assert np.array_equal((x[..., 0] * 255 + 0.5).astype(np.uint8), mnist_style(drawing))


def test_paint_to_rgb_composites_over_the_background():
    from core.inputs.image import paint_to_rgb

    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[2:5, 2:5] = [255, 0, 0, 255]  # opaque red square on a transparent pad
    out = paint_to_rgb(rgba, "#0080ff")
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert tuple(out[3, 3]) == (255, 0, 0) and tuple(out[0, 0]) == (0, 128, 255)
    with pytest.raises(InputError, match="one flat colour"):
        paint_to_rgb(np.zeros((10, 10, 4), np.uint8), "#0080ff")
    with pytest.raises(InputError, match="colour like"):
        paint_to_rgb(rgba, "blue")


@pytest.mark.parametrize(
    "loader, dataset", [("mnist_test_digits", "mnist"), ("cifar10_test_images", "cifar10")]
)
def test_dataset_test_images_say_when_they_cannot_be_downloaded(monkeypatch, loader, dataset):
    import keras

    import core.inputs.samples as samples

    def offline():
        raise OSError("no route to host")

    monkeypatch.setattr(getattr(keras.datasets, dataset), "load_data", offline)
    with pytest.raises(OSError, match="could not be downloaded.*need internet access"):
        getattr(samples, loader)()
