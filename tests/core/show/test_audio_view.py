"""core.show.audio_view: spectrogram axes, time-frequency layers, what a filter hears."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import InputError, LayerNameError
from core.inputs.samples import speech_clips
from core.show.audio_view import (
    display_maps,
    ensemble_note,
    filter_owner,
    hear_filter,
    map_axes,
    spectrogram_db,
    time_freq_layers,
)


@pytest.fixture(scope="module")
def seven_trace(spoken):
    clip = next(s for s in speech_clips() if s.label == "7")
    return api.trace(spoken, clip.raw)


def test_spectrogram_db_axes_and_peak():
    sr = 8000
    t = np.arange(sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    db, times, freqs = spectrogram_db(y, sr, n_fft=256)
    assert db.shape == (129, len(times)) and freqs[-1] == pytest.approx(4000)
    assert db.max() == pytest.approx(0.0, abs=1e-3) and db.min() >= -80.0 - 1e-3
    # the tone's energy is in the 1 kHz bin
    assert freqs[int(np.argmax(db.mean(axis=1)))] == pytest.approx(1000, abs=sr / 256)
    assert times[-1] <= 1.0 + 1e-6


def test_long_clips_keep_a_bounded_number_of_frames():
    db, times, _ = spectrogram_db(
        np.random.default_rng(0).normal(0, 0.1, 8000 * 30), 8000, max_frames=240
    )
    assert db.shape[1] <= 241 and times[-1] == pytest.approx(30, abs=0.2)


@pytest.mark.parametrize("bad", [np.array([], np.float32), np.array([0.1, np.nan], np.float32)])
def test_spectrogram_refuses_empty_or_non_finite(bad):
    with pytest.raises(InputError, match="finite, non-empty"):
        spectrogram_db(bad, 8000)


def test_time_freq_layers_start_at_the_spectrogram(spoken):
    layers = time_freq_layers(spoken)
    assert layers[0] == spoken.card["spectrogram_layer"]
    assert "block1_conv" in layers and "flatten" not in layers and "mel_spectrogram" not in layers


def test_time_freq_layers_walk_past_nested_models(nested):
    # A nested model adds routing entries to the plan that are not layers; they must be skipped.
    from core.graph.engine import Tracer
    from core.model.load import LoadedModel

    lm = LoadedModel(
        model=nested,
        card={"input": {"kind": "audio"}, "spectrogram_layer": "pre"},
        name="nested",
        sha256="-",
        tracer=Tracer(nested),
    )
    assert len(lm.tracer.plan.steps) > len(lm.tracer.plan.names)  # routing entries present
    assert time_freq_layers(lm) == ["pre", "block/conv_in", "block/bn_in", "pool", "head/squeeze"]


def test_map_axes_cover_the_clip_and_the_mel_band(spoken, seven_trace):
    times, freqs = map_axes(spoken, seven_trace["block2_pool"].shape)
    assert len(times) == seven_trace["block2_pool"].shape[0]
    assert 0 < times[0] < times[-1] < 1.0
    mel = spoken.card["stft"]["mel"]
    assert mel["min_freq"] < freqs[0] < freqs[-1] < mel["max_freq"]
    assert np.all(np.diff(freqs) > 0) and np.diff(freqs)[-1] > np.diff(freqs)[0]  # mel spacing


def test_display_maps_put_time_across_and_low_frequencies_at_the_bottom():
    a = np.zeros((5, 3, 2))
    a[0, 0, 1] = 1.0  # earliest frame, lowest frequency, channel 1
    d = display_maps(a)
    assert d.shape == (3, 5, 2) and d[-1, 0, 1] == 1.0


def test_hear_filter_is_audible_bounded_and_follows_the_map(spoken, seven_trace):
    for method in ("phase", "griffinlim"):
        z = hear_filter(spoken, seven_trace, "block1_relu", 3, method=method)
        assert z.shape == (8000,) and z.dtype == np.float32
        assert np.isfinite(z).all() and 0 < np.abs(z).max() <= 0.9 + 1e-6


def test_a_frozen_filter_hears_silence(spoken):
    clip = next(s for s in speech_clips() if s.label == "3")
    tr = api.trace(spoken, clip.raw, frozen={"block1_relu": [5]})
    assert not np.any(hear_filter(spoken, tr, "block1_relu", 5))
    assert np.any(hear_filter(spoken, tr, "block1_relu", 4))


def test_hear_filter_refuses_unknown_layers_and_channels(spoken, seven_trace):
    with pytest.raises(LayerNameError, match="no time-frequency maps.*block1_conv"):
        hear_filter(spoken, seven_trace, "flatten", 0)
    n = seven_trace["block1_relu"].shape[-1]  # 16, or 16 per network of a packed ensemble
    with pytest.raises(InputError, match=rf"filters 0\.\.{n - 1}; got {n}"):
        hear_filter(spoken, seven_trace, "block1_relu", n)


def test_filters_of_a_packed_ensemble_are_labelled_by_network():
    card = {"ensemble": {"members": 4}}
    assert filter_owner(card, 64, 0) == (1, 0, 16)
    assert filter_owner(card, 64, 20) == (2, 4, 16)
    assert filter_owner(card, 64, 63) == (4, 15, 16)
    assert "Filters 0–15 network 1's, 16–31 network 2's" in ensemble_note(card, 64)
    assert "48–63 network 4's." in ensemble_note(card, 64)
    assert filter_owner(card, 1, 0) is None and ensemble_note(card, 1) is None  # shared input
    # Each network's own normalised spectrogram (one channel each): single filters, no spans.
    assert "Filters 0 network 1's, 1 network 2's, 2 network 3's, 3 network 4's." in ensemble_note(
        card, 4
    )
    assert "mean over the clip subtracted" not in ensemble_note(card, 4)
    mixed = {"ensemble": {**card["ensemble"], "frontends": ["mel", "mel-cmn", "mel", "mel"]}}
    assert "Network 2 reads the spectrogram with each frequency bin's mean" in ensemble_note(
        mixed, 64
    )
    for odd in (5, "mel-cmn", ["mel-cmn"], None):  # an uploaded card's: labels nothing more
        note = ensemble_note({"ensemble": {**card["ensemble"], "frontends": odd}}, 64)
        assert note is not None and "mean over the clip" not in note


@pytest.mark.parametrize(
    "card",
    [
        {},
        {"ensemble": {"members": 1}},
        {"ensemble": {"members": True}},
        {"ensemble": "4"},
        {"ensemble": {"members": 5}},
        {"ensemble": {"members": 4.0}},
        {"ensemble": {"members": 99}},
    ],
)
def test_a_card_without_a_sound_ensemble_labels_no_filter(card):
    # an uploaded card may say anything: a label is dropped, never an error
    assert filter_owner(card, 64, 3) is None and ensemble_note(card, 64) is None
