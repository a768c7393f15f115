"""core.inputs.edits: each edit against its definition, parameter refusals, the edit stack."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.inputs import edits as E
from core.inputs.edits import EDITS, Edit, apply_edits

SR = 8000


def tone(hz: float = 440.0, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(SR * seconds))) / SR
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def noise(seconds: float = 1.0, seed: int = 1) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(SR * seconds))).astype(np.float32)


def peak_hz(y: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(spectrum) * SR / y.size)


# ---------------------------------------------------------------- slice / cross-fade


def test_slice_length_and_content():
    y = noise()
    out = E.slice_clip(y, SR, start=0.25, end=0.75)
    assert out.shape == (4000,) and out.dtype == np.float32
    np.testing.assert_array_equal(out, y[2000:6000])


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(start=0.5, end=0.5), "start < end"),
        (dict(start=0.6, end=0.2), "start < end"),
        (dict(start=0.0, end=1.5), r"end must be a number from 0 to 1 s"),
        (dict(start=-0.1, end=0.5), "start must be"),
        (dict(start="a", end=0.5), "start must be"),
    ],
)
def test_slice_refusals(kw, match):
    with pytest.raises(InputError, match=match):
        E.slice_clip(noise(), SR, **kw)


def test_crossfade_cut_length_and_equal_power():
    y = np.concatenate([np.ones(4000), np.zeros(4000)]).astype(np.float32)
    # Cut [0.5, 0.6) s with a 50 ms fade: the ones (before) fade out into the zeros (after).
    out = E.crossfade_cut(y, SR, start=0.5, end=0.6, fade=0.05)
    f = 400
    assert out.size == 8000 - 800 - f
    np.testing.assert_array_equal(out[: 4000 - f], 1.0)  # untouched before the fade
    np.testing.assert_array_equal(out[4000:], y[4800 + f :])  # untouched after it
    blend = out[4000 - f : 4000]
    assert blend[0] > 0.99 and blend[-1] < 0.01
    assert abs(blend[f // 2] - np.sqrt(0.5)) < 0.01  # equal power: cos(pi/4), not 0.5


def test_crossfade_keeps_power_of_uncorrelated_audio():
    y = noise(2.0)
    out = E.crossfade_cut(y, SR, start=0.8, end=1.2, fade=0.2)
    join = out[int(0.6 * SR) : int(0.8 * SR)]
    assert abs(10 * np.log10(np.mean(join**2) / np.mean(y**2))) < 1.0


def test_crossfade_without_fade_is_a_plain_cut():
    y = noise()
    out = E.crossfade_cut(y, SR, start=0.2, end=0.3, fade=0.0)
    np.testing.assert_array_equal(out, np.concatenate([y[:1600], y[2400:]]))


def test_crossfade_refusals():
    with pytest.raises(InputError, match="fade must be at most 0.100 s"):
        E.crossfade_cut(noise(), SR, start=0.1, end=0.5, fade=0.2)
    with pytest.raises(InputError, match="start < end"):
        E.crossfade_cut(noise(), SR, start=0.5, end=0.1, fade=0.0)
    with pytest.raises(InputError, match="whole"):
        E.crossfade_cut(noise(), SR, start=0.0, end=1.0, fade=0.0)


# ---------------------------------------------------------------- loudness


def test_gain_in_db():
    y = noise()
    np.testing.assert_allclose(E.gain(y, SR, db=6.02), 2 * y, rtol=1e-3)
    np.testing.assert_allclose(E.gain(y, SR, db=20 * np.log10(2)), 2 * y, rtol=1e-6)
    np.testing.assert_allclose(E.gain(y, SR, db=-20), 0.1 * y, rtol=1e-6)
    assert np.max(np.abs(E.gain(y, SR, db=30))) > 1  # not clipped: the model sees the real gain


@pytest.mark.parametrize("db", [100, -100, float("nan"), "6", True])
def test_gain_refusals(db):
    with pytest.raises(InputError, match="db must be a number from -60 to 40 dB"):
        E.gain(noise(), SR, db=db)


def test_ramp_endpoints_and_linear_db():
    y = np.ones(8001, np.float32)
    out = E.ramp(y, SR, start_db=6, end_db=-6)
    assert out[0] == pytest.approx(10 ** (6 / 20), rel=1e-6)
    assert out[-1] == pytest.approx(10 ** (-6 / 20), rel=1e-6)
    assert out[4000] == pytest.approx(1.0, rel=1e-6)  # halfway in dB: 0 dB
    assert np.all(np.diff(20 * np.log10(out)) < 0)


# ---------------------------------------------------------------- repeat / reverse / fade


def test_repeat():
    y = noise(0.5)
    out = E.repeat(y, SR, times=3)
    assert out.shape == (12000,) and out.dtype == np.float32
    for k in range(3):
        np.testing.assert_allclose(out[k * 4000 : (k + 1) * 4000], y, atol=1e-8)
    loud = E.gain(y, SR, db=20)  # above full scale survives the pydub round trip
    np.testing.assert_allclose(E.repeat(loud, SR, times=2)[:4000], loud, atol=1e-7)
    np.testing.assert_array_equal(E.repeat(y, SR, times=1), y)


@pytest.mark.parametrize("times", [0, 11, 2.5, "2"])
def test_repeat_refusals(times):
    with pytest.raises(InputError, match="times must be a whole number from 1 to"):
        E.repeat(noise(0.5), SR, times=times)


def test_repeat_is_capped_at_30_s():
    with pytest.raises(InputError, match="from 1 to 3"):
        E.repeat(noise(10.0), SR, times=4)


def test_reverse_twice_is_identity():
    y = noise()
    r = E.reverse(y, SR)
    assert r[0] == y[-1] and r[-1] == y[0]
    np.testing.assert_array_equal(E.reverse(r, SR), y)


def test_fade_starts_and_ends_at_zero():
    y = np.ones(8000, np.float32)
    out = E.fade(y, SR, fade_in=0.1, fade_out=0.2)
    assert out[0] == 0 and out[-1] == 0
    np.testing.assert_array_equal(out[800 : 8000 - 1600], 1.0)
    assert np.all(np.diff(out[:800]) > 0) and np.all(np.diff(out[-1600:]) < 0)
    assert out[400] == pytest.approx(0.5)  # linear


def test_fade_refusals():
    with pytest.raises(InputError, match="at most the clip"):
        E.fade(noise(), SR, fade_in=0.6, fade_out=0.6)
    with pytest.raises(InputError, match="fade_in must be"):
        E.fade(noise(), SR, fade_in=-1, fade_out=0)


# ---------------------------------------------------------------- noise / speed / pitch


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_add_noise_snr(snr):
    y = tone()
    out = E.add_noise(y, SR, snr_db=snr)
    measured = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((out - y) ** 2.0))
    assert abs(measured - snr) < 0.5
    np.testing.assert_array_equal(out, E.add_noise(y, SR, snr_db=snr))  # seeded
    assert not np.array_equal(out, E.add_noise(y, SR, snr_db=snr, seed=1))


def test_add_noise_refusals():
    with pytest.raises(InputError, match="all zeros"):
        E.add_noise(np.zeros(800, np.float32), SR, snr_db=10)
    with pytest.raises(InputError, match="snr_db must be"):
        E.add_noise(tone(), SR, snr_db=200)


def test_change_speed_halves_length_and_doubles_pitch():
    y = tone(440)
    fast = E.change_speed(y, SR, factor=2.0)
    assert fast.shape == (4000,)
    assert abs(peak_hz(fast) - 880) < 10
    slow = E.change_speed(y, SR, factor=0.5)
    assert slow.shape == (16000,)
    assert abs(peak_hz(slow) - 220) < 10
    with pytest.raises(InputError, match="factor must be a number from 0.5 to 2"):
        E.change_speed(y, SR, factor=3)


@pytest.mark.slow
def test_change_pitch_keeps_length():
    y = tone(440)
    up = E.change_pitch(y, SR, semitones=12)
    assert up.shape == y.shape and np.isfinite(up).all()
    assert abs(peak_hz(up[1000:-1000]) - 880) < 25
    with pytest.raises(InputError, match="semitones must be"):
        E.change_pitch(y, SR, semitones=24)


def test_time_stretch_keeps_pitch():
    out = E.time_stretch(tone(440), SR, rate=2.0)
    assert out.shape == (4000,)
    assert abs(peak_hz(out[500:-500]) - 440) < 25


def test_edits_refuse_bad_waveforms():
    with pytest.raises(InputError, match="mono"):
        E.reverse(np.zeros((100, 2), np.float32), SR)
    with pytest.raises(InputError, match="NaN"):
        E.gain(np.array([0.0, np.nan], np.float32), SR, db=1)
    with pytest.raises(InputError, match="sample rate"):
        E.gain(noise(), 0, db=1)


# ---------------------------------------------------------------- registry + stack


def test_registry_specs_are_usable():
    y = tone(300)
    for name, spec in EDITS.items():
        assert spec.func is getattr(E, spec.func.__name__)
        params = spec.params_for(1.0)
        for p in params:
            assert p.min <= p.default <= p.max, (name, p)
        out = apply_edits(y, SR, [Edit(name, {p.name: p.default for p in params})])
        assert out.dtype == np.float32 and out.ndim == 1 and np.isfinite(out).all(), name


def test_params_for_caps_time_at_duration():
    start, end = EDITS["slice"].params_for(0.8)
    assert start.max == end.max == 0.8 and start.default < end.default <= 0.8
    (db,) = EDITS["gain"].params_for(0.8)
    assert db.max == 30.0


def test_apply_edits_stack_undo_reset():
    y = noise()
    stack = [Edit("gain", {"db": 6.0}), Edit("reverse"), Edit("repeat", {"times": 2})]
    out = apply_edits(y, SR, stack)
    expected = np.tile(E.reverse(E.gain(y, SR, db=6.0), SR), 2)
    np.testing.assert_allclose(out, expected, atol=1e-7)
    undone = apply_edits(y, SR, stack[:-1])
    assert undone.size == y.size
    np.testing.assert_array_equal(apply_edits(y, SR, []), y)
    assert apply_edits(y, SR, stack) is not y and np.array_equal(y, noise())  # y untouched
    assert stack[0].describe() == "Loudness (db 6 dB)"


def test_apply_edits_refusals():
    with pytest.raises(InputError, match="one of slice, crossfade_cut"):
        apply_edits(noise(), SR, [Edit("echo", {})])
    with pytest.raises(InputError, match=r"unknown parameters \['decibels'\]"):
        apply_edits(noise(), SR, [Edit("gain", {"decibels": 3})])
    with pytest.raises(InputError, match="missing"):
        apply_edits(noise(), SR, [Edit("gain", {})])
