"""Where heavy work runs. Light work (a trace, a page rerun) stays in the server; heavy api calls
(attacks, sweeps, importance, exemplar scans, CKA, feature visualisation, the randomisation
check) take `executor=`: None is the default (LAYERLAB_DASK_SCHEDULER's cluster if set, else the
local `WorkerPool`: processes forked from the zygote that already imports Keras, niced, with an
address-space cap and small TensorFlow thread pools, recycled when idle or grown; or
`INLINE` where LAYERLAB_WORK=inline), any concurrent.futures.Executor, or a
dask.distributed.Client, which gets the work in shards of inputs and gathers the results in
order. A worker loads a model by its hash (refs.ModelRef: built-ins by name, uploads from the
bytes the server checked) and keeps a few warm. `budget` estimates a job's peak memory from the
plan's recorded shapes before anything is allocated, and picks chunks that fit LAYERLAB_JOB_MB
or refuses with the numbers.
"""

from core.work.run import INLINE, InProcess, heavy, watching, where

__all__ = ["INLINE", "InProcess", "heavy", "watching", "where"]
