"""What a warm rerun sends (issue 35 item 14): every element is a message the server hands to
its event loop and the browser renders, so a page sends no element twice where one does."""

from __future__ import annotations

import pytest

from pages._widgets import LAYERS_PER_PAGE
from tests.app._app import open_app

pytestmark = pytest.mark.slow  # AppTest runs of pages with the real models


def _styles(at) -> list[str]:
    """The bodies of the page's st.html elements that style charts."""
    return [h.proto.body for h in at.get("html") if "vega-embed" in h.proto.body]


def test_every_layer_styles_all_its_tile_grids_in_one_element():
    at = open_app("pages/trace.py")
    names = [n for n in at.session_state["model"].tracer.names if n != "input"]
    styles = _styles(at)
    assert len(styles) == 1, styles  # one per layer before
    shown = [n for n in names if f".st-key-layer_{n}_tiles " in styles[0]]
    assert shown and len(shown) == min(len(names), LAYERS_PER_PAGE), (shown, names)  # all drawn


def test_every_layer_draws_a_layer_as_a_head_and_its_tiles():
    at = open_app("pages/trace.py")
    lm = at.session_state["model"]
    shown = [n for n in lm.tracer.names if n != "input"][:LAYERS_PER_PAGE]
    heads = [m.value for m in at.markdown if "of values are exactly 0" in m.value]
    # One head a layer: its name, numbers and colour scale (the gradient inline) in one element;
    # before, the numbers, the tile caption and the legend were three more, in two columns.
    assert [h.split("**")[1].split(". ", 1)[1] for h in heads] == shown, heads
    tiled = [h for h in heads if "channels," in h]
    assert tiled and all("<img src='data:image/png;base64," in h for h in tiled), tiled
    assert not [c.value for c in at.caption if "exactly 0" in c.value or "channels," in c.value]
    # No element of its own for a colour scale: neither legend()'s 240 px gradient nor a picture
    # of one (the pictures here: the input, the dense layers' strips).
    assert not [m.value for m in at.markdown if "width='240'" in m.value]
    sizes = [_png_size(url) for el in at.get("image") for url in el.value]
    assert sizes and (240, 14) not in sizes, sizes


def _png_size(url: str) -> tuple[int, int]:
    import base64
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


def _filter_tiles_script():
    import sys

    import numpy as np

    sys.path.insert(0, ".")
    from pages._filter_grid import tile_srcs

    maps = np.random.default_rng(0).normal(size=(6, 6, 5)).astype(np.float32)
    first = tile_srcs(maps, frozenset())
    again = tile_srcs(maps.copy(), frozenset({3}))  # same content, filter 3 chosen
    # The unchosen tiles are the very strings of the first run (not encoded again) ...
    assert all(again[c] is first[c] for c in (0, 1, 2, 4))
    # ... and the chosen one is drawn greyed, once.
    assert again[3] != first[3] and tile_srcs(maps, frozenset({3}))[3] is again[3]
    assert len(set(first)) == 5 and all(s.startswith("data:image/png;base64,") for s in first)


def test_the_freeze_pickers_tiles_are_encoded_once_per_content():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_filter_tiles_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def _clip_charts_script():
    import sys

    import numpy as np
    import streamlit as st

    sys.path.insert(0, ".")
    from pages._audio_views import spectrogram_chart, waveform_chart

    t = np.arange(8000) / 8000
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for key in ("a", "b"):  # the same clip twice, as a rerun draws it again
        waveform_chart(y, 8000, key=f"{key}_wave")
        spectrogram_chart(y.copy(), 8000, key=f"{key}_spec")
    memo = st.session_state["_png_urls"]
    frames = [k for k in memo if k[0] in ("waveform", "spectrogram")]
    sent = [k for k in memo if k[0] == "arrow"]
    st.session_state["made"] = (sorted(k[0] for k in frames), len(sent))


def test_a_clips_charts_are_made_once_per_content():
    """A clip's waveform envelope and spectrogram cells (and their Arrow bytes) are made once
    per clip content: every rerun built and hashed them again (~15 ms a clip)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_clip_charts_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["made"] == (["spectrogram", "waveform"], 2)
    assert len(at.get("vega_lite_chart")) == 4  # all four drawn


def _grid_script():
    import sys

    import numpy as np

    sys.path.insert(0, ".")
    from core.show.render import feature_grid, png_url
    from pages._images import grid_png

    maps = np.random.default_rng(1).normal(size=(5, 5, 6)).astype(np.float32)
    url, lo, hi = grid_png(maps, vrange=(-2.0, 2.0), dim=frozenset({1}))
    img, lo0, hi0 = feature_grid(maps, vrange=(-2.0, 2.0), dim={1})
    assert (url, lo, hi) == (png_url(img), lo0, hi0)  # what png(feature_grid(...)) drew
    assert grid_png(maps.copy(), vrange=(-2.0, 2.0), dim=frozenset({1}))[0] is url  # memo hit
    assert grid_png(maps, vrange=(-2.0, 2.0))[0] != url  # other options: another picture


def test_a_grid_picture_is_drawn_and_encoded_once_per_content_and_options():
    """Freeze's before/after/difference grids and a dense layer's heat strip were drawn with
    feature_grid and hashed for png() on every rerun."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_grid_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def _tile_spec_script():
    import json
    import sys

    import numpy as np
    import streamlit as st

    sys.path.insert(0, ".")
    from pages._tiles import tile_spec

    maps = np.random.default_rng(0).normal(size=(32, 32, 48)).astype(np.float32)
    spec, _, _ = tile_spec(maps)
    st.session_state["inline"] = len(json.dumps({k: v for k, v in spec.items() if k != "datasets"}))
    st.session_state["picture"] = spec["datasets"]["picture"]


def test_a_tile_grids_picture_travels_as_arrow_bytes_not_inline_json():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_tile_spec_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # Streamlit JSON-encodes, decodes and encodes a spec again on every run: the picture's
    # data URL (~tens of KB) was part of it.
    assert at.session_state["inline"] < 5_000, at.session_state["inline"]
    assert b"data:image/png;base64," in at.session_state["picture"]


def test_the_share_popover_runs_its_contents_only_while_open():
    closed = open_app("pages/trace.py")
    assert not [c for c in closed.code if "?model=" in c.value]  # the link: inside, not drawn
    assert not [t for t in closed.text_input if t.key == "share_title"]
    opened = open_app("pages/trace.py", share_popover=True)
    assert [c for c in opened.code if "model=lenet_mnist" in c.value]
    assert [t for t in opened.text_input if t.key == "share_title"]
    assert len(opened.get("download_button")) > len(closed.get("download_button"))


def test_explains_method_options_run_only_while_open_and_keep_their_values():
    at = open_app("pages/explain.py", no_errors=True)
    assert not [s for s in at.slider if s.key == "explain_window"]  # closed: not drawn
    at.session_state["explain_options"] = True
    at.run()
    window = next(s for s in at.slider if s.key == "explain_window")
    assert window.value == 4
    window.set_value(6).run()
    at.session_state["explain_options"] = False  # closed again: the value stays
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [s for s in at.slider if s.key == "explain_window"]
    assert at.session_state["explain_window"] == 6


def test_an_audio_maps_cells_and_spec_are_made_once_per_content():
    """Explain's attribution maps and Audio's filter map (map_chart) built their cell frame
    and spec on every rerun (~12 ms a rerun on Explain with the spoken-digit model)."""
    at = open_app("pages/explain.py", model_choice="spoken_digits", no_errors=True)

    def made() -> set:
        return {k for k in at.session_state["_png_urls"] if k[0] in ("map", "heatmap")}

    first = made()
    assert {k[0] for k in first} == {"map", "heatmap"}, first
    at.run()  # a rerun that changed nothing: nothing new made
    assert made() == first


def test_explains_heard_cells_are_made_once_per_clip_and_mask(monkeypatch):
    """ "Hear the attributed cells" inverted the clip's STFT on every rerun (~5 ms)."""
    import core.show.audio_view as audio_view

    calls = []
    real = audio_view.hear_map
    monkeypatch.setattr(audio_view, "hear_map", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = open_app("pages/explain.py", model_choice="spoken_digits", no_errors=True)
    assert len(calls) == 1 and len(at.get("audio")) == 2
    at.run()  # a rerun that changed nothing
    assert len(calls) == 1
    at.slider(key="explain_hear_share").set_value(0.2).run()  # another mask: made again
    assert len(calls) == 2


def test_filters_rows_draw_no_patch_and_hash_no_profile_again(monkeypatch):
    """A warm Filters rerun put a margin round each of its 72 exemplar patches and hashed each
    channel's class profile frame (its class names as text) before finding them in the memo."""
    import core.show.exemplar_view as exemplar_view
    import pages._images as images

    spaced, frame_key = [], []
    for module, name, calls in (
        (exemplar_view, "spaced", spaced),
        (images, "frame_key", frame_key),
    ):
        real = getattr(module, name)
        counted = lambda *a, real=real, calls=calls, **k: calls.append(1) or real(*a, **k)  # noqa: E731
        monkeypatch.setattr(module, name, counted)
    at = open_app("pages/filters.py", no_errors=True)
    n, hashed = len(spaced), len(frame_key)
    assert n >= 8  # the first run drew them
    pictures = [i.value for i in at.get("image")]
    assert len(pictures) >= 8  # a row of patches a channel
    at.run()  # a rerun that changed nothing
    assert len(spaced) == n and len(frame_key) == hashed
    assert [i.value for i in at.get("image")] == pictures


def test_datasets_input_pictures_are_made_once_per_cell(monkeypatch, tmp_path):
    """A Dataset rerun fetched each of a confusion cell's (up to 24) thumbnails from a cached
    call (~0.3 ms apiece)."""
    from core import cache

    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    calls = []
    real = cache.thumbnail
    monkeypatch.setattr(cache, "thumbnail", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = open_app("pages/dataset.py", no_errors=True)
    n = len(calls)
    # the sidebar's current sample, then the cell's inputs in one element
    (pictures,) = at.get("image")
    assert n >= 2 and len(pictures.value) == n - 1
    at.run()  # a rerun that changed nothing
    assert len(calls) == n


def test_the_sidebars_current_sample_is_one_element_that_escapes_a_users_text():
    import numpy as np

    from core.inputs.samples import Sample

    mine = Sample(
        "<b>my 7</b>",
        "image",
        np.zeros((28, 28), np.uint8),
        source="upload",
        note="<img src=x onerror=alert(1)>",
    )
    at = open_app(samples={mine.name: mine}, pending_select=mine.name, seeded={"digits"})
    shown = [m.value for m in at.sidebar.markdown if "source: upload" in m.value]
    assert len(shown) == 1, [m.value for m in at.sidebar.markdown]
    assert "<img src='data:image/png;base64," in shown[0]  # the thumbnail, in the same element
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown[0] and "onerror=alert(1)>" not in shown[0]
    assert "&lt;b&gt;my 7&lt;/b&gt;" in shown[0]
    assert not at.sidebar.columns and not at.sidebar.get("image")


def _hostile_head_script():
    import sys

    import numpy as np

    sys.path.insert(0, ".")
    from pages._widgets import layer_output

    name = "<img src=x onerror=alert(1)>"  # an uploaded model's layer name, say
    layer_output(name, np.ones((4, 4, 2), np.float32), scale="shared", key="x", title=f"**{name}**")


def test_a_layer_head_escapes_its_title():
    """The head is HTML (its legend is an inline picture), and a title carries an uploaded
    model's layer names or a user's sample name: they are shown, never run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_hostile_head_script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    head = next(m.value for m in at.markdown if "exactly 0" in m.value)
    assert "**&lt;img src=x onerror=alert(1)&gt;**" in head and "<img src=x" not in head, head
