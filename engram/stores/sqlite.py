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

from engram.filters import compile_sql
from engram.models import Event, HistoryEntry, MemoryRecord, State
from engram.stores.base import EntityCount, Query, WriteBatch

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

_COLUMNS = (
    "id, project, user_id, agent_id, run_id, app_id, memory, hash, metadata, categories, "
    "created_at, updated_at, expiration_date, state, replaced_by"
)


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


def _row_to_record(row: Sequence[Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row[0],
        project=row[1],
        user_id=row[2],
        agent_id=row[3],
        run_id=row[4],
        app_id=row[5],
        memory=row[6],
        hash=row[7],
        metadata=json.loads(row[8]),
        categories=json.loads(row[9]),
        created_at=row[10],
        updated_at=row[11],
        expiration_date=row[12],
        state=State(row[13]),
        replaced_by=row[14],
    )


class SQLiteStore:
    dialect = SQLiteDialect()

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
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        self._conn.execute(
            f"INSERT INTO memories ({_COLUMNS}, embedding) "
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

    # ------------------------------------------------------------------ reads

    def get(self, project: str, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM memories WHERE project = ? AND id IN ({marks})",
            (project, *ids),
        )
        return [_row_to_record(row) for row in rows]

    def vectors(self, project: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        marks = ", ".join("?" for _ in ids)
        rows = self._rows(
            f"SELECT id, embedding FROM memories WHERE project = ? AND id IN ({marks})",
            (project, *ids),
        )
        return {i: np.frombuffer(blob, dtype=np.float32) for i, blob in rows if blob is not None}

    def _where(self, q: Query) -> tuple[str, list[Any]]:
        clauses = ["m.project = ?"]
        params: list[Any] = [q.project]
        if not q.include_inactive:
            clauses.append("m.state = 'active'")
            clauses.append("(m.expiration_date IS NULL OR m.expiration_date > ?)")
            params.append(q.now)
        if q.where is not None:
            sql, filter_params = compile_sql(q.where, self.dialect)
            clauses.append(sql)
            params.extend(filter_params)
        return " AND ".join(clauses), params

    def query(self, q: Query) -> list[tuple[MemoryRecord, float | None]]:
        where, params = self._where(q)
        cols = ", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))
        if q.vector is None:
            sql = (
                f"SELECT {cols}, NULL FROM memories m WHERE {where} "
                "ORDER BY m.created_at DESC, m.id LIMIT ? OFFSET ?"
            )
            rows = self._rows(sql, (*params, q.limit, q.offset))
        else:
            vector = np.asarray(q.vector, dtype=np.float32).tobytes()
            sql = (
                f"SELECT {cols}, 1.0 - vec_distance_cosine(m.embedding, ?) AS score "
                f"FROM memories m WHERE m.embedding IS NOT NULL AND {where} "
                "ORDER BY score DESC, m.id LIMIT ? OFFSET ?"
            )
            rows = self._rows(sql, (vector, *params, q.limit, q.offset))
        return [(_row_to_record(row[:-1]), row[-1]) for row in rows]

    def count(self, q: Query) -> int:
        where, params = self._where(q)
        return self._rows(f"SELECT count(*) FROM memories m WHERE {where}", params)[0][0]

    def entities(self, project: str, now: str) -> list[EntityCount]:
        out: list[EntityCount] = []
        for kind in ("user", "agent", "run", "app"):
            rows = self._rows(
                f"SELECT {kind}_id, count(*), min(created_at), max(updated_at) FROM memories "
                f"WHERE project = ? AND {kind}_id IS NOT NULL AND state = 'active' "
                "AND (expiration_date IS NULL OR expiration_date > ?) "
                f"GROUP BY {kind}_id ORDER BY {kind}_id",
                (project, now),
            )
            out.extend(EntityCount(kind, *row) for row in rows)
        return out

    def history(self, project: str, memory_id: str) -> list[HistoryEntry]:
        rows = self._rows(
            "SELECT id, memory_id, event, old_memory, new_memory, created_at, actor, project, "
            "user_id, agent_id, run_id FROM history WHERE project = ? AND memory_id = ? "
            "ORDER BY created_at, rowid",
            (project, memory_id),
        )
        return [
            HistoryEntry(r[0], r[1], Event(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
            for r in rows
        ]

    def expired_ids(self, now: str, limit: int) -> list[tuple[str, str]]:
        return self._rows(
            "SELECT project, id FROM memories WHERE expiration_date IS NOT NULL "
            "AND expiration_date <= ? LIMIT ?",
            (now, limit),
        )

    # ------------------------------------------------------------------ settings

    def settings(self, project: str) -> dict[str, Any]:
        rows = self._rows("SELECT data FROM settings WHERE project = ?", (project,))
        return json.loads(rows[0][0]) if rows else {}

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
