"""scripts/train_audio.py helpers: speaker folds, the Wilson interval, scores, per-epoch draws and
the training-only SpecAugment masks, mixup, weight averaging and Net2Wider widening."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from scipy.stats import binomtest

_spec = importlib.util.spec_from_file_location(
    "train_audio", Path(__file__).resolve().parents[2] / "scripts" / "train_audio.py"
)
ta = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ta)


def test_speaker_folds_keep_each_speaker_in_one_fold_and_balance_clips():
    rng = np.random.default_rng(0)
    speakers = np.array([f"s{i}" for i in rng.integers(0, 120, 366)])
    folds = ta.speaker_folds(speakers, 5, seed=1)
    for s in set(speakers):
        assert len(set(folds[speakers == s])) == 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= np.unique(speakers, return_counts=True)[1].max()
    np.testing.assert_array_equal(folds, ta.speaker_folds(speakers, 5, seed=1))


@pytest.mark.parametrize("k,n", [(349, 366), (30, 30), (27, 30), (0, 12)])
def test_wilson_interval_agrees_with_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(ta.wilson(k, n), [ci.low, ci.high], atol=1e-4)


def test_scores_give_confusion_rows_by_true_digit():
    y = np.array([0, 0, 1, 8, 8, 8])
    pred = np.array([0, 1, 1, 8, 5, 8])
    s = ta.scores(y, pred)
    assert s["correct"] == 4 and s["n"] == 6 and s["accuracy"] == round(4 / 6, 4)
    assert s["confusion"][0][1] == 1 and s["confusion"][8][5] == 1 and s["confusion"][8][8] == 2
    assert s["per_class"] == {"0": 0.5, "1": 1.0, "8": round(2 / 3, 4)}


def test_draw_repeats_every_item_k_times():
    idx = ta.draw(np.random.default_rng(0), 7, 21)
    np.testing.assert_array_equal(np.bincount(idx), [3] * 7)
    assert len(ta.draw(np.random.default_rng(0), 7, 10)) == 10


def test_spec_mask_masks_bands_in_training_only():
    x = np.ones((4, 126, 64, 1), np.float32)
    layer = ta.spec_mask_layer(keras, 2, 12, 2, 8)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    m = np.asarray(layer(x, training=True))[..., 0]
    assert m.shape == (4, 126, 64) and set(np.unique(m)) <= {0.0, 1.0}
    for clip in m:
        frames = (clip == 0).all(axis=1).sum()  # whole frames masked: time bands
        mels = (clip == 0).all(axis=0).sum()  # whole mel bins masked: frequency bands
        assert frames <= 24 and mels <= 16
        assert ((clip == 0) == ((clip == 0).all(axis=1)[:, None] | (clip == 0).all(axis=0))).all()


def test_a_bad_spec_mask_is_refused():
    with pytest.raises(SystemExit, match="expected 4 integers"):
        ta.main(["--spec-mask", "2,12"])


def test_mix_keeps_the_first_clips_level_and_mixes_labels_by_the_same_lambda():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((16, 8000)) * rng.uniform(0.001, 0.1, (16, 1))).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    y = np.eye(10, dtype=np.float32)[labels]
    mx, my = ta.mix(x, y, 0.2, np.random.default_rng(1))
    assert mx.shape == x.shape and mx.dtype == np.float32 and my.shape == y.shape
    np.testing.assert_allclose(my.sum(1), 1, atol=1e-6)
    assert ((my > 0).sum(1) <= 2).all()  # two classes at most in every mixed label
    assert (my[np.arange(16), labels] > 0).all()  # the first clip's digit always keeps a share
    # Same RMS before mixing, so the mix is as loud as the first clip whatever lambda is.
    rms = lambda a: np.sqrt(np.mean(a.astype(np.float64) ** 2, axis=1))  # noqa: E731
    assert np.all(rms(mx) < 1.5 * rms(x)) and np.all(rms(mx) > 0.5 * rms(x))
    # Identical clips of one digit come back unchanged.
    same, one = np.repeat(x[:1], 4, 0), np.repeat(y[:1], 4, 0)
    sx, sy = ta.mix(same, one, 0.2, np.random.default_rng(2))
    np.testing.assert_allclose(sx, same, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(sy, one)


def test_average_weights_is_the_elementwise_mean_of_the_snapshots():
    a = [np.zeros((2, 3), np.float32), np.array([1.0, 2.0], np.float32)]
    b = [np.ones((2, 3), np.float32) * 4, np.array([3.0, 6.0], np.float32)]
    avg = ta.average_weights([a, b])
    np.testing.assert_allclose(avg[0], np.full((2, 3), 2.0))
    np.testing.assert_allclose(avg[1], [2.0, 4.0])
    assert all(w.dtype == np.float32 for w in avg)


def test_refresh_batchnorm_gives_the_plain_average_of_the_batch_statistics():
    inp = keras.Input((3,))
    out = keras.layers.BatchNormalization(momentum=0.99, name="bn")(keras.layers.Dense(3)(inp))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    batches = [(rng.normal(k, 1 + k, (32, 3)).astype(np.float32), None) for k in range(4)]
    ta.refresh_batchnorm(keras, model, iter(batches))
    bn, dense = model.get_layer("bn"), model.layers[1]
    h = [np.asarray(dense(x)) for x, _ in batches]
    np.testing.assert_allclose(
        np.asarray(bn.moving_mean), np.mean([a.mean(0) for a in h], 0), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(bn.moving_variance), np.mean([a.var(0) for a in h], 0), rtol=1e-3, atol=1e-5
    )
    assert bn.momentum == 0.99  # put back


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--swa", "5", "--epochs", "10", "--fold-epochs", "5"], "0 <= swa < the epochs"),
        (["--swa", "-1"], "0 <= swa < the epochs"),
        (["--swa", "3", "--max-minutes", "30"], "averaging needs the whole planned schedule"),
        (["--mixup", "-0.2"], "an alpha >= 0"),
        (["--swa", "2", "--swa-lr", "0"], "a rate > 0"),
    ],
)
def test_bad_swa_or_mixup_settings_are_refused_before_any_work(argv, match):
    with pytest.raises(SystemExit, match=match):
        ta.main(argv)


@pytest.mark.parametrize("members", ["0", "9"])
def test_a_bad_number_of_members_is_refused_before_any_work(members):
    with pytest.raises(SystemExit, match="expected 1 to 8 models per run"):
        ta.main(["--members", members])


@pytest.mark.parametrize("first", ["0", "101"])
def test_a_bad_first_member_is_refused_before_any_work(first):
    with pytest.raises(SystemExit, match="--first-member .*expected 1 to 100"):
        ta.main(["--first-member", first])


def _logits_net(seed: int) -> keras.Model:
    inp = keras.Input((8,))
    out = keras.layers.Dense(10, name="logits")(inp)
    model = keras.Model(inp, out)
    model.set_weights(
        [w + np.random.default_rng(seed).normal(0, 1, w.shape) for w in model.get_weights()]
    )
    return model


def test_distillation_pulls_the_student_to_the_teachers_average_and_leaves_them_alone():
    teachers = [_logits_net(1), _logits_net(2)]
    before = [t.get_weights() for t in teachers]
    student = _logits_net(3)
    x = np.random.default_rng(0).normal(0, 1, (256, 8)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.zeros(256, int)]  # labels all 0: weight 0 with alpha 1
    target = np.mean([keras.ops.softmax(t(x) / 2.0) for t in teachers], 0)  # (256, 10) at T=2

    def kl() -> float:
        p = np.asarray(keras.ops.softmax(student(x) / 2.0))
        return float(np.mean(np.sum(target * (np.log(target) - np.log(p)), -1)))

    start = kl()
    d = ta.distiller(keras, student, teachers, temperature=2.0, alpha=1.0)
    d.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05))
    d.fit(x, y, batch_size=64, epochs=40, verbose=0)
    assert kl() < 0.05 * start  # the student now matches the averaged softened teachers
    for t, w0 in zip(teachers, before):
        for a, b in zip(t.get_weights(), w0):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "argv",
    [
        ["--distill", "2"],  # one member: no teachers
        ["--distill", "-1", "--members", "2"],
        ["--distill", "2", "--distill-alpha", "0", "--members", "2"],
        ["--distill", "2", "--distill-alpha", "1.5", "--members", "2"],
    ],
)
def test_bad_distillation_settings_are_refused_before_any_work(argv):
    with pytest.raises(SystemExit, match="--members 2 or more"):
        ta.main(argv)


def test_net2wider_keeps_the_function_and_noise_parts_the_copies():
    rng = np.random.default_rng(0)
    narrow = ta.build_model()
    # Random weights and BatchNorm statistics, so a copy that drops a channel would show.
    narrow.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in narrow.weights])
    for layer in narrow.layers:
        if layer.name.endswith("_bn"):
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
    x = rng.normal(0, 0.1, (8, ta.N)).astype(np.float32)
    widths = [24, 32, 48, 80]
    wide = ta.build_model(widths=widths)
    ta.net2wider(narrow, wide, np.random.default_rng(1))
    assert [wide.get_layer(f"block{i}_conv").filters for i in (1, 2, 3, 4)] == widths
    np.testing.assert_allclose(np.asarray(wide(x)), np.asarray(narrow(x)), atol=1e-5)

    nudged = ta.build_model(widths=widths)
    ta.net2wider(narrow, nudged, np.random.default_rng(1), noise=0.05)
    k_exact = np.asarray(wide.get_layer("block1_conv").kernel)
    k_nudged = np.asarray(nudged.get_layer("block1_conv").kernel)
    np.testing.assert_array_equal(k_nudged[..., :16], k_exact[..., :16])  # the originals
    assert not np.allclose(k_nudged[..., 16:], k_exact[..., 16:])  # the copies move apart


@pytest.mark.parametrize(
    "widths,match",
    [("16,16,64", "expected 4 positive integers"), ("16,0,32,64", "expected 4 positive")],
)
def test_bad_widths_are_refused(widths, match):
    with pytest.raises(SystemExit, match=match):
        ta.main(["--widths", widths])


def test_a_run_cannot_narrow_its_start(tmp_path):
    path = tmp_path / "narrow.keras"
    ta.build_model().save(path)
    with pytest.raises(SystemExit, match="can only widen its start"):
        ta.main(["--init", str(path), "--widths", "16,8,32,64", "--out", str(tmp_path)])


def test_random_eq_keeps_the_level_and_bends_the_spectrum_within_its_limit():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(4096)  # white: its spectrum shows the response
    out = ta.random_eq(y, np.random.default_rng(1), 8.0)
    assert out.shape == y.shape
    np.testing.assert_allclose(np.sqrt(np.mean(out**2)), np.sqrt(np.mean(y**2)), rtol=1e-6)
    gain = 20 * np.log10(np.abs(np.fft.rfft(out)) / np.abs(np.fft.rfft(y)))
    gain -= np.median(gain)
    assert 1.0 < np.abs(gain).max() < 2 * 8.0 + 1  # bent, within the peak (relative to median)
    np.testing.assert_allclose(ta.random_eq(y, np.random.default_rng(1), 0.0), y, atol=1e-9)


@pytest.mark.parametrize("eq", ["-1", "25"])
def test_a_bad_eq_is_refused(eq):
    with pytest.raises(SystemExit, match="expected 0 \\(none\\) to 20 dB"):
        ta.main(["--eq", eq])


def _word(at: float, length: float, total: float = 1.0) -> np.ndarray:
    """A 300 Hz 'word' (Hann-shaped) at `at` s in `total` s of faint noise, 8 kHz."""
    rng = np.random.default_rng(3)
    y = rng.normal(0, 1e-3, int(total * ta.SR)).astype(np.float32)
    n, a = int(length * ta.SR), int(at * ta.SR)
    t = np.arange(n) / ta.SR
    y[a : a + n] += (0.5 * np.sin(2 * np.pi * 300 * t) * np.hanning(n)).astype(np.float32)
    return y


def test_cut_mid_word_flags_takes_whose_word_runs_into_an_end():
    assert not ta.cut_mid_word(_word(0.3, 0.4))  # silence on both sides
    assert ta.cut_mid_word(_word(0.3, 0.4)[: int(0.5 * ta.SR)])  # stops mid-word
    assert ta.cut_mid_word(_word(0.3, 0.4)[int(0.5 * ta.SR) :])  # starts mid-word


def test_cut_word_keeps_a_fragment_from_one_end():
    y = _word(0.3, 0.4)
    ends = []
    for seed in range(40):
        frag, end = ta.cut_word(y, np.random.default_rng(seed))
        ends.append(end)
        assert int(0.1 * ta.SR) <= frag.size < y.size
        if end == "end":
            np.testing.assert_array_equal(frag, y[: frag.size])
            assert ta.cut_mid_word(frag)  # what the flag calls cut
        else:
            np.testing.assert_array_equal(frag, y[y.size - frag.size :])
    assert 0.5 < ends.count("end") / len(ends) < 0.95  # P_CUT_END = 0.75


def test_augment_places_every_cut_even_of_a_word_at_the_very_start():
    # An 80 ms word from the first sample: a cut inside it kept 50 ms before, which a
    # speed-up then shortens below the 50 ms place_word needs (a crash mid-run before).
    y = _word(0.0, 0.08)
    y[: int(0.08 * ta.SR)] = 0.5 * np.sign(y[: int(0.08 * ta.SR)])  # loud from the first sample
    for seed in range(300):
        x = ta.augment(y, np.random.default_rng(seed), eq_db=8.0, cut=1.0)
        assert x.shape == (ta.N,) and np.all(np.isfinite(x))


def test_augment_falls_back_to_the_whole_clip_when_a_cut_fragment_cannot_be_placed():
    # A 55 ms burst: a cut from its start keeps 22-50 ms of it, less than the 50 ms that
    # place_word needs to stand out, so (unless reverb or a slow-down lengthens it) neither
    # the augmented nor the clean fragment places: about 6 % of seeds.
    y = np.zeros(ta.SR, np.float32)
    y[: int(0.055 * ta.SR)] = 0.5
    whole = ta.place(y)
    fell_back = 0
    for seed in range(200):
        x = ta.augment(y, np.random.default_rng(seed), cut=1.0)
        assert x.shape == (ta.N,) and np.all(np.isfinite(x))
        fell_back += np.array_equal(x, whole)
    assert fell_back > 0


@pytest.mark.parametrize("cut", ["-0.1", "0.6"])
def test_a_bad_cut_is_refused(cut):
    with pytest.raises(SystemExit, match="expected a fraction of the clips from 0 to 0.5"):
        ta.main(["--cut", cut])


_ens_spec = importlib.util.spec_from_file_location(
    "ensemble_cv", Path(__file__).resolve().parents[2] / "scripts" / "ensemble_cv.py"
)
ens = importlib.util.module_from_spec(_ens_spec)
_ens_spec.loader.exec_module(ens)


def _cv_report(
    path: Path, probs: np.ndarray, digits: list[int], fold_sizes=(2, 2), logs: bool = True
) -> Path:
    """A cv_report.json of models with these held-out probabilities (models, clips, 10);
    logs=False: one model's report without its log-probabilities (as older runs wrote)."""
    clips = [
        {"clip": f"c{i}.flac", "speaker": f"s{i}", "digit": d, "probabilities": list(probs[0, i])}
        for i, d in enumerate(digits)
    ]
    if len(probs) == 1 and logs:
        for i, c in enumerate(clips):
            c["log_probabilities"] = list(np.log(np.maximum(probs[0, i], 1e-38)))
    if len(probs) > 1:
        for i, c in enumerate(clips):
            c["member_probabilities"] = [list(p[i]) for p in probs]
            c["member_log_probabilities"] = [list(np.log(np.maximum(p[i], 1e-38))) for p in probs]
    folds = [{"speakers": n, "real_speakers": {"n": n}} for n in fold_sizes]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cross_validation": {"clips": clips, "per_fold": folds}}))
    return path


def test_ensemble_cv_averages_the_members_of_several_runs(tmp_path, capsys):
    digits = [0, 1, 2, 3]
    one_hot = np.eye(10)[digits]
    # Run a: two members, each wrong on a different clip, but only just; run b: one model,
    # wrong on both of those clips. Averaged, the right answers outvote the wrong ones.
    a = np.stack([one_hot, one_hot])
    a[0, 0] = 0.6 * np.eye(10)[5] + 0.4 * np.eye(10)[0]
    a[1, 1] = 0.6 * np.eye(10)[5] + 0.4 * np.eye(10)[1]
    b = one_hot[None].copy()
    b[0, 0] = 0.7 * np.eye(10)[5] + 0.3 * np.eye(10)[0]
    b[0, 1] = 0.7 * np.eye(10)[5] + 0.3 * np.eye(10)[1]
    ra = _cv_report(tmp_path / "a" / "cv_report.json", a, digits)
    rb = _cv_report(tmp_path / "b" / "cv_report.json", b, digits)
    out = tmp_path / "ens.json"
    assert ens.main([str(ra), str(rb), "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [m["correct"] for m in rep["models"].values()] == [3, 3, 2]
    assert rep["ensemble_of_all"]["correct"] == 4  # clip 0: "5" (0.6 + 0.7) / 3 < "0" 1.7 / 3
    assert rep["ensembles_by_size"]["2"]["subsets"] == 3
    assert "all 3: 4/4" in capsys.readouterr().out


def test_ensemble_cv_logits_average_log_probabilities_as_a_packed_model_decides(tmp_path):
    # One clip of a "0": member a all but sure it is a "1" (1e-4 left for "0"), member b 60 %
    # "0", 40 % "2". Mean probabilities: "1" (0.49995). Mean logs: "0" (b never says "1").
    probs = np.zeros((2, 1, 10))
    probs[0, 0, [0, 1]] = 1e-4, 1 - 1e-4
    probs[1, 0, [0, 2]] = 0.6, 0.4
    r = _cv_report(tmp_path / "a" / "cv_report.json", probs, [0], fold_sizes=(1,))
    out = tmp_path / "ens.json"
    assert ens.main([str(r), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["ensemble_of_all"]["correct"] == 0
    assert ens.main([str(r), "--logits", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["ensemble_of_all"]["correct"] == 1
    # The same two models from two one-model runs decide alike.
    ra = _cv_report(tmp_path / "ra" / "cv_report.json", probs[:1], [0], fold_sizes=(1,))
    rb = _cv_report(tmp_path / "rb" / "cv_report.json", probs[1:], [0], fold_sizes=(1,))
    assert ens.main([str(ra), str(rb), "--logits", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["ensemble_of_all"]["correct"] == 1
    # Reports kept side by side in one folder are named by their files, each model listed.
    ka = _cv_report(tmp_path / "kept" / "run_a.json", probs[:1], [0], fold_sizes=(1,))
    kb = _cv_report(tmp_path / "kept" / "run_b.json", probs[1:], [0], fold_sizes=(1,))
    assert ens.main([str(ka), str(kb), "--logits", "--out", str(out)]) == 0
    assert list(json.loads(out.read_text())["models"]) == ["run_a[1]", "run_b[1]"]
    old = _cv_report(tmp_path / "b" / "cv_report.json", probs[:1], [0], (1,), logs=False)
    with pytest.raises(SystemExit, match="has no log-probabilities"):
        ens.main([str(old), "--logits"])


def test_ensemble_cv_refuses_runs_on_other_folds(tmp_path):
    probs = np.eye(10)[[0, 1, 2, 3]][None]
    ra = _cv_report(tmp_path / "a" / "cv_report.json", probs, [0, 1, 2, 3])
    rb = _cv_report(tmp_path / "b" / "cv_report.json", probs, [0, 1, 2, 3], fold_sizes=(1, 3))
    with pytest.raises(SystemExit, match="not on the same folds"):
        ens.main([str(ra), str(rb)])


def _logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(keras.Model(model.input, model.get_layer("logits").output)(x))


def _random_members(rng: np.random.Generator, n: int, frontend: str = "mel") -> list:
    """n spoken-digit models with random weights and BatchNorm statistics (so a member's weights
    in another's channels, or a kernel flattened in the wrong order, would show)."""
    members = []
    for f in ta.member_frontends(frontend, n):
        m = ta.build_model(f)
        m.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in m.weights])
        for layer in m.layers:
            if layer.name.endswith("_bn"):
                g, b, mean, var = layer.get_weights()
                layer.set_weights([g, b, mean, np.abs(var) + 0.5])
        members.append(m)
    return members


def _reloads_the_same(model: keras.Model, x: np.ndarray, path: Path) -> keras.Model:
    """Only built-in layers: the app's safe loader takes it, and it predicts the same."""
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    return again


# One front end for all (block 1 reads the one spectrogram), or one per member (member_inputs:
# one spectrogram, two normalisations, member i's block 1 on channel i).
@pytest.mark.parametrize("frontend, block1_groups", [("mel", 1), ("mel,mel-cmn,mel", 3)])
def test_pack_members_is_one_model_whose_logits_are_the_members_mean(
    tmp_path, frontend, block1_groups
):
    rng = np.random.default_rng(0)
    members = _random_members(rng, 3, frontend)
    packed = ta.pack_members(members, frontend)
    assert packed.get_layer("block1_conv").filters == 3 * 16
    assert packed.get_layer("block1_conv").groups == block1_groups
    assert packed.get_layer("block2_conv").groups == 3
    x = rng.normal(0, 0.1, (4, ta.N)).astype(np.float32)
    want = np.mean([_logits(m, x) for m in members], 0)  # (4, 10)
    np.testing.assert_allclose(_logits(packed, x), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    again = _reloads_the_same(packed, x, tmp_path / "p.keras")
    # Unpacked, each member has its own front end again, and packs back to the same model.
    back = ta.unpack_members(again, frontend)
    assert ["cmn" in [layer.name for layer in m.layers] for m in back] == [
        f == "mel-cmn" for f in ta.member_frontends(frontend, 3)
    ]
    np.testing.assert_allclose(
        _logits(ta.pack_members(back, frontend), x), _logits(packed, x), atol=1e-4
    )


@pytest.mark.parametrize("argv", [["--pack"], ["--pack", "--members", "2", "--distill", "2"]])
def test_bad_pack_settings_are_refused_before_any_work(argv):
    with pytest.raises(SystemExit, match="--pack with --members .*expected --members 2 or more"):
        ta.main(argv)


def test_unpacked_members_pack_again_into_the_same_model_and_into_a_bigger_one():
    rng = np.random.default_rng(1)
    members = _random_members(rng, 3)
    packed = ta.pack_members(members[:2])
    back = ta.unpack_members(packed)
    assert len(back) == 2
    for m, b in zip(members, back):
        for layer in m.layers:
            if layer.name == "logits" or not layer.weights:
                continue
            for w, v in zip(layer.get_weights(), b.get_layer(layer.name).get_weights()):
                np.testing.assert_allclose(v, w, atol=1e-6)
        k_m, k_b = (x.get_layer("logits").get_weights()[0] for x in (m, b))
        np.testing.assert_allclose(k_b, k_m, rtol=1e-5, atol=1e-6)
    x = rng.normal(0, 0.1, (4, ta.N)).astype(np.float32)
    np.testing.assert_allclose(
        _logits(ta.pack_members(back), x), _logits(packed, x), rtol=1e-4, atol=1e-4
    )
    # Two unpacked members and a third, packed: exactly the pack of the three originals (the
    # biases the unpacked members share average to the originals' mean).
    want = _logits(ta.pack_members(members), x)
    got = _logits(ta.pack_members([*back, members[2]]), x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def _members_report(path: Path, command: str, log_p: np.ndarray, digits, speakers, folds):
    """A k-fold report of --members runs: member log-probabilities (clips, members, 10)."""
    p = np.exp(log_p)
    clips = [
        {
            "clip": f"c{i}.flac",
            "speaker": s,
            "digit": d,
            "cut_mid_word": i == 0,
            "member_probabilities": p[i].tolist(),
            "member_log_probabilities": log_p[i].tolist(),
        }
        for i, (d, s) in enumerate(zip(digits, speakers))
    ]
    per_fold = [
        {
            "fold": k + 1,
            "speakers": len(set(np.array(speakers)[folds == k])),
            "real_speakers": {"n": int((folds == k).sum())},
            "seconds": 10.0,
            "epochs": 1,
            "clips_per_epoch": 100,
        }
        for k in range(folds.max() + 1)
    ]
    cv = {"folds": len(per_fold), "speakers": len(set(speakers)), "clips": clips}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"command": command, "cross_validation": {**cv, "per_fold": per_fold, "seconds": 20.0}}
        )
    )
    return path


def test_merge_writes_the_report_one_run_with_every_member_would(tmp_path, capsys):
    rng = np.random.default_rng(2)
    speakers = [f"s{i % 5}" for i in range(10)]
    digits = [i % 10 for i in range(10)]
    folds = ta.speaker_folds(np.array(speakers), 2, ta.SEED)
    log_p = np.log(rng.dirichlet(np.ones(10), (10, 4)))  # (clips, 4 members, 10)
    cmd = "python scripts/train_audio.py --folds 2 --pack --cv-only --members 2"
    a = _members_report(
        tmp_path / "a.json", cmd + " --out x", log_p[:, :2], digits, speakers, folds
    )
    b = _members_report(
        tmp_path / "b.json",
        cmd + " --first-member 3 --out y",
        log_p[:, 2:],
        digits,
        speakers,
        folds,
    )
    out = tmp_path / "m" / "cv_report.json"
    assert ens.main([str(b), str(a), "--merge", str(out)]) == 0
    merged = json.loads(out.read_text())
    want = log_p.mean(1).argmax(1)  # the packed model decides by the mean of the logits
    cv = merged["cross_validation"]
    assert [c["predicted"] for c in cv["clips"]] == want.tolist()
    assert cv["real_speakers"]["correct"] == int((want == digits).sum())
    assert len(cv["members"]) == 4 and cv["seconds"] == 40.0
    assert sum(f["real_speakers"]["n"] for f in cv["per_fold"]) == 10
    assert ta.command_settings(merged["command"]) == ta.run_settings(
        ["--folds", "2", "--pack", "--members", "4"]
    )
    np.testing.assert_allclose(
        np.array([c["member_log_probabilities"] for c in cv["clips"]]), log_p, atol=1e-12
    )
    assert "packed decision" in capsys.readouterr().out


def test_merge_refuses_other_settings_and_members_with_a_gap(tmp_path):
    speakers, digits = ["s0", "s1"], [0, 1]
    folds = ta.speaker_folds(np.array(speakers), 2, ta.SEED)
    log_p = np.log(np.full((2, 2, 10), 0.1))
    cmd = "python scripts/train_audio.py --folds 2 --pack --members 2"
    a = _members_report(tmp_path / "a.json", cmd, log_p, digits, speakers, folds)
    gap = _members_report(
        tmp_path / "g.json", cmd + " --first-member 4", log_p, digits, speakers, folds
    )
    other = _members_report(
        tmp_path / "o.json", cmd + " --eq 8 --first-member 3", log_p, digits, speakers, folds
    )
    with pytest.raises(SystemExit, match="without a gap or overlap"):
        ens.main([str(a), str(gap), "--merge", str(tmp_path / "m.json")])
    with pytest.raises(
        SystemExit, match="expected one command, --members and --first-member aside"
    ):
        ens.main([str(a), str(other), "--merge", str(tmp_path / "m.json")])


def test_members_from_refuses_a_model_made_otherwise(tmp_path):
    packed = ta.pack_members(_random_members(np.random.default_rng(3), 2))
    packed.save(tmp_path / "p.keras")
    card = {
        "ensemble": {
            "members": 2,
            "seeds": [ta.SEED, ta.SEED + 100],
            "widths_per_member": [16, 16, 32, 64],
        },
        "retrain": "python scripts/train_audio.py --members 2 --pack --eq 8 --out o",
    }
    (tmp_path / "p.json").write_text(json.dumps(card))
    base = ["--members", "3", "--pack", "--members-from", str(tmp_path / "p.keras")]
    with pytest.raises(SystemExit, match="it was made by .*expected this command's settings"):
        ta.main(base)  # no --eq 8
    with pytest.raises(SystemExit, match="gives 2 packed members; expected 2 to 1"):
        ta.main([*base[:1], "2", *base[2:], "--eq", "8"])
    with pytest.raises(SystemExit, match=r"expected seeds \[1235, 1335\]"):
        ta.main([*base, "--eq", "8", "--seed", "1235"])
    with pytest.raises(SystemExit, match="needs --pack and --first-member 1"):
        ta.main([*base, "--eq", "8", "--first-member", "2"])
    with pytest.raises(SystemExit, match="with its card nope.json beside it"):
        ta.main([*base[:4], str(tmp_path / "nope.keras"), "--eq", "8"])


def test_mel_cmn_front_end_cancels_a_fixed_offset_per_bin_and_reloads_safely(tmp_path):
    model = ta.build_model("mel-cmn")
    frames, bins = model.get_layer("spectrogram").output.shape[1:3]
    # The layers after the spectrogram, applied to a spectrogram given directly (no weights).
    spec = keras.Input((frames, bins, 1))
    mean = model.get_layer("bin_mean_frames")(model.get_layer("bin_mean")(spec))
    out = model.get_layer("normalize")(model.get_layer("cmn")([spec, mean]))
    front = keras.Model(spec, out)
    rng = np.random.default_rng(0)
    s = rng.normal(-40, 10, (2, frames, bins, 1)).astype(np.float32)  # dB
    offset = rng.uniform(-12, 12, (1, 1, bins, 1)).astype(np.float32)  # a microphone, in dB
    np.testing.assert_allclose(front(s + offset), front(s), atol=1e-4)
    # Without the cmn step the same offset does change what block 1 sees.
    plain = keras.Model(spec, model.get_layer("normalize")(spec))
    assert np.abs(np.asarray(plain(s + offset)) - np.asarray(plain(s))).max() > 0.1
    _reloads_the_same(model, rng.normal(0, 0.1, (2, ta.N)).astype(np.float32), tmp_path / "c.keras")


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--frontend", "mfcc"], "expected one of mel, mel-cmn, stft"),
        (["--frontend", "mel,mel-cmn"], r"for 1 member\(s\)"),
        (["--frontend", "mel,stft", "--members", "2", "--pack"], "one mel front end per member"),
        (["--frontend", "mel,mel-cmn", "--members", "2"], "can only be packed"),
    ],
)
def test_bad_front_ends_are_refused_before_any_work(argv, match):
    with pytest.raises(SystemExit, match=match):
        ta.main(argv)
