"""The lab store on a real database (SQLite, and PostgreSQL when configured): round trips,
content addressing, limits, hostile ids, damaged bytes, faults, concurrency. No mocks."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import errors
from core.settings import ShareLimits
from core.share.schema import SCHEMA_VERSION, blobs, meta_table, shares
from core.share.store import Store
from tests.postgres import admin

ROOT = Path(__file__).resolve().parents[3]
BIG = ShareLimits(share_bytes=10**9, store_bytes=10**10, days=90, per_minute=1000)


def _replace(**kw) -> ShareLimits:
    from dataclasses import replace

    return replace(BIG, **kw)


def put(store: Store, files: dict[str, bytes], *, session: str = "s", limits=BIG, **kw):
    return store.put({"what": "test"}, files, session=session, limits=limits, **kw)


def test_a_share_round_trips_and_a_second_process_view_reads_it(store_url):
    s = Store(store_url)
    assert s.schema_version() == SCHEMA_VERSION
    r = put(s, {"model": b"m" * 5000, "sample/0": b"png"}, title="conv2 dies", model="LeNet")
    assert re.fullmatch(r"[0-9a-f]{32}", r.id) and re.fullmatch(r"[0-9a-f]{32}", r.delete_token)
    assert r.id != r.delete_token and r.size == 5003
    other = Store(store_url)  # another process opening the same database: no migration again
    got = other.get(r.id)
    assert got.files == {"model": b"m" * 5000, "sample/0": b"png"}
    assert got.manifest["what"] == "test" and got.title == "conv2 dies"
    assert [e.id for e in other.shelf()] == [r.id]
    assert other.shelf()[0].model == "LeNet" and other.shelf()[0].size == 5003


def test_the_same_bytes_are_kept_once_and_live_while_a_share_uses_them(store_url):
    s = Store(store_url)
    a = put(s, {"model": b"same model", "sample/0": b"a"})
    b = put(s, {"model": b"same model", "sample/0": b"b"})
    assert a.id != b.id
    assert s.stats() == {"shares": 2, "bytes": len(b"same model") + 2, "blobs": 3}
    s.delete(a.id, a.delete_token)
    assert s.get(b.id).files["model"] == b"same model"
    assert s.stats()["blobs"] == 2
    s.delete(b.id, b.delete_token)
    assert s.stats() == {"shares": 0, "bytes": 0, "blobs": 0}


def test_delete_needs_its_own_token_and_a_deleted_share_says_so(store_url):
    s = Store(store_url)
    a = put(s, {"x": b"1"})
    b = put(s, {"x": b"2"})
    with pytest.raises(errors.ShareError, match="only the delete link shown"):
        s.delete(a.id, b.delete_token)
    with pytest.raises(errors.ShareError, match="only the delete link shown"):
        s.delete(a.id, "")
    assert s.get(a.id).files == {"x": b"1"}
    s.delete(a.id, a.delete_token)
    with pytest.raises(errors.ShareNotFoundError, match="was deleted by its creator"):
        s.get(a.id)
    s.delete(a.id, a.delete_token)  # twice: nothing more happens
    assert [e.id for e in s.shelf()] == [b.id]


HOSTILE = [
    "../../etc/passwd",
    "' OR 1=1 --",
    "x" * 10_000,
    "é" * 32,
    "٣" * 32,  # Arabic-Indic digits: \d would take them
    "0123456789ABCDEF0123456789ABCDEF",  # upper case: ids are lower case
    "0123456789abcdef0123456789abcde",  # 31
    "0123456789abcdef0123456789abcdef\n",
    "",
]


@pytest.mark.parametrize("bad", HOSTILE, ids=lambda b: repr(b)[:20])
def test_malformed_ids_are_refused_before_the_database(store_url, bad):
    s = Store(store_url)
    keep = put(s, {"x": b"kept"})
    for call in (lambda: s.get(bad), lambda: s.delete(bad, keep.delete_token)):
        with pytest.raises(
            errors.ShareIdError, match="is not a share id: expected 32 hexadecimal"
        ) as e:
            call()
        assert len(str(e.value)) < 400  # 10,000 characters are not echoed back
    assert s.get(keep.id).files == {"x": b"kept"} and s.stats()["shares"] == 1


def test_not_a_string_is_not_an_id(store_url):
    with pytest.raises(errors.ShareIdError, match="int"):
        Store(store_url).get(12345)


def test_an_unknown_id_says_so(store_url):
    with pytest.raises(errors.ShareNotFoundError, match="No share 0{32} in this store"):
        Store(store_url).get("0" * 32)


def test_an_expired_share_says_when_and_its_bytes_go_at_the_next_write(store_url):
    s = Store(store_url)
    old = put(s, {"x": b"old"}, limits=_replace(days=1e-9))
    with pytest.raises(errors.ShareNotFoundError, match=r"expired on \d{4}-\d\d-\d\d"):
        s.get(old.id)
    assert s.stats()["bytes"] == 3  # not yet collected
    new = put(s, {"y": b"new"})
    with pytest.raises(errors.ShareNotFoundError, match="expired on"):
        s.get(old.id)
    assert s.stats() == {"shares": 1, "bytes": 3, "blobs": 1}
    assert s.get(new.id).files == {"y": b"new"}


def test_a_blob_whose_bytes_changed_is_refused(store_url):
    s = Store(store_url)
    r = put(s, {"model": b"honest bytes", "sample/0": b"fine"})
    with s.engine.begin() as c:  # someone with database access alters the stored model
        c.execute(
            sa.update(blobs).where(blobs.c.data == b"honest bytes").values(data=b"evil bytes!!")
        )
    with pytest.raises(errors.ShareDamagedError, match="'model' .* no longer match their sha256"):
        s.get(r.id)


def test_a_manifest_that_is_not_json_is_refused(store_url):
    s = Store(store_url)
    r = put(s, {"x": b"1"})
    with s.engine.begin() as c:
        c.execute(sa.update(shares).where(shares.c.id == r.id).values(manifest="{not json"))
    with pytest.raises(errors.ShareDamagedError, match="not the JSON Layer Lab writes"):
        s.get(r.id)


def test_a_share_over_the_size_limit_is_refused_with_its_numbers(store_url):
    s = Store(store_url)
    with pytest.raises(errors.ShareLimitError, match=r"holds 2\.0 KB .* at most 1\.0 KB per share"):
        put(s, {"model": b"m" * 2048}, limits=_replace(share_bytes=1024))
    assert s.stats() == {"shares": 0, "bytes": 0, "blobs": 0}


def test_shares_per_session_per_minute(store_url):
    s = Store(store_url)
    lim = _replace(per_minute=2)
    put(s, {"x": b"1"}, session="alice", limits=lim)
    put(s, {"x": b"2"}, session="alice", limits=lim)
    with pytest.raises(
        errors.ShareLimitError, match=r"made 2 shares in the last minute; at most 2 .* in \d+ s"
    ):
        put(s, {"x": b"3"}, session="alice", limits=lim)
    put(s, {"x": b"3"}, session="bob", limits=lim)  # another session is not held back
    assert s.stats()["shares"] == 3


def test_a_full_store_expires_whole_shares_oldest_first(store_url):
    s = Store(store_url)
    lim = _replace(store_bytes=3000)
    a = put(s, {"model": b"a" * 900, "sample/0": b"A" * 100}, limits=lim)
    b = put(s, {"model": b"b" * 1000}, limits=lim)
    c = put(s, {"model": b"c" * 1500}, limits=lim)  # needs room: a (the oldest) goes, whole
    with pytest.raises(errors.ShareNotFoundError, match="expired"):
        s.get(a.id)
    assert s.get(b.id).files and s.get(c.id).files
    assert s.stats() == {"shares": 2, "bytes": 2500, "blobs": 2}
    with pytest.raises(errors.ShareLimitError, match=r"more than the whole store's 2\.9 KB"):
        put(s, {"model": b"d" * 3001}, limits=lim)
    # Reusing a stored blob needs no room for it.
    d = put(s, {"model": b"c" * 1500, "sample/0": b"x" * 400}, limits=lim)
    assert s.get(b.id).files and s.get(d.id).files["model"] == b"c" * 1500


def test_two_sessions_sharing_at_once(store_url):
    s = Store(store_url)
    made: list = []
    failures: list = []

    def session(who: str) -> None:
        try:
            for i in range(6):
                made.append(
                    put(
                        s,
                        {"model": b"shared model", f"sample/{i}": f"{who}{i}".encode()},
                        session=who,
                    )
                )
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=session, args=(w,)) for w in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len({r.id for r in made}) == 12
    assert all(s.get(r.id).files["model"] == b"shared model" for r in made)
    own = sum(len(f"{w}{i}") for w in ("alice", "bob") for i in range(6))
    assert s.stats() == {"shares": 12, "blobs": 13, "bytes": len(b"shared model") + own}


_WORKER = """
import sys
from core.settings import ShareLimits
from core.share.store import Store
lim = ShareLimits(share_bytes=10**9, store_bytes=10**10, days=90, per_minute=1000)
s = Store(sys.argv[1])
for i in range(5):
    s.put({}, {"model": b"common", "s": f"{sys.argv[2]}-{i}".encode()}, session=sys.argv[2], limits=lim)
"""


@pytest.mark.slow
def test_several_processes_share_into_one_store(store_url):
    Store(store_url)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, store_url, f"p{k}"], cwd=ROOT)
        for k in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    s = Store(store_url)
    assert s.stats() == {
        "shares": 15,
        "blobs": 16,
        "bytes": 6 + sum(len(f"p{k}-{i}") for k in range(3) for i in range(5)),
    }
    assert all(s.get(e.id).files["model"] == b"common" for e in s.shelf())


_KILLED = """
import sys, time
from core.settings import ShareLimits
from core.share.store import Store
lim = ShareLimits(share_bytes=10**9, store_bytes=10**10, days=90, per_minute=1000)
def stall(done, total):
    print(done, total, flush=True)
    time.sleep(600)  # killed here: one blob written, the share not committed
Store(sys.argv[1]).put({}, {"model": b"m" * 200_000, "s": b"x" * 1000}, session="k",
                       limits=lim, on_blob=stall)
"""


@pytest.mark.slow
def test_a_process_killed_mid_share_leaves_nothing_visible(store_url):
    s = Store(store_url)
    keep = put(s, {"x": b"before"})
    p = subprocess.Popen(
        [sys.executable, "-c", _KILLED, store_url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    line = p.stdout.readline()  # type: ignore[union-attr]
    assert line.split()[1] == "201000", line  # it wrote a blob inside its transaction
    p.kill()
    p.wait(timeout=30)
    assert [e.id for e in s.shelf()] == [keep.id]
    assert s.stats() == {"shares": 1, "bytes": 6, "blobs": 1}
    after = put(s, {"model": b"m" * 200_000})  # the store is not left locked
    assert s.get(after.id).files["model"] == b"m" * 200_000


def test_a_newer_schema_is_refused_by_name(store_url):
    s = Store(store_url)
    with s.engine.begin() as c:
        c.execute(sa.update(meta_table).values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(
        errors.StoreUnavailableError, match=f"schema version {SCHEMA_VERSION + 1}, newer"
    ):
        Store(store_url)


# ---- the database down or read-only -------------------------------------------------------------
def test_sqlite_folder_gone_at_share_and_at_open_time(tmp_path):
    folder = tmp_path / "data"
    url = f"sqlite:///{folder / 'shares.sqlite3'}"
    s = Store(url)
    r = put(s, {"x": b"kept"})
    aside = tmp_path / "aside"
    folder.rename(aside)
    folder.write_text("the disk under the data folder is gone")  # a file where the folder was
    with pytest.raises(
        errors.StoreUnavailableError, match=r"cannot be written now: .*Nothing was changed"
    ):
        put(s, {"y": b"new"})
    with pytest.raises(errors.StoreUnavailableError, match="cannot be read now"):
        s.get(r.id)
    with pytest.raises(errors.StoreUnavailableError, match="cannot be"):
        Store(url)
    folder.unlink()
    aside.rename(folder)  # back: nothing was lost
    assert s.get(r.id).files == {"x": b"kept"} and s.stats()["shares"] == 1


def test_sqlite_read_only_shares_nothing_and_opens_everything(tmp_path):
    path = tmp_path / "data" / "shares.sqlite3"
    r = put(Store(f"sqlite:///{path}"), {"x": b"kept"})
    ro = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(errors.StoreUnavailableError, match="readonly database"):
        put(ro, {"y": b"new"})
    assert ro.get(r.id).files == {"x": b"kept"}


def test_sqlite_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "shares.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(errors.StoreUnavailableError, match="file is not a database"):
        Store(f"sqlite:///{path}")


def test_postgres_nobody_listening(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        errors.StoreUnavailableError, match=r"postgresql at postgresql\+psycopg://u:\*\*\*@"
    ):
        Store(f"postgresql://u:secret@127.0.0.1:{port}/db")


def test_postgres_down_and_read_only_at_share_and_open_time(pg_url):
    db = sa.make_url(pg_url).database
    s = Store(pg_url)
    r = put(s, {"x": b"kept"})
    kick = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    # Down: the server refuses this database's connections (and drops the open ones).
    admin(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
    admin(kick)
    try:
        with pytest.raises(
            errors.StoreUnavailableError, match="not currently accepting connections"
        ):
            put(s, {"y": b"new"})
        with pytest.raises(errors.StoreUnavailableError, match="cannot be read now"):
            s.get(r.id)
    finally:
        admin(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
    assert s.get(r.id).files == {"x": b"kept"}
    # Read-only (a replica, or a hosted database over its quota): shares refused, opens work.
    admin(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
    admin(kick)
    with pytest.raises(errors.StoreUnavailableError, match="read-only transaction"):
        put(s, {"y": b"new"})
    assert s.get(r.id).files == {"x": b"kept"}
    assert Store(pg_url).get(r.id).files == {"x": b"kept"}
    admin(f'ALTER DATABASE "{db}" SET default_transaction_read_only = off')
    admin(kick)
    assert s.get(put(s, {"y": b"new"}).id).files == {"y": b"new"}


def test_the_default_store_is_a_sqlite_file_in_the_data_folder(tmp_path, monkeypatch):
    from core.share.store import default_url, open_store

    monkeypatch.delenv("LAYERLAB_STORE_URL", raising=False)
    monkeypatch.setenv("LAYERLAB_DATA_DIR", str(tmp_path / "lab"))
    assert default_url() == f"sqlite:///{tmp_path / 'lab' / 'shares.sqlite3'}"
    r = put(open_store(), {"x": b"1"})
    assert (tmp_path / "lab" / "shares.sqlite3").is_file()
    assert open_store().get(r.id).files == {"x": b"1"}
    monkeypatch.setenv("LAYERLAB_STORE_URL", "postgres://u@h/db")
    assert default_url() == "postgres://u@h/db"
