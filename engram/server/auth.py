"""Orgs, projects and API keys for the server, kept with the memories.

With SQLite they are a small file beside the memories (`server.db` in ENGRAM_HOME); with
PostgreSQL they are `engram_*` tables in the memories' database, so every server process on
every host sees the same keys. Both go through `StateDB`, a tiny seam over the two engines
(events.py uses it too), so each store's SQL is written once.

Keys are `eng_` + 32 random bytes (urlsafe base64). Only their SHA-256 is stored. A slow
password hash (bcrypt, argon2) would buy nothing here: it protects low-entropy secrets
from offline guessing, while a 256-bit random token cannot be guessed even at billions of
SHA-256 per second, and `verify` runs on every request, so it must stay cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw

from engram.config import MemoryConfig, engram_home
from engram.models import iso, utcnow

log = logging.getLogger("engram.server")

DEFAULT_ORG = "default"
DEFAULT_PROJECT = "default"
KEY_PREFIX = "eng_"
SHOWN_PREFIX_LEN = 12  # "eng_" + 8 chars: enough to tell keys apart in a listing
ENV_KEY = "ENGRAM_API_KEY"
KEY_FILE = "server_key"

# Advisory lock keys ("engram" + n); the memory store's schema lock is "engram" itself.
SCHEMA_LOCK = 0x656E6772616D + 1
BOOTSTRAP_LOCK = 0x656E6772616D + 2


# ------------------------------------------------------------------- the SQL seam

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


# ------------------------------------------------------------------------ key store

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    org_id TEXT NOT NULL REFERENCES orgs(id), id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prefix TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {orgs} (
    id text COLLATE "C" PRIMARY KEY, created_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS {projects} (
    org_id text COLLATE "C" NOT NULL REFERENCES {orgs}(id), id text COLLATE "C" NOT NULL,
    created_at text NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE IF NOT EXISTS {api_keys} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix text COLLATE "C" NOT NULL,
    sha256 text COLLATE "C" NOT NULL UNIQUE,
    org_id text COLLATE "C" NOT NULL,
    project_id text COLLATE "C" NOT NULL,
    name text,
    created_at text NOT NULL,
    revoked_at text
);
"""

_INSERT_KEY = (
    "INSERT INTO {api_keys} (prefix, sha256, org_id, project_id, name, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Principal:
    """Who a request is: the org and project its key belongs to."""

    org_id: str
    project_id: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    prefix: str
    org_id: str
    project_id: str
    name: str | None
    created_at: str
    revoked_at: str | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """API keys of orgs/projects; `location` is a SQLite path or a PostgreSQL URL."""

    def __init__(self, location: Path | str) -> None:
        self._db = open_state(location, _SQLITE_SCHEMA, _POSTGRES_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _insert(run: Run, key: str, org: str, project: str, name: str | None) -> None:
        now = iso(utcnow())
        run("INSERT INTO {orgs} (id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (org, now))
        run(
            "INSERT INTO {projects} (org_id, id, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (org, project, now),
        )
        run(_INSERT_KEY, (key[:SHOWN_PREFIX_LEN], _digest(key), org, project, name, now))

    def create_key(
        self, project: str = DEFAULT_PROJECT, *, org: str = DEFAULT_ORG, name: str | None = None
    ) -> str:
        """Create a key for `project`; the plaintext is returned once and never stored."""
        if not project or not project.strip():
            raise ValueError("project name must not be empty")
        key = _new_key()
        with self._db.transaction() as run:
            self._insert(run, key, org, project, name)
        return key

    def verify(self, key: str | None) -> Principal | None:
        if not key:
            return None
        env_key = os.environ.get(ENV_KEY)
        if env_key and hmac.compare_digest(key.encode(), env_key.encode()):
            return Principal(DEFAULT_ORG, DEFAULT_PROJECT)
        # Looking up by digest leaks no useful timing: an attacker cannot steer the hash.
        # No cache: a key revoked on one host must be refused by every host at once.
        rows = self._db.execute(
            "SELECT org_id, project_id FROM {api_keys} WHERE sha256 = ? AND revoked_at IS NULL",
            (_digest(key),),
        )
        return Principal(*rows[0]) if rows else None

    def list_keys(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        sql = "SELECT id, prefix, org_id, project_id, name, created_at, revoked_at FROM {api_keys}"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        return [KeyInfo(*row) for row in self._db.execute(sql + " ORDER BY id")]

    def revoke(self, key_or_prefix: str) -> int:
        """Revoke by full key, shown prefix or numeric id; returns how many keys were revoked."""
        rows = self._db.execute(
            "UPDATE {api_keys} SET revoked_at = ? WHERE revoked_at IS NULL"
            " AND (sha256 = ? OR prefix = ? OR CAST(id AS TEXT) = ?) RETURNING id",
            (iso(utcnow()), _digest(key_or_prefix), key_or_prefix, key_or_prefix),
        )
        return len(rows)

    def has_keys(self) -> bool:
        return bool(self._db.execute("SELECT 1 FROM {api_keys} WHERE revoked_at IS NULL LIMIT 1"))

    def bootstrap(self, key_file: Path | None = None) -> Path | None:
        """First run: with no ENGRAM_API_KEY and no keys, mint one and write it to a 0600 file.

        Returns the file written, or None when nothing was needed. One locked transaction,
        so servers starting together (other workers, other hosts) mint only one key.
        """
        if os.environ.get(ENV_KEY):
            return None
        key_file = key_file or engram_home() / KEY_FILE
        key = _new_key()
        with self._db.transaction(lock=BOOTSTRAP_LOCK) as run:
            if run("SELECT 1 FROM {api_keys} LIMIT 1"):
                return None
            self._insert(run, key, DEFAULT_ORG, DEFAULT_PROJECT, "bootstrap")
            _write_secret(key_file, key)  # inside: a failed write rolls the key back
        log.warning("created the first API key for project 'default'; it is in %s", key_file)
        return key_file


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply when the file already existed


# ----------------------------------------------------------------- CLI-facing functions
# `engram keys create|list|revoke` wraps these; each opens and closes the store itself.
# The store is the server's for the same settings: an explicit SQLite `path` (the CLI's
# --home) wins, then `database` or ENGRAM_DATABASE (a PostgreSQL URL keeps keys there),
# then server.db in ENGRAM_HOME.


def _store(path: Path | None, database: str | None) -> KeyStore:
    if path:
        return KeyStore(path)
    return KeyStore(state_location(MemoryConfig(database=database) if database else None))


def create_key(
    project: str = DEFAULT_PROJECT,
    *,
    name: str | None = None,
    path: Path | None = None,
    database: str | None = None,
) -> str:
    store = _store(path, database)
    try:
        return store.create_key(project, name=name)
    finally:
        store.close()


def list_keys(
    *, include_revoked: bool = False, path: Path | None = None, database: str | None = None
) -> list[KeyInfo]:
    store = _store(path, database)
    try:
        return store.list_keys(include_revoked=include_revoked)
    finally:
        store.close()


def revoke_key(key_or_prefix: str, *, path: Path | None = None, database: str | None = None) -> int:
    store = _store(path, database)
    try:
        return store.revoke(key_or_prefix)
    finally:
        store.close()
