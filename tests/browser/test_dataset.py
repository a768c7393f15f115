"""The Dataset page in a real browser: a click on a confusion cell shows its inputs, one click
opens an input (the current sample on Trace, its typical right-answer partners beside it, the
first of them Compare's B); a labelled ZIP of images and one of audio clips are evaluated, their
unusable files listed."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import soundfile as sf
from PIL import Image

from ._helpers import expect, metric_value, open_app, shot, wait_for_app


def _worst_cell(ev) -> tuple[int, int]:
    off = ev.confusion - np.diag(np.diag(ev.confusion))
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    return int(t), int(p)


def test_a_confusion_cell_opens_an_input_on_trace_with_its_partner(page):
    from core import api
    from core.work import INLINE

    m = api.load("lenet_mnist")
    ev = api.evaluate(m, "probe", executor=INLINE, cache=False)
    t, p = _worst_cell(ev)
    off = ev.confusion - np.diag(np.diag(ev.confusion))
    other = next((int(a), int(b)) for a, b in zip(*np.nonzero(off)) if (a, b) != (t, p))
    page.set_viewport_size({"width": 1400, "height": 3000})
    open_app(page, "dataset?model=lenet_mnist")
    expect(metric_value(page, "Accuracy")).to_have_text(f"{ev.accuracy:.1%}")
    chart = page.locator(".st-key-dataset_confusion")
    chart.scroll_into_view_if_needed()
    chart.locator(f'path[aria-label="cell {m.labels[other[0]]} as {m.labels[other[1]]}"]').click()
    wait_for_app(page)
    rows = ev.cell(*other)
    head = f"{len(rows)} input{'s' * (len(rows) != 1)}: true {m.labels[other[0]]}, "
    expect(
        page.get_by_role("heading", name=head + f"predicted {m.labels[other[1]]}")
    ).to_be_visible()
    shot(page, "dataset_lenet_cell")
    opens = page.locator(f".st-key-dataset_open_{other[0]}_{other[1]}")
    opens.get_by_role("radio", name=f"#{int(rows[0])}", exact=True).click()
    wait_for_app(page)
    name = f"held-out #{int(rows[0])} ({m.labels[other[0]]})"
    partner = f"held-out #{ev.typical(other[1])} ({m.labels[other[1]]})"
    expect(page.get_by_text(f"'{name}' is the current sample", exact=False)).to_be_visible()
    page.get_by_role("link", name="Continue on Trace").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Trace", exact=True)).to_be_visible()
    side = page.locator('[data-testid="stSidebar"]')
    expect(side.get_by_role("combobox", name="Current sample")).to_have_value(name)
    expect(page.get_by_role("heading", name=name)).to_be_visible()  # traced on the page
    side.get_by_text("All samples", exact=False).click()
    wait_for_app(page)
    expect(side.get_by_text(partner, exact=True).first).to_be_visible()
    shot(page, "dataset_lenet_opened_on_trace")
    page.get_by_role("link", name="Compare").first.click()
    wait_for_app(page)
    expect(page.get_by_text(f"B: {partner}", exact=False).first).to_be_visible()


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _wav(wave: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV")
    return buf.getvalue()


def _upload(page, path, name: str):
    page.get_by_text("my labelled batch (ZIP)").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    wait_for_app(page)


def test_labelled_zips_of_images_and_of_audio_are_evaluated(page, tmp_path):
    from core import api

    page.set_viewport_size({"width": 1400, "height": 3000})
    for model, make in (("vgg_cifar10", _png), ("spoken_digits", _wav)):
        m = api.load(model)
        raws, labels = api.probe_set(m)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i in range(0, len(raws), len(raws) // 60):
                r = raws[i]
                data = make(*r) if isinstance(r, tuple) else make(r)
                z.writestr(
                    f"{m.labels[labels[i]]}/{i}.{'wav' if isinstance(r, tuple) else 'png'}", data
                )
            z.writestr("notes.txt", b"not data")
            z.writestr(f"{m.labels[0]}/broken.{'wav' if m.kind == 'audio' else 'png'}", b"broken")
        path = tmp_path / f"{model}.zip"
        path.write_bytes(buf.getvalue())
        batch = api.evaluate(m, path)
        open_app(page, f"dataset?model={model}")
        _upload(page, path, model)
        expect(metric_value(page, "Inputs")).to_have_text(f"{len(batch):,}")
        expect(metric_value(page, "Accuracy")).to_have_text(f"{batch.accuracy:.1%}")
        expect(page.get_by_text("2 files or rows left out", exact=False)).to_be_visible()
        shot(page, f"dataset_{model}_zip")
