"""Connections to Engram's databases, the one SQL seam under every table Engram keeps.

A SQLite file gets one connection per process; a PostgreSQL URL gets one pool per process.
Everything in a process that uses the same database shares it: the memory store, the
server's keys and projects, and its queued adds (`connect` counts the users; the last
`close` closes it). Both engines offer the same three calls:

    db.rows(sql, params)              one statement, in its own transaction
    with db.transaction(lock) as tx:  several statements, all or nothing;
        tx(sql, params)               `lock` (engram.stores.locks) serialises the transaction
        tx.many(sql, param_rows)      with others holding it (PostgreSQL; SQLite's write
                                      transactions are serial already)
    with db.holding(lock) as held:    `lock` for work spanning many transactions, taken only
                                      if free (`held`), with no transaction open meanwhile

SQL is written in the engine's own parameter marks (`db.mark`). A driver failure that means
"the database is unreachable or busy" becomes `BackendError`, so callers (and the server's
503) need not know the driver.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from engram.errors import BackendError
from engram.stores.locks import Lock

Row = tuple[Any, ...]
log = logging.getLogger(__name__)
_CHECKPOINT_PASSIVE = 0  # apsw.SQLITE_CHECKPOINT_PASSIVE, without importing apsw here
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_EXTRA = (
    "PostgreSQL needs psycopg, psycopg-pool and pgvector: pip install 'engram[postgres]'"
)


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


class Tx:
    """The statements of one open transaction."""

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def many(self, sql: str, param_rows: Sequence[Sequence[Any]]) -> None:
        for params in param_rows:
            self(sql, params)

    def steps(self, steps: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """`many` for each (sql, param rows) in order; an engine that can sends them all
        before waiting for any (PostgreSQL's pipeline mode)."""
        for sql, param_rows in steps:
            self.many(sql, param_rows)


class Database:
    postgres: bool
    mark: str  # the engine's parameter mark
    location: str
    label: str  # the location, safe to print (no password)

    def __init__(self) -> None:
        self._users = 0

    def rows(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[Row]:
        """The rows of one statement, outside any transaction. binary=True: results in the
        engine's binary form where the wire has a text one (PostgreSQL sends bytea as hex
        text: twice the bytes, and 1.7 against 1.1 s for 100,000 vectors)."""
        raise NotImplementedError

    @contextmanager
    def transaction(self, lock: Lock | None = None) -> Iterator[Tx]:
        raise NotImplementedError
        yield  # pragma: no cover

    engine: str  # how messages name it
    _errors: tuple[type[BaseException], ...] = ()  # the driver's "unreachable or busy" errors

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self._errors as exc:
            raise BackendError(f"{self.engine} {self.label}: {exc}") from exc

    def close(self) -> None:
        """Release this user's share; the connection closes with its last user."""
        with _registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            _registry.pop((os.getpid(), self.location), None)
        self._close()

    @contextmanager
    def holding(self, lock: Lock) -> Iterator[bool]:
        """Take `lock` for every process sharing this database if no one holds it; yields
        whether it was taken. Nothing else waits on it: no transaction stays open."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _close(self) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------- SQLite


class _SQLiteTx(Tx):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(sql, params))

    def many(self, sql: str, param_rows: Sequence[Sequence[Any]]) -> None:
        if param_rows:
            self._conn.executemany(sql, param_rows)


class _Checkpointer:
    """Copies a WAL file's committed pages back into the database on a thread of its own,
    so that no commit waits for it: SQLite's automatic checkpoint runs inside the commit
    that takes the log past 1,000 pages, and one user's 100,000 memories took ~20 ms of
    each batched add of 100 there (adds one at a time and batched ~8% faster without it).
    The connection's WAL hook (which replaces the automatic one) wakes the thread after a
    commit leaves the log past `PAGES`; the thread checkpoints PASSIVE on its own
    connection, never waiting on readers or writers, as the automatic one does."""

    PAGES = 1_000  # SQLite's default wal_autocheckpoint

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._failed = False  # the thread could not open its connection: checkpoint inline

    def hook(self, conn: Any, _name: str, pages: int) -> int:
        """The WAL hook: called after each commit with the log's size in pages."""
        if pages < self.PAGES or self._closed:
            return 0
        if self._failed:  # as the automatic checkpoint would have
            conn.wal_checkpoint(mode=_CHECKPOINT_PASSIVE)
            return 0
        if self._thread is None or self._pid != os.getpid():  # a forked child starts its own
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="engram-checkpoint",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        self._wake.set()
        return 0

    def _run(self) -> None:
        import apsw

        try:
            conn = apsw.Connection(self._path)
            # a connection that has read nothing does not know the file is in WAL mode
            # yet, and its checkpoints do nothing
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except apsw.Error as exc:
            log.warning("checkpointing %s in its commits: %s", self._path, exc)
            self._failed = True
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closed:
                    return
                try:
                    conn.wal_checkpoint(mode=_CHECKPOINT_PASSIVE)
                except apsw.Error as exc:  # busy or gone: the next commit wakes it again
                    log.debug("checkpoint of %s skipped: %s", self._path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=10)


class SQLiteDatabase(Database):
    """One WAL-mode file. Uses `apsw` because the interpreter's bundled `sqlite3` module is
    often built without extension loading, and sqlite-vec (a loadable extension) computes
    vector distances inside SQL, so a filtered search never leaves the database."""

    postgres = False
    mark = "?"
    engine = "SQLite database"

    def __init__(self, path: str) -> None:
        import apsw
        import sqlite_vec

        super().__init__()
        self.location = self.label = path
        self._errors = (apsw.BusyError, apsw.CantOpenError, apsw.IOError, apsw.FullError)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._translated():
            self._conn = apsw.Connection(path)
        self._conn.set_busy_timeout(10_000)  # other processes share the file
        self._conn.enable_load_extension(True)
        self._conn.load_extension(sqlite_vec.loadable_path())
        self._conn.enable_load_extension(False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._checkpointer: _Checkpointer | None = None
        if path != ":memory:":
            self._checkpointer = _Checkpointer(path)
            self._conn.set_wal_hook(self._checkpointer.hook)
        # One connection serves every thread: the lock keeps one thread's transaction
        # from interleaving with another's statements.
        self._lock = threading.RLock()

    def rows(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[Row]:
        with self._lock, self._translated():
            return list(self._conn.execute(sql, params))

    @contextmanager
    def transaction(self, lock: Lock | None = None) -> Iterator[Tx]:
        # IMMEDIATE takes the file's write lock up front: writers are serial, so no
        # advisory lock is needed, and no transaction fails half-way upgrading its lock.
        with self._lock, self._translated():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                if not self._conn.getautocommit():
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def holding(self, lock: Lock) -> Iterator[bool]:
        # An OS lock on a file beside the database: a write transaction would hold the
        # file's write lock (and this connection) for the whole work, stalling every reader.
        if self.location == ":memory:":  # a private database: no one to share it with
            yield True
            return
        fd = os.open(f"{self.location}-{lock.name.lower()}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self._conn.close()


def loads_json(value: str | bytes) -> Any:
    """json.loads, 3x faster: a search decodes the sources of ~120 candidates (~0.5 ms saved
    of ~16 us a row on SQLite; on PostgreSQL, where psycopg decodes jsonb with it, 0.24 of
    2.6 ms a search under a profiler). Two things json.dumps may write, orjson refuses (NaN,
    integers past 64 bits): those go to the standard parser."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


# ---------------------------------------------------------------------------- PostgreSQL


class _PostgresTx(Tx):
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def many(self, sql: str, param_rows: Sequence[Sequence[Any]]) -> None:
        if param_rows:
            with self._conn.cursor() as cur:
                cur.executemany(sql, param_rows)

    def steps(self, steps: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        # one round trip for a whole write batch, not one per statement
        with self._conn.pipeline(), self._conn.cursor() as cur:
            for sql, param_rows in steps:
                if param_rows:
                    cur.executemany(sql, param_rows)


class PostgresDatabase(Database):
    """A connection pool. pgvector is created here, once, because every pooled connection
    registers the `vector` type when it opens, whichever table the process uses first."""

    postgres = True
    mark = "%s"
    engine = "PostgreSQL"

    def __init__(self, url: str, *, max_size: int = 8) -> None:
        try:
            import psycopg
            from pgvector.psycopg import register_vector
            from psycopg.types.json import set_json_loads
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError(POSTGRES_EXTRA) from exc
        super().__init__()
        self.location, self.label = url, _without_password(url)
        self._errors = (psycopg.OperationalError, PoolTimeout)
        # Connect once directly: a bad URL or a missing extension fails here, loudly,
        # instead of as a pool timeout on the first query.
        with (
            self._translated(),
            psycopg.connect(url, connect_timeout=10) as conn,
            conn.transaction(),
        ):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(Lock.MEMORY_SCHEMA),))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")

        def configure(conn: Any) -> None:
            register_vector(conn)
            set_json_loads(loads_json, conn)

        # Autocommit: a read is one statement, its own transaction. Without it each read
        # also sent BEGIN and, back in the pool, ROLLBACK: two more round trips for each of
        # a search's ~15 statements. `transaction` still opens one (BEGIN ... COMMIT).
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_size, configure=configure,
            kwargs={"connect_timeout": 10, "autocommit": True}, open=True, name="engram",
        )  # fmt: skip

    def rows(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[Row]:
        with self._translated(), self._pool.connection() as conn:
            if binary:
                return conn.execute(sql, params, binary=True).fetchall()
            return _PostgresTx(conn)(sql, params)

    @contextmanager
    def transaction(self, lock: Lock | None = None) -> Iterator[Tx]:
        with self._translated(), self._pool.connection() as conn, conn.transaction():
            if lock is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(lock),))
            yield _PostgresTx(conn)

    @contextmanager
    def holding(self, lock: Lock) -> Iterator[bool]:
        # A session lock on one pooled connection, committed at once: no transaction stays
        # open while it is held, and it is released before the connection goes back.
        with self._translated(), self._pool.connection() as conn:
            held = conn.execute("SELECT pg_try_advisory_lock(%s)", (int(lock),)).fetchone()[0]
            conn.commit()
            try:
                yield bool(held)
            finally:
                if held:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (int(lock),))
                    conn.commit()

    def _close(self) -> None:
        self._pool.close()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ---------------------------------------------------------------------------- sharing

_registry: dict[tuple[int, str], Database] = {}
_registry_lock = threading.Lock()


def connect(location: str | Path) -> Database:
    """The process's connection (SQLite) or pool (PostgreSQL) for `location`; call `close()`
    on it when done. Keyed by process too: a forked worker must not reuse its parent's."""
    if is_postgres_url(location):
        key = str(location)
    elif str(location) == ":memory:":
        key = ":memory:"
    else:
        key = str(Path(location).expanduser().resolve())
    with _registry_lock:
        db = _registry.get((os.getpid(), key))
        if db is None or key == ":memory:":  # each in-memory database is a new one
            db = PostgresDatabase(key) if is_postgres_url(key) else SQLiteDatabase(key)
            if key != ":memory:":
                _registry[(os.getpid(), key)] = db
        db._users += 1
        return db
