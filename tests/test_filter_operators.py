"""Every operator of the filter language, checked against the real SQLite store."""

from __future__ import annotations

import numpy as np
import pytest

from engram import FilterError
from engram.memory import Memory
from engram.models import MemoryRecord
from engram.stores.base import WriteBatch

ROWS = [
    # id, user, agent, run, text, metadata, categories, created_at
    ("m1", "max", None, "boston-2025", "10x400m intervals",
     {"workout_type": "speed", "intensity": "high", "km": 10}, ["goals"], "2025-01-05"),
    ("m2", "max", None, "nyc-2025", "Long run of 30 km",
     {"workout_type": "long", "intensity": "low", "km": 30}, ["goals", "preferences"], "2025-03-01"),  # noqa: E501
    ("m3", "max", "ray", None, "Max prefers trail running",
     {}, ["preferences"], "2025-06-10"),
    ("m4", "bob", None, None, "Bob swims on Sundays",
     {"km": 2, "note": "Pool SESSION"}, ["constraints"], "2025-09-30"),
]  # fmt: skip


@pytest.fixture
def seeded(memory: Memory, embedder) -> Memory:
    batch = WriteBatch()
    vectors = embedder.embed([row[4] for row in ROWS])
    for row, vector in zip(ROWS, vectors):
        mid, user, agent, run, text, metadata, categories, day = row
        ts = f"{day}T12:00:00.000000+00:00"
        record = MemoryRecord(
            id=mid, memory=text, user_id=user, agent_id=agent, run_id=run, metadata=metadata,
            categories=categories, created_at=ts, updated_at=ts, hash=mid,
        )  # fmt: skip
        batch.upserts.append((record, np.asarray(vector)))
    memory.store.write(batch)
    return memory


def ids(memory: Memory, filters: dict) -> list[str]:
    return sorted(r["id"] for r in memory.get_all(filters=filters)["results"])


CASES = [
    ({"user_id": "max"}, ["m1", "m2", "m3"]),
    ({"user_id": {"eq": "bob"}}, ["m4"]),
    ({"AND": [{"user_id": "max"}, {"run_id": {"ne": "boston-2025"}}]}, ["m2", "m3"]),
    ({"user_id": {"in": ["max", "bob"]}}, ["m1", "m2", "m3", "m4"]),
    ({"AND": [{"user_id": "*"}, {"user_id": {"nin": ["max"]}}]}, ["m4"]),
    ({"AND": [{"user_id": "max"}, {"run_id": "*"}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"agent_id": "*"}]}, ["m3"]),
    ({"OR": [{"run_id": "boston-2025"}, {"agent_id": "ray"}]}, ["m1", "m3"]),
    ({"AND": [{"user_id": "max"}, {"NOT": [{"run_id": "boston-2025"}]}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"categories": {"in": ["constraints"]}}]}, ["m4"]),
    ({"AND": [{"user_id": "max"}, {"categories": {"in": ["preferences", "x"]}}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "max"}, {"categories": "goals"}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"categories": {"contains": "GOALS"}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"categories": {"nin": ["goals"]}}]}, ["m3"]),
    ({"AND": [{"user_id": "max"}, {"categories": {"ne": "preferences"}}]}, ["m1"]),
    ({"AND": [{"user_id": "max"}, {"metadata.workout_type": "speed"}]}, ["m1"]),
    ({"AND": [{"user_id": "max"}, {"metadata": {"intensity": {"ne": "high"}}}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"gt": 5}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"gte": 10}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"lt": 10}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"lte": 10}}]}, ["m1", "m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"gt": 1, "lt": 20}}]}, ["m1", "m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": {"in": ["long", "x"]}}]}, ["m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": {"nin": ["long"]}}]}, ["m1", "m3", "m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": "*"}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"contains": "Pool"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"contains": "pool"}}]}, []),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"icontains": "session"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"memory": {"icontains": "RUN"}}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"memory": {"contains": "Sundays"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gte": "2025-03-01"}}]}, ["m2", "m3", "m4"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lt": "2025-03-01T00:00:00Z"}}]}, ["m1"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gt": "2025-03-01T12:00:00+00:00"}}]},
     ["m3", "m4"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lte": "2025-03-01T12:00:00"}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"id": {"in": ["m1", "m3", "m4"]}}]}, ["m1", "m3"]),
    ({"AND": [{"user_id": "max"}, {"memory_id": "m2"}]}, ["m2"]),
    ({"user_id": "max", "run_id": "nyc-2025"}, ["m2"]),
    ({"OR": [{"AND": [{"user_id": "bob"}]}, {"AND": [{"user_id": "max"}, {"agent_id": "ray"}]}]},
     ["m3", "m4"]),
]  # fmt: skip


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_selects_exactly(seeded: Memory, filters: dict, expected: list[str]) -> None:
    assert ids(seeded, filters) == expected


def test_filters_apply_to_search_too(seeded: Memory) -> None:
    found = seeded.search(
        "injury concerns",
        filters={"AND": [{"user_id": "*"}, {"categories": {"in": ["constraints"]}}]},
        threshold=0.0,
    )["results"]
    assert [r["id"] for r in found] == ["m4"]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"user_id": {"like": "m%"}}, "filters.user_id.like"),
        ({"colour": "red"}, "filters.colour"),
        ({"AND": []}, "filters.AND"),
        ({"user_id": {"in": "max"}}, "filters.user_id.in"),
        ({"user_id": {"in": []}}, "filters.user_id.in"),
        ({"created_at": {"gt": "last tuesday"}}, "filters.created_at.gt"),
        ({"AND": [{"user_id": "max"}, {"memory": {"icontains": 3}}]}, "filters.AND[1].memory.icontains"),  # noqa: E501
        ({"user_id": {}}, "filters.user_id"),
    ],
)  # fmt: skip
def test_bad_filter_names_the_field(seeded: Memory, filters: dict, field: str) -> None:
    with pytest.raises(ValueError) as info:
        seeded.get_all(filters=filters)
    assert getattr(info.value, "field", None) == field
    assert isinstance(info.value, FilterError) or "date" in str(info.value)
