"""AppTest: the arithmetic of one unit on the Trace page, and the Concepts page's TCAV on LeNet
(see test_pages.py for the AppTest notes)."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.inputs.prepare import gallery
from tests.app._app import open_app

pytestmark = pytest.mark.slow


def test_a_picked_position_shows_its_arithmetic_and_walks_upstream():
    m = api.load("lenet_mnist")
    raw = next(s for s in gallery(m) if s.name == "digit 7 (style 1)").raw
    # What a click on row 9, column 12 of conv2's channel 5 sets (pages._unit._clicked).
    at = open_app(selected="digit 7 (style 1)", unit_at=(m.key, "conv2", 5, (4, 6)))
    assert not at.error, [e.value for e in at.error]
    metrics = {x.label: x.value for x in at.metric}
    u = api.unit(m, raw, "conv2", 5, (4, 6))
    assert metrics["traced value"] == f"{u.traced:.5g}"
    assert metrics["relu(pre-activation)"] == f"{u.activation:.5g}"
    assert metrics["bias"] == f"{u.bias:.5g}"
    assert any("Conv2D: a 5×5 kernel" in c.value for c in at.caption)
    up = u.upstream
    assert up.layer == "pool1"
    at.button(key="unit_upstream").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["unit_at"] == (m.key, "pool1", up.channel, up.position)
    assert at.session_state["big_layer"] == "pool1"  # the large map follows the walk
    metrics = {x.label: x.value for x in at.metric}
    assert (
        metrics["traced value"]
        == f"{api.unit(m, raw, 'pool1', up.channel, up.position).traced:.5g}"
    )
    assert any("MaxPooling2D: the largest of 4 inputs wins" in c.value for c in at.caption)


def test_the_audio_page_shows_a_units_arithmetic_on_its_turned_maps():
    m = api.load("spoken_digits")
    clip = next(s for s in gallery(m) if s.name == '"seven" (en-us-f3)')
    at = open_app(model_choice="spoken_digits", selected=clip.name)
    at.switch_page("pages/audio.py")
    at.session_state["unit_at"] = (m.key, "block2_conv", 3, (5, 7))  # (frame, bin)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception or at.error]
    u = api.unit(m, clip.raw, "block2_conv", 3, (5, 7))
    assert {x.label: x.value for x in at.metric}["traced value"] == f"{u.traced:.5g}"
    at.button(key="unit_upstream").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["unit_at"][1] == u.upstream.layer
    if u.upstream.layer != "input":
        assert at.session_state["unit_layer"] == u.upstream.layer  # the picker follows


def test_a_click_on_a_turned_map_selects_the_unit_drawn_there():
    from core.show.audio_view import display_maps
    from pages._unit import _map_spec

    m = np.arange(12.0).reshape(4, 3)  # (frames, bins)
    raw = display_maps(np.stack(np.indices(m.shape), axis=-1))  # (bins, frames, 2)
    shown = display_maps(m[..., None])[..., 0]
    spec = _map_spec(shown, raw, 60, (1, 2), ("frame", "bin"))
    import pyarrow as pa

    cells = pa.ipc.open_stream(spec["datasets"]["cells"]).read_all().to_pandas()
    top_left = cells[(cells.x0 == 0) & (cells.y0 == 0)].iloc[0]
    # Drawn top left: the first frame at the highest bin, which holds that unit's value.
    assert (top_left.y, top_left.x) == (0, 2) and top_left.value == m[0, 2]
    assert cells[cells.picked][["y", "x"]].values.tolist() == [[1, 2]]


def test_a_vector_layer_unit_shows_its_function():
    m = api.load("lenet_mnist")
    raw = next(s for s in gallery(m) if s.name == "digit 7 (style 1)").raw
    at = open_app(selected="digit 7 (style 1)", unit_at=(m.key, "probabilities", 7, ()))
    metrics = {x.label: x.value for x in at.metric}
    assert metrics["softmax(pre-activation)"] == f"{api.predict(m, raw)[7]:.5g}"
    at.button(key="unit_upstream").click().run()  # to the logit
    assert at.session_state["unit_at"][1:] == ("logits", 7, ())
    assert any("Dense: 128 inputs of dropout2" in c.value for c in at.caption)


def test_the_concepts_page_runs_tcav_with_a_probe_class_as_the_concept():
    at = open_app()
    at.switch_page("pages/concepts.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Concepts"
    at.selectbox(key="tcav_concept_class").set_value(1)
    at.selectbox(key="tcav_target").set_value(1)
    at.multiselect(key="tcav_layers").set_value(["pool2", "fc1"])
    at.slider(key="tcav_runs").set_value(5)
    at.button(key="tcav_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["pool2", "fc1"]
    assert table["TCAV score"].between(0, 1).all() and table["p value"].between(0, 1).all()
    assert table["CAV accuracy"].min() > 0.8  # ones are easy to tell from other digits
    assert any("0.05 / 2 = 0.025 (Bonferroni)" in c.value for c in at.caption)


@pytest.mark.parametrize(
    ("model", "layers"),
    [("spoken_digits", ["block2_pool", "fc"]), ("vgg_cifar10", ["block3_pool", "fc1"])],
)
def test_the_concepts_page_runs_on_the_other_builtin_models(model, layers):
    at = open_app(model_choice=model)
    at.switch_page("pages/concepts.py").run()
    at.selectbox(key="tcav_concept_class").set_value(3)
    at.selectbox(key="tcav_target").set_value(3)
    at.multiselect(key="tcav_layers").set_value(layers)
    at.slider(key="tcav_runs").set_value(5)
    at.button(key="tcav_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["layer"]) == layers and table["CAV accuracy"].min() > 0.6
