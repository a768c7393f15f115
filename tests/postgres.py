"""A real PostgreSQL server for the share store's tests, when one is configured.

LAYERLAB_TEST_POSTGRES_URL names a server whose user may create databases (.ci/run starts a
throwaway cluster with initdb + pg_ctl and sets it). Each test gets a database of its own,
dropped after. Without it the PostgreSQL cases skip locally and fail in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ENV = "LAYERLAB_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def admin_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        msg = (
            f"no PostgreSQL server configured: set {PG_ENV}=postgresql://user@host:port/db "
            "(a user that may create databases; .ci/run starts one with initdb + pg_ctl)"
        )
        if _in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return url


def admin_engine():
    import sqlalchemy as sa

    from core.share.store import normalize_url

    return sa.create_engine(normalize_url(admin_url()), isolation_level="AUTOCOMMIT")


def admin(sql: str) -> None:
    """One statement as the server's admin user (e.g. ALTER DATABASE ...)."""
    import sqlalchemy as sa

    eng = admin_engine()
    with eng.connect() as c:
        c.execute(sa.text(sql))
    eng.dispose()


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database; its URL. Dropped after (its connections closed by force)."""
    import sqlalchemy as sa

    name = f"layerlab_t_{uuid.uuid4().hex[:12]}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.make_url(admin_engine().url).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        from core.share.store import _open

        _open.cache_clear()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
