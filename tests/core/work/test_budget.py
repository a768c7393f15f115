"""Job budgets: estimated from the plan's shapes before anything runs; chunks that fit the
limit, or a refusal with the numbers and a way out."""

from __future__ import annotations

import numpy as np
import pytest

from core import api
from core.errors import JobBudgetError
from core.graph.engine import Tracer
from core.work import budget


def test_trace_bytes_are_the_layers_outputs(lenet):
    lb = budget.layer_bytes(lenet.tracer)
    tr = api.trace(lenet, api.probe_set(lenet)[0][0])
    assert lb == {k: v.nbytes for k, v in tr.items() if k in lb}
    assert budget.trace_bytes(lenet.tracer) == sum(lb.values())


def test_chunks_shrink_with_the_limit(lenet, monkeypatch):
    per = budget.trace_bytes(lenet.tracer)
    monkeypatch.setenv("LAYERLAB_JOB_MB", str(10 * per / 2**20))
    assert budget.gradient_batch("x", lenet.tracer, 64) == 10 // budget.GRAD
    monkeypatch.setenv("LAYERLAB_JOB_MB", "8")
    assert 1 <= budget.scan_chunk(lenet.tracer, 1000, 10) < budget.CHUNK
    monkeypatch.setenv("LAYERLAB_JOB_MB", "384")
    assert budget.scan_chunk(lenet.tracer, 1000, 10) == budget.CHUNK


def test_an_index_of_many_classes_is_refused_with_its_numbers(lenet, monkeypatch):
    monkeypatch.setenv("LAYERLAB_JOB_MB", "2")
    with pytest.raises(JobBudgetError, match=r"class profiles over 1000 classes") as e:
        budget.scan_chunk(lenet.tracer, 100, 1000)
    assert "LAYERLAB_JOB_MB" in str(e.value) and "fewer" in str(e.value)


def test_importance_streams_in_chunks_that_fit(lenet, monkeypatch):
    per = budget.trace_bytes(lenet.tracer)
    raws, labels = api.probe_set(lenet)
    raws, labels = raws[:40], list(labels[:40])
    layer = lenet.tracer.names[1]
    whole = api.importance(lenet, raws, layer, labels=labels)
    monkeypatch.setenv("LAYERLAB_JOB_MB", str(5 * per / 2**20))
    assert budget.importance_chunk(lenet.tracer, 40) == 2
    chunked = api.importance(lenet, raws, layer, labels=labels)
    # Accuracy counts are exact; row 0's logits come from a pass of 2 rows instead of 40.
    assert set(chunked["channel"]) == set(whole["channel"])
    a, b = whole.set_index("channel").sort_index(), chunked.set_index("channel").sort_index()
    np.testing.assert_array_equal(a["accuracy_after"], b["accuracy_after"])
    np.testing.assert_allclose(a["logit_after"], b["logit_after"], rtol=1e-5, atol=1e-5)


def test_refusals_give_the_numbers_and_a_way_out(lenet, monkeypatch):
    per = budget.trace_bytes(lenet.tracer)
    raw = api.probe_set(lenet)[0][0]
    monkeypatch.setenv("LAYERLAB_JOB_MB", str(per / 2**20 / 2))
    with pytest.raises(JobBudgetError, match="Even one input") as e:
        api.attack(lenet, raw, method="FGSM", epsilon=0.1)
    assert "LAYERLAB_JOB_MB" in str(e.value) and "KB" in str(e.value)
    with pytest.raises(JobBudgetError, match="LAYERLAB_JOB_MB"):
        api.filter_index(lenet, inputs=[raw] * 4)


def test_cka_streams_under_the_limit_and_refuses_with_a_size_that_fits(sequential_cnn, monkeypatch):
    t = Tracer(sequential_cnn)
    batch, group = budget.cka_plan(t, t, 40)
    assert 1 <= batch <= 40 and group >= 40 * max(budget.layer_bytes(t).values())
    monkeypatch.setenv("LAYERLAB_JOB_MB", "1")
    with pytest.raises(JobBudgetError, match=r"CKA of \d+ × \d+ layers over 400 inputs") as e:
        budget.cka_plan(t, t, 400)
    assert "fewer inputs" in str(e.value)
