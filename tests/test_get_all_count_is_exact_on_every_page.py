"""`get_all`'s count is the number of matching memories on every page, first, middle, last
and past the end, on both stores; a page short of its size proves the count, so the count
statement is skipped there (most users have one page)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engram import Memory

TOTAL = 23


@pytest.fixture(params=["sqlite", "postgres"])
def filled(request, embedder, engram_home: Path):
    database = (str(engram_home / "engram.db") if request.param == "sqlite"
                else request.getfixturevalue("postgres_url"))  # fmt: skip
    m = Memory({"database": database}, embedder=embedder)
    messages = [{"role": "user", "content": f"fact number {i} about running"} for i in range(TOTAL)]
    m.add(messages, user_id="max", infer=False)
    m.add("a fact of someone else", user_id="ada", infer=False)
    yield m
    m.close()


@pytest.mark.parametrize("size", [1, 5, 10, 23, 24, 100])
def test_every_page_counts_every_match(filled: Memory, size: int) -> None:
    seen: list[str] = []
    for page in range(1, TOTAL // size + 3):  # through one page past the end
        found = filled.get_all(user_id="max", page=page, page_size=size)
        assert found["count"] == TOTAL, (page, size)
        seen += [r["id"] for r in found["results"]]
    assert len(seen) == len(set(seen)) == TOTAL


def test_a_user_with_nothing_counts_zero(filled: Memory) -> None:
    assert filled.get_all(user_id="nobody")["count"] == 0
    assert filled.get_all(user_id="nobody", page=3, page_size=10)["count"] == 0


def test_a_short_page_needs_no_count_statement(filled: Memory, monkeypatch) -> None:
    store = filled._engine.store
    counted: list[object] = []
    real = store.count
    monkeypatch.setattr(store, "count", lambda q: counted.append(q) or real(q))
    assert filled.get_all(user_id="max", page_size=100)["count"] == TOTAL  # one short page
    assert filled.get_all(user_id="max", page=3, page_size=10)["count"] == TOTAL  # the last
    assert counted == []
    assert filled.get_all(user_id="max", page=1, page_size=10)["count"] == TOTAL  # a full page
    assert filled.get_all(user_id="max", page=9, page_size=10)["count"] == TOTAL  # past the end
    assert len(counted) == 2
