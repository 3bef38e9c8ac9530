"""Webhooks: per-project HTTP callbacks for memory changes, delivered from a durable queue.

Every write to the memory store is a `WriteBatch` carrying its history entries; the server's
store is wrapped (`ObservedStore`) so each committed batch becomes deliveries: one row per
(change, subscribed webhook) in `webhook_deliveries` (server.db, or `engram_webhook_deliveries`
in PostgreSQL), written HELD before the batch and released after its commit; HELD rows a dead
process left are released if the batch's history entry is in the store (it committed) and
dropped otherwise, so a crash between the two databases loses no change. A dispatcher thread
in every server process claims due rows with a lease, POSTs them, and records each attempt.
A failure (non-2xx, timeout, refused) is retried with exponential backoff; a process that
dies mid-delivery leaves a lease that runs out, and any server (the same one after a
restart) delivers again. Delivery is therefore at least once; the delivery id (header
`X-Engram-Delivery`, body `delivery_id`) is stable across retries so a receiver can drop
repeats.

Each request is signed: `X-Engram-Signature: v1=<hex HMAC-SHA256(secret, f"{t}." + body)>`
with `t` the `X-Engram-Timestamp` (Unix seconds, fresh on every attempt). `verify_signature`
is the receiver's check (docs/server.md shows it without Engram installed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from engram.errors import InvalidInputError, NotFoundError
from engram.models import Event, HistoryEntry, MemoryRecord, iso, utcnow
from engram.server.auth import Principal
from engram.server.state import StateSchema, next_job, open_state
from engram.stores.base import WriteBatch
from engram.stores.migrations import Migration

log = logging.getLogger("engram.server.webhooks")

EVENT_TYPES = ("memory_add", "memory_update", "memory_delete", "memory_categorize")
_BY_HISTORY = {Event.ADD: "memory_add", Event.UPDATE: "memory_update",
               Event.DELETE: "memory_delete"}  # fmt: skip
SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300  # a receiver refuses signatures older than this (replays)
MAX_NAME_CHARS, MAX_URL_CHARS = 200, 2000
DELIVERY_STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")


class Settings:
    """Delivery settings, from the environment (each server process reads its own)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.timeout = float(env.get("ENGRAM_WEBHOOK_TIMEOUT_SECONDS") or 10)
        self.backoff = float(env.get("ENGRAM_WEBHOOK_BACKOFF_SECONDS") or 2)
        self.max_backoff = float(env.get("ENGRAM_WEBHOOK_MAX_BACKOFF_SECONDS") or 3600)
        self.max_attempts = int(env.get("ENGRAM_WEBHOOK_MAX_ATTEMPTS") or 10)
        self.poll = float(env.get("ENGRAM_WEBHOOK_POLL_SECONDS") or 1)
        self.threads = max(1, int(env.get("ENGRAM_WEBHOOK_THREADS") or 4))
        # a claim outlives any one request, so a live dispatcher never loses its claim
        self.lease = self.timeout + 5
        # a write holds its deliveries this long at most; older HELD ones were cut off
        self.hold = float(env.get("ENGRAM_WEBHOOK_HOLD_SECONDS") or 60)

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failures: backoff, 2x, 4x, ..."""
        return min(self.backoff * 2 ** (attempts - 1), self.max_backoff)


# ---------------------------------------------------------------------------- signing


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Engram-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp, signature = lower.get("x-engram-timestamp", ""), lower.get("x-engram-signature")
    if not timestamp.isdigit() or not signature:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# ---------------------------------------------------------------------------- tables

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, org_id TEXT NOT NULL, project_id TEXT NOT NULL,
    name TEXT NOT NULL, url TEXT NOT NULL, event_types TEXT NOT NULL, secret TEXT NOT NULL,
    is_active INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_project ON webhooks (project_id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
    webhook_id INTEGER NOT NULL, org_id TEXT NOT NULL, project_id TEXT NOT NULL,
    event_type TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    worker TEXT, lease_until REAL, last_status_code INTEGER, last_error TEXT,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_hook ON webhook_deliveries (webhook_id, seq);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL,
    status_code INTEGER, error TEXT, duration_ms INTEGER, worker TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
"""

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {webhooks} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id text COLLATE "C" NOT NULL, project_id text COLLATE "C" NOT NULL,
    name text NOT NULL, url text NOT NULL, event_types text NOT NULL, secret text NOT NULL,
    is_active integer NOT NULL, created_at text NOT NULL, updated_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS {webhooks}_project ON {webhooks} (project_id);
CREATE TABLE IF NOT EXISTS {webhook_deliveries} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text COLLATE "C" UNIQUE NOT NULL,
    webhook_id bigint NOT NULL, org_id text COLLATE "C" NOT NULL,
    project_id text COLLATE "C" NOT NULL,
    event_type text NOT NULL, payload text NOT NULL, status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0, next_attempt_at double precision NOT NULL,
    worker text, lease_until double precision, last_status_code integer, last_error text,
    created_at text NOT NULL, updated_at text NOT NULL, delivered_at text
);
CREATE INDEX IF NOT EXISTS {webhook_deliveries}_due
    ON {webhook_deliveries} (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS {webhook_deliveries}_hook ON {webhook_deliveries} (webhook_id, seq);
CREATE TABLE IF NOT EXISTS {webhook_attempts} (
    delivery_id text COLLATE "C" NOT NULL, attempt integer NOT NULL, at text NOT NULL,
    status_code integer, error text, duration_ms integer, worker text,
    PRIMARY KEY (delivery_id, attempt)
);
"""

SCHEMA = StateSchema(
    "webhooks", sqlite=[Migration(1, _SQLITE_SCHEMA)], postgres=[Migration(1, _POSTGRES_SCHEMA)]
)

_HOOK_COLS = ("id, org_id, project_id, name, url, event_types, secret, is_active,"
              " created_at, updated_at")
_DELIVERY_COLS = ("id, webhook_id, event_type, status, attempts, next_attempt_at,"
                  " last_status_code, last_error, created_at, updated_at, delivered_at,"
                  " payload")

# The oldest due delivery: pending and its time has come, or claimed by a process whose
# lease ran out (it died mid-delivery). {skip_locked} is empty on SQLite (one writer).
_CLAIM = (
    "UPDATE {webhook_deliveries} SET status = 'RUNNING', worker = ?, lease_until = ?,"
    " updated_at = ? WHERE id = (SELECT id FROM {webhook_deliveries}"
    " WHERE (status = 'PENDING' AND next_attempt_at <= ?)"
    " OR (status = 'RUNNING' AND lease_until < ?) ORDER BY seq LIMIT 1{skip_locked})"
    " RETURNING id, webhook_id, event_type, payload, attempts"
)


# ---------------------------------------------------------------------------- validation


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise InvalidInputError(f"url must be a string of at most {MAX_URL_CHARS} characters",
                                field="url")  # fmt: skip
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("url must be an absolute http:// or https:// URL", field="url")
    return url.strip()


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(
            f"name must be a non-empty string of at most {MAX_NAME_CHARS} characters", field="name"
        )
    return name.strip()


def _check_event_types(values: Any) -> list[str]:
    if not isinstance(values, list) or not values:
        raise InvalidInputError(
            f"event_types must be a non-empty list of {', '.join(EVENT_TYPES)}",
            field="event_types",
        )
    for i, value in enumerate(values):
        if value not in EVENT_TYPES:
            raise InvalidInputError(
                f"event_types[{i}]: {value!r} is not one of {', '.join(EVENT_TYPES)}",
                field=f"event_types[{i}]",
            )
    return list(dict.fromkeys(values))


def _check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise InvalidInputError("secret must be a string of 16 to 200 characters", field="secret")
    return secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------- the store


class WebhookStore:
    """Webhooks, their deliveries and every attempt; `location` is a SQLite path or a
    PostgreSQL URL (the server's state database)."""

    def __init__(self, location: Path | str, settings: Settings | None = None) -> None:
        self._db = open_state(location, SCHEMA)
        self.postgres = self._db.postgres
        self.settings = settings or Settings()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_enqueue: Callable[[], None] = lambda: None  # the dispatcher's wake-up

    def close(self) -> None:
        self._db.close()

    # --------------------------------------------------------------- webhooks

    def create(self, who: Principal, *, url: Any, name: Any = None,
               event_types: Any = None, secret: Any = None) -> dict[str, Any]:  # fmt: skip
        url = _check_url(url)
        name = _check_name(name) if name is not None else urlsplit(url).hostname
        types = _check_event_types(event_types) if event_types is not None else list(EVENT_TYPES)
        secret = _check_secret(secret) if secret is not None else new_secret()
        now = iso(utcnow())
        ((hook_id,),) = self._db.execute(
            "INSERT INTO {webhooks} (org_id, project_id, name, url, event_types, secret,"
            " is_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING id",
            (who.org_id, who.project_id, name, url, json.dumps(types), secret, now, now),
        )
        return self.get(who, hook_id)

    def list(self, who: Principal) -> list[dict[str, Any]]:
        rows = self._db.execute(
            f"SELECT {_HOOK_COLS} FROM {{webhooks}} WHERE org_id = ? AND project_id = ?"
            " ORDER BY id",
            (who.org_id, who.project_id),
        )
        return [_hook_dict(r) for r in rows]

    def get(self, who: Principal, hook_id: Any) -> dict[str, Any]:
        rows = self._db.execute(
            f"SELECT {_HOOK_COLS} FROM {{webhooks}}"
            " WHERE id = ? AND org_id = ? AND project_id = ?",
            (_hook_id(hook_id), who.org_id, who.project_id),
        )
        if not rows:
            raise NotFoundError(f"webhook {hook_id!r} not found", field="webhook_id")
        return _hook_dict(rows[0])

    def update(self, who: Principal, hook_id: Any, **changes: Any) -> dict[str, Any]:
        self.get(who, hook_id)  # 404 before any change
        checks = {"url": _check_url, "name": _check_name, "event_types": _check_event_types,
                  "secret": _check_secret, "is_active": _check_active}  # fmt: skip
        values = {k: checks[k](v) for k, v in changes.items() if v is not None}
        if not values:
            raise InvalidInputError(
                "update needs at least one of name, url, event_types, is_active, secret",
                field="body",
            )
        if "event_types" in values:
            values["event_types"] = json.dumps(values["event_types"])
        values["updated_at"] = iso(utcnow())
        sets = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(
            f"UPDATE {{webhooks}} SET {sets} WHERE id = ? AND org_id = ? AND project_id = ?",
            (*values.values(), _hook_id(hook_id), who.org_id, who.project_id),
        )
        if values.get("is_active") == 0:
            self._cancel_pending(_hook_id(hook_id))
        return self.get(who, hook_id)

    def delete(self, who: Principal, hook_id: Any) -> None:
        """Remove the webhook; its undelivered events are cancelled, its log is kept."""
        self.get(who, hook_id)
        self._db.execute(
            "DELETE FROM {webhooks} WHERE id = ? AND org_id = ? AND project_id = ?",
            (_hook_id(hook_id), who.org_id, who.project_id),
        )
        self._cancel_pending(_hook_id(hook_id))

    def _cancel_pending(self, hook_id: int) -> None:
        self._db.execute(
            "UPDATE {webhook_deliveries} SET status = 'CANCELLED', updated_at = ?"
            " WHERE webhook_id = ? AND status = 'PENDING'",
            (iso(utcnow()), hook_id),
        )

    # --------------------------------------------------------------- deliveries

    def hold(self, project: str, changes: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Record the deliveries of a write about to commit, HELD until `release` (after the
        commit) or `drop` (it failed); a process that dies in between leaves them HELD, and
        `recover_held` settles them by whether the write's history entry exists."""
        return self._insert(project, changes, "HELD")

    def release(self, ids: Sequence[str]) -> None:
        if ids:
            self._set_held(ids, "UPDATE {webhook_deliveries} SET status = 'PENDING'")
            self.on_enqueue()

    def drop(self, ids: Sequence[str]) -> None:
        if ids:
            self._set_held(ids, "DELETE FROM {webhook_deliveries}")

    def _set_held(self, ids: Sequence[str], statement: str) -> None:
        marks = ", ".join("?" * len(ids))
        self._db.execute(f"{statement} WHERE status = 'HELD' AND id IN ({marks})", ids)

    def recover_held(self, store: Any) -> int:
        """Release the HELD deliveries whose write committed (its history entry is in
        `store`) and drop the others; only those held longer than any live write takes."""
        rows = self._db.execute(
            "SELECT id, project_id, payload FROM {webhook_deliveries}"
            " WHERE status = 'HELD' AND next_attempt_at < ?",
            (time.time() - self.settings.hold,),
        )
        committed, failed = [], []
        for delivery_id, project, payload in rows:
            details = json.loads(payload)["event_details"]
            known = {h.id for h in store.history(project, details["id"])}
            (committed if details.get("history_id") in known else failed).append(delivery_id)
        self.release(committed)
        self.drop(failed)
        return len(committed)

    def enqueue(self, project: str, changes: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """One delivery per (change, active webhook of `project` subscribed to its type)."""
        ids = self._insert(project, changes, "PENDING")
        if ids:
            self.on_enqueue()
        return len(ids)

    def _insert(self, project: str, changes: Sequence[tuple[str, dict[str, Any]]],
                status: str) -> list[str]:  # fmt: skip
        if not changes:
            return []
        hooks = self._db.execute(
            "SELECT id, org_id, event_types FROM {webhooks}"
            " WHERE project_id = ? AND is_active = 1",
            (project,),
        )
        now, due = iso(utcnow()), time.time()
        rows = []
        for hook_id, org_id, types in hooks:
            wanted = set(json.loads(types))
            for event_type, details in changes:
                if event_type in wanted:
                    delivery_id = f"dlv_{uuid.uuid4().hex}"
                    body = {"delivery_id": delivery_id, "event_type": event_type,
                            "webhook_id": hook_id, "project_id": project,
                            "event_details": details}  # fmt: skip
                    payload = json.dumps(body, ensure_ascii=False)
                    rows.append((delivery_id, hook_id, org_id, project, event_type, payload,
                                 status, due, now, now))  # fmt: skip
        if rows:
            with self._db.transaction() as run:
                for row in rows:
                    run(
                        "INSERT INTO {webhook_deliveries} (id, webhook_id, org_id, project_id,"
                        " event_type, payload, status, next_attempt_at, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
        return [row[0] for row in rows]

    def claim(self) -> dict[str, Any] | None:
        """Take the oldest due delivery (with its webhook's url and secret), or None."""
        now = time.time()
        sql = _CLAIM.replace("{skip_locked}", " FOR UPDATE SKIP LOCKED" if self.postgres else "")
        with self._db.transaction() as run:
            rows = run(sql, (self.worker_id, now + self.settings.lease, iso(utcnow()), now, now))
            if not rows:
                return None
            delivery_id, hook_id, event_type, payload, attempts = rows[0]
            hook = run("SELECT url, secret FROM {webhooks} WHERE id = ? AND is_active = 1",
                       (hook_id,))  # fmt: skip
            if not hook:  # deleted or paused since: nothing to send
                run("UPDATE {webhook_deliveries} SET status = 'CANCELLED' WHERE id = ?",
                    (delivery_id,))  # fmt: skip
                return {}
        return {"id": delivery_id, "webhook_id": hook_id, "event_type": event_type,
                "body": payload.encode(), "attempts": attempts,
                "url": hook[0][0], "secret": hook[0][1]}  # fmt: skip

    def record(self, job: dict[str, Any], status_code: int | None, error: str | None,
               duration_ms: int) -> str:  # fmt: skip
        """Log one attempt and settle the delivery: SUCCEEDED, PENDING (retry) or FAILED."""
        attempt = job["attempts"] + 1
        ok = error is None and status_code is not None and 200 <= status_code < 300
        if ok:
            status, due = "SUCCEEDED", 0.0
        elif attempt >= self.settings.max_attempts:
            status, due = "FAILED", 0.0
        else:
            status, due = "PENDING", time.time() + self.settings.delay(attempt)
        now = iso(utcnow())
        with self._db.transaction() as run:
            run(
                "INSERT INTO {webhook_attempts} (delivery_id, attempt, at, status_code, error,"
                " duration_ms, worker) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (job["id"], attempt, now, status_code, error, duration_ms, self.worker_id),
            )
            run(
                "UPDATE {webhook_deliveries} SET status = ?, attempts = ?, next_attempt_at = ?,"
                " last_status_code = ?, last_error = ?, worker = NULL, lease_until = NULL,"
                " updated_at = ?, delivered_at = ? WHERE id = ? AND worker = ?",
                (status, attempt, due, status_code, error, now, now if ok else None,
                 job["id"], self.worker_id),
            )  # fmt: skip
        return status

    def deliveries(self, who: Principal, *, webhook_id: Any = None, limit: int = 50,
                   offset: int = 0) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
        """The delivery log, newest first, each with its attempts (the API and dashboard)."""
        where = "org_id = ? AND project_id = ? AND status <> 'HELD'"
        params = [who.org_id, who.project_id]
        if webhook_id is not None:
            where += " AND webhook_id = ?"
            params.append(_hook_id(webhook_id))
        ((total,),) = self._db.execute(
            f"SELECT count(*) FROM {{webhook_deliveries}} WHERE {where}", params
        )
        rows = self._db.execute(
            f"SELECT {_DELIVERY_COLS} FROM {{webhook_deliveries}} WHERE {where}"
            " ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        out = [_delivery_dict(r) for r in rows]
        attempts = self._attempts([d["id"] for d in out])
        for d in out:
            d["attempt_log"] = attempts.get(d["id"], [])
        return total, out

    def status_counts(self, who: Principal) -> dict[str, int]:
        """How many of the project's deliveries are in each status."""
        return self._db.status_counts(
            "webhook_deliveries", who.org_id, who.project_id, hidden="HELD"
        )

    def _attempts(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT delivery_id, attempt, at, status_code, error, duration_ms"
            f" FROM {{webhook_attempts}} WHERE delivery_id IN ({marks}) ORDER BY attempt",
            ids,
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for delivery_id, attempt, at, code, error, ms in rows:
            entry = {"attempt": attempt, "at": at, "status_code": code, "error": error,
                     "duration_ms": ms}  # fmt: skip
            out.setdefault(delivery_id, []).append(entry)
        return out


def _check_active(value: Any) -> int:
    if not isinstance(value, bool):
        raise InvalidInputError("is_active must be true or false", field="is_active")
    return int(value)


def _hook_id(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise NotFoundError(f"webhook {value!r} not found", field="webhook_id") from None


def _hook_dict(row: Sequence[Any]) -> dict[str, Any]:
    hook_id, org, project, name, url, types, secret, active, created, updated = row
    return {"webhook_id": hook_id, "name": name, "url": url, "event_types": json.loads(types),
            "is_active": bool(active), "project": project, "project_id": project,
            "org_id": org, "secret": secret, "created_at": created,
            "updated_at": updated}  # fmt: skip


def _delivery_dict(row: Sequence[Any]) -> dict[str, Any]:
    keys = [k.strip() for k in _DELIVERY_COLS.split(",")]
    out = dict(zip(keys, row, strict=True))
    out["payload"] = json.loads(out["payload"])
    due = out.pop("next_attempt_at")
    pending = out["status"] == "PENDING"
    out["next_attempt_at"] = iso(datetime.fromtimestamp(due, UTC)) if pending else None
    return out


# ---------------------------------------------------------------------------- changes


def changes_of(batch: WriteBatch) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The webhook events of one committed write, by project: a history entry is an add,
    update or delete; an add or extracted update that carries categories is also a
    categorisation."""
    records = {r.id: r for r, _ in batch.upserts} | {r.id: r for r in batch.deletes}
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for h in batch.history:
        event_type = _BY_HISTORY.get(h.event)
        if event_type is None:
            continue
        record = records.get(h.memory_id)
        details = _details(h, record)
        changes = out.setdefault(h.project, [])
        changes.append((event_type, details))
        tagged = record is not None and record.categories and h.event != Event.DELETE
        if tagged and (h.event == Event.ADD or h.actor == "extraction"):
            changes.append(("memory_categorize", {**details, "event": "CATEGORIZE"}))
    return out


def _details(h: HistoryEntry, record: MemoryRecord | None) -> dict[str, Any]:
    data: dict[str, Any] = {"memory": h.new_memory if h.event != Event.DELETE else h.old_memory}
    if h.event == Event.UPDATE:
        data["previous_memory"] = h.old_memory
    if record is not None:
        data.update(record.scope())
        data.update(categories=record.categories, metadata=record.metadata or None)
        if record.replaced_by:
            data["replaced_by"] = record.replaced_by
    else:
        data.update({k: v for k, v in (("user_id", h.user_id), ("agent_id", h.agent_id),
                                       ("run_id", h.run_id)) if v})  # fmt: skip
    return {"id": h.memory_id, "event": str(h.event), "data": data, "actor": h.actor,
            "history_id": h.id, "created_at": h.created_at}  # fmt: skip


class ObservedStore:
    """A memory store whose committed writes are turned into webhook deliveries."""

    def __init__(self, store: Any, hooks: WebhookStore) -> None:
        self._store, self._hooks = store, hooks

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def inner(self) -> Any:
        """The store observed."""
        return self._store

    def write(self, batch: WriteBatch) -> None:
        """Hold the deliveries, write, then release them: a crash in between leaves them
        HELD for `recover_held`, so no committed change goes unannounced."""
        held = [i for project, changes in changes_of(batch).items()
                for i in self._hooks.hold(project, changes)]  # fmt: skip
        try:
            self._store.write(batch)
        except BaseException:
            try:
                self._hooks.drop(held)
            except Exception:  # the write's own error is the one to report; recovery drops them
                log.exception("could not drop the held deliveries of a failed write")
            raise
        try:
            self._hooks.release(held)
        except Exception:  # the write stands; recover_held releases them later
            log.exception("could not release webhook deliveries; they are recovered later")


# ---------------------------------------------------------------------------- delivery


class Dispatcher:
    """Delivers due webhook calls on `settings.threads` threads (so one slow receiver does not
    hold up the others); wakes when a delivery is queued and polls for retries whose time
    came and for claims abandoned by dead processes."""

    def __init__(self, hooks: WebhookStore, store: Any = None) -> None:
        self.hooks, self.store = hooks, store  # `store`: the memory store, to recover HELD
        self.wake = threading.Event()
        self.stopping = threading.Event()
        hooks.on_enqueue = self.wake.set
        self._http = httpx.Client(timeout=hooks.settings.timeout, follow_redirects=False)
        self._threads = [threading.Thread(target=self._run, args=(i == 0,), daemon=True,
                                          name=f"engram-webhooks-{i}")
                         for i in range(hooks.settings.threads)]  # fmt: skip

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=self.hooks.settings.timeout + 5)
        self._http.close()

    def _run(self, recovers: bool) -> None:
        next_recovery = 0.0
        while not self.stopping.is_set():
            if recovers and self.store is not None and time.monotonic() >= next_recovery:
                next_recovery = time.monotonic() + self.hooks.settings.hold / 2
                try:
                    self.hooks.recover_held(self.store)
                except Exception:
                    log.exception("could not recover held webhook deliveries")
            job = next_job(self.hooks.claim, self.wake, self.hooks.settings.poll,
                           "a webhook delivery")  # fmt: skip
            if job:  # {} is a cancelled delivery: nothing to send
                self._deliver(job)

    def _deliver(self, job: dict[str, Any]) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Engram-Webhooks/1",
            "X-Engram-Delivery": job["id"],
            "X-Engram-Event": job["event_type"],
            "X-Engram-Webhook": str(job["webhook_id"]),
            "X-Engram-Timestamp": timestamp,
            "X-Engram-Signature": sign(job["secret"], timestamp, job["body"]),
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            response = self._http.post(job["url"], content=job["body"], headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        ms = int((time.monotonic() - started) * 1000)
        try:
            status = self.hooks.record(job, code, error, ms)
        except Exception:  # the lease runs out and the delivery is retried
            log.exception("could not record webhook delivery %s", job["id"])
            return
        if status != "SUCCEEDED":
            log.warning("webhook delivery %s: %s (%s)", job["id"], error, status)
