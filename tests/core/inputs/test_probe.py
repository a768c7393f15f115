"""Probe sets: held out by construction, loadable for every model; labelled ZIP batches."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import api
from core.errors import InputError
from core.inputs.probe import probe_path, read_labelled
from training import lenet as lenet_recipe
from training import vgg as vgg_recipe

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "scripts"))


@pytest.mark.parametrize(
    "name,n,kind",
    [
        ("lenet_mnist", 2000, "image"),
        ("vgg_cifar10", 2000, "image"),
        ("spoken_digits", 400, "audio"),
    ],
)
def test_every_builtin_model_has_a_small_probe_set(name, n, kind):
    m = api.load(name)
    raws, labels = api.probe_set(m)
    assert len(raws) == len(labels) == n
    assert labels.dtype == np.int64 and set(labels) == set(range(10))
    assert probe_path(name).stat().st_size < 6 * 2**20
    if kind == "audio":
        assert all(isinstance(r, tuple) and r[1] == 8000 for r in raws)
    else:
        assert raws[0].dtype == np.uint8
    p = api.predict(m, raws[:200])
    assert np.mean(np.argmax(p, axis=1) == labels[:200]) > 0.8  # real data, held out


def _hashes(x) -> set[bytes]:
    return {hashlib.sha1(np.ascontiguousarray(a).tobytes()).digest() for a in x}


def test_mnist_probe_images_are_the_held_out_training_images():
    with np.load(probe_path("lenet_mnist")) as z:
        x, idx = z["x"], z["index"]
    n_train = 60000 - lenet_recipe.N_VAL
    assert idx.min() >= n_train and idx.max() < 60000 and len(set(idx)) == len(idx)
    path = DATA / "mnist" / "train-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip("shared/data/mnist is not here: the index check above is what remains")
    train = np.frombuffer(gzip.open(path).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_array_equal(train[idx], x)
    assert not _hashes(x) & _hashes(train[:n_train])  # no trained-on image, byte for byte


@pytest.mark.slow
def test_cifar_probe_images_are_the_held_out_training_images():
    with np.load(probe_path("vgg_cifar10")) as z:
        x, idx = z["x"], z["index"]
    n_train = 50000 - vgg_recipe.N_VAL
    assert idx.min() >= n_train and idx.max() < 50000
    if not (DATA / "cifar10").is_dir():
        pytest.skip("shared/data/cifar10 is not here")
    train = np.concatenate(
        [np.load(DATA / "cifar10" / f"train_images_{k}.npy") for k in range(1, 6)]
    )
    np.testing.assert_array_equal(train[idx], x)
    assert not _hashes(x) & _hashes(train[:n_train])


@pytest.mark.parametrize("dataset,name", [("mnist", "lenet_mnist"), ("cifar10", "vgg_cifar10")])
def test_probe_images_are_not_in_the_test_set(dataset, name):
    """Where keras.datasets has the test set (downloaded once; needs internet the first time)."""
    import keras

    try:
        (_, _), (x_test, _) = getattr(keras.datasets, dataset).load_data()
    except Exception as e:  # noqa: BLE001 - offline
        pytest.skip(f"the {dataset} test set is not reachable here ({type(e).__name__})")
    with np.load(probe_path(name)) as z:
        assert not _hashes(z["x"]) & _hashes(x_test)


def test_audio_probe_clips_come_from_held_out_speakers_and_voices():
    import synth_voices

    with np.load(probe_path("spoken_digits")) as z:
        speakers = [str(s) for s in z["speaker"]]
    theo = [s for s in speakers if s == "FSDD theo"]
    synth = [s.removeprefix("espeak-ng ") for s in speakers if s.startswith("espeak-ng ")]
    assert len(theo) + len(synth) == len(speakers) and theo and synth
    for voice_variant in synth:
        voice, variant = voice_variant.split("+")
        assert synth_voices.split_of(voice, variant) == "val", voice_variant


def test_an_uploaded_model_borrows_the_probe_set_of_its_kind(lenet):
    up = replace(
        lenet,
        name="my_digits.keras",
        source="upload",
        card={**lenet.card, "labels": ["zero", "1", "2", "3", "4", "5", "6", "7", "8", "9"]},
    )
    raws, labels = api.probe_set(up)
    assert len(raws) == 2000
    own = api.probe_set(lenet)[1]
    np.testing.assert_array_equal(labels[own != 0], own[own != 0])
    assert (labels[own == 0] == -1).all()  # "0" is not a class name of this model


# ---- labelled ZIP batches ---------------------------------------------------------------------


def _png(v: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((28, 28), v, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes], **kw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, **kw) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_of_class_folders_or_prefixed_names_is_a_labelled_batch(lenet):
    data = _zip(
        {
            "3/a.png": _png(10),
            "7/b.png": _png(200),
            "5_whatever.png": _png(90),
            "__MACOSX/3/._a.png": b"junk",
            "7/": b"",
        }
    )
    ps = read_labelled(data, lenet, filename="mine.zip")
    assert len(ps) == 3 and list(ps.labels) == [3, 7, 5]
    assert ps.raws[1].shape == (28, 28) and ps.raws[1][0, 0] == 200
    ix = api.filter_index(lenet, inputs=ps.raws, labels=ps.labels)
    assert ix.n_inputs == 3 and ix.grouped_by == "label"


@pytest.mark.parametrize(
    "files,match",
    [
        ({}, r"holds no files"),
        ({"3/a.png": b"not a png"}, r"'3/a.png' is not an image: a text file \(9 bytes"),
        ({"cat/a.png": _png(1)}, r"label 'cat' is not a class of 'lenet_mnist'"),
        ({"a.png": _png(1)}, r"no label: put it in a folder"),
        ({"3/a.wav": b"RIFF"}, r"'3/a.wav': not an image file: expected .*\.png"),
        ({"3/bomb.png": b"\0" * (8 * 2**20)}, r"compressed 200× or more \(a zip bomb\?\)"),
    ],
)
def test_bad_labelled_batches_are_refused_with_a_reason(lenet, files, match):
    with pytest.raises(InputError, match=match):
        read_labelled(_zip(files), lenet, filename="b.zip")


def test_a_damaged_member_is_refused_with_a_reason(lenet):
    data = bytearray(_zip({"3/a.png": _png(10) * 50}))
    start = data.index(b"3/a.png") + len("3/a.png")  # the local header's name, then the data
    data[start + 10 : start + 40] = b"\xff" * 30
    with pytest.raises(InputError, match=r"'3/a.png' in 'x.zip' cannot be read"):
        read_labelled(bytes(data), lenet, filename="x.zip")


def test_not_a_zip_too_big_or_too_many_files_is_refused(lenet, monkeypatch):
    with pytest.raises(InputError, match=r"'x.zip' is not a readable ZIP archive"):
        read_labelled(b"PK\x03\x04garbage", lenet, filename="x.zip")
    with pytest.raises(InputError, match=r"'x.zip' is empty \(0 bytes\)"):
        read_labelled(b"", lenet, filename="x.zip")
    import core.inputs.archive as archive

    monkeypatch.setattr(archive, "MAX_BATCH_MEMBERS", 2)
    with pytest.raises(InputError, match=r"holds 3 files; at most 2 are accepted"):
        read_labelled(_zip({f"1/{i}.png": _png(i) for i in range(3)}), lenet, filename="x.zip")
    monkeypatch.setattr(archive, "MAX_BATCH_BYTES", 10)
    with pytest.raises(InputError, match=r"labelled batches up to 0 MB are accepted"):
        read_labelled(_zip({"1/a.png": _png(1)}), lenet, filename="x.zip")
