"""Bad input gets a typed error naming the field, and changes nothing stored."""

from __future__ import annotations

import pytest

from engram import InvalidInputError, MemoryNotFoundError
from engram.memory import Memory


@pytest.fixture
def one(memory: Memory) -> tuple[Memory, str]:
    mid = memory.add("Max prefers trail running", user_id="max", infer=False)["results"][0]["id"]
    return memory, mid


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": ""}, "messages"),
        ({"messages": "   "}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": 42}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": "ok", "user_id": ""}, "user_id"),
        ({"messages": "ok", "user_id": 7}, "user_id"),
        ({"messages": "ok", "agent_id": "x" * 300}, "agent_id"),
        ({"messages": "ok", "metadata": ["a"]}, "metadata"),
        ({"messages": "ok", "expiration_date": "soon"}, "expiration_date"),
    ],
)
def test_add_rejects(one: tuple[Memory, str], kwargs: dict, field: str) -> None:
    memory, _ = one
    kwargs.setdefault("user_id", "max")
    with pytest.raises(InvalidInputError) as info:
        memory.add(infer=False, **kwargs)
    assert info.value.field == field
    assert memory.get_all(user_id="max")["count"] == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda m: m.search("", user_id="max"), "query"),
        (lambda m: m.search(None, user_id="max"), "query"),
        (lambda m: m.search("x", user_id="max", limit=0), "limit"),
        (lambda m: m.search("x", user_id="max", limit="5"), "limit"),
        (lambda m: m.search("x", user_id="max", threshold="high"), "threshold"),
        (lambda m: m.get_all(user_id="max", page=0), "page"),
        (lambda m: m.get_all(user_id="max", page_size=5000), "page_size"),
        (lambda m: m.get(""), "memory_id"),
        (lambda m: m.project.update(custom_categories="goals"), "custom_categories"),
        (lambda m: m.project.update(custom_categories=[{"a": 1, "b": 2}]),
         "custom_categories[0]"),
        (lambda m: m.project.update(custom_instructions=5), "custom_instructions"),
        (lambda m: m.project.update(threshold=3), "threshold"),
    ],
)  # fmt: skip
def test_reads_and_settings_reject(one: tuple[Memory, str], call, field: str) -> None:
    memory, _ = one
    with pytest.raises(InvalidInputError) as info:
        call(memory)
    assert info.value.field == field


def test_update_with_bad_text_changes_nothing(one: tuple[Memory, str]) -> None:
    memory, mid = one
    for bad in ({"text": ""}, {"text": 5}, {}, {"metadata": "x"}):
        with pytest.raises(InvalidInputError):
            memory.update(mid, **bad)
    assert memory.get(mid)["memory"] == "Max prefers trail running"
    assert [h["event"] for h in memory.history(mid)] == ["ADD"]


def test_unknown_ids_are_not_found(one: tuple[Memory, str]) -> None:
    memory, mid = one
    for call in (memory.get, memory.delete, lambda i: memory.update(i, "x")):
        with pytest.raises(MemoryNotFoundError) as info:
            call("00000000-0000-0000-0000-000000000000")
        assert "not found" in str(info.value)
    with pytest.raises(MemoryNotFoundError):
        memory.batch_delete([mid, "missing"])
    assert memory.get(mid)["memory"] == "Max prefers trail running"


def test_errors_are_value_and_key_errors_for_plain_callers(one: tuple[Memory, str]) -> None:
    memory, _ = one
    with pytest.raises(ValueError):
        memory.search("", user_id="max")
    with pytest.raises(KeyError):
        memory.get("missing")
