"""The scripting API contract of DESIGN.md, on the built-in LeNet."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import InputError
from core.inputs.samples import gallery_digits


def test_builtin_names():
    assert "lenet_mnist" in api.builtin_names()


def test_trace_has_input_first_then_every_layer(lenet):
    raw = gallery_digits()[0].raw
    tr = api.trace(lenet, raw)
    names = list(tr)
    assert names[0] == "input"
    assert names[1:] == [
        layer.name for layer in lenet.model.layers if type(layer).__name__ != "InputLayer"
    ]
    assert tr["input"].shape == (28, 28, 1)  # no batch axis
    assert tr["conv1"].shape == (28, 28, 32)
    np.testing.assert_allclose(tr["probabilities"], api.predict(lenet, raw), rtol=1e-5, atol=1e-6)


def test_predict_single_and_batch(lenet):
    raws = [s.raw for s in gallery_digits()[:4]]
    one = api.predict(lenet, raws[0])
    many = api.predict(lenet, raws)
    assert one.shape == (10,) and many.shape == (4, 10)
    np.testing.assert_allclose(many.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(many[0], one, rtol=1e-5, atol=1e-6)


def test_project_made_digits_are_recognised(lenet):
    """The 30 gallery digits (drawn by scripts/make_digit_samples.py) are classified correctly."""
    samples = gallery_digits()
    assert len(samples) == 30
    pred = api.predict(lenet, [s.raw for s in samples]).argmax(axis=1)
    wrong = [s.name for s, p in zip(samples, pred) if str(p) != s.label]
    assert wrong == []


def test_floats_and_uint8_give_the_same_prediction(lenet):
    raw = gallery_digits()[5].raw
    np.testing.assert_allclose(
        api.predict(lenet, raw), api.predict(lenet, raw / 255.0), rtol=1e-5, atol=1e-6
    )


def test_audio_given_to_an_image_model_is_refused(lenet):
    with pytest.raises(InputError, match="takes images; got a \\(waveform, sample_rate\\)"):
        api.predict(lenet, (np.zeros(8000, np.float32), 8000))


def test_bad_shape_is_refused(lenet):
    with pytest.raises(InputError, match=r"shape \(4, 4, 7\).*expected an image"):
        api.predict(lenet, np.zeros((4, 4, 7), np.uint8))


def test_audio_raw_is_mixed_resampled_and_placed():
    from core.inputs.audio import prepare_audio

    card = {"input": {"kind": "audio", "shape": [8000], "sample_rate": 8000}}
    sr = 16000
    t = np.arange(int(0.3 * sr)) / sr
    burst = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    wave = np.zeros(3 * sr, np.float32)
    wave[int(1.6 * sr) : int(1.6 * sr) + burst.size] = burst
    stereo = np.stack([wave, wave], axis=1)
    x, notes = prepare_audio((stereo, sr), card)
    assert x.shape == (8000,)
    assert any("mixed 2 channels" in n for n in notes) and any("16000 Hz" in n for n in notes)
    energy = np.abs(x) > 0.1
    centre = np.flatnonzero(energy).mean()
    assert abs(centre - 4000) < 400  # the burst sits in the middle of the 1 s window


def test_builtin_speech_clips_are_recognised(spoken):
    from core.inputs.samples import speech_clips

    clips = speech_clips()
    assert len(clips) == 20
    preds = api.predict(spoken, [c.raw for c in clips]).argmax(axis=1)
    assert [spoken.labels[p] for p in preds] == [c.label for c in clips]


def test_audio_at_any_rate_and_channel_count_gives_the_same_prediction(spoken):
    import soxr

    from core.inputs.samples import speech_clips

    clip = next(c for c in speech_clips() if c.label == "6")
    y, sr = clip.raw
    stereo48k = np.stack([soxr.resample(y, sr, 48000)] * 2, axis=1)
    p8 = api.predict(spoken, (y, sr))
    p48 = api.predict(spoken, (stereo48k, 48000))
    assert p8.argmax() == p48.argmax() == 6
    tr = api.trace(spoken, (stereo48k, 48000))
    assert tr["input"].shape == (8000,) and list(tr)[1] == "mel_spectrogram"


def test_attack_returns_the_adversarial_in_the_raw_format(lenet, spoken):
    from core.inputs.samples import speech_clips

    assert {"FGSM", "LinfPGD", "L2CarliniWagner", "BoundaryAttack"} <= set(api.attack_methods())
    raw = next(s for s in gallery_digits() if s.label == "7").raw  # uint8 (28, 28)
    r = api.attack(lenet, raw, method="LinfPGD", epsilon=0.4, steps=20)
    assert r.success and r.original_label == 7 and r.adversarial_label != 7
    assert r.adversarial.shape == (28, 28) and r.adversarial.dtype == np.uint8  # as the raw
    assert api.predict(lenet, r.adversarial).argmax() == r.adversarial_label
    assert r.adversarial_input.shape == (28, 28, 1) and r.adversarial_input.dtype == np.float32
    rf = api.attack(lenet, raw.astype(np.float32) / 255, method="FGSM", epsilon=0.3)
    assert rf.adversarial.dtype == np.float32 and rf.adversarial.shape == (28, 28)
    clip = next(c for c in speech_clips() if c.label == "5").raw
    ra = api.attack(spoken, clip, method="FGSM", epsilon=1e-5)
    wave, sr = ra.adversarial
    assert sr == 8000 and wave.shape == (8000,) and ra.success is False
