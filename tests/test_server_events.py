"""Queued adds (2.x /v3/memories/add/, 1.x async_mode) are real work recorded on disk:
an event id answers after a restart, and work queued or cut off by a crash still runs."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from engram.server.auth import Principal
from engram.server.events import EventStore
from tests.support.server_process import ServerProcess, wait_for_event


def _client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Token {server.api_key}"}
    )


def test_event_answers_after_restart(engram_home: Path) -> None:
    with ServerProcess(engram_home) as server:
        with _client(server) as c:
            queued = c.post(
                "/v3/memories/add/",
                json={
                    "messages": [{"role": "user", "content": "I'm Max and I love trail running."}],
                    "filters": {"user_id": "max"},
                },
            ).json()
            assert queued["status"] == "PENDING"
            done = wait_for_event(c, queued["event_id"])
        assert done["status"] == "SUCCEEDED" and done["results"], done
        server.restart(kill=True)
        with _client(server) as c:
            again = c.get(f"/v1/event/{queued['event_id']}/").json()
            assert again["status"] == "SUCCEEDED" and again["results"] == done["results"]
            listed = c.get("/v1/events/").json()
            assert listed["count"] == 1 and listed["results"][0]["id"] == queued["event_id"]
            memory_id = done["results"][0]["id"]
            assert c.get(f"/v1/memories/{memory_id}/").status_code == 200


def test_queued_add_keeps_when_it_was_said(engram_home: Path) -> None:
    """The parsed `timestamp` is a datetime: it must reach the queue as text (it was a 500)."""
    with ServerProcess(engram_home) as server, _client(server) as c:
        queued = c.post("/v3/memories/add/", json={
            "messages": "I ran my first marathon", "user_id": "max", "infer": False,
            "timestamp": "2023-05-08T13:00:00Z"})  # fmt: skip
        assert queued.status_code == 200, queued.text
        done = wait_for_event(c, queued.json()["event_id"])
        assert done["status"] == "SUCCEEDED", done
        memory = c.get(f"/v1/memories/{done['results'][0]['id']}/").json()
        assert memory["created_at"].startswith("2023-05-08T13:00:00")


def test_bad_add_is_refused_before_it_is_queued(engram_home: Path) -> None:
    with ServerProcess(engram_home) as server, _client(server) as c:
        r = c.post(
            "/v3/memories/add/",
            json={"messages": [{"role": "robot", "content": "beep"}], "user_id": "max"},
        )
        assert r.status_code == 400 and r.json()["field"] == "messages[0].role", r.text
        assert c.get("/v1/events/").json()["count"] == 0


def test_failed_event_records_why(engram_home: Path) -> None:
    with ServerProcess(engram_home) as server, _client(server) as c:
        # a payload the worker cannot run (as an older release might have queued it)
        store = EventStore(engram_home / "server.db")
        bad = {"messages": [{"role": "robot", "content": "beep"}], "user_id": "max"}
        event_id = store.enqueue(Principal("default", "default"), bad)
        store.close()
        event = wait_for_event(c, event_id)
        assert event["status"] == "FAILED", event
        assert event["error"]["field"] == "messages[0].role", event


def test_queued_and_orphaned_work_runs_at_next_start(engram_home: Path) -> None:
    server = ServerProcess(engram_home).start()  # first start mints the key and database
    server.stop()
    store = EventStore(engram_home / "server.db")
    who = Principal("default", "default")
    payload = {"messages": "I swim on Mondays.", "user_id": "max", "infer": False}
    pending = store.enqueue(who, payload)
    orphan = store.enqueue(who, {**payload, "messages": "I cycle on Fridays."})
    assert store.claim() is not None  # "pending" is now RUNNING...
    store._db.execute(  # ...by a worker process that died
        "UPDATE events SET worker = ? WHERE id = ?", (f"{socket.gethostname()}:999999", pending)
    )
    store.close()
    with server, _client(server) as c:  # `with server` starts it again
        events = [wait_for_event(c, pending), wait_for_event(c, orphan)]
        assert [e["status"] for e in events] == ["SUCCEEDED", "SUCCEEDED"], json.dumps(events)
        texts = {
            m["memory"] for m in c.post("/v2/memories/", json={"user_id": "max"}).json()["results"]
        }
        assert texts == {"I swim on Mondays.", "I cycle on Fridays."}


def test_sqlite_claims_keep_each_project_in_order(engram_home: Path) -> None:
    first, second = EventStore(engram_home / "server.db"), EventStore(engram_home / "server.db")
    try:
        p = [first.enqueue(Principal("default", "p"), {"n": i}) for i in range(2)]
        q = first.enqueue(Principal("default", "q"), {"n": 0})
        assert first.claim()[0] == p[0]
        assert second.claim()[0] == q  # another project runs meanwhile...
        assert second.claim() is None  # ...but p's second add waits for its first
        first.finish(p[0], results=[])
        assert second.claim()[0] == p[1]
        assert first.requeue_orphans() == 0  # this process is alive: nothing is orphaned
    finally:
        first.close()
        second.close()
