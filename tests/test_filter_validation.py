"""Filters through `Memory`: they narrow search, and a bad one is an error naming its field.

Every operator is checked on every backend in tests/test_store_conformance.py."""

from __future__ import annotations

import numpy as np
import pytest

from engram import FilterError
from engram.memory import Memory
from engram.models import MemoryRecord
from engram.stores.base import WriteBatch

ROWS = [
    # id, user, text, categories
    ("m1", "max", "10x400m intervals", ["goals"]),
    ("m2", "max", "Max prefers trail running", ["preferences"]),
    ("m4", "bob", "Bob swims on Sundays", ["constraints"]),
]


@pytest.fixture
def seeded(memory: Memory, embedder) -> Memory:
    batch = WriteBatch()
    vectors = embedder.embed([row[2] for row in ROWS])
    for (mid, user, text, categories), vector in zip(ROWS, vectors):
        ts = "2025-01-05T12:00:00.000000+00:00"
        record = MemoryRecord(id=mid, memory=text, user_id=user, categories=categories,
                              created_at=ts, updated_at=ts, hash=mid)  # fmt: skip
        batch.upserts.append((record, np.asarray(vector)))
    memory.store.write(batch)
    return memory


def test_filters_apply_to_search_too(seeded: Memory) -> None:
    found = seeded.search(
        "injury concerns",
        filters={"AND": [{"user_id": "*"}, {"categories": {"in": ["constraints"]}}]},
        threshold=0.0,
    )["results"]
    assert [r["id"] for r in found] == ["m4"]


def test_plain_filter_through_get_all(seeded: Memory) -> None:
    found = seeded.get_all(filters={"AND": [{"user_id": "max"}, {"categories": "goals"}]})
    assert [r["id"] for r in found["results"]] == ["m1"]


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
