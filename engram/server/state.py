"""Where the server keeps its own tables (keys, projects, queued adds): a SQLite file beside
the memories, or the memories' PostgreSQL database so every server on every host shares them.

`StateDB` is a tiny seam over the two engines: SQL is written once, with `?` marks and
`{table}` names, and each engine maps them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

from engram.config import MemoryConfig, engram_home

# Advisory lock key ("engram" + 1); the memory store's schema lock is "engram" itself.
SCHEMA_LOCK = 0x656E6772616D + 1

Row = tuple[Any, ...]
Run = Callable[..., list[Row]]  # run(sql, params=()) -> rows (empty for plain writes)


class StateDB:
    """Where the server keeps its own tables: a SQLite file or a PostgreSQL database.

    SQL is written once, with `?` marks and `{table}` names; each engine maps them
    (`{api_keys}` is `api_keys` in SQLite, `engram_api_keys` in PostgreSQL).
    """

    postgres = False
    location: str

    def sql(self, text: str) -> str:
        return text.format_map(_Names("engram_" if self.postgres else ""))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """One statement in its own transaction."""
        with self.transaction() as run:
            return run(sql, params)

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[Run]:
        """A write transaction; `lock` serialises it with others holding the same key."""
        raise NotImplementedError
        yield  # pragma: no cover

    def create(self, sqlite_ddl: str, postgres_ddl: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _Names(dict[str, str]):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, name: str) -> str:
        return self.prefix + name


class SQLiteState(StateDB):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = apsw.Connection(str(self.path))
        self._db.setbusytimeout(10_000)  # several uvicorn workers share the file
        self._lock = threading.Lock()  # one connection, used by request and worker threads

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._db.execute(self.sql(sql), params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # autocommit: a lone statement is atomic, and reads must not take the write lock
        with self._lock:
            return self._run(sql, params)

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[Run]:
        # IMMEDIATE takes the write lock up front: it already serialises every writer.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._run
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def create(self, sqlite_ddl: str, postgres_ddl: str) -> None:
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(sqlite_ddl)

    def close(self) -> None:
        self._db.close()


class PostgresState(StateDB):
    postgres = True

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("PostgreSQL needs: pip install 'engram[postgres]'") from exc
        self.location = url
        self._connect = lambda: psycopg.connect(url, connect_timeout=10)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_size, kwargs={"connect_timeout": 10},
            open=True, name="engram-state",
        )  # fmt: skip

    @contextmanager
    def transaction(self, lock: int | None = None) -> Iterator[Run]:
        with self._pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))

            def run(sql: str, params: Sequence[Any] = ()) -> list[Row]:
                cur = conn.execute(self.sql(sql).replace("?", "%s"), params)
                return cur.fetchall() if cur.description else []

            yield run

    def create(self, sqlite_ddl: str, postgres_ddl: str) -> None:
        # A direct connection: a bad URL fails here, loudly, not as a pool timeout later.
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(self.sql(postgres_ddl))

    def close(self) -> None:
        self._pool.close()


def open_state(location: Path | str, sqlite_ddl: str, postgres_ddl: str) -> StateDB:
    """Open a PostgreSQL URL or a SQLite path, and create the tables (idempotent)."""
    db: StateDB
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        db = PostgresState(location)
    else:
        db = SQLiteState(location)
    try:
        db.create(sqlite_ddl, postgres_ddl)
    except BaseException:
        db.close()  # a bad URL must not leave the pool retrying in the background
        raise
    return db


def default_auth_path(database_path: Path | None = None) -> Path:
    """The SQLite file beside the memories database, so one ENGRAM_HOME holds everything."""
    base = database_path.parent if database_path else engram_home()
    return base / "server.db"


def state_location(config: MemoryConfig | None = None) -> Path | str:
    """Where the server's keys and events live: the memories' PostgreSQL, or `server.db`."""
    config = config or MemoryConfig()
    return config.database if config.is_postgres else default_auth_path(config.database_path())
