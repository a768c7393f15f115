"""Trace: follow one input through every layer."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from core import cache
from core.errors import InputError
from core.inputs.image import decode_image, mnist_style, paint_to_rgb, to_display
from core.inputs.samples import (
    Sample,
    cifar10_test_images,
    gallery_kind,
    mnist_test_digits,
    thumbnail,
)
from core.show.render import as_maps, labelled_grid
from pages._controls import SCALES, colour_scale, lazy_tabs
from pages._images import png
from pages._links import share_view
from pages._state import (
    IMAGE_INPUT_TABS,
    add_sample,
    current_model,
    keep_sample,
    linked,
    run_trace,
    samples,
    selected_sample,
)
from pages._unit import position_map, unit_panel
from pages._widgets import every_layer, export_button, freeze_note, prediction, shape_text

lm = current_model()
st.title("Trace")
st.caption("Follow one input through every layer of the network: draw, upload or pick a sample.")

if lm.kind != "image":
    st.info(
        f"{lm.card.get('title', lm.name)} takes {lm.kind} input: record, upload, edit and "
        "trace clips on the Audio page."
    )
    st.page_link("pages/audio.py", label="Open the Audio lab", icon=":material/graphic_eq:")
    st.stop()


def sample_buttons(pool: list[Sample], *, key: str, per_row: int = 10) -> None:
    """Thumbnails with a button each: a click adds that sample and traces it."""
    for r in range(0, len(pool), per_row):
        cols = st.columns(per_row)
        for i, s in enumerate(pool[r : r + per_row], start=r):
            with cols[i - r]:
                st.image(cache.thumbnail(s, 56), width=56)
                if st.button(s.label or s.name, key=f"{key}_{i}", help=s.name, width="stretch"):
                    add_sample(s)


# ---- inputs -------------------------------------------------------------------------------
# Lazy: the gallery's 60 buttons cost ~0.2 s a rerun while its tab is closed otherwise.
draw_tab, upload_tab, gallery_tab, real_tab = lazy_tabs(
    IMAGE_INPUT_TABS, key="trace_input_tab", label="Input"
)
with draw_tab:
    if draw_tab.open:
        c1, c2 = st.columns([1, 2])
        digit_pad = lm.card["input"].get("digit_style") == "mnist"
        with c1:
            if digit_pad:
                # Room for the canvas toolbar, which floats above the pad while the mouse is on it.
                st.container(height=40, border=False)
                canvas = st_canvas(
                    stroke_width=18,
                    stroke_color="#FFFFFF",
                    background_color="#000000",
                    height=280,
                    width=280,
                    drawing_mode="freedraw",
                    return_image_data=True,
                    key="sketchpad",
                )
            else:
                p1, p2, p3 = st.columns(3)
                ink_c = p1.color_picker("Ink", "#C0392B", key="ink_colour")
                bg_c = p2.color_picker("Background", "#87B5E0", key="bg_colour")
                width = p3.number_input("Brush", 4, 60, 24, key="brush")
                st.container(height=40, border=False)  # room for the pad's floating toolbar
                canvas = st_canvas(
                    stroke_width=int(width),
                    stroke_color=ink_c,
                    background_color=bg_c,
                    height=280,
                    width=280,
                    drawing_mode="freedraw",
                    return_image_data=True,
                    key=f"colourpad_{bg_c}",
                )
        with c2:
            h, w = lm.card["input"]["shape"][:2]
            if digit_pad:
                st.markdown(
                    "Draw one digit with the mouse (or a finger). It is framed the way MNIST "
                    "digits were made: cropped to its bounding box, scaled into 20×20 and "
                    "centred by centre of mass in 28×28. Your drawing becomes the sample "
                    "**Sketch** and is traced at once; *Keep* stores a copy."
                )
            else:
                st.markdown(
                    f"Paint a picture in colour: the whole 280×280 pad is scaled down to "
                    f"the model's {w}×{h} (a box filter, like CIFAR's downsampled photos). "
                    "It becomes the sample **Sketch** and is traced at once; *Keep* stores "
                    "a copy."
                )
            # image_data holds the strokes only (not the pad's background): on the digit pad ink
            # is bright; on the colour pad any opaque pixel is paint (even black ink).
            rgba = canvas.image_data
            ink = rgba is not None and (
                rgba[..., :3].max() > 0 if digit_pad else rgba[..., 3].max() > 0
            )
            if ink:
                try:
                    raw = mnist_style(rgba[..., 0]) if digit_pad else paint_to_rgb(rgba, bg_c)
                except InputError as e:
                    st.warning(str(e))
                else:
                    note = (
                        "drawn on the sketchpad, framed MNIST-style"
                        if digit_pad
                        else "painted on the sketchpad, 280×280 scaled to the model's size"
                    )
                    sketch = Sample("Sketch", "image", raw, source="drawn", note=note)
                    prev = samples().get("Sketch")
                    if prev is None or prev.key != sketch.key:
                        add_sample(sketch, replace=True)
                    st.image(
                        thumbnail(sketch, 112)
                        if digit_pad
                        else np.asarray(
                            Image.fromarray(raw).resize((112, 112), Image.Resampling.BOX)
                        ),
                        caption=f"model's view, {w}×{h}" if digit_pad else "your picture",
                        width=112,
                    )
                    n = sum(s.source == "drawn" for s in samples().values())
                    st.button(
                        "Keep this drawing",
                        key="keep_sketch",
                        on_click=keep_sample,
                        args=(
                            Sample(f"Drawing {n}", "image", raw, source="drawn", note=sketch.note),
                        ),
                        help="Store a copy in the sample list (the pad keeps drawing into 'Sketch').",
                    )
            else:
                st.caption("The pad is empty.")

with upload_tab:
    if upload_tab.open:
        file = st.file_uploader(
            "PNG or JPEG image", type=["png", "jpg", "jpeg", "bmp", "webp"], key="image_file"
        )
        if file is not None:
            try:
                raw, notes = decode_image(file.getvalue(), filename=file.name)
            except InputError as e:
                st.error(str(e))
            else:
                sample = Sample(file.name, "image", raw, source="upload", note="; ".join(notes))
                if st.session_state.get("last_image_upload") != (file.file_id, lm.sha256):
                    st.session_state["last_image_upload"] = (file.file_id, lm.sha256)
                    add_sample(sample)
                st.caption(
                    f"Uploaded {file.name}: {raw.shape[1]}×{raw.shape[0]}"
                    + (f" ({'; '.join(notes)})" if notes else "")
                    + ". How it was converted for the model is shown below the input."
                )

with gallery_tab:
    if gallery_tab.open:
        gallery = cache.gallery(lm.card)
        digits = gallery_kind(lm.card) == "digits"
        st.caption(
            (
                "Digits drawn by this project (scripts/make_digit_samples.py): three styles of each."
                if digits
                else "Scenes drawn by this project (scripts/make_colour_samples.py), one per "
                "CIFAR-10 theme: pictures, not photos."
            )
            + " Click one to add it and trace it."
        )
        sample_buttons(gallery, key="gal")
        more, loader = (
            ("Load 30 real MNIST test digits (needs internet)", mnist_test_digits)
            if digits
            else ("Load 30 real CIFAR-10 test images (needs internet)", cifar10_test_images)
        )
        if st.button(more, key="dataset_test"):
            try:
                with st.spinner("Downloading through keras.datasets…"):
                    for s in loader():
                        add_sample(s, select=False)
                st.success("Added 30 test images to the samples.")
            except OSError as e:
                st.warning(str(e))

with real_tab:
    if real_tab.open:
        real = cache.probe_samples(lm, 30)
        st.caption(
            f"Real images the model never trained on (its probe set: "
            f"{cache.probe(lm).about}). Click one to add it and trace it; the Filters page "
            "ranks all of them per filter."
        )
        sample_buttons(real, key="real")

# ---- one core call ---------------------------------------------------------------------------
sample = selected_sample(lm)
st.divider()
fkey = freeze_note(lm, applies=True, key="trace")
tr, probs, notes = run_trace(lm, sample, fkey)
types = lm.tracer.plan.layer_types()

# ---- display ----------------------------------------------------------------------------------
left, mid, right = st.columns([1, 1, 2])
with left:
    st.subheader(sample.name)
    x = tr["input"]
    shown = to_display(x, lm.card)
    up = max(1, 196 // max(shown.shape[:2]))  # nearest-neighbour: keep pixels crisp
    st.image(
        png(shown.repeat(up, 0).repeat(up, 1)), caption=f"model input {shape_text(x)}", width=196
    )
with mid:
    prediction(lm, probs, key="probs", true_label=sample.label, height=200)
with right:
    st.markdown("**Display**")
    if (link_scale := linked("link_scale", SCALES)) is not None:
        st.session_state["scale"] = link_scale
    scale = colour_scale(key="scale")
    names = [n for n in tr if n != "input"]
    spatial = [n for n in names if as_maps(tr[n]) is not None]
    if spatial:
        st.markdown("**Open a channel large**")
        c1, c2 = st.columns([2, 1])
        link = linked("link_layer", spatial)
        big_layer = c1.selectbox(
            "Layer", spatial, key="big_layer", index=spatial.index(link) if link else 0
        )
        maps = as_maps(tr[big_layer])
        if (link_ch := linked("link_channel", list(range(maps.shape[-1])))) is not None:
            st.session_state[f"big_channel_{big_layer}"] = link_ch
        # One key per layer: a channel number kept from a wider layer is never out of range.
        ch = c2.number_input(
            "Channel",
            0,
            maps.shape[-1] - 1,
            key=f"big_channel_{big_layer}",
            help="Or click a channel's tile under Every layer.",
        )
        big = maps[..., int(ch)]
        position_map(lm, big_layer, int(ch), big)
        st.caption(
            f"{big_layer} channel {int(ch)}: min {big.min():.3g}, max {big.max():.3g}, "
            f"mean {big.mean():.3g}. Click a position to see how its value is computed."
        )


def _open_large(layer: str, ch: int) -> None:
    """A tile clicked under Every layer also opens there (and goes into the share link)."""
    st.session_state["big_layer"] = layer
    st.session_state[f"big_channel_{layer}"] = ch


def _trace_export():
    images = {"00_input": to_display(tr["input"], lm.card)}
    for i, n in enumerate(names, start=1):
        maps = as_maps(tr[n])
        if maps is not None:
            images[f"{i:02d}_{n}"] = labelled_grid(
                maps,
                scale=scale,
                title=f"{i}. {n} · {types.get(n, '')} · output "
                f"{shape_text(tr[n])} · {scale} colour scale",
            )
    return dict(
        settings={
            "sample": sample.name,
            "source": sample.source,
            "label": sample.label,
            "conversions": notes,
            "colour_scale": scale,
        },
        predictions={sample.name: probs},
        images=images,
        npz={"activations": tr},
        tables={
            "layers": pd.DataFrame(
                {
                    "layer": names,
                    "shape": [shape_text(tr[n]) for n in names],
                    "min": [float(tr[n].min()) for n in names],
                    "max": [float(tr[n].max()) for n in names],
                }
            )
        },
    )


with st.container(horizontal=True):
    share_view(
        lm,
        sample,
        layer=big_layer if spatial else None,
        channel=int(ch) if spatial else None,
        scale=scale,
    )
    export_button(lm, "Trace", _trace_export, key="export_trace")
if notes:
    st.info("Converted: " + "; ".join(notes) + ".", icon=":material/transform:")
if spatial:
    with st.expander("The arithmetic of one unit", expanded=True, icon=":material/calculate:"):
        unit_panel(lm, sample, spatial=spatial, frozen=bool(fkey))
st.divider()
st.subheader("Every layer")
every_layer(
    lm,
    tr,
    names,
    scale=scale,
    key="layer",
    on_pick=lambda name: partial(_open_large, name) if name in spatial else None,
)
