"""The dashboard's store queries (engram.stores.review), the same answers on SQLite and
PostgreSQL: keyset pages, feedback, per-day and per-category counts, expiring and
uncategorized memories, superseded links, and similar pairs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engram.filters import parse
from engram.models import MemoryRecord, State
from engram.stores.base import Query, Store, WriteBatch
from tests.test_store_conformance import NOW, record, ts, vec


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    return store_factory()


def _write(store: Store, rows: list[tuple[MemoryRecord, np.ndarray]]) -> None:
    store.write(WriteBatch(upserts=rows))


def _unit(*values: float) -> np.ndarray:
    v = vec(*values)
    return v / np.linalg.norm(v)


def test_keyset_pages_walk_every_memory_once_newest_first(store: Store) -> None:
    # 25 memories, several sharing a timestamp: the id breaks ties, so no page repeats one
    rows = [(record(f"m{i:02d}", user_id="max", created_at=ts("2025-03-01", f"10:00:{i // 3:02d}")),
             vec(1, 0, 0, 0)) for i in range(25)]  # fmt: skip
    rows.append((record("other", project="elsewhere", user_id="max"), vec(1, 0, 0, 0)))
    _write(store, rows)
    seen, cursor = [], None
    while True:
        page = store.page(Query("default", None, NOW, limit=7), cursor)
        if not page:
            break
        seen.extend(r.id for r in page)
        cursor = (page[-1].created_at, page[-1].id)
    expected = [r.id for r, _ in sorted(rows[:25], key=lambda p: (p[0].created_at, p[0].id),
                                        reverse=True)]  # fmt: skip
    assert seen == expected
    filtered = store.page(Query("default", parse({"user_id": "nobody"}), NOW, limit=7))
    assert filtered == []


def test_pages_hide_superseded_and_expired(store: Store) -> None:
    _write(store, [
        (record("live"), vec(1, 0, 0, 0)),
        (record("old", state=State.SUPERSEDED, replaced_by="live"), vec(1, 0, 0, 0)),
        (record("gone", expiration_date=ts("2025-06-01")), vec(1, 0, 0, 0)),
    ])  # fmt: skip
    assert [r.id for r in store.page(Query("default", None, NOW))] == ["live"]
    assert [r.id for r in store.replaced("default", "live")] == ["old"]


def test_feedback_is_stored_per_memory_and_project(store: Store) -> None:
    _write(store, [(record("a"), vec(1, 0, 0, 0)), (record("b"), vec(1, 0, 0, 0)),
                   (record("a", project="p2"), vec(1, 0, 0, 0))])  # fmt: skip
    assert store.set_feedback("default", "a", "VERY_NEGATIVE", "wrong person")
    assert not store.set_feedback("default", "missing", "POSITIVE", None)
    assert store.feedback("default", ["a", "b"]) == {"a": ("VERY_NEGATIVE", "wrong person")}
    assert store.feedback("p2", ["a"]) == {}
    # an upsert of the memory (an update) keeps its feedback
    _write(store, [(record("a", "changed"), vec(0, 1, 0, 0))])
    assert store.feedback("default", ["a"])["a"][0] == "VERY_NEGATIVE"
    store.set_feedback("default", "a", None, None)
    assert store.feedback("default", ["a"]) == {}


def test_counts_per_day_and_category(store: Store) -> None:
    _write(store, [
        (record("a", categories=["goals"], created_at=ts("2025-03-01")), vec(1, 0, 0, 0)),
        (record("b", categories=["goals", "health"], created_at=ts("2025-03-01", "23:59:59")),
         vec(1, 0, 0, 0)),
        (record("c", categories=[], created_at=ts("2025-03-03")), vec(1, 0, 0, 0)),
        (record("d", categories=["goals"], created_at=ts("2025-02-01")), vec(1, 0, 0, 0)),
        (record("x", categories=["goals"], state=State.SUPERSEDED), vec(1, 0, 0, 0)),
    ])  # fmt: skip
    q = Query("default", None, NOW, limit=10)
    assert store.daily_counts(q, "2025-03-01") == [("2025-03-01", 2), ("2025-03-03", 1)]
    assert store.category_counts(q) == [("goals", 3), ("health", 1), ("", 1)]
    assert [r.id for r in store.uncategorized(q)] == ["c"]


def test_expiring_soonest_first(store: Store) -> None:
    _write(store, [
        (record("later", expiration_date=ts("2026-01-20")), vec(1, 0, 0, 0)),
        (record("soon", expiration_date=ts("2026-01-02")), vec(1, 0, 0, 0)),
        (record("past", expiration_date=ts("2025-12-01")), vec(1, 0, 0, 0)),
        (record("never"), vec(1, 0, 0, 0)),
    ])  # fmt: skip
    q = Query("default", None, NOW, limit=10)
    assert [r.id for r in store.expiring(q, ts("2026-01-08"))] == ["soon"]


def test_similar_pairs_are_per_user_and_above_the_threshold(store: Store) -> None:
    _write(store, [
        (record("a1", user_id="max", created_at=ts("2025-01-01")), _unit(1, 0, 0, 0)),
        (record("a2", user_id="max", created_at=ts("2025-01-02")), _unit(1, 0.1, 0, 0)),
        (record("a3", user_id="max", created_at=ts("2025-01-03")), _unit(0, 0, 1, 0)),
        (record("b1", user_id="sam", created_at=ts("2025-01-04")), _unit(1, 0, 0, 0)),
        (record("n1", agent_id="ray", created_at=ts("2025-01-05")), _unit(1, 0, 0, 0)),
        (record("c1", user_id="max", project="p2"), _unit(1, 0, 0, 0)),
    ])  # fmt: skip
    pairs = store.similar_pairs(Query("default", None, NOW, limit=10), 0.9)
    assert [(p.first, p.second) for p in pairs] == [("a1", "a2")]
    assert pairs[0].score == pytest.approx(float(_unit(1, 0, 0, 0) @ _unit(1, 0.1, 0, 0)),
                                           abs=1e-4)  # fmt: skip
    assert store.similar_pairs(Query("default", None, NOW, limit=10), 0.999) == []
