"""Opening a database migrates its schema in place; a database from a newer Engram is refused.

The SQLite case opens a file written by the first release (tests/data/engram-v1.db, made by
tests/data/make_v1_db.py); the PostgreSQL case builds a version-1 schema with the same
migration steps stopped at version 1, then opens it with the current store.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engram.errors import BackendError
from engram.filters import parse
from engram.memory import Memory
from engram.models import MemoryRecord
from engram.ranking import hit_of
from engram.stores import postgres, sqlite
from engram.stores.base import Query, WriteBatch
from engram.stores.database import connect
from engram.stores.migrations import SchemaVersionError, migrate
from engram.stores.postgres import PostgresStore
from engram.stores.sqlite import SQLiteStore

V1_FILE = Path(__file__).parent / "data" / "engram-v1.db"
NOW = "2026-03-01T09:30:00.000000+00:00"  # the file's clock: the ankle has not expired yet
LATEST = sqlite.MIGRATIONS[-1].version
PG_LATEST = postgres.MIGRATIONS[-1].version  # the backends' versions may differ


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "engram.db"
    shutil.copy(V1_FILE, path)  # opening writes to the file: never touch the committed one
    return path


def texts(store: SQLiteStore | PostgresStore, project: str, **query: object) -> list[str]:
    rows = store.query(Query(project, parse({"user_id": "*"}) if project == "default" else None,
                             NOW, **query))  # type: ignore[arg-type]  # fmt: skip
    return sorted(r.memory for r, _ in rows)


def test_first_release_sqlite_file_opens_and_keeps_its_data(v1_copy: Path, embedder) -> None:
    store = SQLiteStore(v1_copy)
    try:
        assert store._rows("PRAGMA user_version") == [(LATEST,)]
        assert texts(store, "default") == [
            "Max is training for the Boston marathon in April",
            "My right knee hurts on steep downhills",
            "Rolled my left ankle",
        ]
        assert texts(store, "club") == ["The club meets on Tuesdays"]
        assert store.settings("default") == {
            "custom_instructions": "Only running facts", "threshold": 0.2}  # fmt: skip
        assert store.settings("club") == {"threshold": 0.5}
        knee = next(r for r, _ in store.query(Query("default", None, NOW))
                    if "knee" in r.memory)  # fmt: skip
        assert knee.metadata == {"body_part": "knee"} and knee.sources == []
        assert [h.event for h in store.history("default", knee.id)] == ["ADD", "UPDATE"]
        # the new full-text index was backfilled for the memories already there
        assert texts(store, "default", keywords=("knee", "marathon")) == [
            "Max is training for the Boston marathon in April",
            "My right knee hurts on steep downhills",
        ]
        # and so were the keyword postings the per-word lists read
        lists = store.keyword_lists(Query("default", parse({"user_id": "max"}), NOW,
                                          keywords=("knee", "marathon", "ankle")))[0]  # fmt: skip
        text = {r.id: r.memory for r, _ in store.query(Query("default", None, NOW))}
        assert [[text[h.id] for h, _ in found] for found in lists] == [
            ["My right knee hurts on steep downhills"],
            ["Max is training for the Boston marathon in April"], ["Rolled my left ankle"]]
        assert store._rows("SELECT n FROM memory_total") == [(4,)]  # counted once, then kept
        assert len(store.vectors("default", [knee.id])[knee.id]) == 384
    finally:
        store.close()
    # and the whole pipeline works on it: search by vector, add with the new columns
    with Memory({"database": str(v1_copy)}, embedder=embedder) as m:
        found = m.search("knee pain on downhills", user_id="max", limit=1)["results"]
        assert found[0]["memory"] == "My right knee hurts on steep downhills"
        m.add("Max ices the knee after long runs", user_id="max", infer=False)
        assert m.get_all(user_id="max")["count"] == 3  # the ankle has expired by now


def test_reopening_a_current_database_changes_nothing(v1_copy: Path) -> None:
    SQLiteStore(v1_copy).close()
    store = SQLiteStore(v1_copy)
    try:
        assert store._rows("PRAGMA user_version") == [(LATEST,)]
        assert len(texts(store, "default")) == 3
    finally:
        store.close()


def test_sqlite_database_from_a_newer_engram_is_refused(v1_copy: Path) -> None:
    SQLiteStore(v1_copy).close()
    db = connect(v1_copy)
    db.rows(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    with pytest.raises(SchemaVersionError) as info:
        SQLiteStore(v1_copy)
    assert isinstance(info.value, BackendError)
    assert f"schema version {LATEST + 1}" in str(info.value)
    assert f"versions up to {LATEST}" in str(info.value)


def test_postgres_version_1_schema_is_migrated_in_place(postgres_url: str) -> None:
    db = connect(postgres_url)
    try:
        migrate(db, postgres.MIGRATIONS, postgres.VERSION, target=1)
        db.rows(
            "INSERT INTO engram_memories (id, project, user_id, memory, hash, metadata, "
            "created_at, updated_at) VALUES ('k', 'default', 'max', "
            "'My right knee hurts on steep downhills', 'h', '{\"body_part\": \"knee\"}', "
            "'2026-03-01T09:00:00.000000+00:00', '2026-03-01T09:00:00.000000+00:00')"
        )
        db.rows("INSERT INTO engram_settings VALUES ('default', '{\"threshold\": 0.2}')")
        assert db.rows("SELECT version FROM engram_schema") == [(1,)]
    finally:
        db.close()
    store = PostgresStore(postgres_url)
    try:
        assert store._rows("SELECT version FROM engram_schema") == [(PG_LATEST,)]
        (knee,) = store.get("default", ["k"])
        assert knee.metadata == {"body_part": "knee"} and knee.sources == []
        assert store.settings("default") == {"threshold": 0.2}
        assert texts(store, "default", keywords=("knee",)) == [knee.memory]
        lists = store.keyword_lists(Query("default", parse({"user_id": "max"}), NOW,
                                          keywords=("knee", "steep")))[0]  # fmt: skip
        assert [[r.id for r, _ in found] for found in lists] == [["k"], ["k"]]
        assert store._rows("SELECT n FROM engram_memory_total") == [(1,)]
    finally:
        store.close()


def test_postgres_database_from_a_newer_engram_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    db = connect(postgres_url)
    db.rows("UPDATE engram_schema SET version = %s", (PG_LATEST + 1,))
    db.close()
    with pytest.raises(SchemaVersionError, match=f"versions up to {PG_LATEST}"):
        PostgresStore(postgres_url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_version_10_fills_the_source_words_search_ranks_by(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A memory stored before version 10 keeps being found by the words of the message it
    came from and of the one it answered (search reads them from `source_terms` now)."""
    pg = backend == "postgres"
    location = request.getfixturevalue("postgres_url") if pg else str(tmp_path / "v9.db")
    steps, slot = (postgres.MIGRATIONS, postgres.VERSION) if pg else (
        sqlite.MIGRATIONS, sqlite.VERSION)  # fmt: skip
    sources = ('[{"index": 1, "role": "user", "text": "Ran the Lyon half yesterday"}, '
               '{"index": 0, "role": "assistant", "text": "How was the race?", '
               '"context": true}]')  # fmt: skip
    db = connect(location)
    try:
        migrate(db, steps, slot, target=9)
        table, mark = ("engram_memories", "%s") if pg else ("memories", "?")
        db.rows(
            f"INSERT INTO {table} (id, project, user_id, memory, hash, created_at, updated_at, "
            f"sources, index_text) VALUES ('h', 'default', 'max', 'Max ran a half marathon', "
            f"'h', {mark}, {mark}, {mark}, 'max ran half marathon')",
            (NOW, NOW, sources),
        )
    finally:
        db.close()
    store = PostgresStore(location) if pg else SQLiteStore(location)
    try:
        where = parse({"user_id": "max"})
        (hit, _), = store.hits(Query("default", where, NOW, keywords=("half",)))
        assert (hit.id, hit.words) == ("h", "max ran half marathon")
        assert hit.source_words == "ran lyon half yesterday race"
        (record,) = store.get("default", ["h"])
        assert hit == hit_of(record)  # what ranking would read from the whole row
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_version_11_counts_the_postings_stored_before_it(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The common-word rule reads each term's count (version 11) where it counted postings:
    the counts start from the postings already stored, and writes move them on."""
    pg = backend == "postgres"
    location = request.getfixturevalue("postgres_url") if pg else str(tmp_path / "v10.db")
    steps, slot = (postgres.MIGRATIONS, postgres.VERSION) if pg else (
        sqlite.MIGRATIONS, sqlite.VERSION)  # fmt: skip
    terms = "engram_memory_terms" if pg else "memory_terms"
    db = connect(location)
    try:
        migrate(db, steps, slot, target=10)
        mark = "%s" if pg else "?"
        db.rows(f"INSERT INTO {terms} (term, project, user_id, weight, seq) VALUES "
                f"({mark}, 'default', 'max', 1.0, 1), ({mark}, 'default', 'max', 1.0, 2), "
                f"({mark}, 'default', 'max', 1.0, 2)", ("knee", "knee", "pain"))  # fmt: skip
    finally:
        db.close()
    store = PostgresStore(location) if pg else SQLiteStore(location)
    try:
        counts = f"SELECT term, n FROM {store.TERM_COUNTS} ORDER BY term"
        assert store._rows(counts) == [("knee", 2), ("pain", 1)]
        store.write(WriteBatch(upserts=[(MemoryRecord(
            id="a", memory="knee brace", user_id="max", created_at=NOW, updated_at=NOW), None)]))
        assert store._rows(counts) == [("brace", 1), ("knee", 3), ("pain", 1)]
    finally:
        store.close()
