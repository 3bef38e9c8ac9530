"""Orgs, projects and API keys for the server, kept with the memories.

With SQLite they are a small file beside the memories (`server.db` in ENGRAM_HOME); with
PostgreSQL they are `engram_*` tables in the memories' database, so every server process on
every host sees the same keys (see `engram.server.state`).

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
from dataclasses import dataclass
from pathlib import Path

from engram.config import MemoryConfig, engram_home
from engram.models import iso, utcnow
from engram.private import private_dir
from engram.server.state import Run, StateSchema, open_state, state_location
from engram.stores.locks import Lock
from engram.stores.migrations import Migration

log = logging.getLogger("engram.server")

DEFAULT_ORG = "default"
DEFAULT_PROJECT = "default"
KEY_PREFIX = "eng_"
SHOWN_PREFIX_LEN = 12  # "eng_" + 8 chars: enough to tell keys apart in a listing
ENV_KEY = "ENGRAM_API_KEY"
KEY_FILE = "server_key"


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

SCHEMA = StateSchema(
    "keys", sqlite=[Migration(1, _SQLITE_SCHEMA)], postgres=[Migration(1, _POSTGRES_SCHEMA)]
)

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


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """API keys of orgs/projects; `location` is a SQLite path or a PostgreSQL URL."""

    def __init__(self, location: Path | str) -> None:
        self._db = open_state(location, SCHEMA)

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
        run(_INSERT_KEY, (key[:SHOWN_PREFIX_LEN], key_digest(key), org, project, name, now))

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
        return self.verify_digest(key_digest(key)) if key else None

    def verify_digest(self, digest: str) -> Principal | None:
        """The principal of the key with this SHA-256 (a dashboard session holds the digest,
        never the key itself)."""
        env_key = os.environ.get(ENV_KEY)
        if env_key and hmac.compare_digest(digest.encode(), key_digest(env_key).encode()):
            return Principal(DEFAULT_ORG, DEFAULT_PROJECT)
        # Looking up by digest leaks no useful timing: an attacker cannot steer the hash.
        # No cache: a key revoked on one host must be refused by every host at once.
        rows = self._db.execute(
            "SELECT org_id, project_id FROM {api_keys} WHERE sha256 = ? AND revoked_at IS NULL",
            (digest,),
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
            (iso(utcnow()), key_digest(key_or_prefix), key_or_prefix, key_or_prefix),
        )
        return len(rows)

    def bootstrap(self, key_file: Path | None = None) -> Path | None:
        """First run: with no ENGRAM_API_KEY and no keys, mint one and write it to a 0600 file.

        Returns the file written, or None when nothing was needed. One locked transaction,
        so servers starting together (other workers, other hosts) mint only one key.
        """
        if os.environ.get(ENV_KEY):
            return None
        key_file = key_file or engram_home() / KEY_FILE
        key = _new_key()
        with self._db.transaction(lock=Lock.KEY_BOOTSTRAP) as run:
            if run("SELECT 1 FROM {api_keys} LIMIT 1"):
                return None
            self._insert(run, key, DEFAULT_ORG, DEFAULT_PROJECT, "bootstrap")
            _write_secret(key_file, key)  # inside: a failed write rolls the key back
        log.warning("created the first API key for project 'default'; it is in %s", key_file)
        return key_file


def _write_secret(path: Path, secret: str) -> None:
    private_dir(path.parent)
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
