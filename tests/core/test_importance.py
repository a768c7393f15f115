from __future__ import annotations

import numpy as np

from core import api
from core.freeze import run_frozen
from core.importance import filter_importance
from core.samples import gallery_digits


def test_importance_agrees_with_freezing_each_filter(sequential_cnn, rng):
    from core.engine import Tracer

    tracer = Tracer(sequential_cnn)
    x = rng.random((3, 16, 16, 1), dtype=np.float32)
    df = filter_importance(tracer, x, "conv_b", labels=np.array([0, 1, -1]),
                           card={"output": "probabilities"})
    assert sorted(df["channel"]) == list(range(6))
    assert list(df["prob_drop"]) == sorted(df["prob_drop"], reverse=True)
    base = {k: v[:1][0] for k, v in tracer(x[:1]).items()}
    cls = int(np.argmax(base["out"]))
    top = df.iloc[0]
    frozen = run_frozen(tracer.plan, x[:1], base, {"conv_b": (int(top["channel"]),)})
    np.testing.assert_allclose(top["prob_after"], frozen["out"][cls], rtol=1e-5, atol=1e-7)


def test_importance_on_lenet_reports_accuracy_over_samples():
    lm = api.load("lenet_mnist")
    samples = gallery_digits()
    x = np.stack([api.prepare(lm, s.raw)[0] for s in samples])
    labels = np.array([int(s.label) for s in samples])
    calls = []
    df = filter_importance(lm.tracer, x, "conv2", labels=labels, card=lm.card,
                           on_progress=lambda i, n: calls.append((i, n)))
    assert len(df) == 64 and calls[-1] == (64, 64)
    assert {"prob_drop", "accuracy_drop"} <= set(df.columns)
    assert df["accuracy_after"].between(0, 1).all()
