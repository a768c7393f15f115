"""api.share / api.open_share: a view through the store and back, every part through the door
an upload comes through (real models, real store, real sandbox)."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import InputError, ModelRefusedError, ShareDamagedError
from core.inputs.samples import Sample, gallery_digits, speech_clips
from core.settings import ShareLimits
from core.share.store import Store

LIM = ShareLimits(share_bytes=10**9, store_bytes=10**10, days=90, per_minute=1000)


@pytest.mark.slow
def test_a_builtin_view_with_own_samples_and_a_freeze_round_trips(store_url, lenet):
    drawn = np.asarray(gallery_digits()[7].raw).copy()
    drawn[3:6, 3:6] = 255
    floaty = np.clip(np.asarray(gallery_digits()[3].raw, np.float32) / 255 + 0.013, 0, 1)
    gallery = gallery_digits()[0]
    samples = [
        Sample("my drawing", "image", drawn, source="drawn", note="mine"),
        Sample("adv", "image", floaty, source="adversarial", label="3"),
        gallery,
    ]
    frozen = {"conv2": [1, 5], "conv1": [0]}
    kinds = {"conv1": {"kind": "scale", "factor": 0.5}}
    r = api.share(
        lenet,
        samples=samples,
        selected="adv",
        page="freeze",
        settings={"layer": "conv2"},
        frozen=frozen,
        kinds=kinds,
        title="half of conv1",
        store=store_url,
    )
    v = api.open_share(r.id, store=Store(store_url))
    assert v.model.name == "lenet_mnist" and v.model.source == "builtin"
    assert [s.name for s in v.samples] == ["my drawing", "adv", gallery.name]
    assert np.array_equal(v.samples[0].raw, drawn) and v.samples[0].source == "drawn"
    assert v.samples[1].raw.dtype == np.float32 and np.array_equal(v.samples[1].raw, floaty)
    assert v.samples[1].label == "3" and v.samples[1].source == "adversarial"
    assert v.selected == "adv" and v.page == "freeze" and v.title == "half of conv1"
    assert v.settings["layer"] == "conv2"
    assert v.frozen == {"conv1": [0], "conv2": [1, 5]}
    assert v.kinds == {"conv1": {"kind": "scale", "factor": 0.5}}
    before = api.run(lenet, floaty, frozen={"conv2": [1, 5], "conv1": [0]}).probabilities
    after = api.run(v.model, v.raw, frozen=v.frozen).probabilities
    assert np.array_equal(before, after)


@pytest.mark.slow
def test_audio_travels_exactly(store_url):
    m = api.load("spoken_digits")
    y, sr = speech_clips()[4].raw
    edited = (np.asarray(y, np.float32)[::-1] * 0.37, sr)  # reversed, quieter: an edit
    r = api.share(m, samples=[Sample("edited", "audio", edited, source="edited")], store=store_url)
    v = api.open_share(r.id, store=store_url)
    got_y, got_sr = v.raw
    assert got_sr == sr and got_y.dtype == np.float32 and np.array_equal(got_y, edited[0])
    assert np.array_equal(api.predict(m, edited), api.predict(v.model, v.raw))


def test_what_the_model_cannot_take_is_refused_before_it_is_stored(store_url, lenet):
    s = Store(store_url)
    with pytest.raises(InputError, match="takes images"):
        api.share(lenet, samples=[(np.zeros(800, np.float32), 8000)], store=s)
    assert s.stats()["shares"] == 0


def test_an_uploaded_model_needs_its_bytes(store_url, tmp_path, sequential_cnn):
    path = tmp_path / "tiny.keras"
    sequential_cnn.save(path)
    m = api.load(str(path))
    with pytest.raises(InputError, match="pass model_file="):
        api.share(m, store=store_url)
    with pytest.raises(InputError, match="sha256 differs"):
        api.share(m, model_file=b"other bytes", store=store_url)


def test_a_shared_sample_goes_through_the_upload_validators(store_url, lenet):
    """A store written by someone else: a 'PNG' that is a PDF, a float image out of range."""
    from core.share import bundle

    s = Store(store_url)
    manifest, files = bundle.pack(
        lenet,
        model_file=None,
        samples=[Sample("x", "image", np.zeros((28, 28), np.uint8), source="drawn")],
        selected="x",
        page="trace",
        settings={},
    )
    files["sample/0"] = b"%PDF-1.7 not a picture"
    with pytest.raises(InputError, match="is not an image: a PDF document"):
        api.open_share(s.put(manifest, files, session="x", limits=LIM).id, store=s)
    import io

    buf = io.BytesIO()
    np.save(buf, np.full((28, 28), 7.0, np.float32))
    manifest["samples"][0]["format"] = "npy"
    files["sample/0"] = buf.getvalue()
    with pytest.raises(InputError, match=r"span \[7, 7\]; expected \[0, 1\]"):
        api.open_share(s.put(manifest, files, session="x", limits=LIM).id, store=s)
    manifest["model"] = {"builtin": "no_such_model"}
    with pytest.raises(ShareDamagedError, match="'no_such_model', which this server does not have"):
        api.open_share(s.put(manifest, files, session="x", limits=LIM).id, store=s)
    del manifest["model"]
    with pytest.raises(ShareDamagedError, match="lacks 'model'"):
        api.open_share(s.put(manifest, files, session="x", limits=LIM).id, store=s)


@pytest.mark.slow
def test_an_uploaded_model_reopens_through_the_door_and_a_stricter_one_refuses_it(
    tmp_path, monkeypatch, sequential_cnn
):
    url = f"sqlite:///{tmp_path / 'shares.sqlite3'}"
    path = tmp_path / "tiny.keras"
    sequential_cnn.save(path)
    data = path.read_bytes()
    m = api.load_bytes(data, "tiny.keras", card={"labels": ["cat", "dog", "owl"]})
    raw = ((np.arange(16 * 16) * 7) % 256).astype(np.uint8).reshape(16, 16)
    r = api.share(m, samples=[raw], model_file=data, store=url)
    v = api.open_share(r.id, store=url)
    assert v.model.source == "upload" and v.model.sha256 == m.sha256
    assert v.model.labels == ["cat", "dog", "owl"]
    assert any("sandbox" in n for n in v.model.notes)  # the first load ran in the sandbox
    assert np.array_equal(api.predict(m, raw), api.predict(v.model, v.raw))
    # A later, stricter door (a lower parameter budget) refuses the same share, saying why.
    monkeypatch.setenv("LAYERLAB_MAX_PARAMS", "50")
    with pytest.raises(ModelRefusedError, match="the limit here is 50 parameters"):
        api.open_share(r.id, store=url)
