"""A queued add cut off by a crash runs again after a restart, even when the new server has
the dead one's host name and PID (a container's PID 1): claims carry a boot id and a lease,
never host:pid alone, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram.server.auth import Principal
from engram.server.events import EventStore, _pid_namespace
from tests.support.server_process import ServerProcess, wait_for_event

WHO = Principal("default", "claims")


@pytest.fixture
def location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "server.db")


@pytest.fixture
def opened(location: str) -> Iterator[list[EventStore]]:
    stores: list[EventStore] = []
    yield stores
    for store in stores:
        store.close()


def _open(opened: list[EventStore], location: str, lease: float = 60.0) -> EventStore:
    opened.append(EventStore(location, lease_seconds=lease))
    return opened[-1]


def _sign(store: EventStore, event_id: str, worker: str) -> None:
    """Make a claim look as if `worker` had made it."""
    store._db.execute("UPDATE {events} SET worker = ? WHERE id = ?", (worker, event_id))


def test_claim_of_a_dead_predecessor_with_this_pid_is_requeued_at_once(
    location: str, opened: list[EventStore]
) -> None:
    store = _open(opened, location)
    event_id = store.enqueue(WHO, {"n": 1})
    assert store.claim()[0] == event_id
    # the process that ran before this one, in this PID namespace, as this very PID
    host, namespace, pid, _ = store.worker_id.split(":")
    assert pid == str(os.getpid())
    _sign(store, event_id, f"{host}:{namespace}:{pid}:0123456789ab")
    assert store.requeue_orphans() == 1  # its 60 s lease has not run out: the boot id decides
    assert store.claim()[0] == event_id


def test_live_claims_of_this_process_are_not_requeued(
    location: str, opened: list[EventStore]
) -> None:
    first, second = _open(opened, location), _open(opened, location)
    p = first.enqueue(Principal("default", "p"), {"n": 1})
    q = first.enqueue(Principal("default", "q"), {"n": 1})
    assert first.claim()[0] == p and second.claim()[0] == q
    assert first.requeue_orphans() == 0 and second.requeue_orphans() == 0
    second.close()  # a store that closes with a claim RUNNING leaves an orphan
    opened.remove(second)
    assert first.requeue_orphans() == 1
    assert first.claim()[0] == q


def test_claim_from_another_namespace_waits_for_its_lease(
    location: str, opened: list[EventStore]
) -> None:
    store = _open(opened, location, lease=1.5)
    event_id = store.enqueue(WHO, {"n": 1})
    assert store.claim()[0] == event_id
    # PID 1 of another container with our host name: its PID says nothing here
    _sign(store, event_id, f"{socket.gethostname()}:4026000000:1:0123456789ab")
    assert store.requeue_orphans() == 0
    time.sleep(2.0)  # no heartbeat: the lease runs out
    assert store.requeue_orphans() == 1
    assert store.claim()[0] == event_id


def test_heartbeat_keeps_a_long_add_claimed(location: str, opened: list[EventStore]) -> None:
    worker, other = _open(opened, location, lease=1.5), _open(opened, location)
    event_id = worker.enqueue(WHO, {"n": 1})
    assert worker.claim()[0] == event_id
    other_namespace = worker.worker_id.replace(f":{_pid_namespace()}:", ":4026000000:")
    _sign(worker, event_id, other_namespace)  # so only the lease can keep it
    worker.worker_id = other_namespace
    for _ in range(5):  # renewed every 0.5 s, it outlives its 1.5 s lease
        time.sleep(0.5)
        worker.heartbeat()
        assert other.requeue_orphans() == 0
    assert other.get(WHO, event_id)["status"] == "RUNNING"


def test_server_db_from_before_leases_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    with sqlite3.connect(path) as conn:  # the events table as releases before leases made it
        conn.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,"
            " org_id TEXT NOT NULL, project_id TEXT NOT NULL, event_type TEXT NOT NULL,"
            " status TEXT NOT NULL, payload TEXT NOT NULL, results TEXT, error TEXT,"
            " worker TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO events (id, org_id, project_id, event_type, status, payload, worker,"
            " created_at, updated_at) VALUES ('old', 'default', 'claims', 'ADD', 'RUNNING',"
            " '{}', ?, 'x', 'x')",
            (f"{socket.gethostname()}:999999",),  # host:pid of a server that died
        )
    conn.close()
    store = EventStore(path)
    try:
        assert store.requeue_orphans() == 1
        assert store.claim()[0] == "old"
        assert store.requeue_orphans() == 0  # now claimed by a live store, with a lease
    finally:
        store.close()


# ------------------------------------------------------------------ a real server as PID 1


def _running_claims(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT worker FROM events WHERE status = 'RUNNING'").fetchall()
    finally:
        conn.close()
    return [w for (w,) in rows]


def test_server_restarted_as_pid_1_runs_the_add_it_was_killed_in(engram_home: Path) -> None:
    """The issue's reproduction: SIGKILL while a queued add runs, restart as PID 1 again."""
    env = {"ENGRAM_EVENT_LEASE_SECONDS": "3"}
    server = ServerProcess(engram_home, pid_namespace=True, env=env).start()
    db = engram_home / "server.db"
    text = "I'm Max. I run 40 km a week, swim on Mondays and cycle to work in Berlin. " * 4
    event_ids: list[str] = []
    try:
        for _ in range(5):  # until the kill lands while an add runs (nearly always at once)
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Token {server.api_key}"}
            ) as c:
                for _ in range(8):
                    r = c.post("/v3/memories/add/", json={"messages": text, "user_id": "max"})
                    event_ids.append(r.json()["event_id"])
                deadline = time.monotonic() + 10
                while not _running_claims(db) and time.monotonic() < deadline:
                    time.sleep(0.005)
            server.stop(kill=True)
            claims = _running_claims(db)
            if claims:
                break
            server.start()
        assert claims, "no kill landed while a queued add was running"
        assert ":1:" in f"{claims[0]}:", claims  # the dead server was PID 1
        server.start()  # PID 1 again, same host name
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Token {server.api_key}"}
        ) as c:
            events = [wait_for_event(c, e, timeout=90) for e in event_ids]
        assert {e["status"] for e in events} == {"SUCCEEDED"}, events
    finally:
        server.stop()
