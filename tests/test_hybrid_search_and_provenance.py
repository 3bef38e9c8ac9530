"""On both backends: search finds memories by their words as well as by meaning, every
memory records the messages it came from, and `timestamp` dates what was said."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from engram.errors import InvalidInputError
from engram.memory import Memory
from engram.stores.base import Query
from tests.conftest import Clock


def came_from(result: dict) -> list[str]:
    return [s["message_id"] for s in result["sources"] if not s.get("context")]


@pytest.fixture
def mem(embedder, store_factory: Callable[[], object], clock: Clock) -> Iterator[Memory]:
    m = Memory(store=store_factory(), embedder=embedder, clock=clock)
    yield m


def test_a_rare_word_finds_a_memory_beyond_the_vector_pool(mem: Memory) -> None:
    filler = [{"role": "user", "content": f"Max bought running shoes model {i} for road races"}
              for i in range(130)]  # fmt: skip
    mem.add(filler, user_id="max", infer=False)
    mem.add("The cat is called Zorblax", user_id="max", infer=False)
    query = "zorblax and shoes for road races"
    # the vector list is the 100 nearest of 131 memories: all shoes
    by_vector = mem.search(query, user_id="max", keyword_search=False, threshold=0.0)
    assert "The cat is called Zorblax" not in [r["memory"] for r in by_vector["results"]]
    hybrid = mem.search(query, user_id="max", threshold=0.0)["results"]
    found = next(r for r in hybrid if r["memory"] == "The cat is called Zorblax")
    assert found["score_breakdown"]["keyword"] > 0.3


@pytest.mark.parametrize("memories", [12, 130])  # within the vector pool, and beyond it
def test_ranked_or_fused_a_search_scores_the_same_candidates(mem: Memory, memories: int) -> None:
    """Ranked by score, a scope smaller than the vector pool (100) skips the keyword lists
    (every memory is already a candidate); fused by rank, they run. The candidates, and so
    the scores, must be the same."""
    texts = [f"Max bought running shoes model {i} for road races" for i in range(memories - 2)]
    texts += ["The cat is called Zorblax", "Zorblax sleeps on the running shoes"]
    mem.add([{"role": "user", "content": t} for t in texts], user_id="max", infer=False)
    query = "where does zorblax sleep"
    scored, fused = ({r["id"]: r["score"] for r in mem.search(
        query, user_id="max", threshold=0.0, rerank=rerank)["results"]}
        for rerank in (True, False))  # fmt: skip
    # the top 10 of each order; the keyword half of a score depends on every candidate
    both = scored.keys() & fused.keys()
    assert len(both) >= 2 and all(scored[i] == fused[i] for i in both)


def test_keyword_candidates_respect_scope_and_filters(mem: Memory) -> None:
    mem.add("Max likes Zorblax cereal", user_id="max", infer=False, metadata={"k": 1})
    mem.add("Ann likes Zorblax cereal", user_id="ann", infer=False)
    found = mem.search("zorblax", user_id="max", threshold=0.0)["results"]
    assert [r["memory"] for r in found] == ["Max likes Zorblax cereal"]
    assert mem.search("zorblax", user_id="max", filters={"metadata.k": 2},
                      threshold=0.0)["results"] == []  # fmt: skip


def test_deleted_and_updated_memories_leave_the_word_index(mem: Memory) -> None:
    gone = mem.add("Max owns a Zorblax kite", user_id="max", infer=False)["results"][0]["id"]
    changed = mem.add("Max owns a Quibble drum", user_id="max", infer=False)["results"][0]["id"]
    mem.delete(gone)
    mem.update(changed, text="Max owns a snare drum")

    def matching(word: str) -> list[str]:
        q = Query(mem.project_id, None, mem._now(), keywords=(word,))
        return [r.memory for r, _ in mem.store.query(q)]

    assert matching("zorblax") == [] and matching("quibble") == []
    assert matching("snare") == ["Max owns a snare drum"]
    found = mem.search("zorblax kite", user_id="max", threshold=0.0)["results"]
    assert [r["memory"] for r in found] == ["Max owns a snare drum"]


def test_a_raw_message_is_its_own_source(mem: Memory) -> None:
    out = mem.add([{"role": "user", "content": "My knee hurts", "message_id": "m-1"},
                   {"role": "user", "content": "I run on trails", "message_id": 7}],
                  user_id="max", infer=False, timestamp=1683504000)  # fmt: skip
    first = mem.get(out["results"][0]["id"])
    assert first["sources"] == [{"index": 0, "role": "user", "message_id": "m-1",
                                 "text": "My knee hurts", "hash": first["sources"][0]["hash"],
                                 "said_at": "2023-05-08T00:00:00.000000+00:00"}]  # fmt: skip
    second = mem.get(out["results"][1]["id"])
    assert came_from(second) == ["7"]
    assert second["sources"][1]["context"] and second["sources"][1]["message_id"] == "m-1"


def test_context_words_count_for_keywords(mem: Memory) -> None:
    mem.add([{"role": "user", "content": "Caroline: What did you paint last week?"},
             {"role": "user", "content": "Melanie: A lake sunrise"}], run_id="c",
            infer=False)  # fmt: skip
    found = mem.search("What did Melanie paint?", run_id="c")["results"]
    sunrise = next(r for r in found if r["memory"] == "Melanie: A lake sunrise")
    assert sunrise["score_breakdown"]["keyword"] > 0.5


def test_an_extracted_fact_points_at_the_message_it_came_from(mem: Memory) -> None:
    mem.add([{"role": "user", "content": "I want to run a marathon in under 4 hours",
              "message_id": "a"},
             {"role": "assistant", "content": "Great goal!", "message_id": "b"},
             {"role": "user", "content": "My right knee flares up on downhills",
              "message_id": "c"}], user_id="max")  # fmt: skip
    got = {r["memory"]: r for r in mem.get_all(user_id="max", include_sources=True)["results"]}
    knee = got["Max's right knee flares up on downhills"]
    assert came_from(knee) == ["c"]
    # the message before it, what it answered, is kept as context
    assert [s["message_id"] for s in knee["sources"] if s.get("context")] == ["b"]
    goal = got["Max wants to run a marathon in under 4 hours"]
    assert came_from(goal) == ["a"]


def test_an_update_appends_the_new_sources(mem: Memory) -> None:
    first = mem.add([{"role": "user", "content": "I want to run a marathon in under 4 hours",
                      "message_id": "a"}], user_id="max")["results"][0]  # fmt: skip
    changed = mem.add([{"role": "user", "content": "Actually I now want to run a marathon "
                        "in under 3:45", "message_id": "z"}], user_id="max")["results"]  # fmt: skip
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", first["id"])]
    assert came_from(mem.get(first["id"])) == ["a", "z"]


def test_history_shows_the_sources_as_of_each_event(mem: Memory) -> None:
    first = mem.add([{"role": "user", "content": "I want to run a marathon in under 4 hours",
                      "message_id": "a"}], user_id="max", timestamp=1683504000)["results"][0]
    mem.add([{"role": "user", "content": "Actually I now want to run a marathon in under 3:45",
              "message_id": "z"}], user_id="max", timestamp=1683590400)
    history = mem.history(first["id"])
    assert [(h["event"], came_from(h)) for h in history] == [("ADD", ["a"]),
                                                             ("UPDATE", ["a", "z"])]
    assert history[0]["sources"][0]["text"] == "I want to run a marathon in under 4 hours"


def test_sources_only_on_request_in_lists_and_search(mem: Memory) -> None:
    mem.add("Max paints watercolours", user_id="max", infer=False)
    assert "sources" not in mem.get_all(user_id="max")["results"][0]
    assert "sources" not in mem.search("watercolours", user_id="max")["results"][0]
    found = mem.search("watercolours", user_id="max", include_sources=True)["results"][0]
    assert found["sources"][0]["text"] == "Max paints watercolours"


def test_timestamp_dates_the_memory_its_history_and_relative_words(mem: Memory) -> None:
    said = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    out = mem.add("I went to a pottery class yesterday", user_id="max",
                  timestamp=said.isoformat())["results"]  # fmt: skip
    record = mem.get(out[0]["id"])
    assert record["memory"] == "Max went to a pottery class yesterday (7 May 2023)"
    assert record["created_at"].startswith("2023-05-08T13:56")
    assert mem.history(out[0]["id"])[0]["created_at"].startswith("2023-05-08T13:56")


@pytest.mark.parametrize("bad", ["last tuesday", True, 10**20, [1]])
def test_bad_timestamp_is_rejected(mem: Memory, bad: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        mem.add("hello there, I like tea", user_id="max", timestamp=bad)
    assert err.value.field == "timestamp"


def test_export_carries_the_sources(mem: Memory, tmp_path) -> None:
    from engram.transfer import export_memories, import_memories

    mem.add([{"role": "user", "content": "My knee hurts", "message_id": "m-1"}],
            user_id="max", infer=False)  # fmt: skip
    export_memories(mem, tmp_path / "out.jsonl")
    other = mem.for_project("copy")
    import_memories(other, tmp_path / "out.jsonl")
    copied = other.get_all(user_id="max", include_sources=True)["results"][0]
    assert came_from(copied) == ["m-1"]
