"""AppTest: the Dataset page on LeNet's probe set: a confusion cell picked, its inputs listed
most confident first, one opened (the current sample on Trace, its partners beside it), and the
filters of a cell handed to Freeze (see test_pages.py for the AppTest notes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import api
from core.work import INLINE

pytestmark = pytest.mark.slow

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_cell_opens_an_input_on_trace_with_its_partner():
    m = api.load("lenet_mnist")
    ev = api.evaluate(m, "probe", executor=INLINE, cache=False)
    cm = ev.confusion
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/dataset.py").run()
    _ok(at)
    metrics = {x.label: x.value for x in at.metric}
    assert metrics["Accuracy"] == f"{ev.accuracy:.1%}"
    assert metrics["Errors"] == f"{int((~ev.correct).sum()):,}"
    # The worst cell is shown first; picking another (what a click on the heatmap sets).
    assert at.selectbox(key="dataset_cell_pick").value == (t, p)
    other = next((a, b) for a, b in zip(*np.nonzero(off)) if (a, b) != (t, p))
    at.selectbox(key="dataset_cell_pick").set_value(tuple(int(v) for v in other)).run()
    _ok(at)
    rows = ev.cell(*other)
    assert any(f"{len(rows)} input" in h.value for h in at.subheader)
    # Most confident first: the Open choice lists the cell's inputs in the pictures' order.
    opens = at.pills(key=f"dataset_open_{other[0]}_{other[1]}")
    assert list(opens.options) == [f"#{int(r)}" for r in rows[:24]]
    opens.set_value(int(rows[0])).run()
    _ok(at)
    assert at.pills(key=f"dataset_open_{other[0]}_{other[1]}").value is None  # not again
    row = int(rows[0])
    name = f"held-out #{row} ({m.labels[other[0]]})"
    partner = f"held-out #{ev.typical(other[1])} ({m.labels[other[1]]})"
    typical_true = f"held-out #{ev.typical(other[0])} ({m.labels[other[0]]})"
    pool = at.session_state["samples"]
    assert at.session_state["pending_select"] == name  # the sidebar selects it on the rerun
    assert at.session_state["link_b"] == partner  # Compare's B
    assert {name, partner, typical_true} <= set(pool)
    np.testing.assert_array_equal(pool[name].raw, ev.raws[row])
    # On Trace (AppTest runs app.py, and so the sidebar, on a first run only: a new session
    # with the state the click left): the input traced, its partners in the sample list.
    trace = AppTest.from_file(APP, default_timeout=300)
    for k in ("samples", "pending_select", "link_b", "seeded"):
        trace.session_state[k] = at.session_state[k]
    trace.run()
    _ok(trace)
    assert trace.sidebar.selectbox(key="selected").value == name
    assert {partner, typical_true} <= set(trace.sidebar.selectbox(key="selected").options)
    shown = {x.label: x.value for x in trace.metric}["Prediction"]
    assert shown == m.labels[int(ev.predictions[row])] == m.labels[other[1]]
    trace.switch_page("pages/compare.py").run()
    _ok(trace)
    assert trace.selectbox(key="compare_b").value == partner


def test_the_filters_of_a_cell_go_to_freeze_ticked():
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/dataset.py").run()
    _ok(at)
    layer = at.selectbox(key="dataset_filter_layer").value
    at.button(key="dataset_freeze").click().run()
    _ok(at)
    m = api.load("lenet_mnist")
    frozen = at.session_state["frozen"][m.sha256]
    assert list(frozen) == [layer] and len(frozen[layer]) == 10
    assert at.selectbox(key="freeze_layer").value == layer


def test_the_confusion_matrix_names_every_class_on_both_axes():
    """Vega-Lite drops axis labels that collide: CIFAR-10's predicted axis named only every
    other class (airplane, bird, deer, frog, ship)."""
    import json

    from tests.app._app import open_app

    at = open_app("pages/dataset.py", model_choice="vgg_cifar10", no_errors=True)
    (chart,) = [c for c in at.get("vega_lite_chart") if c.proto.id.endswith("-dataset_confusion")]
    layers = json.loads(chart.proto.spec)["layer"]
    axes = [layer["encoding"][xy]["axis"] for layer in layers for xy in ("x", "y")]
    assert axes and all(a["labelOverlap"] is False for a in axes), axes
    top = [a for a in axes if a.get("orient") == "top"]
    assert top and all(a["labelAngle"] != 0 for a in top)  # "automobile" under a 46 px column
