"""One behaviour, every backend: the `Store` contract asserted on SQLite and PostgreSQL alike.

Every filter operator is checked here, on both backends,
plus the corners where SQL engines usually disagree: JSON types, NULLs, byte order, keys
with dots and quotes. Postgres runs on a real server (tests/support/postgres_server.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engram.filters import parse
from engram.lexical import terms
from engram.models import Event, HistoryEntry, MemoryRecord, State
from engram.ranking import hit_of
from engram.stores.base import EntityCount, Query, Store, WriteBatch
from engram.stores.sql import COMMON_TERM_MIN_MEMORIES, COMMON_TERM_PERCENT
from tests.conftest import BACKENDS

NOW = "2026-01-01T00:00:00.000000+00:00"


def ts(day: str, time: str = "12:00:00") -> str:
    return f"{day}T{time}.000000+00:00"


def record(mid: str, text: str = "", *, project: str = "default", **fields: Any) -> MemoryRecord:
    fields.setdefault("created_at", ts("2025-01-01"))
    fields.setdefault("updated_at", fields["created_at"])
    return MemoryRecord(id=mid, memory=text or f"memory {mid}", project=project, hash=mid,
                        **fields)  # fmt: skip


def vec(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def write(store: Store, *records: MemoryRecord, vectors: list[np.ndarray] | None = None) -> None:
    vectors = vectors or [vec(1, 0, 0, 0)] * len(records)
    store.write(WriteBatch(upserts=list(zip(records, vectors))))


def ids_of(rows: list[tuple[MemoryRecord, float | None]]) -> list[str]:
    return [r.id for r, _ in rows]


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    return store_factory()


# ---------------------------------------------------------------------------- filters

ROWS = [
    # id, user, agent, run, text, metadata, categories, created_at
    ("m1", "max", None, "boston-2025", "10x400m intervals",
     {"workout_type": "speed", "intensity": "high", "km": 10, "done": True}, ["goals"],
     "2025-01-05"),
    ("m2", "max", None, "nyc-2025", "Long run of 30 km",
     {"workout_type": "long", "intensity": "low", "km": 30, "done": False,
      "pace": 5.5, "a.b": "dotted", "it's": "quoted"}, ["goals", "preferences"], "2025-03-01"),
    ("m3", "max", "ray", None, "Max prefers trail running",
     {"surface": "étang", "km": "twelve", "note": None}, ["preferences"], "2025-06-10"),
    ("m4", "bob", None, None, "Bob swims on Sundays",
     {"km": 2, "note": "Pool SESSION", "surface": "zinc"},
     ["constraints", "健康", 'say "hi"\\now'], "2025-09-30"),
    ("m5", "bob", None, None, "Bob has no categories",
     {"surface": "Zinc"}, [], "2025-10-01"),
]  # fmt: skip

ALL = ["m1", "m2", "m3", "m4", "m5"]

CASES = [
    # --- every operator
    ({"user_id": "max"}, ["m1", "m2", "m3"]),
    ({"user_id": {"eq": "bob"}}, ["m4", "m5"]),
    ({"AND": [{"user_id": "max"}, {"run_id": {"ne": "boston-2025"}}]}, ["m2", "m3"]),
    ({"user_id": {"in": ["max", "bob"]}}, ALL),
    ({"AND": [{"user_id": "*"}, {"user_id": {"nin": ["max"]}}]}, ["m4", "m5"]),
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
    ({"AND": [{"user_id": "*"}, {"categories": "*"}]}, ["m1", "m2", "m3", "m4"]),
    # names whose stored JSON text escapes characters, alone and beside plain names
    ({"AND": [{"user_id": "*"}, {"categories": "健康"}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"categories": {"in": ['say "hi"\\now', "goals"]}}]},
     ["m1", "m2", "m4"]),
    ({"AND": [{"user_id": "*"}, {"categories": {"nin": ["健康", "x"]}}]}, ["m1", "m2", "m3", "m5"]),
    ({"AND": [{"user_id": "*"}, {"categories": {"in": ["say", "hi"]}}]}, []),
    ({"AND": [{"user_id": "*"}, {"categories": {"in": [2, "goals"]}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"metadata.workout_type": "speed"}]}, ["m1"]),
    ({"AND": [{"user_id": "max"}, {"metadata": {"intensity": {"ne": "high"}}}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"gte": 10}}]}, ["m1", "m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"lt": 10}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"lte": 10}}]}, ["m1", "m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.km": {"gt": 1, "lt": 20}}]}, ["m1", "m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": {"in": ["long", "x"]}}]}, ["m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": {"nin": ["long"]}}]},
     ["m1", "m3", "m4", "m5"]),
    ({"AND": [{"user_id": "*"}, {"metadata.workout_type": "*"}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"contains": "Pool"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"contains": "pool"}}]}, []),
    ({"AND": [{"user_id": "*"}, {"metadata.note": {"icontains": "session"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"memory": {"icontains": "RUN"}}]}, ["m2", "m3"]),
    ({"AND": [{"user_id": "*"}, {"memory": {"contains": "Sundays"}}]}, ["m4"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gte": "2025-03-01"}}]}, ["m2", "m3", "m4", "m5"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lt": "2025-03-01T00:00:00Z"}}]}, ["m1"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"gt": "2025-03-01T12:00:00+00:00"}}]},
     ["m3", "m4", "m5"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lte": "2025-03-01T12:00:00"}}]}, ["m1", "m2"]),
    ({"AND": [{"user_id": "*"}, {"created_at": {"lt": "2025-03-01T14:00:01+02:00"}}]},
     ["m1", "m2"]),
    ({"AND": [{"user_id": "max"}, {"id": {"in": ["m1", "m3", "m4"]}}]}, ["m1", "m3"]),
    ({"AND": [{"user_id": "max"}, {"memory_id": "m2"}]}, ["m2"]),
    ({"user_id": "max", "run_id": "nyc-2025"}, ["m2"]),
    ({"OR": [{"AND": [{"user_id": "bob"}]}, {"AND": [{"user_id": "max"}, {"agent_id": "ray"}]}]},
     ["m3", "m4", "m5"]),
    # --- JSON types compare as SQLite's json_extract values: booleans are 0/1,
    # numbers numerically, any string above any number, JSON null is missing
    ({"metadata.done": True}, ["m1"]),
    ({"metadata.done": False}, ["m2"]),
    ({"metadata.done": 1}, ["m1"]),
    ({"metadata.km": 10.0}, ["m1"]),
    ({"metadata.km": "10"}, []),
    ({"metadata.km": "twelve"}, ["m3"]),
    ({"metadata.km": {"gt": 1000}}, ["m3"]),
    ({"metadata.pace": {"gt": 5}}, ["m2"]),
    ({"metadata.pace": {"lt": 5.6}}, ["m2"]),
    ({"metadata.km": {"lt": "a"}}, ["m1", "m2", "m4"]),
    ({"metadata.done": {"lt": "x"}}, ["m1", "m2"]),
    ({"metadata.surface": {"gt": 5}}, ["m3", "m4", "m5"]),
    ({"metadata.note": "*"}, ["m4"]),
    ({"metadata.note": {"ne": "x"}}, ALL),  # a missing value is "not equal", as in SQL
    ({"metadata.note": {"in": ["Pool SESSION", "x"]}}, ["m4"]),
    ({"metadata.done": {"icontains": "1"}}, ["m1"]),
    ({"metadata.km": {"contains": "3"}}, ["m2"]),
    # --- strings compare in byte order, whatever the database collation
    ({"metadata.surface": {"gt": "zinc"}}, ["m3"]),
    ({"metadata.surface": {"lt": "a"}}, ["m5"]),
    ({"metadata.surface": {"gte": "zinc"}}, ["m3", "m4"]),
    ({"user_id": {"gt": "bob"}}, ["m1", "m2", "m3"]),
    ({"memory": {"icontains": "ÉTANG"}}, []),
    ({"metadata.surface": {"contains": "étang"}}, ["m3"]),
    # --- keys with dots and quotes are single keys
    ({"metadata": {"a.b": "dotted"}}, ["m2"]),
    ({"metadata": {"it's": "quoted"}}, ["m2"]),
    # --- NOT of a condition on a missing value matches (NULL counts as false)
    ({"NOT": [{"metadata.workout_type": "speed"}]}, ["m2", "m3", "m4", "m5"]),
    ({"NOT": [{"metadata.km": {"gt": 5}}]}, ["m4", "m5"]),
    ({"NOT": [{"categories": {"in": ["goals"]}}]}, ["m3", "m4", "m5"]),
    ({"NOT": [{"OR": [{"user_id": "bob"}, {"run_id": "*"}]}]}, ["m3"]),
]  # fmt: skip


def _open(backend: str, request: pytest.FixtureRequest, tmp: Path) -> Store:
    if backend == "postgres":
        from engram.stores.postgres import PostgresStore

        server = request.getfixturevalue("postgres_server")
        return PostgresStore(server.create_database())
    from engram.stores.sqlite import SQLiteStore

    return SQLiteStore(tmp / "filters.db")


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The filter rows, written once per backend for all the filter cases."""
    store = _open(request.param, request, tmp_path_factory.mktemp("filters"))
    records = [
        record(mid, text, user_id=user, agent_id=agent, run_id=run, metadata=metadata,
               categories=categories, created_at=ts(day))
        for mid, user, agent, run, text, metadata, categories, day in ROWS
    ]  # fmt: skip
    write(store, *records)
    yield store
    store.close()
    if request.param == "postgres":
        request.getfixturevalue("postgres_server").drop_database(store.url)


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_selects_exactly(seeded: Store, filters: dict, expected: list[str]) -> None:
    q = Query("default", parse(filters), NOW)
    assert sorted(ids_of(seeded.query(q))) == expected
    assert seeded.count(q) == len(expected)


def test_filters_apply_to_vector_search(seeded: Store) -> None:
    where = parse({"AND": [{"user_id": "*"}, {"categories": {"in": ["constraints"]}}]})
    rows = seeded.query(Query("default", where, NOW, vector=vec(1, 0, 0, 0)))
    assert ids_of(rows) == ["m4"]


# ---------------------------------------------------------------------------- round trips


def test_write_get_vectors_round_trip(store: Store) -> None:
    full = record(
        "a", "Ünïcode 🏃 memory with 'quotes' and %s", user_id="u", agent_id="ag", run_id="r",
        app_id="app", metadata={"n": 1, "f": 2.5, "b": True, "s": "x", "nested": {"k": [1, "2"]},
                                "none": None},
        categories=["goals", "constraints"], created_at=ts("2025-02-03", "04:05:06"),
        updated_at=ts("2025-02-04"), expiration_date=ts("2027-01-01"),
        state=State.SUPERSEDED, replaced_by="b",
    )  # fmt: skip
    bare = record("b")
    write(store, full, bare, vectors=[vec(0.1, -0.2, 0.3, 1e-8), vec(1, 2, 3, 4)])
    got = {r.id: r for r in store.get("default", ["a", "b", "missing"])}
    assert got == {"a": full, "b": bare}
    assert got["a"].metadata["nested"] == {"k": [1, "2"]}
    vectors = store.vectors("default", ["a", "b", "missing"])
    assert set(vectors) == {"a", "b"}
    assert vectors["a"].dtype == np.float32
    np.testing.assert_array_equal(vectors["a"], vec(0.1, -0.2, 0.3, 1e-8))
    assert store.get("default", []) == []


def test_upsert_updates_and_keeps_the_vector_when_none(store: Store) -> None:
    write(store, record("a", "old"), vectors=[vec(1, 2, 3, 4)])
    changed = record("a", "new", metadata={"v": 2}, updated_at=ts("2025-05-05"))
    store.write(WriteBatch(upserts=[(changed, None)]))
    (got,) = store.get("default", ["a"])
    assert (got.memory, got.metadata, got.updated_at) == ("new", {"v": 2}, ts("2025-05-05"))
    np.testing.assert_array_equal(store.vectors("default", ["a"])["a"], vec(1, 2, 3, 4))


def test_memory_without_vector_is_listed_but_not_searched(store: Store) -> None:
    store.write(WriteBatch(upserts=[(record("a"), None)]))
    write(store, record("b"))
    assert store.vectors("default", ["a"]) == {}
    assert ids_of(store.query(Query("default", None, NOW))) == ["b", "a"]
    assert ids_of(store.query(Query("default", None, NOW, vector=vec(1, 0, 0, 0)))) == ["b"]
    # pages count only the rows with a vector, also where the page reaches past them
    write(store, record("c"), vectors=[vec(0, 1, 0, 0)])
    store.write(WriteBatch(upserts=[(record("d"), None)]))
    paged = [ids_of(store.query(Query("default", None, NOW, vector=vec(1, 0, 0, 0), limit=2,
                                      offset=offset))) for offset in (0, 1, 2)]  # fmt: skip
    assert paged == [["b", "c"], ["c"], []]


def test_deletes_remove_rows(store: Store) -> None:
    a, b = record("a"), record("b")
    write(store, a, b)
    store.write(WriteBatch(deletes=[a]))
    assert [r.id for r in store.get("default", ["a", "b"])] == ["b"]


def test_a_failing_batch_changes_nothing(store: Store) -> None:
    entry = HistoryEntry("h1", "a", Event.ADD, None, "x", ts("2025-01-01"))
    store.write(WriteBatch(history=[entry]))
    with pytest.raises(Exception):  # noqa: B017 - each driver raises its own constraint error
        store.write(WriteBatch(upserts=[(record("a"), vec(1, 0, 0, 0))], history=[entry]))
    assert store.get("default", ["a"]) == []
    assert len(store.history("default", "a")) == 1


def test_ids_are_unique_per_project(store: Store) -> None:
    write(store, record("same", "in p1", project="p1"), record("same", "in p2", project="p2"))
    assert [r.memory for r in store.get("p1", ["same"])] == ["in p1"]
    assert [r.memory for r in store.get("p2", ["same"])] == ["in p2"]
    assert store.count(Query("p1", None, NOW)) == 1
    assert store.get("p3", ["same"]) == []


def test_a_second_handle_sees_committed_writes(store_factory: Callable[[], Store]) -> None:
    first, second = store_factory(), store_factory()
    write(first, record("a"))
    assert [r.id for r in second.get("default", ["a"])] == ["a"]


# ---------------------------------------------------------------------------- ordering


def test_listing_is_newest_first_then_by_id_descending(store: Store) -> None:
    write(store, record("a", created_at=ts("2025-01-01")), record("b", created_at=ts("2025-01-01")),
          record("c", created_at=ts("2025-02-01")))  # fmt: skip
    assert ids_of(store.query(Query("default", None, NOW))) == ["c", "b", "a"]
    assert ids_of(store.query(Query("default", None, NOW, limit=2, offset=1))) == ["b", "a"]


def test_vector_search_orders_by_cosine_similarity(store: Store) -> None:
    vectors = {"far": vec(-1, 0, 0, 0), "near": vec(1, 0.1, 0, 0), "mid": vec(1, 1, 0, 0),
               "tie_b": vec(0, 0, 1, 0), "tie_a": vec(0, 0, 2, 0)}  # fmt: skip
    write(store, *(record(k) for k in vectors), vectors=list(vectors.values()))
    query = vec(1, 0, 0, 0)
    rows = store.query(Query("default", None, NOW, vector=query))
    assert ids_of(rows) == ["near", "mid", "tie_a", "tie_b", "far"]
    for r, score in rows:
        v = vectors[r.id]
        expected = float(v @ query / (np.linalg.norm(v) * np.linalg.norm(query)))
        assert score == pytest.approx(expected, abs=1e-6)
    page = store.query(Query("default", None, NOW, vector=query, limit=2, offset=1))
    assert ids_of(page) == ["mid", "tie_a"]


# ---------------------------------------------------------------------------- visibility


def test_expired_and_inactive_memories_are_hidden_unless_asked(store: Store) -> None:
    write(store,
          record("live", user_id="u"),
          record("expires_later", user_id="u", expiration_date=ts("2026-01-01", "00:00:01")),
          record("expires_now", user_id="u", expiration_date=NOW),
          record("expired", user_id="u", expiration_date=ts("2025-06-01")),
          record("superseded", user_id="u", state=State.SUPERSEDED, replaced_by="live"),
          record("deleted", user_id="u", state=State.DELETED),
          record("elsewhere", user_id="u", project="other",
                 expiration_date=ts("2025-06-01")))  # fmt: skip
    visible = Query("default", parse({"user_id": "u"}), NOW)
    assert sorted(ids_of(store.query(visible))) == ["expires_later", "live"]
    assert store.count(visible) == 2
    assert ids_of(store.query(Query("default", None, NOW, vector=vec(1, 0, 0, 0)))) == [
        "expires_later", "live"]  # fmt: skip
    everything = Query("default", parse({"user_id": "u"}), NOW, include_inactive=True)
    assert store.count(everything) == 6
    # expiry purging reads one project's expired ids, oldest expiry first
    assert store.expired_ids("default", NOW, 10) == ["expired", "expires_now"]
    assert store.expired_ids("default", NOW, 1) == ["expired"]
    assert store.expired_ids("other", NOW, 10) == ["elsewhere"]


def test_entities_count_visible_memories(store: Store) -> None:
    write(store,
          record("1", user_id="max", created_at=ts("2025-01-01"), updated_at=ts("2025-03-01")),
          record("2", user_id="max", agent_id="ray", created_at=ts("2025-02-01")),
          record("3", user_id="bob", run_id="r1"),
          record("4", user_id="bob", state=State.SUPERSEDED),
          record("5", user_id="eve", expiration_date=ts("2025-01-02")),
          record("6", user_id="zed", app_id="app", project="other"))  # fmt: skip
    assert store.entities("default", NOW) == [
        EntityCount("user", "bob", 1, ts("2025-01-01"), ts("2025-01-01")),
        EntityCount("user", "max", 2, ts("2025-01-01"), ts("2025-03-01")),
        EntityCount("agent", "ray", 1, ts("2025-02-01"), ts("2025-02-01")),
        EntityCount("run", "r1", 1, ts("2025-01-01"), ts("2025-01-01")),
    ]


# ---------------------------------------------------------------------------- history


def test_history_is_in_time_then_insertion_order(store: Store) -> None:
    def entry(hid: str, event: Event, at: str, mid: str = "a") -> HistoryEntry:
        return HistoryEntry(hid, mid, event, None, hid, at, actor="test", user_id="u")

    store.write(
        WriteBatch(
            history=[
                entry("z1", Event.ADD, ts("2025-01-01")),
                entry("y2", Event.UPDATE, ts("2025-01-01")),
                entry("other", Event.ADD, ts("2025-01-01"), mid="b"),
            ]
        )
    )
    store.write(WriteBatch(history=[entry("x3", Event.DELETE, ts("2025-01-02")),
                                    entry("w0", Event.NONE, ts("2024-12-31"))]))  # fmt: skip
    got = store.history("default", "a")
    assert [h.id for h in got] == ["w0", "z1", "y2", "x3"]
    assert got[1] == entry("z1", Event.ADD, ts("2025-01-01"))
    assert store.history("other-project", "a") == []


# ---------------------------------------------------------------------------- settings, reset


def test_settings_round_trip_per_project(store: Store) -> None:
    assert store.settings("p1") == {}
    store.save_settings(
        "p1", {"custom_instructions": "be brief", "custom_categories": [{"a": "b"}]}
    )
    store.save_settings("p1", {"custom_instructions": "be briefer", "n": 3})
    store.save_settings("p2", {"x": None})
    assert store.settings("p1") == {"custom_instructions": "be briefer", "n": 3}
    assert store.settings("p2") == {"x": None}


def test_reset_clears_one_project_only(store: Store) -> None:
    for project in ("p1", "p2"):
        write(store, record("a", project=project))
        store.write(WriteBatch(history=[HistoryEntry("h", "a", Event.ADD, None, "x", NOW,
                                                     project=project)]))  # fmt: skip
        store.save_settings(project, {"k": project})
    store.reset("p1")
    assert store.get("p1", ["a"]) == []
    assert store.history("p1", "a") == []
    assert store.settings("p1") == {}
    assert [r.id for r in store.get("p2", ["a"])] == ["a"]
    assert len(store.history("p2", "a")) == 1
    assert store.settings("p2") == {"k": "p2"}


# ---------------------------------------------------------------------------- full text


def by_words(store: Store, text: str, *, where: dict[str, Any] | None = None,
             project: str = "default", include_inactive: bool = False,
             limit: int = 100) -> list[tuple[str, float]]:  # fmt: skip
    q = Query(project, parse(where) if where else None, NOW, limit=limit,
              include_inactive=include_inactive, keywords=tuple(terms(text)))  # fmt: skip
    return [(r.id, s) for r, s in store.query(q)]


WORDS = [
    ("knee", "max", "My right knee hurts on steep downhills"),
    ("both", "max", "The knee brace helps on the Boston marathon course"),
    ("boston", "max", "Max is training for the Boston marathon in April"),
    ("bob", "bob", "Bob's knee is fine, he swims"),
    ("zh", "max", "我在准备马拉松比赛"),
] + [(f"filler{i}", "eve", f"Eve logged an easy {i} km jog") for i in range(6)]
# (BM25 floors the weight of a term found in half the memories or more, so the filler keeps
# "knee" rare enough to count, as it is in any real store)


def test_keywords_match_any_term_best_first(store: Store) -> None:
    write(store, *[record(mid, text, user_id=user) for mid, user, text in WORDS])
    found = by_words(store, "knee marathon", where={"user_id": "max"})
    # the memory with both terms ranks first; every match has one of them; bob is out of scope
    assert found[0] == ("both", 1.0)
    assert sorted(mid for mid, _ in found) == ["boston", "both", "knee"]
    assert all(0 < score <= 1 for _, score in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    # one term: the shorter memory ranks first; a page keeps the whole query's scale
    assert by_words(store, "marathon", where={"user_id": "*"}, limit=1) == [("boston", 1.0)]
    second = by_words(store, "marathon", where={"user_id": "*"})[1]
    assert second[0] == "both" and 0 < second[1] < 1
    later = Query("default", parse({"user_id": "*"}), NOW, keywords=("marathon",), offset=1)
    assert [(r.id, s) for r, s in store.query(later)] == [second]  # a later page: same scale
    assert [m for m, _ in by_words(store, "马拉松")] == ["zh"]  # jieba-segmented on both sides
    assert by_words(store, "swimming pool") == []  # terms are not stemmed: "swims" only
    assert by_words(store, "swims") == [("bob", 1.0)]
    q = Query("default", parse({"user_id": "max"}), NOW, keywords=("knee", "marathon"))
    assert store.count(q) == 3
    assert store.query(Query("default", None, NOW, keywords=())) == []


def test_keyword_lists_rank_each_words_matches_by_term_weight(store: Store) -> None:
    """Store.keyword_lists: one list per word, each the word's matches in the filter's
    scope by term weight (engram.lexical.term_weights: a shorter memory first, a repeated
    word higher), ties newest first, scores relative to the list's best; a word too
    common to tell memories apart has an empty list (test_a_term_in_many_...)."""
    write(store, record("knee", "My knee hurts on long runs", user_id="max"),
          record("both", "Knee pain before the marathon", user_id="max"),
          record("boston", "Boston marathon in April", user_id="max"),
          record("twice", "Marathon after marathon, all through the long hot year",
                 user_id="max"),
          record("bob", "Bob's knee is fine", user_id="bob"))  # fmt: skip
    where = parse({"user_id": "max"})
    q = Query("default", where, NOW, keywords=("knee", "marathon", "april", "unheard"),
              limit=3)  # fmt: skip
    lists, cosines = store.keyword_lists(q)
    assert cosines == {}  # none asked for
    # "both" (4 words) and "boston" (4) tie on length: the newer first; "twice" is the
    # longest, but says it twice
    assert [ids_of(found) for found in lists] == [
        ["both", "knee"], ["twice", "boston", "both"], ["boston"], []]
    assert [found[0][1] for found in lists[:3]] == [1.0, 1.0, 1.0]
    assert 0 < lists[1][2][1] == lists[1][1][1] < 1
    anyone = Query("default", parse({"user_id": "*"}), NOW, keywords=("knee",))
    assert ids_of(store.keyword_lists(anyone)[0][0]) == ["both", "bob", "knee"]  # 3, 4, 4 words
    later = Query("default", where, NOW, keywords=("marathon",), limit=2, offset=1)
    assert store.keyword_lists(later)[0] == [lists[1][1:]]  # a later page keeps the scale
    assert store.keyword_lists(Query("default", where, NOW, keywords=())) == ([], {})


def test_keyword_lists_read_each_matchs_cosine_to_a_vector(store: Store) -> None:
    """With `near`, the lists come with each listed memory's cosine similarity to it, as
    the vector query scores it; a memory without a vector has none."""
    write(store, record("knee", "My knee hurts on long runs", user_id="max"),
          record("both", "Knee pain before the marathon", user_id="max"),
          vectors=[vec(1, 0, 0, 0), vec(0.6, 0.8, 0, 0)])  # fmt: skip
    store.write(WriteBatch(upserts=[(record("bare", "knee brace", user_id="max"), None)]))
    near = vec(0, 1, 0, 0)
    q = Query("default", parse({"user_id": "max"}), NOW, keywords=("knee", "marathon"))
    lists, cosines = store.keyword_lists(q, near)
    assert sorted(ids_of(lists[0])) == ["bare", "both", "knee"]
    scored = dict((r.id, s) for r, s in store.query(
        Query("default", parse({"user_id": "max"}), NOW, vector=near)))  # fmt: skip
    assert cosines.keys() == {"knee", "both"}
    assert abs(cosines["both"] - 0.8) < 1e-6 and abs(cosines["knee"]) < 1e-6
    assert all(abs(cosines[i] - scored[i]) < 1e-6 for i in cosines)


def memories_counted(store: Store) -> tuple[int, int]:
    """The total the common-word rule reads (kept by triggers), and a count of the rows."""
    kept = store._rows(f"SELECT {store.TOTAL}")[0][0]  # type: ignore[attr-defined]
    return kept, store._rows(f"SELECT count(*) FROM {store.MEMORIES}")[0][0]  # type: ignore[attr-defined]


def test_keyword_lists_follow_rewrites_deletes_and_resets(store: Store) -> None:
    write(store, record("a", "knee pain", user_id="u"), record("b", "knee brace", user_id="u"),
          record("c", "knee", project="other", user_id="u"))  # fmt: skip
    q = Query("default", parse({"user_id": "u"}), NOW, keywords=("knee", "ankle"))
    assert [ids_of(found) for found in store.keyword_lists(q)[0]] == [["b", "a"], []]
    write(store, record("a", "ankle pain", user_id="u"))  # the text changed
    assert memories_counted(store) == (3, 3)  # a rewrite is not a new memory
    store.write(WriteBatch(deletes=[record("b")]))
    assert [ids_of(found) for found in store.keyword_lists(q)[0]] == [[], ["a"]]
    store.reset("default")
    assert store.keyword_lists(q)[0] == [[], []]
    assert memories_counted(store) == (1, 1)
    # one batch writing a memory twice: the last text is the one found
    store.write(WriteBatch(upserts=[(record("d", "knee", user_id="u"), None),
                                    (record("d", "ankle", user_id="u"), None)]))  # fmt: skip
    assert [ids_of(found) for found in store.keyword_lists(q)[0]] == [[], ["d"]]
    other = Query("other", None, NOW, keywords=("knee",))
    assert ids_of(store.keyword_lists(other)[0][0]) == ["c"]


def term_counts(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """Each term's count the common-word rule reads (kept by triggers), and a count of the
    postings (terms whose count went back to 0 left out)."""
    kept = store._rows(f"SELECT term, n FROM {store.TERM_COUNTS}")  # type: ignore[attr-defined]
    counted = store._rows(  # type: ignore[attr-defined]
        f"SELECT term, count(*) FROM {store.TERMS} GROUP BY term")  # type: ignore[attr-defined]
    return {t: n for t, n in kept if n}, dict(counted)


def test_term_counts_follow_every_write_rewrite_delete_and_reset(store: Store) -> None:
    write(store, record("a", "knee pain knee", user_id="u"), record("b", "knee brace"),
          record("c", "knee", project="other"))  # fmt: skip
    kept, counted = term_counts(store)
    assert kept == counted and kept["knee"] == 3 and kept["pain"] == 1
    write(store, record("a", "ankle pain", user_id="u"))  # a rewrite moves its terms
    store.write(WriteBatch(upserts=[(record("d", "knee", user_id="u"), None),
                                    (record("d", "ankle", user_id="u"), None)]))  # fmt: skip
    kept, counted = term_counts(store)
    assert kept == counted and (kept["knee"], kept["ankle"]) == (2, 2)
    store.write(WriteBatch(deletes=[record("b"), record("a")]))
    assert term_counts(store)[0] == term_counts(store)[1] == {"knee": 1, "ankle": 1}
    store.reset("default")
    assert term_counts(store)[0] == term_counts(store)[1] == {"knee": 1}  # project "other"


def test_term_counts_stay_exact_under_concurrent_writers(
    store_factory: Callable[[], Store],
) -> None:
    """Handles writing at once (server workers): some only add memories, others rewrite
    theirs with the first's words and back, so each takes count rows in crossing orders;
    every write lands, none waits on another for good, and the counts are exact."""
    words = ["knee", "tempo", "hill", "ankle", "cadence", "stride"]
    failures: list[BaseException] = []

    def adding(k: int) -> None:
        handle = store_factory()
        for i in range(25):
            write(handle, record(f"a{k}-{i}", " ".join(words[(i + k) % 6:] + words[:3])))

    def rewriting(k: int) -> None:
        handle = store_factory()
        for i in range(25):
            order = words if i % 2 else words[::-1]
            write(handle, record(f"r{k}", " ".join(order[k % 3:k % 3 + 4])))

    def run(work: Callable[[int], None], k: int) -> None:
        try:
            work(k)
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(work, k))
               for k in range(2) for work in (adding, rewriting)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    kept, counted = term_counts(store_factory())
    assert kept == counted and kept["knee"] == 50  # the rewritten two end without it


def test_a_rare_term_outranks_a_common_one(store: Store) -> None:
    write(store, record("rare", "My knee hurts after long hilly trail sessions", user_id="u"),
          *[record(f"c{i}", f"easy run {i}", user_id="u") for i in range(8)])  # fmt: skip
    found = by_words(store, "run knee")
    assert found[0] == ("rare", 1.0)  # longer, but it has the word few memories have
    assert len(found) == 9 and all(score < 1 for _, score in found[1:])


def test_a_term_in_many_memories_of_a_large_store_is_skipped(store: Store) -> None:
    """Like a user's name in every memory: it tells no memory apart, and ranking its matches
    would mean ranking them all (sql.COMMON_TERM_MIN_MEMORIES, sql.COMMON_TERM_PERCENT)."""
    many = COMMON_TERM_MIN_MEMORIES + 1
    write(store, record("knee", "max knee pain", user_id="u"),
          *[record(f"c{i}", f"max easy run {i}", user_id="u") for i in range(many)])  # fmt: skip
    assert by_words(store, "max knee") == [("knee", 1.0)]
    assert by_words(store, "max") == []
    assert store.count(Query("default", None, NOW, keywords=("max",))) == 0
    lists, _ = store.keyword_lists(Query("default", None, NOW, keywords=("max", "knee")))
    assert [ids_of(found) for found in lists] == [[], ["knee"]]
    rare_enough = int((many + 1) * 100 / COMMON_TERM_PERCENT)
    store.write(WriteBatch(upserts=[(record(f"o{i}", f"other {i}"), None)
                                    for i in range(rare_enough)]))  # fmt: skip
    assert len(by_words(store, "max", limit=2000)) == many + 1  # now in few of them
    lists, _ = store.keyword_lists(Query("default", None, NOW, keywords=("max",), limit=2000))
    assert len(lists[0]) == many + 1
    store.write(WriteBatch(deletes=[record(f"o{i}") for i in range(rare_enough)]))
    assert by_words(store, "max") == []  # and in most of them again


def test_hits_carry_what_ranking_reads_of_each_memory(store: Store) -> None:
    """Store.hits: a search's candidates with their id, time and words, the same as
    ranking reads from the whole record (engram.ranking.hit_of), after every write."""
    said = [{"index": 0, "role": "assistant", "text": "Any race plans?", "context": True},
            {"index": 1, "role": "user", "text": "Signed up for the Lyon half in May"}]
    lyon = record("lyon", "Max signed up for a half marathon", user_id="u", sources=said)
    plain = record("plain", "Max runs in Lyon", user_id="u",
                   sources=[{"index": 0, "role": "user", "text": "Max runs in Lyon"}])
    write(store, lyon, plain)
    where = parse({"user_id": "u"})
    expected = {r.id: hit_of(r) for r in store.get("default", ["lyon", "plain"])}
    assert expected["lyon"].source_words == "race plans signed up lyon half"
    assert expected["plain"].source_words == ""  # its one message is its text
    near = store.hits(Query("default", where, NOW, vec(1, 0, 0, 0)))
    assert {h.id: h for h, _ in near} == expected
    lists, _ = store.keyword_lists(Query("default", where, NOW, keywords=("max", "lyon")))
    assert [[h for h, _ in found] for found in lists] == [
        [expected["plain"], expected["lyon"]], [expected["plain"]]]
    write(store, record("lyon", "Max ran the Lyon half", user_id="u", sources=said[1:]))
    (hit, _), = store.hits(Query("default", where, NOW, keywords=("ran",)))
    assert (hit.words, hit.source_words) == ("max ran lyon half", "signed up lyon half")


def test_a_common_word_verdict_follows_writes_from_any_handle(
    store_factory: Callable[[], Store],
) -> None:
    """A word crossing the common-word line one memory at a time, written by another
    handle on the same database (another worker), gets the answer a fresh count gives."""
    searcher, writer = store_factory(), store_factory()
    most = COMMON_TERM_MIN_MEMORIES  # the line, while 5% of all memories is below it
    write(writer, *[record(f"c{i}", f"cadence drill {i}") for i in range(most - 2)])

    def lists() -> list[list[str]]:
        found, _ = searcher.keyword_lists(Query("default", None, NOW, limit=1000,
                                                keywords=("cadence", "drill")))  # fmt: skip
        return [ids_of(f) for f in found]

    assert [len(f) for f in lists()] == [most - 2, most - 2]
    for i in range(most - 2, most + 1):  # 99, 100 memories hold it: telling; 101: common
        write(writer, record(f"c{i}", f"cadence {i}"))
        counted = store_factory()  # a fresh handle remembers nothing: it counts
        assert [len(f) for f in lists()] == [len(f) for f in counted.keyword_lists(Query(
            "default", None, NOW, limit=1000, keywords=("cadence", "drill")))[0]]  # fmt: skip
        assert len(lists()[0]) == (i + 1 if i + 1 <= most else 0), i
    writer.write(WriteBatch(deletes=[record("c0")]))  # back to the line: telling again
    assert len(lists()[0]) == most and lists()[1] == ids_of(searcher.keyword_lists(
        Query("default", None, NOW, limit=1000, keywords=("drill",)))[0][0])  # fmt: skip


def test_keywords_respect_project_filters_and_visibility(store: Store) -> None:
    write(store,
          record("live", "knee pain", user_id="u", metadata={"kind": "injury"}),
          record("other_kind", "knee brace", user_id="u", metadata={"kind": "gear"}),
          record("expired", "knee ice", user_id="u", expiration_date=ts("2025-06-01")),
          record("old", "knee surgery", user_id="u", state=State.SUPERSEDED, replaced_by="live"),
          record("far", "knee elsewhere", user_id="u", project="other"))  # fmt: skip
    assert sorted(m for m, _ in by_words(store, "knee")) == ["live", "other_kind"]
    assert by_words(store, "knee", where={"AND": [{"user_id": "u"}, {"metadata.kind": "gear"}]}
                    ) == [("other_kind", 1.0)]  # fmt: skip
    assert sorted(m for m, _ in by_words(store, "knee", include_inactive=True)) == [
        "expired", "live", "old", "other_kind"]  # fmt: skip
    assert by_words(store, "knee", project="other") == [("far", 1.0)]


def test_full_text_entry_follows_every_write(store: Store) -> None:
    write(store, record("a", "knee pain", user_id="u"), record("b", "ankle sprain", user_id="u"),
          record("c", "hip flexor", user_id="u"), record("d", "calf cramp", user_id="u"))
    # update: the old words stop matching, the new ones match
    write(store, record("a", "shoulder ache", user_id="u"))
    assert by_words(store, "knee") == []
    assert by_words(store, "shoulder") == [("a", 1.0)]
    # supersede: hidden from searches, still indexed for audits
    write(store, record("b", "ankle sprain", user_id="u", state=State.SUPERSEDED))
    assert by_words(store, "ankle") == []
    assert by_words(store, "ankle", include_inactive=True) == [("b", 1.0)]
    # delete (as a user delete or an expiry purge does): gone from the index too
    store.write(WriteBatch(deletes=[record("c", "hip flexor", user_id="u")]))
    assert by_words(store, "hip", include_inactive=True) == []
    # reset
    store.reset("default")
    assert by_words(store, "calf", include_inactive=True) == []


def test_full_text_entry_rolls_back_with_its_row(store: Store) -> None:
    write(store, record("a", "knee pain", user_id="u"))
    entry = HistoryEntry("h1", "a", Event.ADD, None, "knee pain", NOW)
    store.write(WriteBatch(history=[entry]))
    failing = WriteBatch(upserts=[(record("a", "shoulder ache", user_id="u"), None)],
                         deletes=[], history=[entry])  # the duplicate history id fails
    with pytest.raises(Exception):  # noqa: B017 - each driver raises its own integrity error
        store.write(failing)
    assert by_words(store, "knee") == [("a", 1.0)]
    assert by_words(store, "shoulder") == []


# ---------------------------------------------------------------------------- provenance


def test_sources_round_trip(store: Store) -> None:
    sources = [
        {"index": 0, "role": "user", "message_id": "m-1", "hash": "ab12", "text": "My knee hurts",
         "said_at": ts("2025-05-01")},
        {"index": 2, "role": "user", "message_id": None, "hash": "cd34", "text": "膝盖疼",
         "said_at": None},
    ]  # fmt: skip
    write(store, record("a", "knee pain", user_id="u", sources=sources), record("b", user_id="u"))
    assert store.get("default", ["a"])[0].sources == sources
    assert store.get("default", ["b"])[0].sources == []
    assert [r.sources for r, _ in store.query(Query("default", None, NOW, keywords=("knee",)))
            ] == [sources]  # fmt: skip
    write(store, record("a", "knee pain", user_id="u", sources=sources[:1]))
    assert store.get("default", ["a"])[0].sources == sources[:1]


def test_json_columns_read_back_as_written(store: Store) -> None:
    """Metadata, categories and sources come back equal, whatever the JSON reader: integers
    past 64 bits, non-ASCII text, nesting."""
    metadata = {"big": 2**70, "city": "東京", "nested": {"list": [1, 2.5, None, True]}}
    sources = [{"index": 0, "role": "user", "text": "跑步 🏃", "message_id": "m-1"}]
    write(store, record("j", "json", metadata=metadata, categories=["health"], sources=sources))
    (got,) = store.get("default", ["j"])
    assert (got.metadata, got.categories, got.sources) == (metadata, ["health"], sources)


def test_many_ids_are_read_in_one_go(store: Store) -> None:
    """get, vectors and feedback take any number of ids (PostgreSQL binds them as one array:
    as 120 parameters a read of 120 memories took 8.6 ms, as one 0.8), odd ones included."""
    ids = [f"m{i}" for i in range(300)] + ["it's", 'say "hi"', "健康"]
    write(store, *[record(i, user_id="u") for i in ids])
    store.set_feedback("default", "it's", "NEGATIVE", "wrong")  # type: ignore[attr-defined]
    asked = [*ids, "missing"]
    assert sorted(r.id for r in store.get("default", asked)) == sorted(ids)
    assert store.vectors("default", asked).keys() == set(ids)
    assert store.feedback("default", asked) == {"it's": ("NEGATIVE", "wrong")}  # type: ignore[attr-defined]
    assert store.get("other", asked) == []
