"""Orgs, projects and API keys for the server, in a small SQLite file beside the memories.

The interface is deliberately narrow (create_key, verify, list_keys, revoke) so a
PostgreSQL-backed store can replace `KeyStore` later without touching the routes.

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
from dataclasses import dataclass
from pathlib import Path

import apsw

from engram.config import engram_home
from engram.models import iso, utcnow

log = logging.getLogger("engram.server")

DEFAULT_ORG = "default"
DEFAULT_PROJECT = "default"
KEY_PREFIX = "eng_"
SHOWN_PREFIX_LEN = 12  # "eng_" + 8 chars: enough to tell keys apart in a listing
ENV_KEY = "ENGRAM_API_KEY"
KEY_FILE = "server_key"

_SCHEMA = """
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


def default_auth_path(database_path: Path | None = None) -> Path:
    """The keys live beside the memories database, so one ENGRAM_HOME holds everything."""
    base = database_path.parent if database_path else engram_home()
    return base / "server.db"


class KeyStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = apsw.Connection(str(self.path))
        self._db.setbusytimeout(10_000)  # several uvicorn workers share the file
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _ensure_project(self, org_id: str, project_id: str) -> None:
        now = iso(utcnow())
        self._db.execute("INSERT OR IGNORE INTO orgs VALUES (?, ?)", (org_id, now))
        self._db.execute(
            "INSERT OR IGNORE INTO projects VALUES (?, ?, ?)", (org_id, project_id, now)
        )

    def create_key(
        self, project: str = DEFAULT_PROJECT, *, org: str = DEFAULT_ORG, name: str | None = None
    ) -> str:
        """Create a key for `project`; the plaintext is returned once and never stored."""
        if not project or not project.strip():
            raise ValueError("project name must not be empty")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock, self._db:
            self._ensure_project(org, project)
            self._db.execute(
                "INSERT INTO api_keys (prefix, sha256, org_id, project_id, name, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key[:SHOWN_PREFIX_LEN], _digest(key), org, project, name, iso(utcnow())),
            )
        return key

    def verify(self, key: str | None) -> Principal | None:
        if not key:
            return None
        env_key = os.environ.get(ENV_KEY)
        if env_key and hmac.compare_digest(key.encode(), env_key.encode()):
            return Principal(DEFAULT_ORG, DEFAULT_PROJECT)
        # Looking up by digest leaks no useful timing: an attacker cannot steer the hash.
        with self._lock:
            row = self._db.execute(
                "SELECT org_id, project_id FROM api_keys WHERE sha256 = ? AND revoked_at IS NULL",
                (_digest(key),),
            ).fetchone()
        return Principal(*row) if row else None

    def list_keys(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        sql = "SELECT id, prefix, org_id, project_id, name, created_at, revoked_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id").fetchall()
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_or_prefix: str) -> int:
        """Revoke by full key, shown prefix or numeric id; returns how many keys were revoked."""
        now = iso(utcnow())
        with self._lock, self._db:
            self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL"
                " AND (sha256 = ? OR prefix = ? OR CAST(id AS TEXT) = ?)",
                (now, _digest(key_or_prefix), key_or_prefix, key_or_prefix),
            )
            return self._db.changes()

    def has_keys(self) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"
            ).fetchone()
        return row is not None

    def bootstrap(self, key_file: Path | None = None) -> Path | None:
        """First run: with no ENGRAM_API_KEY and no keys, mint one and write it to a 0600 file.

        Returns the file written, or None when nothing was needed. Runs inside one
        IMMEDIATE transaction so concurrent workers starting together mint only one key.
        """
        if os.environ.get(ENV_KEY):
            return None
        key_file = key_file or engram_home() / KEY_FILE
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone():
                    self._db.execute("COMMIT")
                    return None
                self._ensure_project(DEFAULT_ORG, DEFAULT_PROJECT)
                self._db.execute(
                    "INSERT INTO api_keys (prefix, sha256, org_id, project_id, name, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        key[:SHOWN_PREFIX_LEN],
                        _digest(key),
                        DEFAULT_ORG,
                        DEFAULT_PROJECT,
                        "bootstrap",
                        iso(utcnow()),
                    ),
                )
                _write_secret(key_file, key)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
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


def _store(path: Path | None) -> KeyStore:
    from engram.config import MemoryConfig

    return KeyStore(path or default_auth_path(MemoryConfig().database_path()))


def create_key(
    project: str = DEFAULT_PROJECT, *, name: str | None = None, path: Path | None = None
) -> str:
    store = _store(path)
    try:
        return store.create_key(project, name=name)
    finally:
        store.close()


def list_keys(*, include_revoked: bool = False, path: Path | None = None) -> list[KeyInfo]:
    store = _store(path)
    try:
        return store.list_keys(include_revoked=include_revoked)
    finally:
        store.close()


def revoke_key(key_or_prefix: str, *, path: Path | None = None) -> int:
    store = _store(path)
    try:
        return store.revoke(key_or_prefix)
    finally:
        store.close()
