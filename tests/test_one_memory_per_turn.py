"""The offline pipeline keeps a turn's facts as ONE memory (a memory layer stores key facts,
not every clause), stores nothing for remarks to the listener, and a later change to one of
that memory's facts rewrites only that fact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engram.memory import Memory
from tests.quality_cases.support import active, user_turn


@pytest.fixture
def mem(embedder) -> Iterator[Memory]:
    m = Memory(embedder=embedder)
    yield m
    m.close()


def test_a_turns_facts_are_one_memory(mem: Memory) -> None:
    said = "Hey Sam! I moved to Lisbon in March and I started working at a bakery. It's been great."
    (stored,) = user_turn(mem, said)
    assert stored["event"] == "ADD"
    assert "Lisbon" in stored["memory"] and "bakery" in stored["memory"]
    assert "Sam" not in stored["memory"]


@pytest.mark.parametrize("said", [
    "Thanks, Sam! You'd be a great coach.",
    "What a beautiful photo! Your garden looks amazing.",
    "I'm so proud of you! Glad it all worked out.",
    "Totally agree, Sam. Talk to you soon!",
])  # fmt: skip
def test_remarks_to_the_listener_store_nothing(mem: Memory, said: str) -> None:
    assert user_turn(mem, said) == []


def test_a_change_rewrites_only_the_fact_it_changes(mem: Memory) -> None:
    (first,) = user_turn(mem, "I'm 34 and I live in Lyon. I work as a nurse.")
    changed = user_turn(mem, "I moved to Paris")
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", first["id"])]
    (now,) = active(mem)
    assert "Paris" in now and "Lyon" not in now
    assert "34" in now and "nurse" in now
