"""Queued adds (1.x async_mode, 2.x /v3/memories/add/): recorded in the server database and
run by a worker thread in each server process, so an event id answers after a restart.

With SQLite the queue is in `server.db`, shared by the processes of one machine; with
PostgreSQL it is `engram_events` in the memories' database, shared by every host. Either way a
claim holds a lease (`lease_until`: the database's clock on PostgreSQL, the machine's on
SQLite) that the claiming process renews every third of the lease; an add whose lease ran out
(its process died, hung, or lost the database) goes back to PENDING and any server runs it.
Adds of one project run one at a time, in order.

A claim is signed with a worker id unique to one `EventStore` of one process start (host, PID
namespace, PID and a random boot id), never host:pid alone: a server restarted as the same PID
(PID 1 in a container) must not take its dead predecessor's claim for its own. A claim made
in this PID namespace is known dead at once when its PID is gone, or when it is this process's
PID but not one of its open stores; any other is trusted until its lease runs out.
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
from datetime import datetime
from pathlib import Path
from typing import Any

from engram.errors import InvalidInputError
from engram.models import SCOPE_FIELDS, iso, utcnow
from engram.server.auth import Principal
from engram.server.state import StateSchema, next_job, open_state
from engram.stores.database import Tx
from engram.stores.locks import Lock
from engram.stores.migrations import Migration

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



def _add_sqlite_lease_column(tx: Tx) -> None:
    """server.db files made before leases have no `lease_until` (those made between leases
    and schema versions have it already)."""
    if "lease_until" not in {row[1] for row in tx("PRAGMA table_info(events)")}:
        tx("ALTER TABLE events ADD COLUMN lease_until REAL")


# Versions: 1 the first release's queue; 2 every claim holds a lease (SQLite gains
# `lease_until`; PostgreSQL's claims had leases from version 1).
SCHEMA = StateSchema(
    "events",
    sqlite=[Migration(1, _SQLITE_SCHEMA), Migration(2, "", _add_sqlite_lease_column)],
    postgres=[Migration(1, _POSTGRES_SCHEMA), Migration(2, "")],
)

# The oldest pending add of a project that has none running (keeps each project's adds in
# order). {skip_locked} is empty on SQLite, where one file lock orders writers.
_CLAIM = (
    "UPDATE {events} SET status = 'RUNNING', worker = ?, updated_at = ?, lease_until = {lease}"
    " WHERE id = ( SELECT id FROM {events} e WHERE status = 'PENDING' AND NOT EXISTS ("
    "  SELECT 1 FROM {events} r WHERE r.project_id = e.project_id"
    "  AND r.status = 'RUNNING') ORDER BY seq LIMIT 1{skip_locked})"
    " RETURNING id, project_id, payload"
)
# A lease's end: PostgreSQL's clock is shared by every host; SQLite's servers share a machine.
_LEASE_END = {True: "now() + ? * interval '1 second'", False: "?"}
_NOW = {True: "now()", False: "?"}

_EVENT_COLS = "id, event_type, status, payload, results, error, created_at, updated_at"


class EventStore:
    """Queued adds: persistent, claimed atomically, so several workers, hosts and restarts
    are safe. `location` is a SQLite path or a PostgreSQL URL."""

    def __init__(self, location: Path | str, *, lease_seconds: float | None = None) -> None:
        self._db = open_state(location, SCHEMA)
        self.postgres = self._db.postgres
        self.lease_seconds = lease_seconds or float(
            os.environ.get(LEASE_ENV) or DEFAULT_LEASE_SECONDS
        )
        self.worker_id = _new_worker_id()
        _OPEN_WORKERS.add(self.worker_id)

    @property
    def maintain_every(self) -> float:
        """How often the worker renews its leases and looks for orphans (seconds)."""
        return self.lease_seconds / 3

    def close(self) -> None:
        _OPEN_WORKERS.discard(self.worker_id)  # claims left RUNNING are orphans from now on
        self._db.close()

    def _lease_end(self) -> float:
        """The parameter of `_LEASE_END`: seconds on PostgreSQL, an end time on SQLite."""
        return self.lease_seconds if self.postgres else time.time() + self.lease_seconds

    def _now(self) -> tuple[Any, ...]:
        """The parameters of `_NOW`."""
        return () if self.postgres else (time.time(),)

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
        params = (self.worker_id, iso(utcnow()), self._lease_end())
        sql = _CLAIM.replace("{lease}", _LEASE_END[self.postgres])
        sql = sql.replace("{skip_locked}", " FOR UPDATE SKIP LOCKED" if self.postgres else "")
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
        """Renew the leases of this store's running adds."""
        self._db.execute(
            f"UPDATE {{events}} SET lease_until = {_LEASE_END[self.postgres]}"
            " WHERE worker = ? AND status = 'RUNNING'",
            (self._lease_end(), self.worker_id),
        )

    def requeue_orphans(self) -> int:
        """Put the RUNNING adds of stopped workers back to PENDING; returns how many workers.

        Stopped means a lease ran out, or a claim of this PID namespace whose worker is known
        gone (`_certainly_dead`). Adds are idempotent-ish: reconciliation sees the memories a
        half-finished run stored.
        """
        with self._db.transaction() as run:
            rows = run("SELECT DISTINCT worker FROM {events} WHERE status = 'RUNNING'")
            dead = [w for (w,) in rows if _certainly_dead(w)]
            marks = ", ".join("?" * len(dead)) or "NULL"
            rows = run(
                "UPDATE {events} SET status = 'PENDING', worker = NULL, lease_until = NULL"
                f" WHERE status = 'RUNNING' AND (lease_until < {_NOW[self.postgres]}"
                f" OR worker IN ({marks})) RETURNING worker",
                (*self._now(), *dead),
            )
        return len({w for (w,) in rows})

    def exclusive(self, lock: Lock, work: Callable[[], Any]) -> Any:
        """Run `work` holding `lock` across every server sharing this database; skipped
        (None) while another server runs it. No transaction stays open meanwhile: one on
        server.db stalled every API-key check in the process until the purge ended."""
        with self._db.holding(lock) as held:
            return work() if held else None

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

    def status_counts(self, who: Principal) -> dict[str, int]:
        return self._db.status_counts("events", who.org_id, who.project_id)


def _event_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    keys = _EVENT_COLS.split(", ")
    out = dict(zip(keys, row, strict=True))
    for key in ("payload", "results", "error"):
        out[key] = json.loads(out[key]) if out[key] else None
    return _hosted_shape(out)


def _hosted_shape(event: dict[str, Any]) -> dict[str, Any]:
    """Mem0's event shape as its clients read it: `latency` (ms from queued to finished)
    and, per result, the memory text under `data` and the ids it was added for."""
    if event["status"] in ("SUCCEEDED", "FAILED"):
        try:
            took = datetime.fromisoformat(event["updated_at"]) - datetime.fromisoformat(
                event["created_at"])
            event["latency"] = round(took.total_seconds() * 1000, 1)
        except (TypeError, ValueError):
            event["latency"] = None
    payload = event.get("payload") or {}
    scope = {k: payload[k] for k in SCOPE_FIELDS if payload.get(k)}
    for result in event.get("results") or []:
        if isinstance(result, dict):
            result.setdefault("data", {"memory": result.get("memory")})
            for key, value in scope.items():
                result.setdefault(key, value)
    return event


# The worker ids of this process's open stores: a claim bearing this process's PID but none
# of these was made by an earlier process that had the same PID.
_OPEN_WORKERS: set[str] = set()


def _pid_namespace() -> str:
    """The PID namespace's inode: PIDs are only comparable within one namespace."""
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:[").removesuffix("]")
    except OSError:  # no /proc (not Linux): the host name alone scopes the PID
        return "-"


def _new_worker_id() -> str:
    """host:pidns:pid:boot, the boot id random for each store of each process start."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _certainly_dead(worker: str | None) -> bool:
    """True only when the claim's worker is known to be gone; unsure means False (the lease
    decides). Also reads the host:pid ids SQLite servers wrote before boot ids."""
    parts = (worker or "").split(":")
    if len(parts) == 2:  # host:pid, leaseless: only alive as a live other process here
        host, pid = parts
        local = host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
        return not (local and _pid_running(int(pid)))
    if len(parts) != 4:  # e.g. an older PostgreSQL server's host:pid:random: its lease decides
        return False
    host, namespace, pid = parts[:3]
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return worker not in _OPEN_WORKERS
    return not _pid_running(int(pid))


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
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
            claimed = next_job(self.events.claim, self.wake, 1.0, "a queued add")
            if claimed is not None:
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
