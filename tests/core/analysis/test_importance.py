from __future__ import annotations

import numpy as np

from core import api
from core.analysis.importance import all_negligible, filter_importance
from core.graph.interventions import run_frozen
from core.inputs.samples import gallery_digits


def test_importance_agrees_with_freezing_each_filter(sequential_cnn, rng):
    from core.graph.engine import Tracer

    tracer = Tracer(sequential_cnn)
    x = rng.random((3, 16, 16, 1), dtype=np.float32)
    df = filter_importance(
        tracer, x, "conv_b", labels=np.array([0, 1, -1]), card={"output": "probabilities"}
    )
    assert sorted(df["channel"]) == list(range(6))
    assert list(df["logit_drop"]) == sorted(df["logit_drop"], reverse=True)
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
    df = filter_importance(
        lm.tracer,
        x,
        "conv2",
        labels=labels,
        card=lm.card,
        on_progress=lambda i, n: calls.append((i, n)),
    )
    assert len(df) == 64 and calls[-1] == (64, 64)
    assert {"prob_drop", "accuracy_drop"} <= set(df.columns)
    assert df["accuracy_after"].between(0, 1).all()


def test_lenet_conv2_is_ranked_by_the_logit_drop_where_probabilities_saturate():
    """LeNet is sure of digit 0: freezing any one conv2 filter leaves its probability at ~1.0,
    so the probability drop is all ~0 and says nothing; the logit drop still ranks them."""
    lm = api.load("lenet_mnist")
    raw = gallery_digits()[0].raw
    x = api.prepare(lm, raw)[0][None]
    df = filter_importance(lm.tracer, x, "conv2", card=lm.card)
    assert all_negligible(df, "prob_drop")  # the case the ranking must survive
    assert not all_negligible(df, "logit_drop")
    assert df["logit_drop"].nunique() == 64
    assert list(df["logit_drop"]) == sorted(df["logit_drop"], reverse=True)
    assert list(df["channel"]) != list(range(64))  # not index order
    # The top filter's logit_after is the logit of a real frozen run of that filter.
    top = int(df.iloc[0]["channel"])
    base = {k: v[0] for k, v in lm.tracer(x).items()}
    frozen = run_frozen(lm.tracer.plan, x, base, {"conv2": (top,)})
    cls = int(np.argmax(base["probabilities"]))
    np.testing.assert_allclose(df.iloc[0]["logit_after"], frozen["logits"][cls], rtol=1e-4)
    np.testing.assert_allclose(
        df.iloc[0]["logit_drop"], base["logits"][cls] - frozen["logits"][cls], rtol=1e-3, atol=1e-4
    )


def test_importance_runs_the_freeze_pages_compiled_graph():
    """Each channel's numbers are those of api.trace with that channel frozen, to the bit: the
    scan runs the compiled downstream graph a freeze uses (compile_frozen), shared with it."""
    lm = api.load("lenet_mnist")
    raw = gallery_digits()[3].raw
    x = api.prepare(lm, raw)[0][None]
    df = filter_importance(lm.tracer, x, "conv2", card=lm.card, channels=[0, 5, 17])
    assert ("frozen", ("conv2",)) in lm.tracer._owned  # the graph a freeze of conv2 reuses
    cls = int(np.argmax(api.predict(lm, raw)))
    for row in df.itertuples():
        tr = api.trace(lm, raw, frozen={"conv2": [int(row.channel)]})
        assert row.logit_after == float(tr["logits"][cls])
        assert row.prob_after == float(api.probabilities_from_trace(lm, tr)[cls])
