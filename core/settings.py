"""Limits for uploads and heavy work, in one documented place.

Every limit is an environment variable read when it is needed, so a lab on a bigger server
raises it without touching code (e.g. `LAYERLAB_MAX_TRACE_MB=4000 streamlit run app.py`).

| variable                      | default                | what it bounds                                   |
|-------------------------------|------------------------|--------------------------------------------------|
| LAYERLAB_MAX_UPLOAD_MB        | server.maxUploadSize   | an uploaded model file (.streamlit/config.toml)  |
| LAYERLAB_MAX_INPUT_PIXELS     | 1048576 (1024×1024)    | a model's input height × width                   |
| LAYERLAB_MAX_AUDIO_SAMPLES    | 480000 (10 s at 48 kHz)| a model's audio input length                     |
| LAYERLAB_MAX_PARAMS           | 64000000               | parameters, from the config and the stored bytes |
| LAYERLAB_MAX_TRACE_MB         | 600                    | every layer's output for one input               |
| LAYERLAB_SANDBOX_SECONDS      | 180                    | the sandboxed first load and trace               |
| LAYERLAB_SANDBOX_MEMORY_MB    | 2048                   | address space the sandbox may add after imports  |
| LAYERLAB_HEAVY_JOBS           | CPU cores − 1 (≥ 1)    | attacks, sweeps, scans running at once           |
| LAYERLAB_CACHE_MB             | 1024                   | all sessions' cached results together            |
| LAYERLAB_DATA_DIR             | ~/.layerlab            | the folder of the embedded share store (SQLite)  |
| LAYERLAB_STORE_URL            | (SQLite in the folder) | the share store's database (e.g. PostgreSQL)     |
| LAYERLAB_SHARE_MB             | 256                    | one share (model + samples)                      |
| LAYERLAB_STORE_MB             | 4096                   | the store; oldest shares expire first when full  |
| LAYERLAB_SHARE_DAYS           | 90                     | how long a share lives                           |
| LAYERLAB_SHARES_PER_MINUTE    | 6                      | shares one session may make per minute           |
| LAYERLAB_SHELF                | off                    | 1: the Lab shelf page lists every share          |
| LAYERLAB_JOB_MB               | 384                    | one heavy job's estimated peak (core.work.budget)|
| LAYERLAB_WORKER_MEMORY_MB     | 4096                   | address space a pool worker may add after imports|
| LAYERLAB_SERVER_MB            | 2560                   | the server with its zygote and workers (PSS); a  |
|                               |                        | job gets what is left of it (0: no such limit)   |
| LAYERLAB_WORK                 | pool                   | where heavy api calls run by default: pool/inline|
| LAYERLAB_DASK_SCHEDULER       | (none)                 | tcp://host:8786: heavy calls go to that cluster  |
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_STREAMLIT_CONFIG = ROOT / ".streamlit" / "config.toml"
MB = 2**20
# Fixed caps (not environment variables: they shape what users may ask for, not the server).
MAX_CLIP_SECONDS = 30.0  # an uploaded or edited clip: an edit stack cannot grow it without bound
MAX_JOB_SECONDS = 60.0  # wall time of one attack or feature visualisation (checked every step)


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"Environment variable {name}={raw!r} is not a number; unset it or "
            f"give a number (default {default:g})."
        ) from None
    if not value > 0:
        raise ValueError(f"Environment variable {name}={raw!r} must be positive.")
    return value


def _upload_mb_from_streamlit() -> float:
    """server.maxUploadSize of the app's own Streamlit config (MB), 200 (Streamlit's default)."""
    try:
        cfg = tomllib.loads(_STREAMLIT_CONFIG.read_text())
        return float(cfg.get("server", {}).get("maxUploadSize", 200))
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError):
        return 200.0


@dataclass(frozen=True)
class Limits:
    upload_bytes: int
    input_pixels: int
    audio_samples: int
    params: int
    trace_bytes: int
    sandbox_seconds: float
    sandbox_bytes: int
    heavy_jobs: int
    cache_bytes: int
    job_bytes: int
    worker_bytes: int
    server_bytes: int
    # Fixed structural bounds of a model file (not settings: no real model comes near them).
    config_bytes: int = 16 * MB
    json_depth: int = 200
    zip_members: int = 16
    h5_objects: int = 200_000


def limits() -> Limits:
    """The limits in force now (environment variables over defaults)."""
    return Limits(
        upload_bytes=int(_number("LAYERLAB_MAX_UPLOAD_MB", _upload_mb_from_streamlit()) * MB),
        input_pixels=int(_number("LAYERLAB_MAX_INPUT_PIXELS", 1024 * 1024)),
        audio_samples=int(_number("LAYERLAB_MAX_AUDIO_SAMPLES", 480_000)),
        params=int(_number("LAYERLAB_MAX_PARAMS", 64_000_000)),
        trace_bytes=int(_number("LAYERLAB_MAX_TRACE_MB", 600) * MB),
        sandbox_seconds=_number("LAYERLAB_SANDBOX_SECONDS", 180),
        sandbox_bytes=int(_number("LAYERLAB_SANDBOX_MEMORY_MB", 2048) * MB),
        heavy_jobs=int(_number("LAYERLAB_HEAVY_JOBS", max(1, (os.cpu_count() or 2) - 1))),
        cache_bytes=int(_number("LAYERLAB_CACHE_MB", 1024) * MB),
        job_bytes=int(_number("LAYERLAB_JOB_MB", 384) * MB),
        worker_bytes=int(_number("LAYERLAB_WORKER_MEMORY_MB", 4096) * MB),
        server_bytes=0  # "0": no such limit (a notebook or test process is no server)
        if os.environ.get("LAYERLAB_SERVER_MB", "").strip() == "0"
        else int(_number("LAYERLAB_SERVER_MB", 2560) * MB),  # Community Cloud: ~2.7 GB
    )


@dataclass(frozen=True)
class ShareLimits:
    share_bytes: int
    store_bytes: int
    days: float
    per_minute: int


def share_limits() -> ShareLimits:
    """The share store's limits in force now (environment variables over defaults)."""
    return ShareLimits(
        share_bytes=int(_number("LAYERLAB_SHARE_MB", 256) * MB),
        store_bytes=int(_number("LAYERLAB_STORE_MB", 4096) * MB),
        days=_number("LAYERLAB_SHARE_DAYS", 90),
        per_minute=int(_number("LAYERLAB_SHARES_PER_MINUTE", 6)),
    )


def data_dir() -> Path:
    """Where the embedded store keeps its SQLite file: LAYERLAB_DATA_DIR, else ~/.layerlab."""
    raw = os.environ.get("LAYERLAB_DATA_DIR", "").strip()
    return Path(raw).expanduser() if raw else Path.home() / ".layerlab"


def shelf_enabled() -> bool:
    """LAYERLAB_SHELF=1: a private deployment lists every share on the Lab shelf page."""
    return os.environ.get("LAYERLAB_SHELF", "").strip().lower() in ("1", "true", "yes", "on")


def work_mode() -> str:
    """Where heavy api calls run when no executor is given (LAYERLAB_WORK): "pool" (worker
    processes) or "inline" (this process)."""
    mode = os.environ.get("LAYERLAB_WORK", "").strip() or "pool"
    if mode not in ("pool", "inline"):
        raise ValueError(f"LAYERLAB_WORK={mode!r}; expected 'pool' or 'inline' (or unset).")
    return mode


def dask_scheduler() -> str | None:
    """LAYERLAB_DASK_SCHEDULER: the address of an existing Dask scheduler, or None."""
    return os.environ.get("LAYERLAB_DASK_SCHEDULER", "").strip() or None


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KB', 9.2e9 -> '8.6 GB' (binary units, as memory is counted)."""
    for unit, size in (("GB", 2**30), ("MB", MB), ("KB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"
