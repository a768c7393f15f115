"""The share store's backends: SQLite always, PostgreSQL when a server is configured.

LAYERLAB_TEST_POSTGRES_URL names a PostgreSQL server whose user may create databases (.ci/run
starts a throwaway cluster and sets it); each test gets a database of its own, dropped after.
Without it the PostgreSQL cases skip locally and fail in CI.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_ENV = "LAYERLAB_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def postgres_admin_url() -> str:
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

    return sa.create_engine(normalize_url(postgres_admin_url()), isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test; its URL."""
    import sqlalchemy as sa

    eng = admin_engine()
    name = f"layerlab_t_{uuid.uuid4().hex[:12]}"
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = sa.make_url(eng.url)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        from core.share.store import _open

        _open.cache_clear()
        with eng.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Each store test runs on SQLite (a file in a temp data folder) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'shares.sqlite3'}"
    else:
        yield request.getfixturevalue("pg_url")
