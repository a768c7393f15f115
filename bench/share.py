"""The lab store's cost: share and open of a 100 MB model against raw bytes in the same database.

    python -m bench.share [--mb 100] [--repeats 3] [--postgres URL] [--pages]

For each backend (a SQLite file in a temp folder; PostgreSQL when --postgres or
LAYERLAB_TEST_POSTGRES_URL names a server whose user may create databases: a database is
made and dropped), in the same run and on the same connection pool:
- raw write: one INSERT of the bytes into a plain table, committed; raw read: one SELECT;
- share: Store.put of the same number of fresh random bytes (hashing, dedup lookup, limits,
  metadata rows, one transaction); open: Store.get (the sha256 checked again).
Medians of --repeats; targets (issue 36): share / raw write <= 1.5, open / raw read <= 1.5.

--pages: warm reruns of the Freeze page (bench.pages' method: server time of a rerun that
changed nothing, median) on a server whose store is PostgreSQL against one on the default
SQLite file; target: ratio <= 1.05 (the store is touched only when Share is clicked).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa

from bench.common import Row, Table, parser
from core.settings import ShareLimits
from core.share.store import Store, normalize_url

TARGET = 1.5
LIM = ShareLimits(share_bytes=2**40, store_bytes=2**42, days=1, per_minute=10**6)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(url: str, mb: int, repeats: int) -> dict[str, float]:
    """Median seconds of raw write/read and share/open of `mb` MB in the database at url."""
    store = Store(url)
    raw = sa.Table(
        "bench_raw",
        sa.MetaData(),
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    raw.create(store.engine, checkfirst=True)
    out: dict[str, list[float]] = {"raw write": [], "raw read": [], "share": [], "open": []}
    for _ in range(repeats):
        data = os.urandom(mb * 2**20)  # fresh bytes each time: nothing deduplicated
        key = uuid.uuid4().hex

        def write(d: bytes = data, k: str = key) -> None:
            with store.engine.connect().execution_options(layerlab_write=True) as c, c.begin():
                c.execute(sa.insert(raw).values(id=k, data=d))

        def read(k: str = key) -> None:
            with store.engine.connect() as c, c.begin():
                assert len(c.execute(sa.select(raw.c.data).where(raw.c.id == k)).scalar_one())

        out["raw write"].append(_timed(write))
        out["raw read"].append(_timed(read))
        fresh = os.urandom(mb * 2**20)
        got: list = []
        out["share"].append(
            _timed(lambda f=fresh: got.append(store.put({}, {"model": f}, session="b", limits=LIM)))
        )
        out["open"].append(_timed(lambda: store.get(got[0].id)))
        store.delete(got[0].id, got[0].delete_token)
        with store.engine.connect().execution_options(layerlab_write=True) as c, c.begin():
            c.execute(sa.delete(raw))
    store.engine.dispose()
    return {k: statistics.median(v) for k, v in out.items()}


def _postgres(url: str):
    """A fresh database on the server at url (its URL), dropped by the returned function."""
    admin = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    name = f"layerlab_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.make_url(admin.url).set(database=name).render_as_string(hide_password=False), drop


def pages(pg_url: str | None, reruns: int) -> float:
    """Median warm rerun of the Freeze page with the store on PostgreSQL (or a second SQLite
    file without one) over the same on the default SQLite file."""
    from playwright.sync_api import sync_playwright

    from bench.memory import serving
    from bench.pages import _warm, bench_page

    medians: dict[int, list[float]] = {0: [], 1: []}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser, page = bench_page(pw)
        # A B A B: a machine shared with other work drifts; each case keeps its best median.
        for i, url in enumerate(["", pg_url or ""] * 2):
            log = os.path.join(tmp, f"run{i}.jsonl")
            env = {"LAYERLAB_TIMING": log, "LAYERLAB_DATA_DIR": os.path.join(tmp, f"d{i % 2}")}
            with serving("app.py", {**env, "LAYERLAB_STORE_URL": url}) as srv:
                page_url = f"{srv.url}/freeze?model=lenet_mnist"
                medians[i % 2].append(statistics.median(_warm(page, page_url, log, reruns)))
        browser.close()
    best = [min(medians[0]), min(medians[1])]
    print(
        f"Freeze page warm rerun: default SQLite {best[0]:.1f} ms, configured store "
        f"{best[1]:.1f} ms (each the best of {len(medians[0])} servers' medians: {medians})"
    )
    return best[1] / best[0]


def main(argv: list[str] | None = None) -> list[Row]:
    """Prints the table; returns (benchmark, case, ratio, value) rows for python -m bench."""
    ap = parser(__doc__, repeats=3)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--postgres", default=os.environ.get("LAYERLAB_TEST_POSTGRES_URL", ""))
    ap.add_argument("--pages", action="store_true")
    ap.add_argument("--reruns", type=int, default=7)
    args = ap.parse_args(argv)
    rows: list[Row] = []
    backends: list[tuple[str, str, object]] = []
    tmp = tempfile.TemporaryDirectory()
    backends.append(("sqlite", f"sqlite:///{tmp.name}/shares.sqlite3", None))
    pg_url = None
    if args.postgres:
        pg_url, drop = _postgres(args.postgres)
        backends.append(("postgresql", pg_url, drop))
    table = Table(
        "backend 11 | raw write 9.2f | share 7.2f | ratio 6.2f | raw read 9.2f | open 7.2f"
        " | ratio 6.2f"
    )
    table.header(f"({args.mb} MB, s, median of {args.repeats}; target <= {TARGET})")
    try:
        for name, url, _ in backends:
            t = measure(url, args.mb, args.repeats)
            w, r = t["share"] / t["raw write"], t["open"] / t["raw read"]
            table.row(name, t["raw write"], t["share"], w, t["raw read"], t["open"], r)
            rows += [
                ("share", f"{name} share {args.mb} MB", "share / raw write", w),
                ("share", f"{name} open {args.mb} MB", "open / raw read", r),
            ]
    finally:
        for _, _, drop in backends:
            if callable(drop):
                drop()
        tmp.cleanup()
    if args.pages:
        pg_page_url, drop_page = _postgres(args.postgres) if args.postgres else (None, None)
        try:
            ratio = pages(pg_page_url, args.reruns)
        finally:
            if drop_page is not None:
                drop_page()
        print(f"configured / default: {ratio:.3f} (target <= 1.05)")
        rows.append(("share", "Freeze page warm rerun", "store configured / default", ratio))
    return rows


if __name__ == "__main__":
    main()
