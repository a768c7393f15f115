"""The share store's backends: SQLite always, PostgreSQL when a server is configured
(tests/postgres.py)."""

from __future__ import annotations

import pytest

from tests.postgres import fresh_database


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test; its URL."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Each store test runs on SQLite (a file in a temp data folder) and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'shares.sqlite3'}"
    else:
        yield request.getfixturevalue("pg_url")
