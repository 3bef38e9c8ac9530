"""One shape per result: what `Memory` returns is what the contract (engram.schemas) declares,
the same models the server answers with and the client returns."""

from __future__ import annotations

from engram import Memory
from engram import schemas as s


def test_library_results_match_the_contract(memory: Memory) -> None:
    added = s.AddResult.model_validate(
        memory.add("Max prefers trail running", user_id="max", infer=False)
    )
    memory_id = added.results[0].id
    assert added.results[0].event == "ADD"
    found = s.SearchResult.model_validate(memory.search("trail", user_id="max"))
    assert found.results[0].id == memory_id and found.results[0].score is not None
    listed = memory.get_all(user_id="max")
    assert s.Page.model_validate({**listed, "next": None, "previous": None}).count == 1
    assert "score" not in listed["results"][0]  # scores belong to search only
    assert s.MemoryItem.model_validate(memory.get(memory_id)).memory == "Max prefers trail running"
    updated = s.Updated.model_validate(memory.update(memory_id, text="Max loves trail running"))
    assert updated.message and updated.memory == "Max loves trail running"
    history = [s.HistoryItem.model_validate(h) for h in memory.history(memory_id)]
    assert [h.event for h in history] == ["ADD", "UPDATE"]
    entities = s.EntityList.model_validate(memory.entities())
    assert [(e.type, e.id, e.total_memories) for e in entities.results] == [("user", "max", 1)]
    settings = s.ProjectSettings.model_validate(memory.project.get())
    assert settings.custom_categories  # the defaults, as a list of {name: description}
    assert s.Deleted.model_validate(memory.delete_entity("user", "max")).deleted == 1
    assert s.Deleted.model_validate(memory.delete_all(user_id="max")).deleted == 0
