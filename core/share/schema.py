"""The lab store's tables and the steps that create and migrate them (core.share.store).

layerlab_meta    key -> value; "schema" holds the version these tables are at
layerlab_blobs   sha256 -> bytes (the same model shared by five students is kept once)
layerlab_shares  one row per share (immutable; only its state goes live -> deleted/expired)
layerlab_refs    which blobs a share holds (a blob lives while a live share refers to it)
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 1

metadata = sa.MetaData()
meta_table = sa.Table(
    "layerlabmetadata",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
blobs = sa.Table(
    "layerlab_blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
shares = sa.Table(
    "layerlab_shares",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("delete_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # live | deleted | expired
    sa.Column("created", sa.Float, nullable=False),  # UNIX seconds
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),  # its blobs' bytes
    sa.Column("session", sa.String(64), nullable=False),  # a hash of the sharing session
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("page", sa.String(64), nullable=False),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Index("layerlab_shares_created", "state", "created"),
    sa.Index("layerlab_shares_session", "session", "created"),
)
refs = sa.Table(
    "layerlab_refs",
    metadata,
    sa.Column("share_id", sa.String(32), sa.ForeignKey(shares.c.id), primary_key=True),
    sa.Column("sha256", sa.String(64), sa.ForeignKey(blobs.c.sha256), primary_key=True),
    sa.Index("layerlab_refs_blob", "sha256"),
)


def _migrate_1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[blobs, shares, refs])


# version -> the step from the one before; a new schema appends a step, never edits one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1}
