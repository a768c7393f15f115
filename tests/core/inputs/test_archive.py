"""The one batch validator (core.inputs.archive) and the labelled reader on top of it
(core.inputs.probe.read_labelled): hostile archives are refused with a reason; files that cannot
be used are listed and skipped, never fatal alone."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core import api
from core.errors import InputError
from core.inputs.archive import read_batch
from core.inputs.probe import read_labelled


@pytest.fixture(scope="module")
def lenet():
    return api.load("lenet_mnist")


def _png(v: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((28, 28), v, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for d in dirs:
            z.writestr(zipfile.ZipInfo(d), b"")
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_bomb_is_refused():
    with pytest.raises(InputError, match=r"'bomb.zip' was refused: .*\(a zip bomb\?\)"):
        read_batch(_zip({"3/a.png": b"\0" * (16 * 2**20)}), kind="image", filename="bomb.zip")


def test_a_member_larger_than_its_header_is_refused():
    data = bytearray(_zip({"3/a.png": _png(9)}))
    size = len(_png(9)).to_bytes(4, "little")
    # Shrink the declared size in the central directory: reading more than it says is refused.
    at = data.rindex(size)
    data[at : at + 4] = (4).to_bytes(4, "little")
    with pytest.raises(InputError, match=r"larger than its header says|cannot be read"):
        read_batch(bytes(data), kind="image", filename="liar.zip")


@pytest.mark.slow
def test_a_hundred_thousand_members_are_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for i in range(100_000):
            z.writestr(f"3/{i}.png", b"")
    with pytest.raises(InputError, match=r"holds 100000 files; at most 2000 are accepted"):
        read_batch(buf.getvalue(), kind="image", filename="many.zip")


@pytest.mark.parametrize("name", ["../3/evil.png", "3/../../evil.png", "/etc/3.png", "..\\3.png"])
def test_names_that_leave_the_folder_refuse_the_archive(name):
    with pytest.raises(InputError, match=r"points outside the folder"):
        read_batch(_zip({"3/ok.png": _png(1), name: _png(2)}), kind="image", filename="x.zip")


def test_unusable_files_are_listed_and_skipped(lenet):
    data = _zip(
        {
            "3/a.png": _png(10),
            "7/b.png": _png(200),
            "7/fake.png": b"this is text, not a PNG",
            "7/notes.txt": b"hello",
            "cat/c.png": _png(30),
            "loose.png": _png(40),
            "5_prefixed.png": _png(90),
        },
        dirs=("9/",),
    )
    ps = read_labelled(data, lenet, filename="mine.zip")
    assert list(ps.labels) == [3, 7, 5] and len(ps.raws) == 3
    assert ps.raws[1][0, 0] == 200
    why = dict(ps.skipped)
    assert set(why) == {"7/fake.png", "7/notes.txt", "cat/c.png", "loose.png", "9/"}
    assert "not an image" in why["7/fake.png"]
    assert "not an image file" in why["7/notes.txt"]
    assert "label 'cat' is not a class of 'lenet_mnist'" in why["cat/c.png"]
    assert "no label" in why["loose.png"]
    assert "an empty class folder" in why["9/"]


def test_nothing_usable_is_refused_with_every_reason(lenet):
    with pytest.raises(InputError, match=r"holds no usable file \('cat/a.png': label 'cat'"):
        read_labelled(_zip({"cat/a.png": _png(1)}), lenet, filename="b.zip")
    with pytest.raises(InputError, match=r"'3/a.png': '3/a.png' is not an image"):
        read_labelled(_zip({"3/a.png": b"not a png"}), lenet, filename="b.zip")


def test_a_folder_and_a_csv_read_like_the_zip(lenet, tmp_path):
    (tmp_path / "d" / "3").mkdir(parents=True)
    (tmp_path / "d" / "4").mkdir()
    (tmp_path / "d" / "3" / "a.png").write_bytes(_png(10))
    (tmp_path / "d" / "3" / "b.png").write_bytes(b"broken")
    (tmp_path / "outside.png").write_bytes(_png(99))
    (tmp_path / "d" / "3" / "link.png").symlink_to(tmp_path / "outside.png")
    ps = read_labelled(tmp_path / "d", lenet)
    assert list(ps.labels) == [3] and ps.raws[0][0, 0] == 10
    assert dict(ps.skipped).keys() == {"3/b.png", "3/link.png", "4/"}
    csv = tmp_path / "d" / "list.csv"
    csv.write_text("path,label\n3/a.png,3\n3/a.png,8\nmissing.png,1\n3/a.png,dog\n")
    ps = read_labelled(csv, lenet)
    assert list(ps.labels) == [3, 8]
    assert dict(ps.skipped).keys() == {"missing.png", "3/a.png"}
    with pytest.raises(InputError, match=r"expected a header with 'path' and 'label'"):
        (tmp_path / "bad.csv").write_text("file,class\na.png,3\n")
        read_labelled(tmp_path / "bad.csv", lenet)
