"""Every change to a memory is kept in its history, with old and new text and time."""

from __future__ import annotations

import pytest

from engram import MemoryNotFoundError
from engram.memory import Memory


def test_history_records_add_update_delete(memory: Memory) -> None:
    mid = memory.add("Max wants a sub-4 marathon", user_id="max", infer=False)["results"][0]["id"]
    memory.update(mid, "Max wants a sub-3:45 marathon")
    memory.update(mid, metadata={"source": "coach"})
    memory.delete(mid)
    history = memory.history(mid)
    assert [h["event"] for h in history] == ["ADD", "UPDATE", "UPDATE", "DELETE"]
    assert history[0]["new_memory"] == "Max wants a sub-4 marathon"
    assert (history[1]["old_memory"], history[1]["new_memory"]) == (
        "Max wants a sub-4 marathon",
        "Max wants a sub-3:45 marathon",
    )
    assert history[3]["old_memory"] == "Max wants a sub-3:45 marathon"
    assert history[3]["new_memory"] is None
    stamps = [h["created_at"] for h in history]
    assert stamps == sorted(stamps)
    assert all(h["user_id"] == "max" for h in history)


def test_update_changes_search_results(memory: Memory) -> None:
    mid = memory.add("Max swims on Sundays", user_id="max", infer=False)["results"][0]["id"]
    memory.update(mid, "Max cycles on Saturdays")
    top = memory.search("cycling", user_id="max")["results"][0]
    assert (top["id"], top["memory"]) == (mid, "Max cycles on Saturdays")
    assert memory.get(mid)["updated_at"] > memory.get(mid)["created_at"]


def test_history_of_unknown_memory_is_not_found(memory: Memory) -> None:
    with pytest.raises(MemoryNotFoundError):
        memory.history("no-such-id")


def test_delete_all_writes_history_for_each(memory: Memory) -> None:
    ids = [memory.add(t, user_id="max", run_id="old", infer=False)["results"][0]["id"]
           for t in ("fact one", "fact two")]  # fmt: skip
    assert memory.delete_all(user_id="max", run_id="old")["deleted"] == 2
    assert [memory.history(i)[-1]["event"] for i in ids] == ["DELETE", "DELETE"]
