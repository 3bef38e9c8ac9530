"""The server's own tables (keys, queued adds) carry a schema version, read at open: an older
database is migrated in place and keeps its data, one from a newer Engram is refused.

The SQLite case opens a server.db written before the versions were recorded
(tests/data/server-v0.db, made by tests/data/make_server_v0_db.py); the PostgreSQL case
creates the same unversioned tables by their first DDL, then opens them with the stores.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engram.errors import BackendError
from engram.server import auth, events
from engram.server.auth import KeyStore, Principal
from engram.server.events import EventStore
from engram.server.state import StateDB
from engram.stores.database import connect
from engram.stores.migrations import SchemaVersionError
from tests.data.make_server_v0_db import CLUB, KEY

V0_FILE = Path(__file__).parent / "data" / "server-v0.db"
LATEST = {"keys": auth.SCHEMA.sqlite[-1].version, "events": events.SCHEMA.sqlite[-1].version}


@pytest.fixture
def v0_copy(tmp_path: Path) -> Path:
    path = tmp_path / "server.db"
    shutil.copy(V0_FILE, path)  # opening writes to the file: never touch the committed one
    return path


def versions(location: Path | str) -> dict[str, int]:
    state = StateDB(connect(location))
    try:
        return dict(state.execute("SELECT name, version FROM {server_schema}"))
    finally:
        state.close()


def set_version(location: Path | str, name: str, version: int) -> None:
    state = StateDB(connect(location))
    try:
        state.execute("UPDATE {server_schema} SET version = ? WHERE name = ?", (version, name))
    finally:
        state.close()


def test_unversioned_server_file_opens_and_keeps_its_data(v0_copy: Path) -> None:
    keys, queue = KeyStore(v0_copy), EventStore(v0_copy)
    try:
        assert versions(v0_copy) == LATEST
        assert keys.verify(KEY) == CLUB
        listed = keys.list_keys(include_revoked=True)
        assert [(k.name, k.revoked_at is not None) for k in listed] == [
            ("coach app", False), ("revoked one", True)]  # fmt: skip
        total, rows = queue.list(CLUB, 10, 0)
        assert total == 2
        assert [r["status"] for r in rows] == ["PENDING", "SUCCEEDED"]
        assert rows[1]["results"] == [{"id": "m1", "memory": "Max runs on Mondays",
                                       "event": "ADD", "user_id": "max",
                                       "data": {"memory": "Max runs on Mondays"}}]  # fmt: skip
        claimed = queue.claim()  # the queue still works: the pending add is next
        assert claimed is not None and claimed[0] == rows[0]["id"] and claimed[1] == "club"
        assert claimed[2]["messages"][0]["content"] == "I swim on Fridays"
    finally:
        queue.close()
        keys.close()


def test_reopening_a_current_server_file_changes_nothing(v0_copy: Path) -> None:
    KeyStore(v0_copy).close()
    EventStore(v0_copy).close()
    keys = KeyStore(v0_copy)
    try:
        assert versions(v0_copy) == LATEST and keys.verify(KEY) == CLUB
    finally:
        keys.close()


@pytest.mark.parametrize(("name", "store"), [("keys", KeyStore), ("events", EventStore)])
def test_server_file_from_a_newer_engram_is_refused(v0_copy: Path, name: str, store) -> None:
    store(v0_copy).close()
    set_version(v0_copy, name, LATEST[name] + 1)
    with pytest.raises(SchemaVersionError) as info:
        store(v0_copy)
    assert isinstance(info.value, BackendError)
    assert f"server tables: {name}" in str(info.value)
    assert f"schema version {LATEST[name] + 1}" in str(info.value)


def test_postgres_unversioned_server_tables_are_migrated_then_a_newer_refused(
    postgres_url: str,
) -> None:
    state = StateDB(connect(postgres_url))
    try:  # the tables as the releases before versions made them, with a key in them
        state.execute(auth.SCHEMA.postgres[0].ddl)
        state.execute(events.SCHEMA.postgres[0].ddl)
        state.execute(auth._INSERT_KEY, (KEY[:12], auth.key_digest(KEY), CLUB.org_id,
                                         CLUB.project_id, "coach app", "2026-03-01"))  # fmt: skip
    finally:
        state.close()
    keys, queue = KeyStore(postgres_url), EventStore(postgres_url)
    try:
        assert versions(postgres_url) == LATEST
        assert keys.verify(KEY) == CLUB
        assert queue.list(Principal("acme", "club"), 10, 0) == (0, [])
    finally:
        queue.close()
        keys.close()
    set_version(postgres_url, "keys", LATEST["keys"] + 1)
    with pytest.raises(SchemaVersionError, match=f"versions up to {LATEST['keys']}"):
        KeyStore(postgres_url)
