"""Fast vector search for big scopes, on SQLite and PostgreSQL: an in-process index of
compact codes.

An exact search scans every row of its scope (90-150 ms for one user with 100,000
memories). For a scope of at least `MIN_ROWS` memories this index keeps each (unit-length)
vector's sign bits and its values in int8 (one scale a row, so its largest dimension is
127): 440 bytes a memory for MiniLM's 384, 44 MB with the row keys for 100,000 memories.
A search takes the `SHORTLIST` nearest by the Hamming distance of the signs, orders them by
the query's dot product with their int8 values (within ~0.003 of the cosine), and has SQL
score the first `FIRST_CANDIDATES` exactly, with the query's whole filter, by the same
expression and in the same order as the exact scan, reading their rows as it does. When
too few of them pass the filter to trust the page (fewer than `MIN_SURVIVORS`, or than the
page needs), it looks once as much deeper as the filter seems to need, if that is within
the shortlist's size; if it is not, or if that too leaves too few, the filter is asked
which of the scope's rows it keeps (an index holding the filter's columns answers without
reading the rows; the answer is remembered per filter and patched from the change log, like
the codes), and those rows are ranked by their codes the same way. So filters stay
exact, and the nearest differ from the exact scan's only where the signs' shortlist misses:
recall@10 0.996 for one user's 100,000 memories, 0.990 with a category filter
(bench/ann.py). Two bits a dimension (sign, and large or not) instead of int8 values took
96 bytes a memory, but ordered the shortlist less well, so SQL scored 200 rows where it now
scores 120, and the ordering itself took 1.3 ms where int8 takes 0.3.
(Before, a filter keeping little near the query fell back to the exact scan: one user's
100,000 memories with a category and a metadata filter, ~45 ms on SQLite and ~90 ms on
PostgreSQL for the nearest alone.)

The index follows every writer of the file, in this process or another, through a change
log the database keeps itself (`vector_changes`: the `seq` of each memory inserted,
deleted, or updated in its vector, time or scope, written by triggers; see sqlite.py's
version 6 and postgres.py's). Each search reads the log past the tick it has seen (one
small query when nothing changed) and re-reads those rows' codes; a reader further behind
than `MAX_CHANGES` (or than the log keeps, `LOG_KEEP`) reloads its scopes. A scope is loaded
on its first search, read in keyset pages, so loading never holds more than a page of
rows' floats in Python.

The engines differ only in a few pieces of SQL (`IndexSQL`; the parameter mark is the
database's own): the change log's name, how a bound list of row keys is read, and how a
vector is read in its binary form; the codes are computed here, from the floats.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engram.filters import Node, bounds_time, required_values
from engram.models import SCOPE_FIELDS
from engram.stores.database import Database, Row

# Below this many memories a scope's exact scan is quick; past it, the index is quicker:
# the scan costs ~4 us a row on SQLite (one user's 1,000: 3.8-4.1 ms), the index ~2 ms
# at 1,000 rows (1.8-2.3) and 2-3.5 ms at 100,000 (3,000 until 2 December)
MIN_ROWS = 1_000
SHORTLIST = 2_000  # nearest by Hamming distance, ordered by the query's int8 dot product
FIRST_CANDIDATES = 120  # the first of those, scored exactly in SQL (the page's 100 and more)
MIN_SURVIVORS = 100  # candidates passing the filter before the page is trusted
MAX_HELD_ROWS = 200_000  # rows of all scopes held at once (about 90 MB for MiniLM)
MAX_KEPT_FILTERS = 16  # filters whose rows are kept (_Kept), at most
MAX_KEPT_ROWS = 200_000  # their rows in all (8 bytes each)
MAX_WIDE_FILTERS = 1_000  # time windows remembered as too wide to keep, at most
# A kept filter's rows bound to a keyword list's statement as a map by seq (`kept_clause`):
# one byte a seq on SQLite, one bit on PostgreSQL, from its first row's seq to its last
MAX_MAP_SPAN = 1 << 20
LOG_KEEP = 50_000  # changes the log keeps (the triggers prune older ones)
MAX_CHANGES = 10_000  # more unseen changes than this: reload instead of patching
LOAD_PAGE = 4_096  # rows per keyset page when loading a scope

Scope = tuple[str, str, str]  # (project, field, value)
FilterKey = tuple[Scope, str, str]  # (scope, lasting SQL, its parameters' repr)


def _json_list(seqs: np.ndarray) -> str:
    """Row keys as the JSON array `json_each` reads (one bound parameter, any length)."""
    return "[" + ",".join(map(str, seqs.tolist())) + "]"


@dataclass(frozen=True)
class IndexSQL:
    """The pieces of the index's SQL that differ between engines."""

    log: str  # the change log table
    # FROM the rows (m) of table {0} whose keys are bound (SQLite's CROSS JOIN keeps the
    # keys driving the join: it probes them, never scans the table)
    listed: str
    bind_seqs: Callable[[np.ndarray], Any]  # the row keys as that parameter
    vector: str  # a row's vector ({0}: the vector column) in the engine's binary form
    floats: Callable[[list[bytes]], np.ndarray]  # vectors of one width in that form, as rows
    codable: str  # whether {0} has a code: a vector whose dimensions fill whole bytes
    # whether the seq {0} is in a map bound as (first, last, map, first): `_seq_map`
    member: str
    bitmap: bool  # a bit a seq (else a byte: SQLite has no function reading a blob's bits)


SQLITE = IndexSQL(
    log="vector_changes",
    listed="json_each(?) c CROSS JOIN {0} m ON m.seq = c.value", bind_seqs=_json_list,
    vector="{0}", floats=lambda blobs: _rows_of(blobs, np.dtype("<f4"), 0),
    codable="{0} IS NOT NULL AND length({0}) % 32 = 0",
    member="({0} BETWEEN ? AND ? AND substr(?, {0} - ? + 1, 1) = x'01')", bitmap=False,
)  # fmt: skip
POSTGRES = IndexSQL(
    log="engram_vector_changes",
    # a fenced LATERAL probes each key: a plain join let a stale row estimate hash-join
    # the scope's every row (100k memories before autovacuum's analyze: 0.4-1.9 s, not 2 ms)
    listed="unnest(%s::bigint[]) c(value) "
    "CROSS JOIN LATERAL (SELECT * FROM {0} WHERE seq = c.value OFFSET 0) m",
    bind_seqs=lambda seqs: seqs.tolist(),
    # vector_send: int16 dimensions, int16 unused, then big-endian float4s
    vector="vector_send({0})", floats=lambda blobs: _rows_of(blobs, np.dtype(">f4"), 1),
    codable="{0} IS NOT NULL AND mod(vector_dims({0}), 8) = 0",
    member="({0} BETWEEN %s AND %s AND get_bit(%s::bytea, ({0} - %s)::int) = 1)", bitmap=True,
)  # fmt: skip

# Each scope field's keyset for loading: an index serves (project, field, *keys) in order
# (the user index, on both engines). SQLite's other scope indexes end with the rowid; on
# PostgreSQL they do not hold seq, so each page of such a load sorts the scope.
_KEYSETS = {"user_id": ("created_at", "id")}


@dataclass
class _Codes:
    """One scope's rows: their seq, the words of their sign bits (word-major, so the
    shortlist reads each word as one contiguous array), and their vectors in int8 with one
    scale a row (row-major: a shortlist's rows are gathered whole); `n` of `capacity` in use."""

    dims: int
    n: int = 0
    seqs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    signs: np.ndarray = field(init=False)
    values: np.ndarray = field(init=False)
    scales: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.signs = np.empty((self.words, 0), np.uint64)
        self.values = np.empty((0, self.dims), np.int8)
        self.scales = np.empty(0, np.float32)

    @property
    def words(self) -> int:
        return _words_for(self.dims)

    def append(self, seqs: list[int], vectors: np.ndarray, room: int = 0) -> None:
        """Add rows (`vectors`: their floats, one row each); `room`: the rows expected in
        all, so a load allocates once."""
        if not seqs:
            return
        end = self.n + len(seqs)
        if end > len(self.seqs):
            self.grow(max(end, room, int(len(self.seqs) * 1.25) + 64))
        signs, values, scales = _encode(vectors, self.words)
        self.seqs[self.n : end] = seqs
        self.signs[:, self.n : end] = signs.T
        self.values[self.n : end] = values
        self.scales[self.n : end] = scales
        self.n = end

    def grow(self, capacity: int) -> None:
        self.seqs = _resized(self.seqs, capacity)
        self.scales = _resized(self.scales, capacity)
        signs = np.zeros((self.words, capacity), np.uint64)
        signs[:, : self.n] = self.signs[:, : self.n]
        values = np.zeros((capacity, self.dims), np.int8)
        values[: self.n] = self.values[: self.n]
        self.signs, self.values = signs, values

    def drop(self, seqs: np.ndarray) -> None:
        keep = ~np.isin(self.seqs[: self.n], seqs)
        if keep.all():
            return
        kept = int(keep.sum())
        self.seqs[:kept] = self.seqs[: self.n][keep]
        self.signs[:, :kept] = self.signs[:, : self.n][:, keep]
        self.values[:kept] = self.values[: self.n][keep]
        self.scales[:kept] = self.scales[: self.n][keep]
        self.n = kept

    def nearest(
        self, vector: np.ndarray, shortlist: int, take: int, among: np.ndarray | None = None
    ) -> np.ndarray:
        """The seqs of about the `take` rows nearest `vector` (of the rows whose seqs are
        `among`, if given), best first: the `shortlist` nearest by Hamming distance to its
        sign bits, ordered by the dot product of the query with their int8 vectors
        (asymmetric: the query keeps its floats; within ~0.003 of the exact cosine, so the
        exact scoring needs few rows past the page). Of one user's 100,000 MiniLM memories,
        the exact top 10 is within the first 120 of 2,000 in 99.6% of cases (bench/ann.py)."""
        rows = None if among is None else np.flatnonzero(np.isin(self.seqs[: self.n], among))
        near = self._shortlist(_packed((vector > 0)[None], self.words)[0], shortlist, rows)
        # einsum's own loop, not a BLAS product: OpenBLAS wakes its threads for a product
        # this size, and their spinning slowed the query embedding and the rest of a
        # search by a third on two cores
        dots = np.einsum("ij,j->i", self.values[near], vector, optimize=False)
        dots *= self.scales[near]
        return self.seqs[near[np.argsort(-dots, kind="stable")[:take]]]

    def _shortlist(
        self, query: np.ndarray, shortlist: int, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """The positions of the `shortlist` rows (of `rows`, if given) nearest `query` (its
        sign bits' words) by Hamming distance, ties by position. Distances are small
        integers: counting them finds the cut (0.2 ms for 100,000 rows; a partition of the
        distances took 0.9)."""
        # all rows at once (the XOR a temporary of 8 bytes a word and row: 4.8 MB for 100,000
        # MiniLM codes), then the counts summed word by word: 0.45 ms for 100,000, where
        # blocks of 32,768 rows took 0.7
        signs = self.signs[:, : self.n] if rows is None else self.signs[:, rows]
        counts = np.bitwise_count(signs ^ query[:, None])
        distance = counts[0].astype(np.uint16)
        for w in range(1, self.words):
            distance += counts[w]
        everyone = np.arange(len(distance)) if rows is None else rows
        if shortlist >= len(distance):
            return everyone
        cut = int(np.searchsorted(np.bincount(distance).cumsum(), shortlist))
        below = np.flatnonzero(distance < cut)
        at_cut = np.flatnonzero(distance == cut)[: shortlist - len(below)]
        return everyone[np.concatenate([below, at_cut])]


@dataclass
class _Kept:
    """The seqs of the rows one filter's lasting clauses keep (sorted), and those of rows
    written since, to check again before the next use."""

    seqs: np.ndarray
    stale: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))


class VectorIndex:
    """The binary codes of the big scopes this process searched; thread-safe."""

    def __init__(self, db: Database, table: str = "memories") -> None:
        self._db, self._table = db, table
        self._sql = POSTGRES if db.postgres else SQLITE
        self._lock = threading.Lock()
        self._scopes: dict[Scope, _Codes] = {}
        # scopes counted too small since the last change (`_sync` forgets them on any change)
        self._small: set[Scope] = set()
        self._tick = 0  # the last change applied
        # the last shortlist ranked, by (scope, tick, query): a search naming a time asks
        # again with the same query and scope (engram.memory's TIME_CANDIDATES), and ranking
        # 100,000 codes takes ~3.5 ms of it
        self._recent: tuple[tuple[Scope, int, bytes], np.ndarray] | None = None
        # the rows recent filters keep, by scope and filter, most recent last: a filter's
        # own scan is most of a search it narrows to few rows near the query (one user's
        # 100,000 memories: 16-24 of ~50 ms), and its rows change only when written, which
        # the change log tells (`_sync` marks them to check again)
        self._kept: OrderedDict[FilterKey, _Kept] = OrderedDict()
        # time windows found to keep too many rows to remember since the last change: a
        # search naming such a window skips the probe (`_sync` forgets them on any change)
        self._wide: set[FilterKey] = set()

    # -- searching --------------------------------------------------------------------

    def nearest(
        self, q: Any, where: str, params: list[Any], similarity: str, vector: Any,
        lasting: Callable[[], tuple[str, list[Any]]], columns: str = "m.id",
    ) -> list[Row] | None:  # fmt: skip
        """The page (`q.offset`, `q.limit`) the exact scan would return for `q` and `where`
        (its compiled filter), as rows of `columns` (of the memories m, the id first) and
        the score; or None where this index cannot answer: no scope in the filter, a small
        scope, or codes of another width. Each candidate's columns are read as it is
        scored: the rows a search returns are the first of those, and reading them again
        took a second statement (~1 ms on SQLite).
        `vector` is q.vector as the store binds it for `similarity`; `lasting` gives the part
        of `where` a row keeps meeting until it is written again (SQLStore._where), with its
        parameters, compiled only if a filter's rows are needed."""
        scope = scope_of(q.project, q.where)
        if scope is None:
            return None
        floats = np.asarray(q.vector, np.float32)
        dims = len(floats)
        if dims % 8:
            return None
        # a filter whose rows are remembered goes straight to ranking them: the first
        # candidates, then a deeper look, would read hundreds of rows it mostly rejects
        # a time window keeps few of a big scope's rows, mostly none of the nearest (a
        # search naming a time: 120 rows scored for none, 0.7 ms on SQLite and 1.8 on
        # PostgreSQL at 100,000): its rows are asked first, and remembered if few (a small
        # scope is scanned: not asked)
        window = scope in self._scopes and bounds_time(q.where)
        clause = lasting() if self._kept or window else None
        if window and clause is not None:
            self._remember_if_few(scope, *clause, most=SHORTLIST)
        with self._lock:
            self._sync()
            codes = self._codes(scope)
            if codes is None or codes.dims != dims:
                return None
            n = codes.n
            known = clause is not None and _kept_key(scope, *clause) in self._kept
            key = (scope, self._tick, floats.tobytes())
            if known:
                picked = np.empty(0, np.int64)
            elif self._recent is not None and self._recent[0] == key:
                picked = self._recent[1]
            else:
                picked = codes.nearest(floats, SHORTLIST, FIRST_CANDIDATES)
                self._recent = (key, picked)
        need = q.offset + q.limit
        enough = max(need, MIN_SURVIVORS)

        def scored(seqs: np.ndarray) -> list[Row]:
            return self._scored(seqs, where, params, similarity, vector, columns)

        found = scored(picked)
        if len(found) >= enough or len(picked) >= n:
            return _page(found, q.offset, need)
        seen = picked
        wider = max(2.0, 1.5 * enough / max(len(found), 1))
        if not known and wider * FIRST_CANDIDATES <= SHORTLIST:
            # a filter keeping a fair share near the query: look as much deeper as it
            # seems to need, once (a few hundred rows more, scored as the first)
            with self._lock:
                if (codes := self._held(scope, dims)) is None:
                    return None
                more = codes.nearest(floats, int(wider * SHORTLIST), int(wider * FIRST_CANDIDATES))
            more = more[~np.isin(more, seen)]
            found += scored(more)
            seen = np.concatenate([seen, more])
        if len(found) < enough:
            # a filter keeping little near the query: rank the rows that pass it (an index
            # of the filter's columns finds them, on both engines) by their codes
            passing = self._kept_rows(scope, *(clause or lasting()))
            # twice as deep as a plain search: the rows such a filter keeps are far from the
            # query, where the signs tell them apart less well (a category a sixth of one
            # user's 100,000 memories, with two-bit codes: recall@10 0.976 at 2,000 / 200,
            # 0.994 at 4,000 / 400)
            take = max(2 * FIRST_CANDIDATES, 2 * need)
            with self._lock:  # the filter's rows ranked in place, not copied out
                if (codes := self._held(scope, dims)) is None:
                    return None
                more = codes.nearest(floats, SHORTLIST // FIRST_CANDIDATES * take, take,
                                     among=passing)  # fmt: skip
            found += scored(more[~np.isin(more, seen)])
            if len(found) < need and len(passing) > take:
                # most of the rows ranked failed the clauses that come and go (expiry,
                # feedback): a short page must be every row the filter keeps (a search
                # then needs no keyword lists), so the exact scan answers
                return None
        return _page(found, q.offset, need)

    def _held(self, scope: Scope, dims: int) -> _Codes | None:
        """The scope's codes if still held and of the query's width (another thread may have
        dropped them since); the caller holds the lock."""
        codes = self._scopes.get(scope)
        return codes if codes is not None and codes.dims == dims else None

    def kept_clause(
        self, q: Any, lasting: Callable[[], tuple[str, list[Any]]], column: str
    ) -> tuple[str, list[Any]] | None:
        """SQL keeping the seqs in `column` of the rows q's filter keeps, with its parameters,
        if this index remembers those rows (a search ranked them: the filter keeps few of
        a big scope), else None. A keyword list under such a filter tests each posting
        against them before reading its row: most of the postings of a word are of rows
        the filter rejects, and judging those took ~1.7 us each on SQLite (a category and
        a metadata value, 5.7% of one user's 100,000 memories: ~2,800 postings a search).
        `lasting` is as for `nearest`."""
        scope = scope_of(q.project, q.where)
        if scope is None or not self._kept:
            return None
        where, params = lasting()
        with self._lock:
            if _kept_key(scope, where, params) not in self._kept:
                return None
            self._sync()  # as of the log's last change, as a search's nearest
        seqs = self._remembered(scope, where, params)
        if seqs is None:
            return None
        if not len(seqs):  # no row passes: a posting of none
            return "1 = 0", []
        first, last = int(seqs[0]), int(seqs[-1])
        if last - first >= MAX_MAP_SPAN:
            return None
        return self._sql.member.format(column), [first, last, self._seq_map(seqs), first]

    def _seq_map(self, seqs: np.ndarray) -> bytes:
        """`seqs` (sorted) as a map from the first: a bit or a byte a seq, set if present
        (a bit's position in its byte counts from the least significant, as get_bit's)."""
        present = np.zeros(int(seqs[-1] - seqs[0]) + 1, np.uint8)
        present[seqs - seqs[0]] = 1
        if self._sql.bitmap:
            return np.packbits(present, bitorder="little").tobytes()
        return present.tobytes()

    def _kept_rows(self, scope: Scope, where: str, params: list[Any]) -> np.ndarray:
        """The seqs of the rows `where` (lasting clauses only) keeps: remembered, else
        scanned."""
        with self._lock:
            tick = self._tick
        seqs = self._remembered(scope, where, params)
        if seqs is not None:
            return seqs
        return self._scanned(_kept_key(scope, where, params), where, params, tick)

    def _remembered(self, scope: Scope, where: str, params: list[Any]) -> np.ndarray | None:
        """The seqs of the rows `where` keeps (sorted), if remembered, with the rows
        written since they were last used checked again."""
        key = _kept_key(scope, where, params)
        with self._lock:
            kept = self._kept.pop(key, None)
            if kept is None:
                return None
            self._kept[key] = kept  # the most recently used last
            if len(kept.stale):  # a few rows by key, under the lock: no mark is lost
                again = self._passing(where, params, kept.stale)
                kept.seqs = np.union1d(np.setdiff1d(kept.seqs, kept.stale), again)
                kept.stale = np.empty(0, np.int64)
            return kept.seqs

    def _remember_if_few(self, scope: Scope, where: str, params: list[Any], most: int) -> None:
        """Remember the rows `where` keeps if no more than `most` pass (a bounded scan)."""
        key = _kept_key(scope, where, params)
        with self._lock:
            if key in self._kept or key in self._wide:
                return
            tick = self._tick
        self._scanned(key, where, params, tick, most)

    def _scanned(
        self, key: FilterKey, where: str, params: list[Any], tick: int, most: int | None = None
    ) -> np.ndarray:
        """The seqs of the rows `where` keeps, scanned outside the lock, and remembered
        unless a change was logged since `tick`; if more than `most` rows pass, the scan
        stopped one past it and only that it is wide is remembered."""
        seqs = np.unique(self._passing(where, params, most=most))
        with self._lock:
            unchanged = self._tick == tick
            if unchanged and (most is None or len(seqs) <= most):
                self._remember(key, _Kept(seqs))
            elif unchanged and len(self._wide) < MAX_WIDE_FILTERS:
                self._wide.add(key)
        return seqs

    def _remember(self, key: FilterKey, kept: _Kept) -> None:
        """Keep a filter's rows, within MAX_KEPT_FILTERS and MAX_KEPT_ROWS (the least
        recently used go first); the caller holds the lock."""
        self._kept[key] = kept
        held = sum(len(k.seqs) for k in self._kept.values())
        while len(self._kept) > 1 and (
            len(self._kept) > MAX_KEPT_FILTERS or held > MAX_KEPT_ROWS
        ):
            held -= len(self._kept.popitem(last=False)[1].seqs)

    def _passing(
        self, where: str, params: list[Any], among: np.ndarray | None = None,
        most: int | None = None,
    ) -> np.ndarray:  # fmt: skip
        """The seqs of the rows `where` keeps (of the rows `among`, if given; one more
        than `most` at most, if given)."""
        if among is None:
            sql, bound = f"SELECT m.seq FROM {self._table} m WHERE {where}", params
            if most is not None:
                sql += f" LIMIT {int(most) + 1}"
        else:
            sql = f"SELECT m.seq FROM {self._sql.listed.format(self._table)} WHERE {where}"
            bound = [self._sql.bind_seqs(among), *params]
        rows = self._db.rows(sql, bound)
        return np.fromiter((seq for (seq,) in rows), np.int64, len(rows))

    def _scored(
        self, seqs: np.ndarray, where: str, params: list[Any], similarity: str, vector: Any,
        columns: str,
    ) -> list[Row]:  # fmt: skip
        """The `columns` and score of the rows `seqs` that pass the filter, scored as the
        exact scan."""
        if not len(seqs):
            return []
        sql = (
            f"SELECT {columns}, {similarity} AS score "
            f"FROM {self._sql.listed.format(self._table)} "
            f"WHERE m.embedding IS NOT NULL AND {where}"
        )
        bound = (vector, self._sql.bind_seqs(seqs), *params)
        return self._db.rows(sql, bound, binary=True)

    # -- keeping up -------------------------------------------------------------------

    def _sync(self) -> None:
        """Apply the changes other writers (and this process) logged since the last
        search; the caller holds the lock."""
        log, p = self._sql.log, self._db.mark
        low, high = self._db.rows(  # two subqueries: each reads one end of the b-tree
            f"SELECT (SELECT min(tick) FROM {log}), (SELECT max(tick) FROM {log})"
        )[0]
        high = high or 0
        if high == self._tick:
            return
        behind = high - self._tick
        if high < self._tick or (low or 0) > self._tick + 1 or behind > MAX_CHANGES:
            self._scopes.clear()  # pruned past us, or a different file: start over
            self._kept.clear()
        elif self._scopes or self._kept:
            changed = self._db.rows(
                f"SELECT DISTINCT seq FROM {log} WHERE tick > {p} AND tick <= {p}",
                (self._tick, high),
            )
            self._apply(np.array([s for (s,) in changed], np.int64))
        self._small.clear()
        self._wide.clear()
        self._tick = high

    def _apply(self, seqs: np.ndarray) -> None:
        """Re-read the rows `seqs` into the loaded scopes (gone or moved ones leave), and
        mark them for the kept filters to check again."""
        for key, kept in list(self._kept.items()):
            kept.stale = np.union1d(kept.stale, seqs)
            if len(kept.stale) > MAX_CHANGES:  # scanning again is cheaper
                del self._kept[key]
        for codes in self._scopes.values():
            codes.drop(seqs)
        sql = self._sql
        rows = self._db.rows(
            f"SELECT m.seq, m.project, {', '.join(f'm.{f}' for f in SCOPE_FIELDS)}, "
            f"{sql.vector.format('m.embedding')} FROM {sql.listed.format(self._table)} "
            f"WHERE {sql.codable.format('m.embedding')}",
            (sql.bind_seqs(seqs),), binary=True,
        )
        for seq, project, *ids, blob in rows:
            vectors = sql.floats([blob])
            for scope_field, value in zip(SCOPE_FIELDS, ids, strict=True):
                codes = self._scopes.get((project, scope_field, value))
                if codes is not None and vectors.shape[1] == codes.dims:
                    codes.append([seq], vectors)

    def _codes(self, scope: Scope) -> _Codes | None:
        """The scope's codes, loaded now if it is big enough; None for a small one."""
        codes = self._scopes.pop(scope, None)
        if codes is not None:
            self._scopes[scope] = codes  # the most recently searched last
            return codes if codes.n >= MIN_ROWS else None
        if scope in self._small:
            return None
        project, scope_field, value = scope
        rows = self._db.rows(
            f"SELECT count(*) FROM {self._table} "
            f"WHERE project = {self._db.mark} AND {scope_field} = {self._db.mark}",
            (project, value),
        )[0][0]
        if rows < MIN_ROWS:
            if len(self._small) > 10_000:
                self._small.clear()
            self._small.add(scope)
            return None
        codes = self._load(scope, rows)
        if codes.n < MIN_ROWS:  # most rows lack a vector
            self._small.add(scope)
            return None
        self._scopes[scope] = codes
        held = sum(c.n for c in self._scopes.values())
        for oldest in list(self._scopes)[:-1]:  # a bound on memory: drop the least recent
            if held <= MAX_HELD_ROWS:
                break
            held -= self._scopes.pop(oldest).n
        return codes

    def _load(self, scope: Scope, expected: int) -> _Codes:
        """Read a scope's codes in keyset pages (changes from now on come through the log,
        whose tick `_sync` just read)."""
        project, scope_field, value = scope
        sql, p = self._sql, self._db.mark
        keys = _KEYSETS.get(scope_field, ("seq",))
        after = ""
        last: tuple[Any, ...] = ()
        codes: _Codes | None = None
        while True:
            if last:
                after = f" AND ({', '.join(keys)}) > ({', '.join(p for _ in keys)})"
            rows = self._db.rows(
                f"SELECT {', '.join(keys)}, seq, {sql.vector.format('embedding')} "
                f"FROM {self._table} WHERE project = {p} AND {scope_field} = {p}{after} "
                f"AND {sql.codable.format('embedding')} ORDER BY {', '.join(keys)} "
                f"LIMIT {LOAD_PAGE}",
                (project, value, *last), binary=True,
            )
            if not rows:
                return codes or _Codes(dims=0)
            width = len(rows[0][-1])
            same = [r for r in rows if len(r[-1]) == width]  # one embedder per scope
            vectors = sql.floats([r[-1] for r in same])
            if codes is None:
                codes = _Codes(dims=vectors.shape[1])
            codes.append([r[-2] for r in same], vectors, expected + expected // 8)
            last = tuple(rows[-1][: len(keys)])


def scope_of(project: str, where: Node | None) -> Scope | None:
    """The scope a filter restricts every result to: a scope id it requires to equal one
    value (at its top level, alone or in an AND), the first of SCOPE_FIELDS it names."""
    named = required_values(where)
    for scope_field in SCOPE_FIELDS:
        if isinstance(named.get(scope_field), str):
            return (project, scope_field, named[scope_field])
    return None


def _kept_key(scope: Scope, where: str, params: list[Any]) -> FilterKey:
    return (scope, where, repr(params))


def _page(found: list[Row], offset: int, end: int) -> list[Row]:
    """The page of rows (id first, score last), ordered as the exact scan orders them."""
    found.sort(key=lambda row: (-row[-1], row[0]))
    return found[offset:end]


def _words_for(dims: int) -> int:
    """64-bit words a code of `dims` bits takes."""
    return -(-dims // 64)


def _encode(vectors: np.ndarray, words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sign bits of `vectors` (rows), as rows of 64-bit words; and the vectors at unit
    length in int8 (the order of their dot products is the cosine's, as the exact scan's),
    each row scaled so its largest dimension is 127, with those scales."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    peaks = np.abs(unit).max(axis=1)
    scales = np.where(peaks > 0, peaks / 127, 1.0).astype(np.float32)
    values = np.rint(unit / scales[:, None]).astype(np.int8)
    return _packed(vectors > 0, words), values, scales


def _packed(bits: np.ndarray, words: int) -> np.ndarray:
    """Rows of bits (bit i least significant first in its byte) as 64-bit words."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    out = np.zeros((len(bits), words * 8), np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view(np.uint64)


def _rows_of(blobs: list[bytes], dtype: np.dtype, header: int) -> np.ndarray:
    """Vectors of one width in an engine's binary form (`dtype` floats, after `header`
    float-sized leading slots) as float32 rows."""
    width = len(blobs[0]) // dtype.itemsize
    floats = np.frombuffer(b"".join(blobs), dtype).reshape(len(blobs), width)
    return floats[:, header:].astype(np.float32)


def _resized(array: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size, array.dtype)
    out[: min(size, len(array))] = array[:size]
    return out
