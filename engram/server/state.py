"""Where the server keeps its own tables (keys, projects, queued adds): a SQLite file beside
the memories, or the memories' PostgreSQL database so every server on every host shares them.

`StateDB` writes the server's SQL once, with `?` marks and `{table}` names (`{api_keys}` is
`api_keys` in SQLite, `engram_api_keys` in PostgreSQL), over the one connection layer
(`engram.stores.database`): with PostgreSQL the server's tables and the memories share the
process's one pool.

Each group of tables (`StateSchema`: the keys, the queued adds) has a schema version, a row of
`{server_schema}`, read at open and brought up to date by the memory tables' own mechanism
(`engram.stores.migrations`): an older database is migrated in place, a newer one refused.
Version 1 of each group is the first release's tables; a database from before the versions
were recorded (no row) is version 0, and its tables are already version 1's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from engram.config import MemoryConfig, engram_home
from engram.private import private_sqlite
from engram.stores.database import Database, Row, Tx, connect
from engram.stores.locks import Lock
from engram.stores.migrations import Migration, VersionSlot, migrate

log = logging.getLogger("engram.server")
Job = TypeVar("Job")

Run = Callable[..., list[Row]]  # run(sql, params=()) -> rows (empty for plain writes)


class StateDB:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.postgres = db.postgres

    def sql(self, text: str) -> str:
        text = text.format_map(_Names("engram_" if self.postgres else ""))
        return text.replace("?", self._db.mark)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One statement, in its own transaction."""
        return self._db.rows(self.sql(sql), params)

    @contextmanager
    def transaction(self, lock: Lock | None = None) -> Iterator[Run]:
        """A write transaction; `lock` serialises it with others holding the same key."""
        with self._db.transaction(lock) as tx:
            yield lambda sql, params=(): tx(self.sql(sql), params)

    def status_counts(self, table: str, org_id: str, project_id: str, *, hidden: str = "",
                      ) -> dict[str, int]:  # fmt: skip
        """How many of a project's rows of `table` (queued adds, webhook deliveries) are in
        each status; `hidden` is a status left out of the count."""
        rows = self.execute(
            f"SELECT status, count(*) FROM {{{table}}} WHERE org_id = ? AND project_id = ?"
            " AND status <> ? GROUP BY status",
            (org_id, project_id, hidden),
        )
        return {status: n for status, n in rows}

    def holding(self, lock: Lock) -> AbstractContextManager[bool]:
        return self._db.holding(lock)

    def close(self) -> None:
        self._db.close()


class _Names(dict[str, str]):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, name: str) -> str:
        return self.prefix + name


@dataclass(frozen=True)
class StateSchema:
    """One group of the server's tables and its steps in each dialect (DDL with `{table}`
    names)."""

    name: str
    sqlite: Sequence[Migration]
    postgres: Sequence[Migration]


_VERSIONS = (
    "CREATE TABLE IF NOT EXISTS {server_schema} (name text PRIMARY KEY, version integer NOT NULL)"
)


def _version_slot(state: StateDB, name: str) -> VersionSlot:
    def read(tx: Tx) -> int:
        tx(state.sql(_VERSIONS))
        rows = tx(state.sql("SELECT version FROM {server_schema} WHERE name = ?"), (name,))
        return int(rows[0][0]) if rows else 0

    def write(tx: Tx, version: int) -> None:
        upsert = ("INSERT INTO {server_schema} (name, version) VALUES (?, ?)"
                  " ON CONFLICT (name) DO UPDATE SET version = excluded.version")  # fmt: skip
        tx(state.sql(upsert), (name, version))

    return VersionSlot(read, write)


def open_state(location: Path | str, schema: StateSchema) -> StateDB:
    """Open a PostgreSQL URL or a SQLite path, and bring `schema`'s tables to this version."""
    private_sqlite(location)  # keys' hashes and queued messages: owner-only
    state = StateDB(connect(location))
    steps = schema.postgres if state.postgres else schema.sqlite
    try:
        migrate(state._db, [replace(step, ddl=state.sql(step.ddl)) for step in steps],
                _version_slot(state, schema.name), lock=Lock.SERVER_SCHEMA,
                name=f"server tables: {schema.name}")  # fmt: skip
    except BaseException:
        state.close()  # a bad URL must not leave the pool retrying in the background
        raise
    return state


def default_auth_path(database_path: Path | None = None) -> Path:
    """The SQLite file beside the memories database, so one ENGRAM_HOME holds everything."""
    base = database_path.parent if database_path else engram_home()
    return base / "server.db"


def state_location(config: MemoryConfig | None = None) -> Path | str:
    """Where the server's keys and events live: the memories' PostgreSQL, or `server.db`."""
    config = config or MemoryConfig()
    return config.database if config.is_postgres else default_auth_path(config.database_path())


def next_job(claim: Callable[[], Job | None], wake: threading.Event, poll: float,
             what: str) -> Job | None:  # fmt: skip
    """One worker step of a durable queue (queued adds, webhook deliveries): claim the next
    job, or else wait up to `poll` seconds for a wake-up (the wait also polls, for jobs other
    processes enqueued). A database briefly away is logged: the worker must outlive it."""
    try:
        job = claim()
    except Exception:
        log.exception("could not claim %s", what)
        job = None
    if job is None:
        wake.wait(poll)
        wake.clear()
    return job
