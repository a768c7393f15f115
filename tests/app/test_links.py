"""AppTest: a link carries what the sender saw (a held-out input, the opened channel, the colour
scale), and what it cannot carry (an uploaded model, a recording, a layer this model lacks) is
named on the receiver's screen (issue 35 item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import api
from core.inputs.probe import as_samples, probe_set
from core.inputs.samples import Sample
from tests.app.test_uploaded_models import _with_model, binary_digits  # noqa: F401

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _open(params: dict[str, str], **state) -> AppTest:
    """A receiver: a fresh session opening the link (app.py reads it on the first run)."""
    at = AppTest.from_file(APP, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _link(at: AppTest) -> dict[str, str]:
    """What the sender's address bar holds after its run."""
    return {k: v if isinstance(v, str) else v[-1] for k, v in at.query_params.items()}


def _notes(at: AppTest) -> str:
    """The link notes on the receiver's screen (the sidebar; a page's own, in the page)."""
    return "\n".join(w.value for w in at.warning)


def test_a_held_out_input_the_opened_channel_and_the_colour_scale_travel():
    m = api.load("lenet_mnist")
    held = as_samples(m, probe_set(m), 8)[3]
    sender = _open(
        {},
        samples={held.name: held},
        pending_select=held.name,
        seeded={"digits"},
        scale="per-channel",
        big_layer="conv2",
        big_channel_conv2=5,
    )
    link = _link(sender)
    assert link.get("probe") == held.name.split("#")[1].split()[0], link
    assert link.get("channel") == "5" and link.get("scale") == "per-channel", link
    assert "lost_sample" not in link and not _notes(sender)

    receiver = _open(link)
    assert receiver.session_state["selected"] == held.name
    assert receiver.session_state["scale"] == "per-channel"
    assert receiver.session_state["big_layer"] == "conv2"
    assert receiver.session_state["big_channel_conv2"] == 5
    assert not _notes(receiver), _notes(receiver)


def test_a_layer_this_model_lacks_is_named_not_dropped():
    at = _open({"model": "lenet_mnist", "layer": "block3_conv9"})
    notes = _notes(at)
    assert "'block3_conv9'" in notes and "layer" in notes, notes


def test_a_recording_is_named_to_the_receiver():
    import numpy as np

    m = api.load("spoken_digits")
    rec = Sample("Recording 1", "audio", (np.zeros(8000, np.float32), 8000), source="recorded")
    sender = _open(
        {"model": "spoken_digits"},
        model_choice="spoken_digits",
        samples={rec.name: rec},
        pending_select=rec.name,
        seeded={"speech"},
    )
    sender.switch_page("pages/audio.py")  # Trace is for images
    sender.run()
    assert not sender.exception, [e.value for e in sender.exception]
    link = _link(sender)
    assert link.get("lost_sample") == "recorded:Recording 1", link
    assert m.kind == "audio"
    notes = _notes(_open(link))
    assert "'Recording 1' is a recording" in notes and "Share" in notes, notes


def test_a_link_from_an_uploaded_model_session_says_the_model_did_not_travel(
    binary_digits,  # noqa: F811 - the fixture, imported
):
    link = _link(_with_model(binary_digits, "pages/trace.py"))
    assert link.get("lost_model") == "is_seven.keras" and "model" not in link, link

    notes = _notes(_open(link))
    assert "uploaded model 'is_seven.keras'" in notes, notes
    assert "Share" in notes, notes
