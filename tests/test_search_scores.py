"""Search scores mean something: one relevance in [0, 1] from meaning and shared words,
a default threshold that keeps unrelated memories out, and a breakdown per result."""

from __future__ import annotations

import pytest

from engram.errors import InvalidInputError
from engram.memory import Memory
from engram.models import Hit, MemoryRecord
from engram.ranking import DEFAULT_THRESHOLD, hit_of, rank

RAY = [
    "Max wants to run a marathon in under 4 hours",
    "Max prefers trail running over roads",
    "Max's right knee flares up on downhills",
    "Max's sister lives in Lyon",
    "Max plays the cello on Sundays",
]


def hit(text: str) -> Hit:
    return hit_of(MemoryRecord(id=text, memory=text))


def test_rare_shared_word_outranks_common_one() -> None:
    texts = ["Caroline likes hiking with friends", "Caroline went to an LGBTQ support group",
             "Caroline has a dog", "Caroline paints sunsets"]  # fmt: skip
    semantic = dict(zip(texts, [0.50, 0.48, 0.47, 0.46]))
    ranked = rank("When did Caroline go to the LGBTQ group?", semantic, [hit(t) for t in texts])
    assert ranked[0].hit.id == "Caroline went to an LGBTQ support group"
    assert ranked[0].breakdown["semantic"] == 0.48
    assert ranked[0].breakdown["keyword"] > ranked[1].breakdown["keyword"]


def test_exact_restatement_scores_above_0_8(memory: Memory) -> None:
    for text in RAY:
        memory.add(text, user_id="max", infer=False)
    for text in RAY:
        top = memory.search(text, user_id="max", limit=1)["results"][0]
        assert top["memory"] == text
        assert top["score"] > 0.8, (text, top["score"], top["score_breakdown"])


def test_unrelated_memory_is_not_returned_by_default(memory: Memory) -> None:
    for text in RAY:
        memory.add(text, user_id="max", infer=False)
    found = memory.search("blister on my heel", user_id="max")["results"]
    assert found == [] or all(r["score"] >= DEFAULT_THRESHOLD for r in found)
    assert "Max plays the cello on Sundays" not in [r["memory"] for r in found]
    everything = memory.search("blister on my heel", user_id="max", threshold=0.0)["results"]
    assert len(everything) == len(RAY)
    assert all(r["score"] < DEFAULT_THRESHOLD for r in everything
               if r["memory"] == "Max plays the cello on Sundays")  # fmt: skip


QUERIES = ["marathon", "cello Sundays", "x", "knee pain downhill", "完全无关的中文问题", "!!! ???",
           "Lyon Lyon Lyon sister"]  # fmt: skip


@pytest.mark.parametrize("query", QUERIES)
def test_scores_stay_within_0_and_1(memory: Memory, query: str) -> None:
    for text in RAY:
        memory.add(text, user_id="max", infer=False)
    found = memory.search(query, user_id="max", threshold=0.0)["results"]
    assert len(found) == len(RAY)
    for r in found:
        assert 0.0 <= r["score"] <= 1.0
        assert set(r["score_breakdown"]) == {"semantic", "keyword"}
        assert all(0.0 <= v <= 1.0 for v in r["score_breakdown"].values())
    assert [r["score"] for r in found] == sorted((r["score"] for r in found), reverse=True)


@pytest.mark.parametrize("threshold", [1.5, -0.1, True, "0.5"])
def test_threshold_outside_0_1_is_rejected(memory: Memory, threshold: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        memory.search("marathon", user_id="max", threshold=threshold)
    assert err.value.field == "threshold"


@pytest.mark.parametrize("switch", ["keyword_search", "rerank"])
def test_switches_must_be_booleans(memory: Memory, switch: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        memory.search("marathon", user_id="max", **{switch: "yes"})
    assert err.value.field == switch


def test_threshold_cuts_at_the_score(memory: Memory) -> None:
    memory.add("Max paints watercolour landscapes", user_id="max", infer=False)
    memory.add("Max owns a red bicycle", user_id="max", infer=False)
    everything = memory.search("watercolour painting", user_id="max", threshold=0.0)["results"]
    assert everything[0]["memory"] == "Max paints watercolour landscapes"
    cut = memory.search("watercolour painting", user_id="max", threshold=everything[0]["score"])
    assert [r["memory"] for r in cut["results"]] == ["Max paints watercolour landscapes"]


def test_project_threshold_is_the_default(memory: Memory) -> None:
    memory.add("Max paints watercolour landscapes", user_id="max", infer=False)
    memory.project.update(threshold=0.99)
    assert memory.search("watercolour painting", user_id="max")["results"] == []
    assert memory.search("watercolour painting", user_id="max", threshold=0.0)["results"]


def test_ranking_many_memories_leaves_nothing_for_the_garbage_collector() -> None:
    """Each memory's term counts are cached between searches (up to 20,000): they hold no
    object the collector tracks, so the cache neither sets off full collections as it fills
    nor makes them longer (Counters in tuples did: 15-34 ms pauses inside searches)."""
    import gc

    hits = [hit(f"memory number {i} about running") for i in range(3_000)]
    gc.collect()
    before = len(gc.get_objects())
    rank("running memory", {h.id: 0.5 for h in hits}, hits)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
