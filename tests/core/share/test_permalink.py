"""core.share.permalink: what a shared link carries, and clear errors for damaged links."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from core.inputs.samples import gallery_digits
from core.share.permalink import (
    decode_attack,
    decode_digit,
    decode_frozen,
    describe_missing,
    encode_attack,
    encode_digit,
    encode_frozen,
)


def test_a_drawn_digit_round_trips_in_a_short_string():
    raw = gallery_digits()[4].raw
    text = encode_digit(raw)
    assert len(text) < 700 and text.isascii() and "=" not in text
    np.testing.assert_array_equal(decode_digit(text), raw)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("", "empty or too long"),
        ("x" * 5000, "too long"),
        ("!!notbase64!!", "damaged"),
        ("eJxLTEoGAAJNASc", "has 3 pixels; expected 28×28"),
    ],
)
def test_damaged_digits_are_refused(bad, match):
    with pytest.raises(InputError, match=match):
        decode_digit(bad)


def test_only_drawn_digits_are_encoded():
    with pytest.raises(InputError, match="28×28 uint8"):
        encode_digit(np.zeros((32, 32, 3), np.uint8))


def test_freeze_configuration_round_trips():
    cfg = {"conv2": [7, 1, 5, 1], "outer/inner": [3], "empty": []}
    text = encode_frozen(cfg)
    assert text == "conv2:1.5.7;outer/inner:3"
    assert decode_frozen(text) == {"conv2": [1, 5, 7], "outer/inner": [3]}
    with pytest.raises(InputError, match="not 'layer:1.2.3'"):
        decode_frozen("conv2:1,2")


def test_attack_settings_round_trip():
    text = encode_attack("LinfPGD", 16.0, 40, "3")
    assert decode_attack(text) == {"method": "LinfPGD", "epsilon": 16.0, "steps": 40, "target": "3"}
    assert decode_attack(encode_attack("FGSM", 8.0, None, None))["steps"] is None
    with pytest.raises(InputError, match="non-numeric"):
        decode_attack("FGSM,lots,,")


def test_what_cannot_travel_is_named():
    assert "a recording" in describe_missing("recorded", "Recording 1")
    assert describe_missing("gallery", "digit 3 (style 1)") is None


def test_interventions_travel_in_the_frozen_parameter_and_old_links_still_work():
    from core.share.permalink import decode_kinds, decode_methods

    cfg = {"conv2": [5, 1], "fc1": [7], "pool": [2], "conv1": [3]}
    kinds = {
        "conv2": {"kind": "mean"},
        "fc1": {"kind": "scale", "factor": 0.5},
        "pool": {"kind": "keep"},
    }
    text = encode_frozen(cfg, kinds)
    assert text == "conv1:3;conv2:mean:1.5;fc1:scale=0.5:7;pool:keep:2"
    assert decode_frozen(text) == {"conv1": [3], "conv2": [1, 5], "fc1": [7], "pool": [2]}
    assert decode_kinds(text) == {
        "conv2": {"kind": "mean", "factor": 1.0},
        "fc1": {"kind": "scale", "factor": 0.5},
        "pool": {"kind": "keep", "factor": 1.0},
    }
    assert decode_kinds("conv2:1.5") == {} and decode_frozen("conv2:1.5") == {"conv2": [1, 5]}
    with pytest.raises(InputError, match="kind: mean, keep or scale=<factor>"):
        decode_frozen("conv2:halve:1")
    assert decode_methods("gradient,grad_cam", ["gradient", "grad_cam"]) == ["gradient", "grad_cam"]
    with pytest.raises(InputError, match="comma-separated list of gradient"):
        decode_methods("lime", ["gradient"])


def test_a_colour_painting_round_trips_and_damaged_ones_are_refused():
    from core.inputs.samples import colour_scenes
    from core.share.permalink import decode_drawing, encode_drawing

    raw = colour_scenes()[0].raw  # 32×32×3, as the colour sketchpad leaves it
    text = encode_drawing(raw)
    assert text.startswith("32x32x3.") and len(text) < 4000 and text.isascii()
    np.testing.assert_array_equal(decode_drawing(text), raw)
    grey = gallery_digits()[0].raw
    np.testing.assert_array_equal(decode_drawing(encode_drawing(grey)), grey)
    for bad, match in [
        ("32x32x3", "not 'HxWxC"),
        ("99x32x3.eJw", "not 'HxWxC"),
        ("32x32x3.!!!", "has 0 values"),
        ("32x32x3.AAAA", "damaged"),
        ("2x2x3.eJxLTEoGAAJNASc", "expected 2×2×3"),
    ]:
        with pytest.raises(InputError, match=match):
            decode_drawing(bad)
    with pytest.raises(InputError, match="up to 64×64"):
        encode_drawing(np.zeros((96, 96, 3), np.uint8))


def test_what_a_link_cannot_carry_is_named_for_the_receiver():
    from core.share.permalink import decode_index, decode_lost, encode_lost, what_source

    assert decode_lost(encode_lost("recorded", "Recording 1: take")) == (
        "recorded",
        "Recording 1: take",
    )
    assert what_source("adversarial") == "an adversarial input"
    with pytest.raises(InputError, match="not 'source:name'"):
        decode_lost("no separator")
    assert decode_index("12", "channel") == 12
    with pytest.raises(InputError, match="channel '-1' is not a whole number"):
        decode_index("-1", "channel")


def test_a_held_out_sample_carries_its_index():
    from core import api
    from core.inputs.probe import as_samples, probe_index, probe_sample, probe_set

    m = api.load("lenet_mnist")
    p = probe_set(m)
    s = as_samples(m, p, 5)[4]
    i = probe_index(s)
    assert (
        i is not None
        and probe_sample(m, p, i).key == s.key
        and probe_sample(m, p, i).name == s.name
    )
    assert probe_index(gallery_digits()[0]) is None
    with pytest.raises(InputError, match=f"has {len(p)} inputs"):
        probe_sample(m, p, len(p))


def test_a_compressed_bomb_in_a_digit_link_inflates_no_more_than_a_digit():
    import base64
    import zlib

    from core.share.permalink import MAX_PARAM_CHARS, decode_digit

    bomb = base64.urlsafe_b64encode(zlib.compress(bytes(3_000_000), 9)).decode().rstrip("=")
    assert len(bomb) <= MAX_PARAM_CHARS  # 3 MB of zeros fits in a link
    with pytest.raises(InputError, match="has 785 pixels"):  # inflated one past 784, then stopped
        decode_digit(bomb)
