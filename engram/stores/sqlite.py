"""SQLite backend: one WAL-mode file holding memories, their vectors, history and settings.

Uses `apsw` because the interpreter's bundled `sqlite3` module is often built without
extension loading, and sqlite-vec (a loadable extension) computes the vector distances
inside SQL, so a filtered search never leaves the database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import sqlite_vec

from engram.models import HistoryEntry, MemoryRecord
from engram.stores.base import WriteBatch
from engram.stores.sql import COLUMNS, SQLReads

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT NOT NULL,
    project TEXT NOT NULL,
    user_id TEXT, agent_id TEXT, run_id TEXT, app_id TEXT,
    memory TEXT NOT NULL,
    hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    categories TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expiration_date TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    replaced_by TEXT,
    embedding BLOB,
    -- ids are unique within a project, so an export imports into any other project
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS memories_user ON memories (project, user_id);
CREATE INDEX IF NOT EXISTS memories_agent ON memories (project, agent_id);
CREATE INDEX IF NOT EXISTS memories_run ON memories (project, run_id);
CREATE INDEX IF NOT EXISTS memories_app ON memories (project, app_id);
CREATE INDEX IF NOT EXISTS memories_expiry ON memories (expiration_date)
    WHERE expiration_date IS NOT NULL;
CREATE TABLE IF NOT EXISTS history (
    id TEXT NOT NULL,
    memory_id TEXT NOT NULL,
    project TEXT NOT NULL,
    event TEXT NOT NULL,
    old_memory TEXT, new_memory TEXT,
    created_at TEXT NOT NULL,
    actor TEXT,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS history_memory ON history (project, memory_id, created_at);
CREATE TABLE IF NOT EXISTS settings (project TEXT PRIMARY KEY, data TEXT NOT NULL);
"""



class SQLiteDialect:
    def param(self) -> str:
        return "?"

    def metadata_value(self, key: str) -> str:
        return f"json_extract(m.metadata, {_json_path(key)})"

    def metadata_text(self, key: str) -> str:
        return f"CAST(json_extract(m.metadata, {_json_path(key)}) AS TEXT)"

    def categories_any(self, placeholders: list[str]) -> str:
        return (
            "(EXISTS (SELECT 1 FROM json_each(m.categories) AS c "
            f"WHERE c.value IN ({', '.join(placeholders)})))"
        )

    def distinct_from(self, left: str, right: str) -> str:
        return f"({left} IS NOT {right})"

    def contains(self, haystack: str, needle: str) -> str:
        return f"(instr({haystack}, {needle}) > 0)"


def _json_path(key: str) -> str:
    # Quote the key so dots and spaces inside metadata keys are not read as JSON path syntax.
    escaped = key.replace('"', '\\"').replace("'", "''")
    return f"'$.\"{escaped}\"'"


class SQLiteStore(SQLReads):
    dialect = SQLiteDialect()
    MEMORIES, HISTORY, SETTINGS, HISTORY_ORDER = "memories", "history", "settings", "rowid"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = apsw.Connection(self.path)
        # apsw connections are serialised internally; the lock also keeps our
        # multi-statement transactions from interleaving between threads.
        self._lock = threading.RLock()
        self._conn.set_busy_timeout(10_000)  # other processes share the file
        self._conn.enable_load_extension(True)
        self._conn.load_extension(sqlite_vec.loadable_path())
        self._conn.enable_load_extension(False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            self._conn.execute(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, self._conn:
            yield

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    def _similarity(self, mark: str) -> str:
        return f"1.0 - vec_distance_cosine(m.embedding, {mark})"

    def _bind_vector(self, vector: np.ndarray) -> bytes:
        return np.asarray(vector, dtype=np.float32).tobytes()

    def _read_vector(self, value: bytes) -> np.ndarray:
        return np.frombuffer(value, dtype=np.float32)

    def _read_json(self, value: str) -> Any:
        return json.loads(value)

    # ------------------------------------------------------------------ writes

    def write(self, batch: WriteBatch) -> None:
        with self._transaction():
            for record, vector in batch.upserts:
                self._upsert(record, vector)
            for record in batch.deletes:
                self._conn.execute(
                    "DELETE FROM memories WHERE project = ? AND id = ?", (record.project, record.id)
                )
            for entry in batch.history:
                self._insert_history(entry)

    def _upsert(self, r: MemoryRecord, vector: np.ndarray | None) -> None:
        blob = None if vector is None else self._bind_vector(vector)
        self._conn.execute(
            f"INSERT INTO memories ({COLUMNS}, embedding) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (project, id) DO UPDATE SET memory = excluded.memory, "
            "hash = excluded.hash, metadata = excluded.metadata, categories = excluded.categories, "
            "updated_at = excluded.updated_at, expiration_date = excluded.expiration_date, "
            "state = excluded.state, replaced_by = excluded.replaced_by, "
            "embedding = coalesce(excluded.embedding, memories.embedding)",
            (
                r.id, r.project, r.user_id, r.agent_id, r.run_id, r.app_id, r.memory, r.hash,
                json.dumps(r.metadata), json.dumps(r.categories), r.created_at, r.updated_at,
                r.expiration_date, str(r.state), r.replaced_by, blob,
            ),
        )  # fmt: skip

    def _insert_history(self, h: HistoryEntry) -> None:
        self._conn.execute(
            "INSERT INTO history (id, memory_id, project, event, old_memory, new_memory, "
            "created_at, actor, user_id, agent_id, run_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                h.id, h.memory_id, h.project, str(h.event), h.old_memory, h.new_memory,
                h.created_at, h.actor, h.user_id, h.agent_id, h.run_id,
            ),
        )  # fmt: skip

    # ------------------------------------------------------------------ settings

    def save_settings(self, project: str, settings: dict[str, Any]) -> None:
        with self._transaction():
            self._conn.execute(
                "INSERT INTO settings (project, data) VALUES (?, ?) "
                "ON CONFLICT (project) DO UPDATE SET data = excluded.data",
                (project, json.dumps(settings)),
            )

    def reset(self, project: str) -> None:
        with self._transaction():
            for table in ("memories", "history", "settings"):
                self._conn.execute(f"DELETE FROM {table} WHERE project = ?", (project,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
