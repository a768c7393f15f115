"""AppTest for the Explain and Compare models pages (see test_pages.py for the AppTest notes)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app._app import open_app

# AppTest runs of the Explain and Freeze pages: not in the fast loop (CONTRIBUTING.md).
pytestmark = pytest.mark.slow


def _page(page: str, **state) -> AppTest:
    return open_app(page, no_errors=True, **state)


def test_explain_shows_maps_curves_and_a_ranking():
    at = _page("pages/explain.py", selected="digit 7 (style 1)")
    assert at.title[0].value == "Explain a prediction"
    assert at.multiselect(key="explain_methods").value == [
        "integrated_gradients",
        "gradient",
        "grad_cam",
    ]
    assert at.selectbox(key="explain_class").value == "7"
    ranking = at.dataframe[0].value
    assert list(ranking["method"])[0] in ("Integrated gradients", "Gradient", "Grad-CAM")
    ig = ranking[ranking["method"] == "Integrated gradients"].iloc[0]
    assert ig["deletion AUC"] < ig["random deletion"]
    assert ig["insertion AUC"] > ig["random insertion"]


def test_explain_runs_the_randomisation_check_and_the_batch_ranking():
    at = _page("pages/explain.py")
    at.multiselect(key="explain_methods").set_value(["gradient", "gradient_x_input"]).run()
    at.button(key="explain_rand").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rand = at.dataframe[-1].value
    assert list(rand["layer"]) == ["none (trained)", "logits", "fc2", "fc1", "conv2", "conv1"]
    # Adebayo et al.'s three measures, each explained (issue 35 item 3).
    assert {"spearman", "ssim", "hog"} <= set(rand.columns)
    assert any("cells that carry signal" in c.value for c in at.caption)
    at.button(key="explain_batch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    batch = [d.value for d in at.dataframe if "faithfulness" in d.value.columns]
    assert len(batch) == 2 and set(batch[1]["method"]) == {"Gradient", "Gradient × input"}


def test_explain_says_which_deletion_baseline_it_used():
    """Issue 35 item 3: removed cells were always black, unsaid; the VGG reads black as a
    class. The default is named on the page, and another can be chosen."""
    at = _page("pages/explain.py", model_choice="vgg_cifar10")
    assert at.selectbox(key="explain_baseline").value == "auto"
    assert any("the baseline: **probe-set mean**" in c.value for c in at.caption)
    at.selectbox(key="explain_baseline").set_value("blurred input").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("the baseline: **blurred input**" in c.value for c in at.caption)


def test_explain_on_audio_plays_the_top_cells():
    at = _page("pages/explain.py", model_choice="spoken_digits")
    assert at.session_state["model"].name == "spoken_digits"
    assert at.slider(key="explain_hear_share").value == pytest.approx(0.1)
    assert at.get("audio"), "the attributed cells and the clip are playable"


def test_compare_models_shows_cka_and_both_predictions():
    at = _page("pages/compare_models.py", selected="digit 3 (style 1)")
    assert at.title[0].value == "Compare two models"
    # No other built-in model reads digits: B defaults to A itself (issue 35 item 10).
    assert at.selectbox(key="cmp_model_b").value == "lenet_mnist"
    labels = {m.label: m.value for m in at.metric}
    assert labels["Prediction A"] == "3" and "Prediction B" in labels
    same = at.dataframe[0].value
    assert list(same["layer A"])[:2] == ["input", "conv1"]
    assert same["CKA"].min() > 0.999  # LeNet against itself: every layer has a twin


def test_freeze_page_mean_ablation_changes_the_prediction_like_the_core_does():
    """Mean ablation of every pool2 channel of LeNet: the page's prediction is the core's."""
    import numpy as np

    from core import api
    from core.graph.interventions import Intervention, channel_means, run_frozen
    from core.inputs.samples import gallery_digits

    at = _page("pages/freeze.py", selected="digit 7 (style 1)")
    at.selectbox(key="freeze_layer").set_value("pool2").run()
    version = at.session_state["freeze_version"]
    at.radio(key=f"kind_{version}_pool2").set_value("mean").run()
    # The filter tiles are a browser component (tests/browser/test_freeze.py clicks them);
    # here the configuration they write is set directly.
    at.session_state["frozen"][at.session_state["model"].sha256]["pool2"] = list(range(64))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["intervention"]) == ["mean (probe set)"]
    after = [m.value for m in at.metric if m.label == "Prediction with frozen filters"][0]

    m = api.load("lenet_mnist")
    pool = gallery_digits()
    xs = np.stack([api.prepare(m, s.raw)[0] for s in pool])
    x = api.prepare(m, next(s for s in pool if s.name == "digit 7 (style 1)").raw)[0][None]
    base = {k: v[0] for k, v in m.tracer(x).items()}
    got = run_frozen(
        m.tracer.plan,
        x,
        base,
        {"pool2": Intervention(tuple(range(64)), "mean")},
        means=channel_means(m.tracer, xs, ["pool2"]),
    )
    assert after == m.labels[int(np.argmax(api.probabilities_from_trace(m, got)))]


@pytest.mark.parametrize("page", ["pages/explain.py", "pages/compare_models.py"])
def test_the_new_pages_render_with_the_colour_model(page):
    at = _page(page, model_choice="vgg_cifar10")
    assert at.session_state["model"].name == "vgg_cifar10"
    assert at.dataframe, "a ranking or a CKA table"
