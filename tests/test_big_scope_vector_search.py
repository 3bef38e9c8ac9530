"""A big scope's vector search (engram.stores.vector_index, on SQLite and PostgreSQL alike)
answers what the exact scan answers, with the filter applied exactly, and sees every write:
from this store, another store handle and another process on the same database. Small
scopes are answered by the exact scan itself; for a filter keeping little near the query,
the index ranks the rows the filter keeps.

The vectors are synthetic clusters (70 topics, 3,500 memories of one user), so each query's
nearest memories are clearly its topic's and the comparison needs no model.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from engram import filters as F
from engram.models import MemoryRecord
from engram.stores import vector_index
from engram.stores.base import Query, WriteBatch
from engram.stores.sql import SQLStore

TOPICS, PER_TOPIC, DIMS = 70, 50, 384
USER = F.scope_filter(user_id="u")
NOW = "2030-01-01T00:00:00.000000+00:00"
WRITER = """
import sys, numpy as np
from engram.models import MemoryRecord
from engram.stores.base import WriteBatch
if sys.argv[1].startswith("postgresql://"):
    from engram.stores.postgres import PostgresStore as Store
else:
    from engram.stores.sqlite import SQLiteStore as Store
store = Store(sys.argv[1])
vector = np.frombuffer(bytes.fromhex(sys.argv[2]), np.float32)
batch = WriteBatch()
for i in range(int(sys.argv[3])):
    at = "2026-01-01T00:00:00.000000+00:00"
    batch.upserts.append((MemoryRecord(id=f"other-{i}", memory="written elsewhere",
                          project="p", user_id="u", created_at=at, updated_at=at), vector))
batch.deletes.extend(store.get("p", sys.argv[4:]))
store.write(batch)
store.close()
"""


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def centers() -> np.ndarray:
    return unit(np.random.default_rng(3).standard_normal((TOPICS, DIMS)))


def record(i: int, user: str = "u", category: str | None = None) -> MemoryRecord:
    at = f"2026-01-01T00:00:{i:06d}.000000+00:00"
    return MemoryRecord(id=f"m{i:05d}", memory=f"memory {i}", project="p", user_id=user,
                        categories=[category or ("even" if i % 2 else "odd")],
                        created_at=at, updated_at=at)  # fmt: skip


@pytest.fixture
def store(store_factory, centers: np.ndarray) -> SQLStore:
    """3,500 memories of user u, 50 of user small; on each backend (conftest's BACKENDS)."""
    rng = np.random.default_rng(5)
    vectors = unit(np.repeat(centers, PER_TOPIC, axis=0)
                   + 0.08 * rng.standard_normal((TOPICS * PER_TOPIC, DIMS)))  # fmt: skip
    s = store_factory()
    batch = WriteBatch(upserts=[(record(i), v) for i, v in enumerate(vectors)])
    batch.upserts += [(record(10_000 + i, user="small"), v) for i, v in enumerate(vectors[:50])]
    s.write(batch)
    return s


def queries(centers: np.ndarray, n: int = 12) -> np.ndarray:
    rng = np.random.default_rng(9)
    return unit(centers[:n] + 0.05 * rng.standard_normal((n, DIMS)))


def search(store: SQLStore, vector: np.ndarray, where: F.Node | None = USER,
           limit: int = 100) -> list[tuple[str, float]]:  # fmt: skip
    return [(r.id, s) for r, s in store.query(Query("p", where, NOW, vector, limit=limit))]


def exact(store: SQLStore, vector: np.ndarray, where: F.Node | None = USER,
          monkeypatch: pytest.MonkeyPatch | None = None) -> list[tuple[str, float]]:  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vector_index, "MIN_ROWS", 10**9)  # every scope is small: exact scan
        return search(store, vector, where)


def answered_by_index(store: SQLStore, vector: np.ndarray, where: F.Node | None) -> bool:
    q = Query("p", where, NOW, vector, limit=100)
    sql, params = store._where(q)
    similarity, bound = store._similarity(store._db.mark), store._bind_vector(vector)
    page = store._index.nearest(q, sql, params, similarity, bound,
                                lambda: store._where(q, lasting=True))  # fmt: skip
    return page is not None


def same_top(got: list[tuple[str, float]], want: list[tuple[str, float]], k: int = 10) -> None:
    assert [i for i, _ in got[:k]] == [i for i, _ in want[:k]]
    assert [s for _, s in got[:k]] == pytest.approx([s for _, s in want[:k]], abs=1e-9)


def test_a_big_scope_is_answered_by_the_index_as_the_exact_scan(store, centers) -> None:
    for vector in queries(centers):
        assert answered_by_index(store, vector, USER)
        got, want = search(store, vector), exact(store, vector)
        same_top(got, want)
        assert len(got) == len(want) == 100
        topic = {i for i, _ in want[:PER_TOPIC]}  # the query's topic, far above the rest
        assert {i for i, _ in got[:PER_TOPIC]} == topic


def test_filters_stay_exact_on_a_big_scope(store, centers) -> None:
    half = F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["even"]}}]})
    rare = F.parse({"AND": [{"user_id": "u"}, {"id": {"in": ["m00007", "m03001", "m00123"]}}]})
    for vector in queries(centers, 6):
        assert answered_by_index(store, vector, half)  # half the rows: it looks deeper
        got = search(store, vector, half)
        same_top(got, exact(store, vector, half))
        assert all(int(i[1:]) % 2 for i, _ in got)  # only what the filter keeps
        # three rows in the scope, none near: the rows the filter keeps are ranked instead
        assert answered_by_index(store, vector, rare)
        assert search(store, vector, rare) == exact(store, vector, rare)


def test_a_filter_keeping_rows_far_from_the_query_ranks_those_rows(store, centers) -> None:
    """600 rows of 12 other topics: none among the query's nearest, more than are scored
    exactly; the index ranks the filter's rows by their codes and answers as the scan."""
    far = range(40 * PER_TOPIC, 52 * PER_TOPIC)
    store.write(WriteBatch(upserts=[(record(i, category="far"), None) for i in far]))
    where = F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["far"]}}]})
    for vector in queries(centers, 6):  # topics 0-5
        assert answered_by_index(store, vector, where)
        got = search(store, vector, where)
        same_top(got, exact(store, vector, where))
        assert {int(i[1:]) for i, _ in got} <= set(far)


def test_a_short_page_holds_every_row_the_filter_keeps(store, centers) -> None:
    """All but 60 of the scope's memories expired: the rows the index ranks near the query
    are nearly all expired, and a page short of its limit must still hold every live row
    (a search skips the keyword lists when the vector page is short: engram.memory)."""
    live = set(range(0, TOPICS * PER_TOPIC, TOPICS * PER_TOPIC // 60))
    gone = "2029-01-01T00:00:00.000000+00:00"  # before NOW
    expired = [record(i) for i in range(TOPICS * PER_TOPIC) if i not in live]
    for r in expired:
        r.expiration_date = gone
    store.write(WriteBatch(upserts=[(r, None) for r in expired]))
    for vector in queries(centers, 3):
        got = search(store, vector)
        assert {i for i, _ in got} == {f"m{i:05d}" for i in live}
        assert got == exact(store, vector)


def said_between(first: int, end: int) -> F.Node:
    """User u's memories said from record `first`'s time to record `end`'s (excluded)."""
    return F.conjoin(USER, F.Condition("created_at", "gte", record(first).created_at),
                     F.Condition("created_at", "lt", record(end).created_at))  # fmt: skip


def test_a_time_window_is_answered_from_its_own_rows(store, centers, monkeypatch) -> None:
    """A search naming a time asks for the memories said then (engram.memory): a window
    holding few of the scope's rows is ranked from those rows, asked first and remembered,
    not from the scope's nearest (mostly said at other times); an empty window answers
    nothing; one holding more rows than the shortlist takes the usual path. Each answers
    as the exact scan."""
    monkeypatch.setattr(vector_index, "SHORTLIST", 400)
    windows = {"narrow": (1_000, 1_030), "empty": (5_000, 5_010), "wide": (0, 3_000)}
    for vector in queries(centers, 4):  # topics 0-3: rows 0-199, outside the narrow window
        for name, (first, end) in windows.items():
            where = said_between(first, end)
            assert answered_by_index(store, vector, where)
            got, want = search(store, vector, where), exact(store, vector, where)
            same_top(got, want)
            if name != "wide":  # every row of the window is scored exactly
                assert got == want
            held = max(0, min(end, TOPICS * PER_TOPIC) - first)
            assert len(got) == min(100, held), name
    store._index._kept.clear()
    scored: list[int] = []  # the rows each statement scores exactly
    plain = store._index._scored
    monkeypatch.setattr(store._index, "_scored",
                        lambda seqs, *rest: scored.append(len(seqs)) or plain(seqs, *rest))
    answered_by_index(store, queries(centers, 1)[0], said_between(1_000, 1_030))
    assert sum(scored) == 30  # the window's rows, not the 120 nearest first
    answered_by_index(store, queries(centers, 1)[0], said_between(0, 3_000))
    assert len(store._index._kept) == 1  # the narrow window's rows, not the wide one's
    probes: list[int] = []  # bounded scans asking a window's rows
    passing = store._index._passing
    monkeypatch.setattr(store._index, "_passing", lambda *args, most=None: (
        most is not None and probes.append(most)) or passing(*args, most=most))  # fmt: skip
    answered_by_index(store, queries(centers, 2)[1], said_between(0, 3_000))
    assert probes == []  # known too wide since the last change: not asked again
    # a filtered search naming a time nests the filter's AND in the window's: the scope
    # inside is still found (it was answered by the exact scan)
    where = F.conjoin(F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["odd"]}}]}),
                      F.Condition("created_at", "gte", record(1_000).created_at))  # fmt: skip
    vector = queries(centers, 1)[0]
    assert answered_by_index(store, vector, where)
    same_top(search(store, vector, where), exact(store, vector, where))


def test_the_rows_a_filter_keeps_follow_every_write(
    store, store_factory, centers, monkeypatch
) -> None:
    """The index remembers which rows a filter keeps; a row moved into the filter, rejected
    by feedback, deleted, or written by another handle changes the next answer. The rows
    written here are halfway to the query: past its topic's 50, so only the filter's rows
    (not the first candidates, cut to 5 here) can bring them in."""
    monkeypatch.setattr(vector_index, "SHORTLIST", 10)
    monkeypatch.setattr(vector_index, "FIRST_CANDIDATES", 5)
    far = range(40 * PER_TOPIC, 52 * PER_TOPIC)
    store.write(WriteBatch(upserts=[(record(i, category="far"), None) for i in far]))
    where = F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["far"]}}]})
    vector = queries(centers, 1)[0]
    rng = np.random.default_rng(11)

    def halfway() -> np.ndarray:
        return unit(0.5 * vector + 0.87 * unit(rng.standard_normal(DIMS)))

    assert answered_by_index(store, vector, where)
    same_top(search(store, vector, where), exact(store, vector, where))
    assert len(store._index._kept) == 1  # remembered: the searches below use it
    (moved,) = store.get("p", [f"m{PER_TOPIC:05d}"])  # topic 1: not near the query
    moved.categories = ["far"]
    store.write(WriteBatch(upserts=[(moved, halfway())]))
    got = search(store, vector, where)
    assert got[0][0] == moved.id
    same_top(got, exact(store, vector, where))
    store.set_feedback("p", moved.id, "VERY_NEGATIVE", None)  # changed in place, not logged
    q = Query("p", where, NOW, vector, limit=100, rejected=False)  # as Memory.search asks
    got = [(r.id, s) for r, s in store.query(q)]
    assert got and moved.id not in [i for i, _ in got]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vector_index, "MIN_ROWS", 10**9)
        same_top(got, [(r.id, s) for r, s in store.query(q)])
    other = store_factory()
    new = record(20_002, category="far")
    other.write(WriteBatch(upserts=[(new, halfway())], deletes=[moved]))
    got = search(store, vector, where)
    assert got[0][0] == new.id and moved.id not in [i for i, _ in got]
    same_top(got, exact(store, vector, where))
    assert len(store._index._kept) == 1


def test_a_scope_is_indexed_from_min_rows_memories(store, centers) -> None:
    """From MIN_ROWS memories on (1,000: where the index is already the quicker) a scope is
    answered by the index, with the exact scan's top; one fewer is scanned."""
    rng = np.random.default_rng(21)
    rows = vector_index.MIN_ROWS
    vectors = unit(np.repeat(centers[:5], rows // 5, axis=0)
                   + 0.08 * rng.standard_normal((rows, DIMS)))  # fmt: skip
    store.write(WriteBatch(upserts=[(record(40_000 + i, user="mid"), v)
                                    for i, v in enumerate(vectors[:-1])]))  # fmt: skip
    mid, vector = F.scope_filter(user_id="mid"), queries(centers, 1)[0]
    assert not answered_by_index(store, vector, mid)
    store.write(WriteBatch(upserts=[(record(40_000 + rows, user="mid"), vectors[-1])]))
    assert answered_by_index(store, vector, mid)
    same_top(search(store, vector, mid), exact(store, vector, mid))


def test_a_small_scope_is_scanned(store, centers) -> None:
    small = F.scope_filter(user_id="small")
    vector = queries(centers, 1)[0]
    assert not answered_by_index(store, vector, small)
    assert len(search(store, vector, small)) == 50
    assert not answered_by_index(store, vector, None)  # no scope: nothing to index


def test_writes_from_this_store_are_seen_by_the_next_search(store, centers) -> None:
    vector = queries(centers, 1)[0]
    first, *_ = search(store, vector)
    search(store, unit(centers[40]))  # the index is loaded before the writes below
    (top,) = store.get("p", [first[0]])
    far = unit(-vector)
    new = record(20_000)
    store.write(WriteBatch(upserts=[(new, vector), (top, far)]))  # add one, move one away
    got = search(store, vector)
    assert got[0][0] == new.id and first[0] not in [i for i, _ in got]
    same_top(got, exact(store, vector))
    store.write(WriteBatch(deletes=[new]))
    top.state = "superseded"
    store.write(WriteBatch(upserts=[(top, vector)]))  # back near, but not active any more
    got = search(store, vector)
    assert new.id not in [i for i, _ in got] and first[0] not in [i for i, _ in got]
    same_top(got, exact(store, vector))


def test_writes_from_another_store_handle_are_seen_by_the_next_search(
    store, store_factory, centers
) -> None:
    vector = queries(centers, 1)[0]
    before = search(store, vector)
    other = store_factory()  # its own index, as a second store in one process has
    search(other, vector)
    new = record(20_001)
    other.write(WriteBatch(upserts=[(new, vector)], deletes=other.get("p", [before[0][0]])))
    got = search(store, vector)
    assert got[0][0] == new.id and before[0][0] not in [i for i, _ in got]
    same_top(got, exact(store, vector))
    store.write(WriteBatch(deletes=[new]))
    assert new.id not in [i for i, _ in search(other, vector)]


def test_the_index_codes_each_rows_vector_as_stored(store, centers) -> None:
    """The index reads vectors in the engine's binary form: decoded, they are the stored
    floats, and their codes (sign bits, int8 values) are those of the floats the store
    returns, within half a step of the row's scale."""
    sql = store._index._sql
    ids = ["m00000", "m00001", "m03499"]
    listed = ", ".join(repr(i) for i in ids)
    rows = store._rows(f"SELECT m.id, {sql.vector.format('m.embedding')} FROM {store.MEMORIES} m "
                       f"WHERE m.id IN ({listed}) ORDER BY m.id")  # fmt: skip
    stored = store.vectors("p", ids)
    floats = sql.floats([blob for _, blob in rows])
    np.testing.assert_array_equal(floats, np.stack([stored[i] for i, _ in rows]))
    signs, values, scales = vector_index._encode(floats, 6)
    for row, (i, _) in enumerate(rows):
        bits = np.unpackbits(signs[row].view(np.uint8), bitorder="little")
        np.testing.assert_array_equal(bits.astype(bool), stored[i] > 0)
        assert np.abs(values[row]).max() == 127  # each row's largest dimension at full scale
        unit = stored[i] / np.linalg.norm(stored[i])
        np.testing.assert_allclose(values[row] * scales[row], unit, atol=scales[row] / 2)


def test_vectors_of_any_length_rank_by_their_cosine(store, centers, monkeypatch) -> None:
    """The index orders its shortlist by vectors scaled to unit length, as the exact scan
    ranks by cosine: here the rows farther from the query are stored longer, so ordered by
    their raw dot products the nearest would miss the first candidates."""
    monkeypatch.setattr(vector_index, "FIRST_CANDIDATES", 20)
    monkeypatch.setattr(vector_index, "MIN_SURVIVORS", 20)
    rng = np.random.default_rng(17)
    vector = queries(centers, 1)[0]
    near = [record(30_000 + i) for i in range(40)]
    # row i: cosine to the query falling with i, length rising with i
    near_vectors = [(1.0 + i) * unit(vector + (0.1 + 0.02 * i) * unit(rng.standard_normal(DIMS)))
                    for i in range(len(near))]  # fmt: skip
    store.write(WriteBatch(upserts=list(zip(near, near_vectors))))
    got = search(store, vector, limit=20)
    assert [i for i, _ in got[:10]] == [r.id for r in near[:10]]
    same_top(got, exact(store, vector))


def test_writes_from_another_process_are_seen_by_the_next_search(store, centers) -> None:
    vector = queries(centers, 1)[0]
    before = search(store, vector)
    gone = [i for i, _ in before[:3]]
    write_elsewhere(store, vector, 2, gone)
    got = search(store, vector)
    assert {i for i, _ in got[:2]} == {"other-0", "other-1"}
    assert not set(gone) & {i for i, _ in got}
    same_top(got, exact(store, vector))


def test_a_reader_far_behind_reloads(store, centers, monkeypatch) -> None:
    vector = queries(centers, 1)[0]
    search(store, vector)
    monkeypatch.setattr(vector_index, "MAX_CHANGES", 5)
    write_elsewhere(store, vector, 20, [])
    got = search(store, vector)
    assert {i for i, _ in got[:20]} == {f"other-{i}" for i in range(20)}
    same_top(got, exact(store, vector))


def test_searches_from_many_threads_while_writing(store, centers) -> None:
    vectors, failures = queries(centers, 8), []

    def searching() -> None:
        try:
            for vector in vectors:
                assert len(search(store, vector)) == 100
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=searching) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        store.write(WriteBatch(upserts=[(record(30_000 + i), vectors[i % 8])]))
    for t in threads:
        t.join()
    assert not failures
    for vector in vectors:
        same_top(search(store, vector), exact(store, vector))


def write_elsewhere(store: SQLStore, vector: np.ndarray, adds: int, deletes: list[str]) -> None:
    location = getattr(store, "url", None) or store.path
    subprocess.run([sys.executable, "-c", WRITER, location, vector.tobytes().hex(), str(adds),
                    *deletes], check=True, timeout=120)  # fmt: skip


def test_a_write_committing_after_a_later_one_is_seen(postgres_url, centers, monkeypatch) -> None:
    """PostgreSQL's writers run at once (SQLite's are serial): one that writes first but
    commits after another is still seen, as its change is logged when it commits."""
    from engram.stores.postgres import PostgresStore

    monkeypatch.setattr(vector_index, "MIN_ROWS", 100)
    store = PostgresStore(postgres_url)
    try:
        vectors = unit(np.repeat(centers[:4], 50, axis=0))
        store.write(WriteBatch(upserts=[(record(i), v) for i, v in enumerate(vectors)]))
        vector = queries(centers, 1)[0]
        search(store, vector)  # loaded
        first, later = record(20_000), record(20_001)
        with store._db.transaction() as tx:
            tx(store._upsert_sql(), store._upsert_params(first, vector))
            store.write(WriteBatch(upserts=[(later, unit(-vector))]))  # commits first
            assert first.id not in [i for i, _ in search(store, vector)]
        got = search(store, vector)
        assert got[0][0] == first.id
        same_top(got, exact(store, vector))
    finally:
        store.close()


def test_keyword_lists_under_a_remembered_filter_match_the_walk_through_writes(
    store, store_factory, centers, monkeypatch
) -> None:
    """Under a filter whose rows the index remembers, a keyword list tests each posting
    against those rows before reading it (VectorIndex.kept_clause) and lists what walking
    every posting lists: after a row moves into the filter, one is deleted, one rejected
    (in place, not logged), each by another handle and with no vector search between."""
    monkeypatch.setattr(vector_index, "SHORTLIST", 10)
    monkeypatch.setattr(vector_index, "FIRST_CANDIDATES", 5)

    def worded(i: int, text: str, category: str) -> MemoryRecord:
        r = record(i, category=category)
        r.memory = text
        return r

    words = ("knee", "ankle", "marathon", "nowhere")
    said = [worded(i, f"{words[i % 3]} note {i}", "far" if i % 10 == 0 else "near")
            for i in range(300)]  # fmt: skip
    store.write(WriteBatch(upserts=[(r, None) for r in said]))
    where = F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["far"]}}]})
    vector = queries(centers, 1)[0]
    q = Query("p", where, NOW, keywords=words, limit=4, rejected=False)
    clauses: list[object] = []
    kept_clause = store._index.kept_clause
    monkeypatch.setattr(store._index, "kept_clause", lambda *a: clauses.append(
        kept_clause(*a)) or clauses[-1])  # fmt: skip

    def walked() -> tuple[list, dict]:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store._index, "kept_clause", lambda *a: None)
            return store.keyword_lists(q, vector)

    assert answered_by_index(store, vector, where)  # the filter's 30 rows are remembered
    lists = store.keyword_lists(q, vector)
    assert clauses[-1] is not None and lists == walked()
    assert [len(found) for found in lists[0]] == [4, 4, 4, 0]
    other = store_factory()
    moved = worded(1, "knee knee", "far")  # the best "knee" now, and in the filter
    other.write(WriteBatch(upserts=[(moved, None)], deletes=[said[3]]))  # a kept "knee"
    lists = store.keyword_lists(q, vector)
    assert clauses[-1] is not None and lists == walked()
    assert lists[0][0][0][0].id == moved.id and said[3].id not in str(lists)
    other.set_feedback("p", moved.id, "VERY_NEGATIVE", None)
    lists = store.keyword_lists(q, vector)
    assert clauses[-1] is not None and lists == walked()
    assert moved.id not in str(lists)
    with pytest.MonkeyPatch.context() as patch:  # rows too far apart for a map: the walk
        patch.setattr(vector_index, "MAX_MAP_SPAN", 10)
        assert store.keyword_lists(q, vector) == lists and clauses[-1] is None
    none = F.parse({"AND": [{"user_id": "u"}, {"categories": {"in": ["nothing"]}}]})
    assert answered_by_index(store, vector, none)
    empty = Query("p", none, NOW, keywords=words, limit=4, rejected=False)
    assert store.keyword_lists(empty) == ([[], [], [], []], {}) and clauses[-1] is not None
    other.close()
