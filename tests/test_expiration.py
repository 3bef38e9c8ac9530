"""Expired memories vanish from every read at their expiration time, then get purged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engram import InvalidInputError, MemoryNotFoundError
from engram.memory import Memory
from tests.conftest import Clock

START = Clock.START


@pytest.fixture
def timed(embedder, clock: Clock):
    m = Memory(embedder=embedder, clock=clock)
    yield m
    m.close()


def test_expired_memory_is_absent_from_every_read(timed: Memory, clock: Clock) -> None:
    expiry = (START + timedelta(days=14)).strftime("%Y-%m-%d")
    ankle = timed.add("Rolled my left ankle, needs rest", user_id="max", infer=False,
                      expiration_date=expiry)["results"][0]  # fmt: skip
    timed.add("Max prefers trail running", user_id="max", infer=False)
    assert timed.get(ankle["id"])["expiration_date"].startswith("2026-03-15")
    assert len(timed.search("ankle", user_id="max")["results"]) == 2

    clock.now = START + timedelta(days=15)
    assert [r["memory"] for r in timed.search("ankle", user_id="max")["results"]] == [
        "Max prefers trail running"
    ]
    assert timed.get_all(user_id="max")["count"] == 1
    assert timed.get_all(filters={"expiration_date": "*", "user_id": "max"})["results"] == []
    with pytest.raises(MemoryNotFoundError):
        timed.get(ankle["id"])
    assert all(e["total_memories"] == 1 for e in timed.entities()["results"])


def test_expiry_is_exact_to_the_second(timed: Memory, clock: Clock) -> None:
    at = START + timedelta(hours=1)
    mid = timed.add("Temporary fact", user_id="max", infer=False,
                    expiration_date=at.isoformat())["results"][0]["id"]  # fmt: skip
    clock.now = at - timedelta(seconds=1)
    assert timed.get(mid)["memory"] == "Temporary fact"
    clock.now = at
    with pytest.raises(MemoryNotFoundError):
        timed.get(mid)


def test_purge_removes_rows_and_keeps_history(timed: Memory, clock: Clock) -> None:
    mid = timed.add("Rolled ankle", user_id="max", infer=False,
                    expiration_date="2026-03-02")["results"][0]["id"]  # fmt: skip
    clock.now = START + timedelta(days=2)
    assert timed.purge_expired() == 1
    assert timed.store.get("default", [mid]) == []
    events = [(h["event"], h["actor"]) for h in timed.history(mid)]
    assert events == [("ADD", "extraction"), ("DELETE", "expiry")]


@pytest.mark.parametrize("bad", ["next week", "2026-13-01", 20260301, "2026/03/01"])
def test_bad_expiration_date_is_rejected_and_stores_nothing(timed: Memory, bad) -> None:
    with pytest.raises(InvalidInputError) as info:
        timed.add("Rolled ankle", user_id="max", infer=False, expiration_date=bad)
    assert info.value.field == "expiration_date"
    assert timed.get_all(user_id="max")["count"] == 0
