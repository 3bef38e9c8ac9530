"""Search ranks by meaning, nudged by the query's rarer words; scores stay cosine."""

from __future__ import annotations

from engram.memory import Memory
from engram.models import MemoryRecord
from engram.ranking import content_words, rerank


def record(text: str) -> MemoryRecord:
    return MemoryRecord(id=text, memory=text)


def test_rare_shared_word_outranks_common_one() -> None:
    rows = [
        (record("Caroline likes hiking with friends"), 0.50),
        (record("Caroline went to an LGBTQ support group"), 0.48),
        (record("Caroline has a dog"), 0.47),
        (record("Caroline paints sunsets"), 0.46),
    ]
    ranked = rerank("When did Caroline go to the LGBTQ group?", rows, 0.3, 2)
    assert ranked[0][0].memory == "Caroline went to an LGBTQ support group"
    assert ranked[0][1] == 0.48  # the reported score is still the cosine similarity


def test_zero_weight_is_pure_vector_order() -> None:
    rows = [(record("b"), 0.2), (record("a"), 0.9)]
    assert [r.memory for r, _ in rerank("a", rows, 0.0, 2)] == ["a", "b"]


def test_content_words_drop_stopwords() -> None:
    assert content_words("What did she do at the pottery class?") == {"pottery", "class"}


def test_threshold_applies_to_cosine(memory: Memory) -> None:
    memory.add("Max paints watercolour landscapes", user_id="max", infer=False)
    memory.add("Max owns a red bicycle", user_id="max", infer=False)
    everything = memory.search("watercolour painting", user_id="max", threshold=0.0)["results"]
    assert everything[0]["memory"] == "Max paints watercolour landscapes"
    cut = memory.search("watercolour painting", user_id="max", threshold=everything[0]["score"])
    assert [r["memory"] for r in cut["results"]] == ["Max paints watercolour landscapes"]
