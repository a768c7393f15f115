"""training.data: one reader per dataset, for every recipe (the ../shared/data copies)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from training.data import (
    Split,
    concat,
    hold_out,
    load_cifar10,
    load_fsdd,
    load_manifest,
    load_mnist,
    load_synth,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _needs(folder: str) -> Path:
    if not (DATA / folder).is_dir():
        pytest.skip(f"shared/data/{folder} is not here")
    return DATA / folder


def test_hold_out_keeps_the_last_images_for_validation_and_refuses_too_few():
    s = Split(np.arange(10, dtype=np.uint8)[:, None, None], np.arange(10, dtype=np.int32))
    tr, val = hold_out(s, 3)
    assert tr.y.tolist() == list(range(7)) and val.y.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="10 training images, expected more than the 10"):
        hold_out(s, 10)


def test_mnist_reads_the_idx_files_in_keras_datasets_order():
    images = load_mnist(_needs("mnist"))
    x, y = images.train
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int32
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # shared/data's README
    assert images.test is None and "IDX files" in images.source


@pytest.mark.slow
def test_cifar10_reads_the_npy_chunks_in_the_official_order():
    images = load_cifar10(_needs("cifar10"))
    x, y = images.train
    assert x.shape == (50000, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (50000,)
    np.testing.assert_allclose(x.mean((0, 1, 2)) / 255, [0.4914, 0.4822, 0.4465], atol=1e-4)


def test_an_image_folder_without_its_files_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="train_images_1.npy, .*train_labels.npy"):
        load_cifar10(tmp_path)


def _wav(path: Path, sr: int, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), sr)


def test_fsdd_names_give_digit_and_speaker_and_clips_come_at_8_khz(tmp_path):
    _wav(tmp_path / "recordings" / "3_theo_0.wav", 16000, 0.5)
    _wav(tmp_path / "recordings" / "7_jackson_12.wav", 8000, 0.25)
    c = load_fsdd(tmp_path)
    assert c.digits.tolist() == [3, 7] and c.speakers.tolist() == ["theo", "jackson"]
    assert [len(y) for y in c.clips] == [4000, 2000]  # 16 kHz resampled to 8 kHz
    assert c.names[0] == f"{tmp_path.name}/recordings/3_theo_0.wav"
    with pytest.raises(FileNotFoundError, match="no FSDD recordings"):
        load_fsdd(tmp_path / "recordings" / "none")


def test_real_recordings_come_from_their_manifest_and_concatenate():
    mini = load_manifest(_needs("sc09_mini"))
    assert len(mini.clips) == 30 and len(set(mini.speakers)) == 29
    both = concat([mini, mini.take(np.array([2, 0]))])
    assert len(both.clips) == 32 and both.names[30:] == [mini.names[2], mini.names[0]]
    np.testing.assert_array_equal(both.digits[30:], mini.digits[[2, 0]])


def test_synthetic_voices_split_by_their_manifest_and_are_absent_without_one(tmp_path):
    assert load_synth(tmp_path) == {}
    rows = [("a.wav", 1, "en-gb", "m1", "train"), ("b.wav", 2, "en-us", "f4", "val")]
    rows.append(("missing.wav", 3, "en-us", "m1", "train"))  # listed, not on disk: skipped
    for name, *_ in rows[:2]:
        _wav(tmp_path / name, 22050, 0.3)
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "digit", "voice", "variant", "split"])
        w.writerows(rows)
    synth = load_synth(tmp_path)
    assert synth["train"].speakers.tolist() == ["en-gb+m1"]
    assert synth["val"].digits.tolist() == [2] and len(synth["val"].clips[0]) == 2400
