"""PostgreSQL + pgvector backend: the same rows, filters and ranking as the SQLite store.

Several Engram processes can share one database: every write batch is one transaction,
upserts resolve conflicts by primary key, and schema creation is serialised by an
advisory lock so two processes starting at once do not race on CREATE TABLE.

Behaviour is kept identical to SQLite on purpose:
- timestamps are the same canonical ISO text (`engram.models.iso`), so date filters
  compare the same strings; text columns use COLLATE "C" (byte order, like SQLite's BINARY
  collation, and `lower()` folds ASCII only, like SQLite's);
- metadata comparisons go through a sort key that orders like SQLite's json_extract values:
  booleans are 0/1, numbers compare numerically, any string sorts above any number, and
  strings compare in byte order whatever the database's collation (see `_sort_key`).
Vectors are stored in an unconstrained `vector` column and ranked by an exact scan
(no ANN index), which is what SQLite does too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from engram.filters import And, Node, Not, Or
from engram.models import HistoryEntry, MemoryRecord
from engram.stores.base import WriteBatch
from engram.stores.sql import COLUMNS, SQLReads

try:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the PostgreSQL backend needs psycopg, psycopg-pool and pgvector: "
        "pip install 'engram[postgres]'"
    ) from exc

SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x656E6772616D  # advisory lock key ("engram"), held while creating the schema

_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS engram_memories (
    id text COLLATE "C" NOT NULL,
    project text COLLATE "C" NOT NULL,
    user_id text COLLATE "C", agent_id text COLLATE "C",
    run_id text COLLATE "C", app_id text COLLATE "C",
    memory text COLLATE "C" NOT NULL,
    hash text COLLATE "C" NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    categories jsonb NOT NULL DEFAULT '[]',
    created_at text COLLATE "C" NOT NULL,
    updated_at text COLLATE "C" NOT NULL,
    expiration_date text COLLATE "C",
    state text COLLATE "C" NOT NULL DEFAULT 'active',
    replaced_by text COLLATE "C",
    embedding vector,
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS engram_memories_user ON engram_memories (project, user_id);
CREATE INDEX IF NOT EXISTS engram_memories_agent ON engram_memories (project, agent_id);
CREATE INDEX IF NOT EXISTS engram_memories_run ON engram_memories (project, run_id);
CREATE INDEX IF NOT EXISTS engram_memories_app ON engram_memories (project, app_id);
CREATE INDEX IF NOT EXISTS engram_memories_expiry ON engram_memories (expiration_date)
    WHERE expiration_date IS NOT NULL;
CREATE TABLE IF NOT EXISTS engram_history (
    id text COLLATE "C" NOT NULL,
    memory_id text COLLATE "C" NOT NULL,
    project text COLLATE "C" NOT NULL,
    event text NOT NULL,
    old_memory text, new_memory text,
    created_at text COLLATE "C" NOT NULL,
    actor text,
    user_id text, agent_id text, run_id text,
    seq bigint GENERATED ALWAYS AS IDENTITY,  -- insertion order, like SQLite's rowid
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS engram_history_memory
    ON engram_history (project, memory_id, created_at, seq);
CREATE TABLE IF NOT EXISTS engram_settings (
    project text COLLATE "C" PRIMARY KEY,
    data jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS engram_schema (version integer NOT NULL);
"""



# ---------------------------------------------------------------------------- filters


def _literal(key: str) -> str:
    # Keys are inlined (the filter compiler binds only values); standard_conforming_strings
    # is on in every supported PostgreSQL, so doubling quotes is the whole escaping.
    return "'" + key.replace("'", "''") + "'"


def _sort_key(value: str) -> str:
    """A jsonb value that orders the way SQLite orders json_extract() results.

    Numbers stay numbers; booleans become 0/1; strings (and objects/arrays, as JSON text)
    become a one-element array holding their UTF-8 bytes in hex. jsonb sorts any array
    above any number, as SQLite sorts text above numbers, and hex digits sort the same in
    every collation, so string comparisons are byte order like SQLite's. JSON null is NULL.
    """
    return (
        f"(CASE jsonb_typeof({value}) "
        f"WHEN 'number' THEN {value} "
        f"WHEN 'boolean' THEN to_jsonb(CASE WHEN {value} = 'true'::jsonb THEN 1 ELSE 0 END) "
        f"WHEN 'string' THEN jsonb_build_array(encode(convert_to({value} #>> '{{}}', 'UTF8'), "
        "'hex')) "
        f"WHEN 'object' THEN jsonb_build_array(encode(convert_to({value}::text, 'UTF8'), 'hex')) "
        f"WHEN 'array' THEN jsonb_build_array(encode(convert_to({value}::text, 'UTF8'), 'hex')) "
        "END)"  # JSON null and a missing key fall through to SQL NULL
    )


def _param_key(value: Any) -> Any:
    """The bound-parameter side of `_sort_key`."""
    if value is None:
        return None  # SQL NULL: "= NULL" never matches, as in SQLite
    if isinstance(value, bool):
        return Jsonb(int(value))
    if isinstance(value, (int, float)):
        return Jsonb(value)
    return Jsonb([str(value).encode("utf-8").hex()])


class PostgresDialect:
    def param(self) -> str:
        return "%s"

    def metadata_value(self, key: str) -> str:
        return _sort_key(f"(m.metadata -> {_literal(key)})")

    def metadata_text(self, key: str) -> str:
        # The text SQLite's CAST(json_extract(...) AS TEXT) gives: booleans read as 1/0.
        value = f"(m.metadata -> {_literal(key)})"
        return (
            f"((CASE jsonb_typeof({value}) WHEN 'boolean' THEN "
            f"(CASE WHEN {value} = 'true'::jsonb THEN '1' ELSE '0' END) "
            f"ELSE {value} #>> '{{}}' END) COLLATE \"C\")"
        )

    def categories_any(self, placeholders: list[str]) -> str:
        return f"(m.categories ?| ARRAY[{', '.join(placeholders)}]::text[])"

    def distinct_from(self, left: str, right: str) -> str:
        return f"({left} IS DISTINCT FROM {right})"

    def contains(self, haystack: str, needle: str) -> str:
        return f"(strpos({haystack}, {needle}) > 0)"


def _typed_values(node: Node) -> Node:
    """Wrap the values of metadata comparisons as jsonb sort keys (see `_sort_key`).

    The compiler binds condition values as given; only metadata comparisons need jsonb
    parameters, and only this backend knows that, so the tree is rewritten before compiling.
    """
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_typed_values(c) for c in node.children))
    if isinstance(node, Not):
        return Not(_typed_values(node.child))
    if node.metadata_key is None or node.op in ("exists", "contains", "icontains"):
        return node
    if node.op in ("in", "nin"):
        return dataclasses.replace(node, value=tuple(_param_key(v) for v in node.value))
    return dataclasses.replace(node, value=_param_key(node.value))


# ---------------------------------------------------------------------------- rows


def _vector(value: np.ndarray | None) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float32)


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    conn.commit()  # the pool wants an idle connection back


class PostgresStore(SQLReads):
    dialect = PostgresDialect()
    MEMORIES, HISTORY, SETTINGS = "engram_memories", "engram_history", "engram_settings"
    HISTORY_ORDER = "seq"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.url = url
        # Connect once directly: a bad URL or a missing extension fails here, loudly,
        # instead of as a pool timeout on the first query.
        with psycopg.connect(url, connect_timeout=10) as conn:
            self._create_schema(conn)
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            configure=_configure,
            kwargs={"connect_timeout": 10},
            open=True,
            name="engram",
        )

    @staticmethod
    def _create_schema(conn: psycopg.Connection) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(_SCHEMA)
            if conn.execute("SELECT count(*) FROM engram_schema").fetchone()[0] == 0:
                conn.execute("INSERT INTO engram_schema VALUES (%s)", (SCHEMA_VERSION,))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _similarity(self, mark: str) -> str:
        return f"1.0 - (m.embedding <=> {mark})"

    def _bind_vector(self, vector: np.ndarray) -> np.ndarray:
        return np.asarray(vector, dtype=np.float32)

    def _read_vector(self, value: Any) -> np.ndarray:
        return value.to_numpy().astype(np.float32, copy=False)

    def _read_json(self, value: Any) -> Any:
        return value  # psycopg decodes jsonb

    def _prepare(self, where: Node) -> Node:
        return _typed_values(where)

    # ------------------------------------------------------------------ writes

    def write(self, batch: WriteBatch) -> None:
        if not batch:
            return
        with self._transaction() as conn, conn.cursor() as cur:
            if batch.upserts:
                cur.executemany(_UPSERT, [_upsert_params(r, v) for r, v in batch.upserts])
            if batch.deletes:
                cur.executemany(
                    "DELETE FROM engram_memories WHERE project = %s AND id = %s",
                    [(r.project, r.id) for r in batch.deletes],
                )
            if batch.history:
                cur.executemany(_INSERT_HISTORY, [_history_params(h) for h in batch.history])

    # ------------------------------------------------------------------ settings

    def save_settings(self, project: str, settings: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO engram_settings (project, data) VALUES (%s, %s) "
                "ON CONFLICT (project) DO UPDATE SET data = excluded.data",
                (project, Jsonb(settings)),
            )

    def reset(self, project: str) -> None:
        with self._transaction() as conn:
            for table in ("engram_memories", "engram_history", "engram_settings"):
                conn.execute(f"DELETE FROM {table} WHERE project = %s", (project,))

    def close(self) -> None:
        self._pool.close()


_UPSERT = (
    f"INSERT INTO engram_memories ({COLUMNS}, embedding) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (project, id) DO UPDATE SET memory = excluded.memory, "
    "hash = excluded.hash, metadata = excluded.metadata, categories = excluded.categories, "
    "updated_at = excluded.updated_at, expiration_date = excluded.expiration_date, "
    "state = excluded.state, replaced_by = excluded.replaced_by, "
    "embedding = coalesce(excluded.embedding, engram_memories.embedding)"
)

_INSERT_HISTORY = (
    "INSERT INTO engram_history (id, memory_id, project, event, old_memory, new_memory, "
    "created_at, actor, user_id, agent_id, run_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _upsert_params(r: MemoryRecord, vector: np.ndarray | None) -> tuple[Any, ...]:
    return (
        r.id, r.project, r.user_id, r.agent_id, r.run_id, r.app_id, r.memory, r.hash,
        Jsonb(r.metadata), Jsonb(r.categories), r.created_at, r.updated_at,
        r.expiration_date, str(r.state), r.replaced_by, _vector(vector),
    )  # fmt: skip


def _history_params(h: HistoryEntry) -> tuple[Any, ...]:
    return (
        h.id, h.memory_id, h.project, str(h.event), h.old_memory, h.new_memory,
        h.created_at, h.actor, h.user_id, h.agent_id, h.run_id,
    )  # fmt: skip


__all__ = ["PostgresDialect", "PostgresStore"]
