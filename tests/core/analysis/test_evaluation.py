"""api.evaluate and the failure analyses: the statistics equal a direct computation from
api.predict (and scikit-learn's), every dataset form gives the same answer, the disk cache
resumes an interrupted scan with the same result; error filters and layer maps on known data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core import api
from core.analysis.evaluation import BLOCK
from core.analysis.failures import error_filters, layer_map, separation
from core.errors import InputError, OptionError
from core.work import INLINE


@pytest.fixture(scope="module")
def probe(lenet):
    raws, labels = api.probe_set(lenet)
    return raws[:600], labels[:600]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path))
    return tmp_path


def test_statistics_equal_a_direct_computation_from_predict(lenet, probe):
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    raws, labels = probe
    ev = api.evaluate(lenet, (raws, labels), executor=INLINE)
    p = api.predict(lenet, raws)
    np.testing.assert_allclose(ev.probabilities, p, rtol=1e-5, atol=1e-6)
    pred = np.argmax(p, axis=1)
    np.testing.assert_array_equal(ev.predictions, pred)
    np.testing.assert_array_equal(ev.labels, labels)
    assert ev.accuracy == pytest.approx(np.mean(pred == labels))
    np.testing.assert_array_equal(ev.confusion, confusion_matrix(labels, pred, labels=range(10)))
    pc = ev.per_class
    np.testing.assert_allclose(pc["precision"], precision_score(labels, pred, average=None))
    np.testing.assert_allclose(pc["recall"], recall_score(labels, pred, average=None))
    lo, hi = ev.interval
    assert lo < ev.accuracy < hi and hi - lo < 0.05
    # ECE from its definition, with NumPy's own histogram of the confidences.
    conf = p.max(axis=1)
    which = np.minimum((conf * 10).astype(int), 9)
    ece = sum(
        np.mean(which == b)
        * abs(np.mean(pred[which == b] == labels[which == b]) - conf[which == b].mean())
        for b in range(10)
        if np.any(which == b)
    )
    assert ev.calibration()[1] == pytest.approx(ece, abs=1e-6)


def test_what_is_read_off_the_answers_is_made_once_and_read_only(lenet, probe):
    """A cached evaluation is shared by every session and a Dataset rerun read `confidence`
    28 times (an argmax or max over N x C each): made once, and no caller can change it."""
    raws, labels = probe
    ev = api.evaluate(lenet, (raws[:64], labels[:64]), executor=INLINE)
    for name in ("predictions", "confidence", "correct", "confusion"):
        a = getattr(ev, name)
        assert getattr(ev, name) is a, name
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 0


def test_a_cell_is_most_confident_first_and_typical_is_a_right_answer(lenet, probe):
    ev = api.evaluate(lenet, probe, executor=INLINE, cache=False)
    off = ev.confusion - np.diag(np.diag(ev.confusion))
    t, p = np.unravel_index(int(np.argmax(off)), off.shape)
    rows = ev.cell(t, p)
    assert len(rows) == off[t, p] > 0
    assert (ev.labels[rows] == t).all() and (ev.predictions[rows] == p).all()
    assert (np.diff(ev.confidence[rows]) <= 0).all()
    k = ev.typical(p)
    assert ev.labels[k] == p and ev.predictions[k] == p
    feats = api.layer_summaries(lenet, ev.raws, executor=INLINE)["fc1"]
    k2 = ev.typical(p, feats)
    right = np.flatnonzero((ev.labels == p) & ev.correct)
    centre = feats[right].mean(axis=0)
    assert k2 == right[np.argmin(((feats[right] - centre) ** 2).sum(axis=1))]


def test_an_interrupted_scan_resumes_with_the_same_result(lenet, probe, data_dir):
    raws, labels = probe
    fresh = api.evaluate(lenet, probe, executor=INLINE, cache=False)

    class Stop(Exception):
        pass

    def stop_after_first_block(done, total):
        if done >= BLOCK:
            raise Stop

    with pytest.raises(Stop):
        api.evaluate(lenet, probe, executor=INLINE, on_progress=stop_after_first_block)
    blocks = sorted((data_dir / "evaluations").rglob("*.npy"))
    assert [b.name for b in blocks] == [f"{0:08d}-{BLOCK:08d}.npy"]
    seen = []
    again = api.evaluate(lenet, probe, executor=INLINE, on_progress=lambda d, n: seen.append(d))
    assert seen[0] == BLOCK and seen[-1] == len(raws)  # the first block was read, not redone
    np.testing.assert_array_equal(again.probabilities, fresh.probabilities)
    assert len(sorted((data_dir / "evaluations").rglob("*.npy"))) == -(-len(raws) // BLOCK)
    seen.clear()
    cached = api.evaluate(lenet, probe, executor=INLINE, on_progress=lambda d, n: seen.append(d))
    assert seen == [len(raws)]
    np.testing.assert_array_equal(cached.probabilities, fresh.probabilities)
    # A damaged block is computed again, never trusted.
    blocks[0].write_bytes(b"garbage")
    np.testing.assert_array_equal(
        api.evaluate(lenet, probe, executor=INLINE).probabilities, fresh.probabilities
    )


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_a_folder_a_zip_and_pairs_give_the_same_evaluation(lenet, probe, tmp_path):
    import zipfile

    raws, labels = probe[0][:40], probe[1][:40]
    folder = tmp_path / "set"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, (r, y) in enumerate(zip(raws, labels)):
            (folder / str(y)).mkdir(parents=True, exist_ok=True)
            (folder / str(y) / f"{i:03d}.png").write_bytes(_png(r))
            z.writestr(f"{y}/{i:03d}.png", _png(r))
    (tmp_path / "set.zip").write_bytes(buf.getvalue())
    order = sorted(range(40), key=lambda i: (str(labels[i]), i))  # a folder reads sorted
    sorted_ = api.evaluate(lenet, ([raws[i] for i in order], labels[order]), executor=INLINE)
    as_zipped = api.evaluate(lenet, (raws, labels), executor=INLINE)  # a ZIP in its own order
    for source, want in (
        (folder, sorted_),
        (str(folder), sorted_),
        (tmp_path / "set.zip", as_zipped),
    ):
        got = api.evaluate(lenet, source, executor=INLINE)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_array_equal(got.probabilities, want.probabilities)


def test_the_probe_set_and_the_test_split(lenet):
    ev = api.evaluate(lenet, "probe", executor=INLINE, cache=False)
    assert len(ev) == 2000 and ev.accuracy > 0.95
    try:
        test = api.evaluate(lenet, "test", executor=INLINE, cache=False)
    except InputError as e:
        assert "could not be downloaded" in str(e)
        pytest.skip("the MNIST test split is not reachable here (no internet)")
    assert len(test) == 10000 and test.accuracy > 0.95


@pytest.mark.parametrize(
    "dataset,match",
    [
        (42, r"dataset must be 'probe', 'test', a path .* got int"),
        (([np.zeros((28, 28), np.uint8)], [1, 2]), r"as many labels as raws"),
        (([np.zeros((28, 28), np.uint8)], [10]), r"Label 10 is out of range: 'lenet_mnist' has 10"),
        (([np.zeros((28, 28), np.uint8)], [1.5]), r"labels must be class indices"),
        (([np.zeros((28, 28), np.uint8)], [-1]), r"None of the 1 inputs"),
        ("/no/such/place", r"neither a ZIP file nor a folder"),
    ],
)
def test_bad_datasets_are_refused_with_a_reason(lenet, dataset, match):
    with pytest.raises(InputError, match=match):
        api.evaluate(lenet, dataset, executor=INLINE)


def test_error_filters_find_the_channel_that_differs():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(300, 6)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 100)
    pred = labels.copy()
    pred[:20] = 1  # twenty 0s predicted as 1
    means[:20, 4] += 3.0  # ... whose channel 4 fires far more
    means[:20, 2] -= 2.0
    found = error_filters(means, labels, pred, 0, 1)
    assert (found.n_cell, found.n_correct) == (20, 80)
    assert list(found.table["channel"][:2]) == [4, 2]
    row = found.table.iloc[0]
    assert row["difference"] == pytest.approx(means[:20, 4].mean() - means[20:100, 4].mean())
    assert error_filters(means, labels, pred, 2, 0).table.empty  # an empty cell


def test_the_pca_map_is_sklearns_up_to_sign_and_separation_counts_neighbours():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    f = rng.normal(size=(200, 8)) * np.arange(1, 9)
    xy = layer_map(f)
    ref = PCA(2).fit_transform(StandardScaler().fit_transform(f))
    for k in range(2):
        assert abs(np.corrcoef(xy[:, k], ref[:, k])[0, 1]) > 0.9999
    np.testing.assert_array_equal(layer_map(f), xy)  # the same data, the same picture
    pts = np.r_[rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 20]
    assert separation(pts, np.repeat([0, 1], 50)) == 1.0
    with pytest.raises(OptionError, match="map method"):
        layer_map(f, method="tsne")


def test_a_dataset_with_none_of_the_models_classes_says_so_in_a_readable_line(lenet, probe):
    """A 1000-class upload listed every class name in this message (the Dataset page on
    ResNet50 with the CIFAR-10 probe set): the names are cut after a few."""
    raws, _ = probe
    with pytest.raises(InputError, match=r"None of the 2 inputs") as e:
        api.evaluate(lenet, (raws[:2], [-1, -1]), executor=INLINE)
    assert "… (10 classes)" in str(e.value) and "'9'" not in str(e.value)
