"""One connection (SQLite) or pool (PostgreSQL) per database per process: the memory store,
the server's keys and its queued adds share it, and it closes with its last user."""

from __future__ import annotations

from pathlib import Path

import pytest

from engram.errors import BackendError
from engram.server.auth import KeyStore
from engram.server.events import EventStore
from engram.stores import database
from engram.stores.postgres import PostgresStore
from engram.stores.sqlite import SQLiteStore


def open_databases() -> set[str]:
    return {location for _, location in database._registry}


def test_store_keys_and_events_share_one_postgres_pool(postgres_url: str) -> None:
    store, keys, events = PostgresStore(postgres_url), KeyStore(postgres_url), EventStore(
        postgres_url)  # fmt: skip
    try:
        assert store._db is keys._db._db is events._db._db
        key = keys.create_key("p1")
        assert keys.verify(key) is not None  # keys work through the shared pool
        assert postgres_url in open_databases()
    finally:
        store.close()
        keys.close()
    assert postgres_url in open_databases()  # events still uses it
    events.close()
    assert postgres_url not in open_databases()


def test_two_sqlite_stores_on_one_file_share_a_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = SQLiteStore(path), SQLiteStore(str(path))
    assert first._db is second._db
    first.close()
    assert second.settings("default") == {}  # still open for its other user
    second.close()
    assert str(path.resolve()) not in open_databases()


def test_unreachable_postgres_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="PostgreSQL") as info:
        PostgresStore("postgresql://engram:secret@127.0.0.1:1/engram")
    assert "secret" not in str(info.value)  # the message names the database, not its password
