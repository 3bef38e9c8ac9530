"""Expired memories are purged off the write path: `add` never purges; `purge_expired()` purges
one project; the server purges every project with expired memories periodically (those no
API key names too), keeping the history, one server at a time, and without stalling requests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from engram.memory import Memory
from engram.server.auth import KeyStore, Principal
from engram.server.events import EventStore
from engram.stores.locks import Lock
from tests.conftest import Clock
from tests.support.server_process import ServerProcess

START = Clock.START


def test_add_does_not_purge_and_purge_is_per_project(embedder, clock: Clock) -> None:
    with Memory(embedder=embedder, clock=clock) as m:
        other = m.for_project("other")
        gone = m.add("Rolled ankle", user_id="max", infer=False,
                     expiration_date="2026-03-02")["results"][0]["id"]  # fmt: skip
        elsewhere = other.add("Sore calf", user_id="max", infer=False,
                              expiration_date="2026-03-02")["results"][0]["id"]  # fmt: skip
        clock.now = START + timedelta(days=2)
        m.add("Max prefers trail running", user_id="max", infer=False)
        assert [r.id for r in m.store.get("default", [gone])] == [gone]  # invisible, not purged
        assert m.get_all(user_id="max")["count"] == 1
        assert m.purge_expired() == 1
        assert m.store.get("default", [gone]) == []
        assert [r.id for r in m.store.get("other", [elsewhere])] == [elsewhere]
        assert other.purge_expired() == 1 and m.purge_expired() == 0


def test_server_purges_expired_memories_periodically(engram_home: Path) -> None:
    env = {"ENGRAM_PURGE_SECONDS": "0.5"}
    with ServerProcess(engram_home, env=env) as server, httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Token {server.api_key}"}
    ) as c:
        soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        added = c.post("/v1/memories/", json={
            "messages": [{"role": "user", "content": "Rolled my ankle"}], "user_id": "max",
            "infer": False, "expiration_date": soon}).json()  # fmt: skip
        memory_id = added["results"][0]["id"]
        deadline = time.monotonic() + 30
        events: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            history = c.get(f"/v1/memories/{memory_id}/history/").json()
            events = [(h["event"], h["actor"]) for h in history]
            if len(events) > 1:
                break
            time.sleep(0.2)
        assert events == [("ADD", "extraction"), ("DELETE", "expiry")]


def test_server_purges_projects_no_key_names(engram_home: Path, embedder) -> None:
    """A project written by the library (or the CLI) has memories but no API key."""
    soon = datetime.now(UTC) + timedelta(seconds=2)
    with Memory(embedder=embedder) as m:
        archive = m.for_project("archive")
        gone = archive.add("Rolled my ankle", user_id="max", infer=False,
                           expiration_date=soon)["results"][0]["id"]  # fmt: skip
        kept = archive.add("Max runs on Mondays", user_id="max", infer=False)["results"][0]["id"]
    with ServerProcess(engram_home, env={"ENGRAM_PURGE_SECONDS": "0.5"}):
        deadline = time.monotonic() + 30
        with Memory(embedder=embedder) as m:
            archive = m.for_project("archive")
            while archive.store.get("archive", [gone]) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert archive.store.get("archive", [gone]) == []
            assert [h["actor"] for h in archive.history(gone)] == ["extraction", "expiry"]
            assert archive.get(kept)["memory"] == "Max runs on Mondays"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_running_purge_stalls_no_request(backend: str, request, tmp_path: Path) -> None:
    """The purge holds its lock, not a transaction on the server's database: key checks and
    queued adds go on meanwhile, and another server skips the purge instead of waiting."""
    location = (request.getfixturevalue("postgres_url") if backend == "postgres"
                else tmp_path / "server.db")  # fmt: skip
    keys, events, other_server = KeyStore(location), EventStore(location), EventStore(location)
    key = keys.create_key("club")
    started, release = threading.Event(), threading.Event()

    def slow_purge() -> int:
        started.set()
        release.wait(10)
        return 3

    purging = threading.Thread(target=events.exclusive, args=(Lock.EXPIRY_PURGE, slow_purge))
    purging.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        assert keys.verify(key) == Principal("default", "club")
        events.enqueue(Principal("default", "club"), {"messages": "hi", "user_id": "max"})
        assert other_server.exclusive(Lock.EXPIRY_PURGE, lambda: "ran") is None  # skipped
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
        purging.join()
    assert other_server.exclusive(Lock.EXPIRY_PURGE, lambda: "ran") == "ran"
    for store in (keys, events, other_server):
        store.close()
