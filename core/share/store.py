"""The lab store: shares kept in a SQL database, as a manifest and content-addressed blobs.

Pure Python (no Streamlit). SQLAlchemy over SQLite (a file in the data folder: the embedded
default) or PostgreSQL (a URL: a deployment whose disk does not persist, as on Community Cloud).

    store = open_store(url=None)                 # LAYERLAB_STORE_URL, else the SQLite file
    r = store.put(manifest, files, session=..., title=..., model=..., page=...)
    r.id, r.delete_token                         # 32 hex characters each (128 random bits)
    got = store.get(r.id)                        # .manifest, .files {role: bytes}, .created ...
    store.delete(r.id, r.delete_token); store.shelf(); store.stats()

Tables: core.share.schema (versioned in layerlab_meta, created and migrated by the app).
Every write is one transaction, serialized between sessions and processes (SQLite: BEGIN
IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so a killed writer leaves nothing
and two writers never both see room in a full store. Blobs are hashed again on every read: the
store is not trusted.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from core.errors import (
    ShareDamagedError,
    ShareError,
    ShareIdError,
    ShareLimitError,
    ShareNotFoundError,
    StoreUnavailableError,
)
from core.settings import ShareLimits, data_dir, human_bytes, share_limits
from core.share.schema import MIGRATIONS, SCHEMA_VERSION, blobs, meta_table, metadata, refs, shares

_LOCK_KEY = 0x1A7E5_5A9E  # PostgreSQL advisory lock that serializes writers
_ID = re.compile(r"[0-9a-f]{32}")
DAY = 86400.0


class Receipt(NamedTuple):
    id: str  # what the link carries: ?share=<id>
    delete_token: str  # shown once to the creator; the store keeps only its hash
    size: int  # bytes of the share's files
    expires: float  # UNIX seconds


@dataclass(frozen=True)
class Stored:
    id: str
    manifest: dict[str, Any]  # what the creator stored (its "files" map: role -> sha256)
    files: dict[str, bytes]  # role -> bytes, each checked against its sha256
    title: str
    created: float
    expires: float


class ShelfEntry(NamedTuple):
    id: str
    title: str
    model: str
    page: str
    size: int
    created: float


def check_id(share_id: object) -> str:
    """A share id as Layer Lab makes them (32 lowercase hex characters), else ShareIdError."""
    if isinstance(share_id, str) and _ID.fullmatch(share_id):
        return share_id
    shown = repr(share_id)
    shown = shown if len(shown) <= 40 else f"{shown[:37]}…"
    n = f"{len(share_id)} characters" if isinstance(share_id, str) else type(share_id).__name__
    raise ShareIdError(
        f"{shown} ({n}) is not a share id: expected 32 hexadecimal characters, as in a link "
        "?share=<id> made by a Share button. Copy the whole link again."
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// (what hosts hand out) -> SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_url() -> str:
    """LAYERLAB_STORE_URL, else a SQLite file in the data folder (LAYERLAB_DATA_DIR)."""
    url = os.environ.get("LAYERLAB_STORE_URL", "").strip()
    return url or f"sqlite:///{data_dir() / 'shares.sqlite3'}"


def _reason(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__)[:300]


class Store:
    """One database's shares. Thread-safe; one per URL per process (open_store)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        u = sa.make_url(self.url)
        self.sqlite = u.get_backend_name() == "sqlite"
        self.where = (
            f"SQLite file {u.database}"
            if self.sqlite
            else f"{u.get_backend_name()} at {u.render_as_string(hide_password=True)}"
        )
        try:
            self.engine = self._make_engine(u)
        except (exc.ArgumentError, ImportError, OSError) as e:
            raise StoreUnavailableError(
                f"The share store ({self.where}) cannot be opened: {_reason(e)}. Check "
                "LAYERLAB_STORE_URL (e.g. postgresql://user:password@host/db) or LAYERLAB_DATA_DIR."
            ) from None
        self._migrate()

    def _make_engine(self, u: sa.URL) -> Engine:
        if not self.sqlite:
            eng = sa.create_engine(
                u,
                pool_pre_ping=True,
                pool_size=4,
                max_overflow=4,
                connect_args={"connect_timeout": 10},
            )
            # A forked child (the upload sandbox) must not share the parent's sockets.
            ref = weakref.ref(eng)

            def _forgotten_in_child() -> None:
                if (e := ref()) is not None:
                    e.dispose(close=False)

            os.register_at_fork(after_in_child=_forgotten_in_child)
            return eng
        if u.database and u.database != ":memory:" and "mode=ro" not in self.url:
            os.makedirs(os.path.dirname(os.path.abspath(u.database)), exist_ok=True)
        # No pool: a connection per transaction is cheap in SQLite and never crosses a fork.
        eng = sa.create_engine(u, poolclass=NullPool, connect_args={"timeout": 60})

        @event.listens_for(eng, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun below, explicitly
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            dbapi_conn.execute("PRAGMA busy_timeout=60000")
            try:  # readers never wait for a writer; a read-only file keeps its mode
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
            except Exception:  # noqa: BLE001, S110 - read-only: its journal stays as it is
                pass

        @event.listens_for(eng, "begin")
        def _begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("layerlab_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return eng

    # ---- transactions ------------------------------------------------------------------------
    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Connection]:
        """One transaction: a write one serialized with every other writer; a read one a
        consistent snapshot. Database faults become StoreUnavailableError with their reason."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(layerlab_write=True)
                elif not self.sqlite:
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    if write and not self.sqlite:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                    yield conn
        except ShareError:
            raise
        except exc.SQLAlchemyError as e:
            what = "written" if write else "read"
            raise StoreUnavailableError(
                f"The share store ({self.where}) cannot be {what} now: {_reason(e)}. "
                "Nothing was changed; the rest of Layer Lab works. Try again later, or ask "
                "whoever runs this server to check the database."
            ) from None

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION; an up-to-date store is only read (so a
        read-only database opens, for reading)."""
        if self._version(write=False) == SCHEMA_VERSION:
            return
        with self._tx(write=True) as conn:
            metadata.create_all(conn, tables=[meta_table])
            have = self._version_in(conn)
            for v in range(have + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[v](conn)
            conn.execute(sa.delete(meta_table).where(meta_table.c.key == "schema"))
            conn.execute(sa.insert(meta_table).values(key="schema", value=str(SCHEMA_VERSION)))

    def _version_in(self, conn: Connection) -> int:
        if not sa.inspect(conn).has_table(meta_table.name):
            return 0
        row = conn.execute(
            sa.select(meta_table.c.value).where(meta_table.c.key == "schema")
        ).scalar()
        have = int(row) if row is not None else 0
        if have > SCHEMA_VERSION:
            raise StoreUnavailableError(
                f"The share store ({self.where}) has schema version {have}, newer than this "
                f"Layer Lab's {SCHEMA_VERSION}: a newer version wrote it. Update Layer Lab."
            )
        return have

    def _version(self, *, write: bool) -> int:
        with self._tx(write=write) as conn:
            return self._version_in(conn)

    def schema_version(self) -> int:
        return self._version(write=False)

    # ---- writing -----------------------------------------------------------------------------
    def put(
        self,
        manifest: Mapping[str, Any],
        files: Mapping[str, bytes],
        *,
        session: str,
        title: str = "",
        model: str = "",
        page: str = "",
        limits: ShareLimits | None = None,
        on_blob: Callable[[int, int], None] | None = None,
    ) -> Receipt:
        """Store one immutable share: the manifest (JSON) and its files (role -> bytes).

        session: who shares (hashed; the per-minute limit counts by it). on_blob(done, total):
        told after each new blob is written, inside the transaction (a progress bar).
        Refused with the numbers: over the bytes per share, over the shares per minute, or
        bigger than the whole store; when the store is full, the oldest shares expire first.
        """
        lim = limits or share_limits()
        hashes = {role: _sha(bytes(data)) for role, data in files.items()}
        unique = {h: bytes(files[r]) for r, h in hashes.items()}
        size = sum(len(d) for d in unique.values())
        if size > lim.share_bytes:
            raise ShareLimitError(
                f"This share holds {human_bytes(size)} (model and samples); at most "
                f"{human_bytes(lim.share_bytes)} per share (LAYERLAB_SHARE_MB). Share fewer "
                "samples, or ask whoever runs this server to raise the limit."
            )
        if size > lim.store_bytes:
            raise ShareLimitError(
                f"This share holds {human_bytes(size)}, more than the whole store's "
                f"{human_bytes(lim.store_bytes)} (LAYERLAB_STORE_MB)."
            )
        body = json.dumps({**manifest, "files": hashes}, ensure_ascii=False, allow_nan=False)
        sid, token = secrets.token_hex(16), secrets.token_hex(16)
        who = _sha(f"layerlab-session:{session}".encode())
        with self._tx(write=True) as conn:
            now = time.time()
            self._expire(conn, now)
            recent = conn.execute(
                sa.select(shares.c.created)
                .where(shares.c.session == who, shares.c.created > now - 60)
                .order_by(shares.c.created)
            ).scalars()
            recent_times = list(recent)
            if len(recent_times) >= lim.per_minute:
                wait = max(1, int(recent_times[0] + 60 - now + 1))
                raise ShareLimitError(
                    f"This session made {len(recent_times)} shares in the last minute; at most "
                    f"{lim.per_minute} per minute (LAYERLAB_SHARES_PER_MINUTE). Try again in "
                    f"{wait} s."
                )
            have = set(
                conn.execute(
                    sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(list(unique)))
                ).scalars()
            )
            conn.execute(
                sa.insert(shares).values(
                    id=sid,
                    delete_hash=_sha(token.encode()),
                    state="live",
                    created=now,
                    expires=now + lim.days * DAY,
                    size=size,
                    session=who,
                    title=title[:200],
                    model=model[:200],
                    page=page[:64],
                    manifest=body,
                )
            )
            # Refer to what is already stored before making room, so eviction keeps it.
            for h in have:
                conn.execute(sa.insert(refs).values(share_id=sid, sha256=h))
            new = {h: d for h, d in unique.items() if h not in have}
            self._make_room(conn, sum(len(d) for d in new.values()), lim, keep=sid)
            done, total = 0, sum(len(d) for d in new.values())
            for h, d in new.items():
                conn.execute(sa.insert(blobs).values(sha256=h, size=len(d), data=d))
                conn.execute(sa.insert(refs).values(share_id=sid, sha256=h))
                done += len(d)
                if on_blob is not None:
                    on_blob(done, total)
        return Receipt(sid, token, size, now + lim.days * DAY)

    def _make_room(self, conn: Connection, need: int, lim: ShareLimits, *, keep: str) -> None:
        """Expire whole live shares, oldest first, until `need` more bytes fit."""
        while True:
            used = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(blobs.c.size), 0))).scalar()
            if int(used or 0) + need <= lim.store_bytes:
                return
            oldest = conn.execute(
                sa.select(shares.c.id)
                .where(shares.c.state == "live", shares.c.id != keep)
                .order_by(shares.c.created)
                .limit(1)
            ).scalar()
            if oldest is None:
                raise ShareLimitError(
                    f"The store is full: {human_bytes(int(used or 0))} of "
                    f"{human_bytes(lim.store_bytes)} (LAYERLAB_STORE_MB) and this share needs "
                    f"{human_bytes(need)} more."
                )
            self._drop(conn, oldest, "expired")

    def _drop(self, conn: Connection, sid: str, state: str) -> None:
        """A share becomes a tombstone (state kept, so a link says what happened); blobs no
        live share refers to go."""
        held = list(conn.execute(sa.select(refs.c.sha256).where(refs.c.share_id == sid)).scalars())
        conn.execute(sa.delete(refs).where(refs.c.share_id == sid))
        conn.execute(
            sa.update(shares).where(shares.c.id == sid).values(state=state, manifest="", size=0)
        )
        for h in held:
            conn.execute(
                sa.delete(blobs).where(blobs.c.sha256 == h, ~sa.exists().where(refs.c.sha256 == h))
            )

    def _expire(self, conn: Connection, now: float) -> None:
        for sid in list(
            conn.execute(
                sa.select(shares.c.id).where(shares.c.state == "live", shares.c.expires <= now)
            ).scalars()
        ):
            self._drop(conn, sid, "expired")

    def delete(self, share_id: str, token: str) -> None:
        """Delete a share with the token shown once to its creator."""
        sid = check_id(share_id)
        with self._tx(write=True) as conn:
            row = conn.execute(
                sa.select(shares.c.delete_hash, shares.c.state).where(shares.c.id == sid)
            ).first()
            given = _sha(str(token).encode())
            if row is None or not hmac.compare_digest(row.delete_hash, given):
                raise ShareError(
                    f"That delete link does not fit share {sid}: only the delete link shown "
                    "when the share was made removes it (the store keeps only its hash)."
                )
            if row.state == "live":
                self._drop(conn, sid, "deleted")

    # ---- reading -----------------------------------------------------------------------------
    def get(self, share_id: object) -> Stored:
        """A live share with every file checked against its sha256; else a clear error."""
        sid = check_id(share_id)
        with self._tx(write=False) as conn:
            row = conn.execute(sa.select(shares).where(shares.c.id == sid)).first()
            if row is None:
                raise ShareNotFoundError(
                    f"No share {sid} in this store ({self.where.split(' at ')[0]}): it was "
                    "never made here, or the store was reset. Ask for the link again."
                )
            if row.state == "deleted":
                raise ShareNotFoundError(f"Share {sid} was deleted by its creator.")
            if row.state == "expired" or row.expires <= time.time():
                raise ShareNotFoundError(
                    f"Share {sid} expired on {_when(row.expires)} (shares live "
                    f"{share_limits().days:g} days, LAYERLAB_SHARE_DAYS, and the oldest go "
                    "first when the store is full). Ask its creator to share again."
                )
            try:
                manifest = json.loads(row.manifest)
                roles = dict(manifest["files"])
            except (ValueError, KeyError, TypeError):
                raise ShareDamagedError(
                    f"Share {sid}: its stored description is not the JSON Layer Lab writes; "
                    "the store was altered. Ask its creator to share again."
                ) from None
            got = {
                h: bytes(d)
                for h, d in conn.execute(
                    sa.select(blobs.c.sha256, blobs.c.data)
                    .join(refs, refs.c.sha256 == blobs.c.sha256)
                    .where(refs.c.share_id == sid)
                ).tuples()
            }
        files: dict[str, bytes] = {}
        for role, h in roles.items():
            data = got.get(h)
            if data is None:
                raise ShareDamagedError(
                    f"Share {sid}: its file {role!r} ({str(h)[:12]}…) is missing from the store."
                )
            if _sha(data) != h:
                raise ShareDamagedError(
                    f"Share {sid}: the stored bytes of {role!r} ({len(data):,} bytes) no longer "
                    f"match their sha256 {h[:12]}…; the store was altered or damaged, so they "
                    "are not used. Ask its creator to share again."
                )
            files[role] = data
        return Stored(sid, manifest, files, row.title, row.created, row.expires)

    def shelf(self, *, limit: int = 200) -> list[ShelfEntry]:
        """Live shares, newest first (the Lab shelf page)."""
        with self._tx(write=False) as conn:
            rows = conn.execute(
                sa.select(
                    shares.c.id,
                    shares.c.title,
                    shares.c.model,
                    shares.c.page,
                    shares.c.size,
                    shares.c.created,
                )
                .where(shares.c.state == "live", shares.c.expires > time.time())
                .order_by(shares.c.created.desc())
                .limit(limit)
            ).tuples()
            return [ShelfEntry(*r) for r in rows]

    def stats(self) -> dict[str, int]:
        """Live shares and the bytes of all blobs (what LAYERLAB_STORE_MB bounds)."""
        with self._tx(write=False) as conn:
            n = conn.execute(
                sa.select(sa.func.count()).select_from(shares).where(shares.c.state == "live")
            ).scalar()
            used = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(blobs.c.size), 0))).scalar()
            blob_n = conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar()
        return {"shares": int(n or 0), "bytes": int(used or 0), "blobs": int(blob_n or 0)}


@functools.lru_cache(maxsize=4)
def _open(url: str) -> Store:
    # A process-wide resource (an engine and its pool per database), never per-user data.
    return Store(url)


def open_store(url: str | None = None) -> Store:
    """The store at `url` (default: LAYERLAB_STORE_URL, else the SQLite file in the data
    folder), created or migrated on first use; one per URL per process."""
    return _open(normalize_url(url or default_url()))
