"""Expired memories are purged off the write path: `add` never purges; `purge_expired()` purges
one project; the server purges every project periodically, keeping the history."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from engram.memory import Memory
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
