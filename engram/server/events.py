"""Queued adds (1.x async_mode, 2.x /v3/memories/add/): recorded in the server database and
run by a worker thread in each server process, so an event id answers after a restart.

With SQLite the queue is in `server.db`, shared by the processes of one machine; a RUNNING
add whose process died (its host:pid is gone) goes back to PENDING. With PostgreSQL it is
`engram_events` in the memories' database, shared by every host: a claim holds a lease
(`lease_until`, on the database's clock) that the claiming process renews every third of
the lease; an add whose lease ran out (its host died or lost the database) goes back to
PENDING and any server runs it. Either way, adds of one project run one at a time, in order.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engram.errors import InvalidInputError
from engram.models import iso, utcnow
from engram.server.auth import Principal
from engram.server.state import open_state
from engram.stores.locks import Lock

log = logging.getLogger("engram.server")

DEFAULT_LEASE_SECONDS = 30.0
LEASE_ENV = "ENGRAM_EVENT_LEASE_SECONDS"
# Expired memories are invisible at once; their rows are purged this often, off every request.
DEFAULT_PURGE_SECONDS = 60.0
PURGE_ENV = "ENGRAM_PURGE_SECONDS"

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL, project_id TEXT NOT NULL,"
    " event_type TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,"
    " results TEXT, error TEXT, worker TEXT,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_status ON events (status, seq);"
)

_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {events} (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" UNIQUE NOT NULL,
    org_id text COLLATE "C" NOT NULL,
    project_id text COLLATE "C" NOT NULL,
    event_type text NOT NULL, status text NOT NULL, payload text NOT NULL,
    results text, error text, worker text COLLATE "C",
    lease_until timestamptz,
    created_at text NOT NULL, updated_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS {events}_status ON {events} (status, seq);
CREATE INDEX IF NOT EXISTS {events}_project ON {events} (project_id, status);
CREATE INDEX IF NOT EXISTS {events}_scope ON {events} (org_id, project_id, seq);
"""

# The oldest pending add of a project that has none running (keeps each project's adds in
# order). {lease} and {skip_locked} are empty on SQLite, where one file lock orders writers.
_CLAIM = (
    "UPDATE {events} SET status = 'RUNNING', worker = ?, updated_at = ?{lease} WHERE id = ("
    " SELECT id FROM {events} e WHERE status = 'PENDING' AND NOT EXISTS ("
    "  SELECT 1 FROM {events} r WHERE r.project_id = e.project_id"
    "  AND r.status = 'RUNNING') ORDER BY seq LIMIT 1{skip_locked})"
    " RETURNING id, project_id, payload"
)
_LEASE = ", lease_until = now() + ? * interval '1 second'"

_EVENT_COLS = "id, event_type, status, payload, results, error, created_at, updated_at"


class EventStore:
    """Queued adds: persistent, claimed atomically, so several workers, hosts and restarts
    are safe. `location` is a SQLite path or a PostgreSQL URL."""

    def __init__(self, location: Path | str, *, lease_seconds: float | None = None) -> None:
        self._db = open_state(location, _SQLITE_SCHEMA, _POSTGRES_SCHEMA)
        self.postgres = self._db.postgres
        self.lease_seconds = lease_seconds or float(
            os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS
        )
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        if self.postgres:  # hosts and PIDs repeat across containers; make the id unique
            self.worker_id += f":{uuid.uuid4().hex[:8]}"

    @property
    def maintain_every(self) -> float:
        """How often the worker renews its leases and looks for orphans (seconds)."""
        return self.lease_seconds / 3

    def close(self) -> None:
        self._db.close()

    def enqueue(self, who: Principal, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        now = iso(utcnow())
        self._db.execute(
            "INSERT INTO {events} (id, org_id, project_id, event_type, status, payload,"
            " created_at, updated_at) VALUES (?, ?, ?, 'ADD', 'PENDING', ?, ?, ?)",
            (event_id, who.org_id, who.project_id, json.dumps(payload), now, now),
        )
        return event_id

    def claim(self) -> tuple[str, str, dict[str, Any]] | None:
        """Take the oldest pending add of a project with none running, or None."""
        params: tuple[Any, ...] = (self.worker_id, iso(utcnow()))
        sql = _CLAIM.replace("{lease}", _LEASE if self.postgres else "")
        sql = sql.replace("{skip_locked}", " FOR UPDATE SKIP LOCKED" if self.postgres else "")
        if self.postgres:
            params += (self.lease_seconds,)
        # PostgreSQL: the lock makes each claim see the adds others just claimed (the
        # "none running" check would otherwise race); a claim is one short statement.
        with self._db.transaction(lock=Lock.EVENT_CLAIM) as run:
            rows = run(sql, params)
        return (rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def finish(
        self,
        event_id: str,
        *,
        results: list[Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        status = "FAILED" if error else "SUCCEEDED"
        done = self._db.execute(
            "UPDATE {events} SET status = ?, results = ?, error = ?, updated_at = ?"
            " WHERE id = ? AND worker = ? RETURNING id",
            (
                status,
                json.dumps(results),
                json.dumps(error) if error else None,
                iso(utcnow()),
                event_id,
                self.worker_id,
            ),
        )
        if not done:  # our lease ran out and another server took the add over
            log.warning("queued add %s was re-queued while running here", event_id)

    def heartbeat(self) -> None:
        """Renew the leases of this process's running adds (PostgreSQL; SQLite uses PIDs)."""
        if self.postgres:
            self._db.execute(
                "UPDATE {events} SET lease_until = now() + ? * interval '1 second'"
                " WHERE worker = ? AND status = 'RUNNING'",
                (self.lease_seconds, self.worker_id),
            )

    def requeue_orphans(self) -> int:
        """Put the RUNNING adds of stopped workers back to PENDING; returns how many workers.

        Adds are idempotent-ish: reconciliation sees the memories a half-finished run stored.
        """
        if self.postgres:
            rows = self._db.execute(
                "UPDATE {events} SET status = 'PENDING', worker = NULL, lease_until = NULL"
                " WHERE status = 'RUNNING' AND lease_until < now() RETURNING worker"
            )
            return len({w for (w,) in rows})
        with self._db.transaction() as run:
            rows = run("SELECT DISTINCT worker FROM {events} WHERE status = 'RUNNING'")
            dead = [w for (w,) in rows if not _alive(w)]
            for worker in dead:
                run(
                    "UPDATE {events} SET status = 'PENDING', worker = NULL"
                    " WHERE status = 'RUNNING' AND worker = ?",
                    (worker,),
                )
        return len(dead)

    def exclusive(self, lock: Lock, work: Callable[[], Any]) -> Any:
        """Run `work` while holding `lock` across every server sharing this database."""
        with self._db.transaction(lock=lock):
            return work()

    def get(self, who: Principal, event_id: str) -> dict[str, Any] | None:
        rows = self._db.execute(
            f"SELECT {_EVENT_COLS} FROM {{events}} WHERE id = ? AND org_id = ? AND project_id = ?",
            (event_id, who.org_id, who.project_id),
        )
        return _event_dict(rows[0]) if rows else None

    def list(self, who: Principal, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        ((total,),) = self._db.execute(
            "SELECT count(*) FROM {events} WHERE org_id = ? AND project_id = ?",
            (who.org_id, who.project_id),
        )
        rows = self._db.execute(
            f"SELECT {_EVENT_COLS} FROM {{events}} WHERE org_id = ? AND project_id = ?"
            " ORDER BY seq DESC LIMIT ? OFFSET ?",
            (who.org_id, who.project_id, limit, offset),
        )
        return total, [_event_dict(r) for r in rows]


def _event_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = _EVENT_COLS.split(", ")
    out = dict(zip(keys, row, strict=True))
    for key in ("payload", "results", "error"):
        out[key] = json.loads(out[key]) if out[key] else None
    return out


def _alive(worker: str | None) -> bool:
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AddWorker(threading.Thread):
    """Runs queued adds one at a time, in order, off the request path. A second thread
    renews this process's leases, re-queues the adds of workers that stopped, and every
    `purge_seconds` runs `purge` (the expired-memory purge), one server at a time."""

    def __init__(
        self,
        events: EventStore,
        run_add: Callable[[str, dict[str, Any]], Any],
        purge: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(name="engram-add-worker", daemon=True)
        self.events, self.run_add, self.purge = events, run_add, purge
        self.purge_seconds = float(os.environ.get(PURGE_ENV) or DEFAULT_PURGE_SECONDS)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.keeper = threading.Thread(target=self._maintain, name="engram-add-lease", daemon=True)

    def start(self) -> None:
        super().start()
        self.keeper.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout=30)
        if self.keeper.is_alive():
            self.keeper.join(timeout=5)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                claimed = self.events.claim()
            except Exception:  # the database may be briefly away; the worker must outlive it
                log.exception("could not claim a queued add")
                claimed = None
            if claimed is None:
                self.wake.wait(1.0)  # also polls, for events other workers enqueued
                self.wake.clear()
                continue
            self._process(*claimed)

    def _maintain(self) -> None:
        every = min(self.events.maintain_every, self.purge_seconds)
        next_purge = time.monotonic() + self.purge_seconds
        while not self.stopping.wait(every):
            try:
                self.events.heartbeat()
                if self.events.requeue_orphans():
                    self.wake.set()
            except Exception:
                log.exception("could not renew leases of queued adds")
            if self.purge and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self.purge_seconds
                try:
                    self.events.exclusive(Lock.EXPIRY_PURGE, self.purge)
                except Exception:  # the next round retries; reads already hide expired rows
                    log.exception("could not purge expired memories")

    def _process(self, event_id: str, project: str, payload: dict[str, Any]) -> None:
        try:
            result = self.run_add(project, payload)
        except InvalidInputError as exc:
            self.events.finish(event_id, error={"detail": str(exc), "field": exc.field})
        except Exception as exc:  # a failed event must be recorded, never kill the worker
            log.exception("queued add %s failed", event_id)
            self.events.finish(event_id, error={"detail": f"{type(exc).__name__}: {exc}"})
        else:
            self.events.finish(event_id, results=result.get("results", []))
