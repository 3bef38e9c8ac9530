"""Batch updates and deletes are all or nothing, on both backends: one bad item, no change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engram import InvalidInputError, MemoryNotFoundError
from engram.memory import Memory


@pytest.fixture
def memory(backend: str, request: pytest.FixtureRequest, tmp_path: Path, embedder
           ) -> Iterator[Memory]:  # fmt: skip
    database = (request.getfixturevalue("postgres_url") if backend == "postgres"
                else str(tmp_path / "batch.db"))  # fmt: skip
    m = Memory({"database": database}, embedder=embedder)
    yield m
    m.close()


def two(memory: Memory) -> list[str]:
    return [memory.add(text, user_id="max", infer=False)["results"][0]["id"]
            for text in ("Max runs on Mondays", "Max swims on Fridays")]  # fmt: skip


def snapshot(memory: Memory, ids: list[str]) -> list[tuple[object, ...]]:
    return [(memory.get(i)["memory"], memory.get(i)["metadata"], len(memory.history(i)))
            for i in ids]  # fmt: skip


@pytest.mark.parametrize(
    ("second", "error", "field"),
    [
        ({"memory_id": "no-such-memory", "text": "x"}, MemoryNotFoundError, "memory_id"),
        ({"text": "no id"}, InvalidInputError, "memories[1].memory_id"),
        ("not an object", InvalidInputError, "memories[1]"),
    ],
)
def test_batch_update_with_a_bad_item_changes_nothing(memory: Memory, second, error, field
                                                      ) -> None:  # fmt: skip
    ids = two(memory)
    before = snapshot(memory, ids)
    with pytest.raises(error) as info:
        memory.batch_update([{"memory_id": ids[0], "text": "Max runs on Tuesdays"}, second])
    assert info.value.field == field
    assert snapshot(memory, ids) == before


@pytest.mark.parametrize("bad", [{"text": ""}, {"metadata": "not a dict"}, {}])
def test_batch_update_with_invalid_values_changes_nothing(memory: Memory, bad) -> None:
    ids = two(memory)
    before = snapshot(memory, ids)
    with pytest.raises(InvalidInputError) as info:
        memory.batch_update([{"memory_id": ids[0], "metadata": {"ok": True}},
                             {"memory_id": ids[1], **bad}])  # fmt: skip
    assert info.value.field.startswith("memories[1].")
    assert snapshot(memory, ids) == before


def test_batch_update_applies_every_item(memory: Memory) -> None:
    ids = two(memory)
    memory.batch_update([{"memory_id": ids[0], "text": "Max runs on Tuesdays"},
                         {"id": ids[1], "metadata": {"pool": "50m"}}])  # fmt: skip
    assert snapshot(memory, ids) == [("Max runs on Tuesdays", None, 2),
                                     ("Max swims on Fridays", {"pool": "50m"}, 2)]  # fmt: skip
    found = memory.search("Tuesday running", user_id="max", limit=1)["results"]
    assert found[0]["id"] == ids[0]  # the new text was embedded


def test_batch_delete_with_a_missing_id_deletes_nothing(memory: Memory) -> None:
    ids = two(memory)
    with pytest.raises(MemoryNotFoundError):
        memory.batch_delete([ids[0], "no-such-memory"])
    assert memory.get_all(user_id="max")["count"] == 2
    memory.batch_delete(ids)
    assert memory.get_all(user_id="max")["count"] == 0
    assert [h["event"] for h in memory.history(ids[1])] == ["ADD", "DELETE"]
