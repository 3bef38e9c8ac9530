"""Queued adds (1.x async_mode, 2.x /v3/memories/add/): recorded in the server database and
run by a worker thread in each server process, so an event id answers after a restart."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw

from engram.errors import InvalidInputError
from engram.models import iso, utcnow
from engram.server.auth import Principal

log = logging.getLogger("engram.server")


class EventStore:
    """Queued adds: persistent, claimed atomically, so several workers and restarts are safe."""

    def __init__(self, path: Path) -> None:
        self._db = apsw.Connection(str(path))
        self._db.setbusytimeout(10_000)
        self._lock = threading.Lock()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " id TEXT UNIQUE NOT NULL, org_id TEXT NOT NULL, project_id TEXT NOT NULL,"
                " event_type TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,"
                " results TEXT, error TEXT, worker TEXT,"
                " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
                "CREATE INDEX IF NOT EXISTS events_status ON events (status, seq);"
            )

    def close(self) -> None:
        self._db.close()

    def enqueue(self, who: Principal, payload: dict[str, Any]) -> str:
        event_id = str(uuid.uuid4())
        now = iso(utcnow())
        with self._lock:
            self._db.execute(
                "INSERT INTO events (id, org_id, project_id, event_type, status, payload,"
                " created_at, updated_at) VALUES (?, ?, ?, 'ADD', 'PENDING', ?, ?, ?)",
                (event_id, who.org_id, who.project_id, json.dumps(payload), now, now),
            )
        return event_id

    def claim(self) -> tuple[str, str, dict[str, Any]] | None:
        """Take the oldest pending add of a project that has none running (keeps adds ordered)."""
        with self._lock:
            row = self._db.execute(
                "UPDATE events SET status = 'RUNNING', worker = ?, updated_at = ? WHERE id = ("
                " SELECT id FROM events e WHERE status = 'PENDING' AND NOT EXISTS ("
                "  SELECT 1 FROM events r WHERE r.project_id = e.project_id"
                "  AND r.status = 'RUNNING') ORDER BY seq LIMIT 1)"
                " RETURNING id, project_id, payload",
                (self.worker_id, iso(utcnow())),
            ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def finish(
        self,
        event_id: str,
        *,
        results: list[Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        status = "FAILED" if error else "SUCCEEDED"
        with self._lock:
            self._db.execute(
                "UPDATE events SET status = ?, results = ?, error = ?, updated_at = ? WHERE id = ?",
                (
                    status,
                    json.dumps(results),
                    json.dumps(error) if error else None,
                    iso(utcnow()),
                    event_id,
                ),
            )

    def requeue_orphans(self) -> int:
        """RUNNING events of a process that died go back to PENDING (adds are idempotent-ish:
        reconciliation sees the memories a half-finished run already stored)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT worker FROM events WHERE status = 'RUNNING'"
            ).fetchall()
            dead = [w for (w,) in rows if not _alive(w)]
            for worker in dead:
                self._db.execute(
                    "UPDATE events SET status = 'PENDING', worker = NULL"
                    " WHERE status = 'RUNNING' AND worker = ?",
                    (worker,),
                )
        return len(dead)

    def get(self, who: Principal, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE id = ? AND org_id = ? AND project_id = ?",
                (event_id, who.org_id, who.project_id),
            ).fetchone()
        return _event_dict(row) if row else None

    def list(self, who: Principal, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        with self._lock:
            (total,) = self._db.execute(
                "SELECT count(*) FROM events WHERE org_id = ? AND project_id = ?",
                (who.org_id, who.project_id),
            ).fetchone()
            rows = self._db.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE org_id = ? AND project_id = ?"
                " ORDER BY seq DESC LIMIT ? OFFSET ?",
                (who.org_id, who.project_id, limit, offset),
            ).fetchall()
        return total, [_event_dict(r) for r in rows]


_EVENT_COLS = "id, event_type, status, payload, results, error, created_at, updated_at"


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
    """Runs queued adds one at a time, in order, off the request path."""

    def __init__(self, events: EventStore, run_add: Callable[[str, dict[str, Any]], Any]) -> None:
        super().__init__(name="engram-add-worker", daemon=True)
        self.events, self.run_add = events, run_add
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout=30)

    def run(self) -> None:
        while not self.stopping.is_set():
            claimed = self.events.claim()
            if claimed is None:
                self.wake.wait(1.0)  # also polls, for events other workers enqueued
                self.wake.clear()
                continue
            self._process(*claimed)

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
