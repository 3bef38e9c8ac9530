"""What the SQL backends share: the reads and writes of `engram.stores.base.Store`, written once.

A backend (sqlite.py, postgres.py) supplies its database (`engram.stores.database`), its
schema steps (`engram.stores.migrations`), and a few hooks: table names, the vector-distance
expression, the full-text match, and how JSON and vectors are bound and read back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from engram.filters import Dialect, Node, compile_sql, required_values
from engram.lexical import index_text, term_weights
from engram.models import ENTITY_KINDS, Event, HistoryEntry, Hit, MemoryRecord, State
from engram.provenance import source_terms
from engram.stores.base import EntityCount, Query, WriteBatch
from engram.stores.database import Database, Row
from engram.stores.review import ReviewQueries
from engram.stores.vector_index import VectorIndex

COLUMNS = (
    "id, project, user_id, agent_id, run_id, app_id, memory, hash, metadata, categories, "
    "created_at, updated_at, expiration_date, state, replaced_by, sources, immutable"
)
M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in COLUMNS.split(","))
# what ranking reads of a candidate (engram.models.Hit): a search's ~100-220 candidates read
# no more (one user's 100,000 memories on PostgreSQL: 120 rows whole 3.1-3.3 ms, these 1.2)
HIT_COLUMNS = "m.id, m.created_at, m.index_text, m.source_terms"
HISTORY_COLUMNS = (
    "id, memory_id, event, old_memory, new_memory, created_at, actor, project, "
    "user_id, agent_id, run_id, snapshot"
)
# What an upsert may change; id, project and scope stay as first written (created_at
# changes only by an update's `timestamp`: when the fact was said).
_UPDATED = (
    "memory", "hash", "metadata", "categories", "created_at", "updated_at", "expiration_date",
    "state", "replaced_by", "sources", "index_text", "source_terms", "immutable",
)  # fmt: skip
_STATES = {state.value: state for state in State}
T = TypeVar("T")
# The common-word rule: a keyword query skips a term in more than COMMON_TERM_MIN_MEMORIES
# memories and in more than COMMON_TERM_PERCENT of all. BM25 gives it little weight, yet each
# of its matches would be ranked (a speaker's name, the "s" of "John's": LoCoMo search p95
# 23.1 -> 15.1 ms at 5%, recall@10 0.758 -> 0.757; 10% and 20% in the README).
COMMON_TERM_MIN_MEMORIES = 100
COMMON_TERM_PERCENT = 5



def scope_index_ddl(table: str) -> str:
    """The version-1 indexes of a memories table, the same on both dialects: one per scope
    id (with the project first: every read is per project) and one for expiry."""
    per_scope = "".join(
        f"CREATE INDEX IF NOT EXISTS {table}_{kind} ON {table} (project, {field});\n"
        for kind, field in ENTITY_KINDS.items()
    )
    return per_scope + (f"CREATE INDEX IF NOT EXISTS {table}_expiry ON {table} (expiration_date)\n"
                        "    WHERE expiration_date IS NOT NULL;\n")  # fmt: skip


@dataclass(frozen=True)
class FullText:
    """A backend's full-text search, as pieces of one SELECT over memories `m`."""

    join: str  # a JOIN clause keeping the memories that match any term
    rank: str  # SQL of a match's rank: higher is better, always above 0
    params: list[Any]  # the parameters of prelude and join, in that order
    prelude: str = ""  # a WITH clause the join and rank use, if any


class SQLStore(ReviewQueries):
    """`engram.stores.base.Store` over any SQL engine; backends fill in the hooks."""

    dialect: ClassVar[Dialect]
    MEMORIES: ClassVar[str]
    # the keyword postings: a row (term, project, user_id or '', weight, seq) for each term
    # of each memory (engram.lexical.term_weights), kept in that order by its primary key, so
    # a term's list for one user reads its best few first (SQLStore.keyword_lists)
    TERMS: ClassVar[str]
    # a FROM item (j) of one bound JSON array of [project, id, term, weight] arrays, and the
    # SQL of those four from j
    TERM_SOURCE: ClassVar[tuple[str, str, str, str, str]]
    # SQL of how many memories the table holds (kept by triggers: counting took 1.5 ms on
    # SQLite and 20-35 ms on PostgreSQL with 100,000)
    TOTAL: ClassVar[str]
    # a table of (term, n): each term's number of postings, kept by triggers (version 11)
    TERM_COUNTS: ClassVar[str]
    HISTORY: ClassVar[str]
    SETTINGS: ClassVar[str]
    HISTORY_ORDER: ClassVar[str]  # a column that keeps insertion order within a timestamp
    M_COLUMNS: ClassVar[str] = M_COLUMNS  # for the review queries (engram.stores.review)
    # a join the planner must run left to right (the ranked few first, then their rows)
    JOIN_IN_ORDER: ClassVar[str] = "JOIN"
    _db: Database
    _index: VectorIndex

    # -- hooks ------------------------------------------------------------------------

    def _similarity(self, mark: str) -> str:
        """SQL for the cosine similarity between m.embedding and the bound vector."""
        raise NotImplementedError

    def _fulltext(self, terms: Sequence[str]) -> FullText:
        """How to find and rank the memories (m) matching any of `terms`."""
        raise NotImplementedError

    def _bind_vector(self, vector: np.ndarray) -> Any:
        raise NotImplementedError

    def _read_vector(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def _bind_json(self, value: Any) -> Any:
        raise NotImplementedError

    def _read_json(self, value: Any) -> Any:
        raise NotImplementedError

    def _prepare(self, where: Node) -> Node:
        """Rewrite a filter tree before compiling, where a backend needs typed values."""
        return where

    # -- plumbing ---------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[Row]:
        return self._db.rows(sql, params, binary=binary)

    def _marks(self, n: int) -> str:
        return ", ".join(self.dialect.param() for _ in range(n))

    def close(self) -> None:
        self._db.close()

    # -- writes -----------------------------------------------------------------------

    def write(self, batch: WriteBatch) -> None:
        """One transaction; the full-text index follows the rows inside it (see migrations),
        and the keyword postings are rewritten for every memory written or deleted."""
        if not batch:
            return
        p, m = self.dialect.param(), self.MEMORIES
        written = [[r.project, r.id, "", 0]  # the memories written: their old postings go
                   for r in [r for r, _ in batch.upserts] + batch.deletes]
        deleted = [(r.project, r.id) for r in batch.deletes]
        # a memory written twice in one batch keeps the last text's postings
        final = {(r.project, r.id): r for r, _ in batch.upserts}
        postings = [[r.project, r.id, term, weight] for r in final.values()
                    for term, weight in term_weights(index_text(r.memory)).items()]
        with self._db.transaction() as tx:
            tx.steps([
                (self._postings_delete_sql(), [(self._bind_json(written),)] if written else []),
                (self._upsert_sql(), [self._upsert_params(r, v) for r, v in batch.upserts]),
                (f"DELETE FROM {m} WHERE project = {p} AND id = {p}", deleted),
                (self._postings_sql(), [(self._bind_json(postings),)] if postings else []),
                (f"INSERT INTO {self.HISTORY} ({HISTORY_COLUMNS}) "
                 f"VALUES ({self._marks(12)})", [self._history_params(h) for h in batch.history]),
            ])  # fmt: skip

    def _upsert_sql(self) -> str:
        m = self.MEMORIES
        updates = ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
        return (
            f"INSERT INTO {m} ({COLUMNS}, index_text, source_terms, embedding) "
            f"VALUES ({self._marks(20)}) "
            f"ON CONFLICT (project, id) DO UPDATE SET {updates}, "
            f"embedding = coalesce(excluded.embedding, {m}.embedding)"
        )

    def _postings_delete_sql(self) -> str:
        """Delete the postings of the memories a JSON array (TERM_SOURCE's shape) names, in
        one statement a batch: one a memory, PostgreSQL kept a plan made while the table
        was small, and a bulk load spent most of its time in these deletes."""
        source, project, memory_id, _, _ = self.TERM_SOURCE
        return (
            f"DELETE FROM {self.TERMS} WHERE seq IN (SELECT m.seq FROM {source} "
            f"{self.JOIN_IN_ORDER} {self.MEMORIES} m ON m.project = {project} "
            f"AND m.id = {memory_id})"
        )

    def _postings_sql(self) -> str:
        """Insert a batch's postings, bound as one JSON array (TERM_SOURCE), in key order:
        one memory's terms land all over the postings' b-tree, a sorted batch's in turn
        (100,000 memories written in batches of 2,000 on SQLite: 49.7 s with a statement
        a memory, 40.7 s in one sorted statement a batch)."""
        source, project, memory_id, term, weight = self.TERM_SOURCE
        return (
            f"INSERT INTO {self.TERMS} (term, project, user_id, weight, seq) "
            f"SELECT {term}, m.project, coalesce(m.user_id, ''), {weight}, m.seq "
            f"FROM {source} {self.JOIN_IN_ORDER} {self.MEMORIES} m "
            f"ON m.project = {project} AND m.id = {memory_id} ORDER BY 1, 2, 3, 4, 5"
        )

    def _upsert_params(self, r: MemoryRecord, vector: np.ndarray | None) -> tuple[Any, ...]:
        return (
            r.id, r.project, r.user_id, r.agent_id, r.run_id, r.app_id, r.memory, r.hash,
            self._bind_json(r.metadata), self._bind_json(r.categories), r.created_at,
            r.updated_at, r.expiration_date, str(r.state), r.replaced_by,
            self._bind_json(r.sources), bool(r.immutable), index_text(r.memory),
            source_terms(r.memory, r.sources),
            None if vector is None else self._bind_vector(vector),
        )  # fmt: skip

    def _history_params(self, h: HistoryEntry) -> tuple[Any, ...]:
        return (
            h.id, h.memory_id, str(h.event), h.old_memory, h.new_memory, h.created_at, h.actor,
            h.project, h.user_id, h.agent_id, h.run_id,
            None if h.snapshot is None else self._bind_json(h.snapshot),
        )  # fmt: skip

    def save_settings(self, project: str, settings: dict[str, Any]) -> None:
        p = self.dialect.param()
        with self._db.transaction() as tx:
            tx(
                f"INSERT INTO {self.SETTINGS} (project, data) VALUES ({p}, {p}) "
                "ON CONFLICT (project) DO UPDATE SET data = excluded.data",
                (project, self._bind_json(settings)),
            )

    def reset(self, project: str) -> None:
        p = self.dialect.param()
        with self._db.transaction() as tx:
            tx(f"DELETE FROM {self.TERMS} WHERE seq IN "
               f"(SELECT seq FROM {self.MEMORIES} WHERE project = {p})", (project,))
            for table in (self.MEMORIES, self.HISTORY, self.SETTINGS):
                tx(f"DELETE FROM {table} WHERE project = {p}", (project,))

    # -- reads ------------------------------------------------------------------------

    def _record(self, row: Sequence[Any]) -> MemoryRecord:
        # a search reads ~175 rows: the state by a dict lookup, not the enum's call
        return MemoryRecord(
            id=row[0], project=row[1], user_id=row[2], agent_id=row[3], run_id=row[4],
            app_id=row[5], memory=row[6], hash=row[7], metadata=self._read_json(row[8]),
            categories=self._read_json(row[9]), created_at=row[10], updated_at=row[11],
            expiration_date=row[12], state=_STATES.get(row[13]) or State(row[13]),
            replaced_by=row[14], sources=self._read_json(row[15]), immutable=bool(row[16]),
        )  # fmt: skip

    def get(self, project: str, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        p = self.dialect.param()
        listed, values = self.dialect.any_of("id", ids)
        rows = self._rows(
            f"SELECT {COLUMNS} FROM {self.MEMORIES} WHERE project = {p} AND {listed}",
            (project, *values),
        )
        return [self._record(row) for row in rows]

    def vectors(self, project: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        p = self.dialect.param()
        # in the engine's binary form where it has one: pgvector's text form took 18-20 ms
        # to read 100 vectors, its binary form 4-10 ms (the same floats), and sent in binary
        # rather than as hex text, 2.6 -> 1.4 ms for 93
        vector_sql, read_vector = self._vector_out("embedding")
        listed, values = self.dialect.any_of("id", ids)
        rows = self._rows(
            f"SELECT id, {vector_sql} FROM {self.MEMORIES} WHERE project = {p} "
            f"AND {listed} AND embedding IS NOT NULL",
            (project, *values), binary=True,
        )
        return {i: read_vector(v) for i, v in rows}

    def _where(self, q: Query, *, lasting: bool = False) -> tuple[str, list[Any]]:
        """The WHERE clause of `q` (on memories m) and its parameters. lasting=True: only
        the clauses a row keeps meeting until it is written again (every write is in the
        change log, engram.stores.vector_index): not feedback, which review changes in place,
        nor the expiry, which the clock changes."""
        p = self.dialect.param()
        clauses = [f"m.project = {p}"]
        params: list[Any] = [q.project]
        if q.include_inactive:
            pass
        elif q.superseded:  # the current memories and those newer facts replaced
            clauses.append("m.state IN ('active', 'superseded')")
        else:
            clauses.append("m.state = 'active'")
        if not (q.rejected or lasting):
            clauses.append("(m.feedback IS NULL OR m.feedback <> 'VERY_NEGATIVE')")
        if not (q.include_inactive or q.expired or lasting):
            clauses.append(f"(m.expiration_date IS NULL OR m.expiration_date > {p})")
            params.append(q.now)
        if q.where is not None:
            sql, filter_params = compile_sql(self._prepare(q.where), self.dialect)
            clauses.append(sql)
            params.extend(filter_params)
        return " AND ".join(clauses), params

    def query(self, q: Query) -> list[tuple[MemoryRecord, float | None]]:
        return [(self._record(row[:-1]), _score(row[-1])) for row in self._found(q, M_COLUMNS)]

    def hits(self, q: Query) -> list[tuple[Hit, float | None]]:
        """As `query`, but only what ranking reads of each memory."""
        return [(Hit(*row[:4]), _score(row[4])) for row in self._found(q, HIT_COLUMNS)]

    def _found(self, q: Query, columns: str) -> list[Row]:
        """The rows (`columns` of memories m, then the score) of `query`'s answer."""
        if q.vector is not None and q.keywords is not None:
            raise ValueError("a Query ranks by vector or by keywords, not both")
        if q.keywords is not None:
            return self._matching(q, self._telling(q.keywords), columns)
        where, params = self._where(q)
        p = self.dialect.param()
        if q.vector is None:
            sql = (
                f"SELECT {columns}, NULL FROM {self.MEMORIES} m WHERE {where} "
                # newest first, ties (one add's facts) by id descending, as the dashboard
                # pages: the scope's (created_at, id) index read backwards serves it. With
                # ties by id ascending, one user's 100,000 memories added in one batch were
                # sorted on every page (~500 ms a page; ~1 ms now)
                f"ORDER BY m.created_at DESC, m.id DESC LIMIT {p} OFFSET {p}"
            )
            return self._rows(sql, (*params, q.limit, q.offset))
        return self._nearest(q, where, params, columns)

    def _nearest(self, q: Query, where: str, params: list[Any], columns: str) -> list[Row]:
        """The rows (`columns`, then the cosine similarity) of the memories nearest `q.vector`
        among those `where` keeps, best first, paged by q.limit and q.offset: a big scope's
        page from the binary index (engram.stores.vector_index), which keeps the filter
        exact and reads its candidates' rows as it scores them, else the exact scan."""
        vector = self._bind_vector(q.vector)
        page = self._index.nearest(q, where, params, self._similarity(self._db.mark), vector,
                                   lambda: self._where(q, lasting=True), columns)  # fmt: skip
        if page is not None:
            return page
        ranked, bound = self._exact(q, where, params, vector)
        return self._rows(self._shaped(ranked, "r.score DESC, m.id", columns=columns),
                          (*bound, q.project))  # fmt: skip

    def _exact(
        self, q: Query, where: str, params: list[Any], vector: Any
    ) -> tuple[str, list[Any]]:
        """The exact scan of every row `where` keeps."""
        p = self.dialect.param()
        ranked = (
            f"SELECT m.id, {self._similarity(p)} AS score "
            f"FROM {self.MEMORIES} m WHERE m.embedding IS NOT NULL AND {where} "
            f"ORDER BY score DESC, m.id LIMIT {p} OFFSET {p}"
        )
        return ranked, [vector, *params, q.limit, q.offset]

    def _shaped(self, ranked: str, order: str, lead: str = "", columns: str = M_COLUMNS) -> str:
        """The `columns` of the rows `ranked` (a SELECT of `id, score`, sorted and paged)
        picks: it sorts small (id, score) pairs, and only the rows it keeps are read
        (a search's lists read each ~100 of a scope's rows; carrying every column through
        the sort cost twice the time)."""
        return (
            f"SELECT {lead}{columns}, r.score FROM ({ranked}) r "
            f"{self.JOIN_IN_ORDER} {self.MEMORIES} m "
            f"ON m.project = {self.dialect.param()} AND m.id = r.id "
            f"ORDER BY {order}"
        )

    def keyword_lists(
        self, q: Query, near: np.ndarray | None = None
    ) -> tuple[list[list[tuple[Hit, float | None]]], dict[str, float]]:
        """One list per term of `q.keywords`: the `q.limit` memories holding it with the
        highest weights (engram.lexical.term_weights: the order BM25 gives one term), ties
        newest first; a term too common to tell memories apart (the common-word rule, on
        the counts the triggers keep) has an empty list. With `near`, also each listed
        memory's cosine similarity to it (those with a vector), read with the rows: the
        lists come back from one statement, the rule judged in it.

        When the filter names one user, a list reads that user's postings of the term in
        weight order and stops at its page: its cost does not grow with the term's matches
        (one user's 100,000 memories: all of a search's lists in ~2 ms on SQLite, where
        ranking every match took 5-6 ms a word, and 9 ms a word on PostgreSQL)."""
        words = tuple(dict.fromkeys(q.keywords or ()))
        if not words:
            return [], {}
        parts, params = [], []
        arm, bound = self._term_list_sql(q)
        for k, word in enumerate(words):
            parts.append(f"SELECT * FROM (SELECT {k} AS list_no, {arm}) t{k}")
            params.extend(bound(word))
        ranked = " UNION ALL ".join(parts)
        order = "r.list_no, r.score DESC, r.seq DESC"
        lead, lead_params = "r.list_no, NULL, ", []
        if near is not None:
            similarity = self._similarity(self.dialect.param())
            lead = f"r.list_no, CASE WHEN m.embedding IS NULL THEN NULL ELSE {similarity} END, "
            lead_params = [self._bind_vector(near)]
        rows = self._rows(self._shaped(ranked, order, lead, HIT_COLUMNS),
                          (*lead_params, *params, q.project))  # fmt: skip
        lists: list[list[tuple[Hit, float | None]]] = [[] for _ in words]
        read: dict[str, Hit] = {}  # a memory matching several words is read once
        cosines: dict[str, float] = {}
        for row in rows:
            hit = read.get(row[2])
            if hit is None:
                hit = read[row[2]] = Hit(*row[2:6])
                if row[1] is not None:
                    cosines[hit.id] = float(row[1])
            lists[row[0]].append((hit, _score(row[-1])))
        return [_relative(found, q.offset) for found in lists], cosines

    def _term_list_sql(self, q: Query) -> tuple[str, Callable[[str], list[Any]]]:
        """A word's list (`keyword_lists`): the SELECT's columns after the first, `id, score,
        seq`, and the rest of it; and the parameters for a word. The same for every word:
        the filter is compiled once a search (~40 us each)."""
        where, params = self._where(q)
        p = self.dialect.param()
        user = required_values(q.where).get("user_id")
        same_user, user_params = ((f" AND t.user_id = {p}", [user]) if isinstance(user, str)
                                  else ("", []))  # fmt: skip
        # a filter keeping few of a big scope's rows: its rows, as the vector index keeps
        # them, pass over the postings of the rest without reading their rows
        kept = self._index.kept_clause(q, lambda: self._where(q, lasting=True), "t.seq")
        if kept is not None:
            same_user, user_params = f"{same_user} AND {kept[0]}", [*user_params, *kept[1]]
        # a later page's scores are over the best of all the matches (`_relative`)
        score = "t.weight" if q.offset == 0 else "t.weight / max(t.weight) OVER ()"
        # a common term's list is empty: its limit, read once before the scan, is 0
        common = (f"coalesce((SELECT c.n FROM {self.TERM_COUNTS} c WHERE c.term = {p}), 0) "
                  f"> {self._most_postings()}")  # fmt: skip
        sql = (
            f"m.id, {score} AS score, t.seq FROM (SELECT t.weight, t.seq "
            f"FROM {self.TERMS} t WHERE t.term = {p} AND t.project = {p}{same_user}) t "
            f"{self._posted_rows(where)} ORDER BY t.weight DESC, t.seq DESC "
            f"LIMIT CASE WHEN {common} THEN 0 ELSE {p} END OFFSET {p}"
        )
        return sql, lambda word: [word, q.project, *user_params, *params, word, q.limit,
                                  q.offset]  # fmt: skip

    def _posted_rows(self, where: str) -> str:
        """The rows (m) of postings t that `where` keeps, joined so that t's order drives:
        a list takes the postings best first and stops once its page is full."""
        raise NotImplementedError

    def _matching(self, q: Query, words: tuple[str, ...], columns: str) -> list[Row]:
        """The rows (`columns`, then the score) of the memories matching any of `words`
        (already judged by `_telling`)."""
        if not words:
            return []
        sql, params = self._matching_sql(q, words)
        rows = self._rows(self._shaped(sql, "r.score DESC, m.id", columns=columns),
                          (*params, q.project))  # fmt: skip
        found = _relative([(row[:-1], _score(row[-1])) for row in rows], q.offset)
        return [(*row, score) for row, score in found]

    def _matching_sql(
        self, q: Query, words: tuple[str, ...], lead: str = ""
    ) -> tuple[str, list[Any]]:
        """A SELECT of `lead, id, score` of the memories matching any of `words`, best
        first; see `_relative` for what the scores mean."""
        where, params = self._where(q)
        p = self.dialect.param()
        ft = self._fulltext(words)
        # From the first page the best match's rank is the first row's (`_relative`
        # divides by it); a later page needs the best over all the matching rows, which
        # a window gives at the price of ranking every match twice.
        rank = ft.rank if q.offset == 0 else f"{ft.rank} / max({ft.rank}) OVER ()"
        sql = (
            f"{ft.prelude} SELECT {lead}m.id, {rank} AS score "
            f"FROM {self.MEMORIES} m {ft.join} WHERE {where} "
            f"ORDER BY score DESC, m.id LIMIT {p} OFFSET {p}"
        )
        return sql, [*ft.params, *params, q.limit, q.offset]

    def count(self, q: Query) -> int:
        where, params = self._where(q)
        ft = FullText("", "", [])
        if q.keywords is not None:
            words = self._telling(q.keywords)
            if not words:
                return 0
            ft = self._fulltext(words)
        sql = f"{ft.prelude} SELECT count(*) FROM {self.MEMORIES} m {ft.join} WHERE {where}"
        return self._rows(sql, (*ft.params, *params))[0][0]

    def _telling(self, terms: Sequence[str]) -> tuple[str, ...]:
        """`terms` less the common ones, by the counts the triggers keep (TERM_COUNTS)."""
        terms = tuple(dict.fromkeys(terms))
        if not terms:
            return ()
        listed, params = self.dialect.any_of("c.term", terms)
        common = {term for (term,) in self._rows(
            f"SELECT c.term FROM {self.TERM_COUNTS} c WHERE {listed} "
            f"AND c.n > {self._most_postings()}", params)}  # fmt: skip
        return tuple(t for t in terms if t not in common)

    def _most_postings(self) -> str:
        """SQL of the most memories a telling term may be in (the common-word rule), from
        the number of memories the triggers keep (integer division on both engines)."""
        share = f"({self.TOTAL} * {COMMON_TERM_PERCENT} / 100)"
        least = COMMON_TERM_MIN_MEMORIES
        return f"(CASE WHEN {share} > {least} THEN {share} ELSE {least} END)"

    def entities(self, project: str, now: str) -> list[EntityCount]:
        p = self.dialect.param()
        out: list[EntityCount] = []
        for kind in ENTITY_KINDS:
            rows = self._rows(
                f"SELECT {kind}_id, count(*), min(created_at), max(updated_at) "
                f"FROM {self.MEMORIES} WHERE project = {p} AND {kind}_id IS NOT NULL "
                f"AND state = 'active' AND (expiration_date IS NULL OR expiration_date > {p}) "
                f"GROUP BY {kind}_id ORDER BY {kind}_id",
                (project, now),
            )
            out.extend(EntityCount(kind, *row) for row in rows)
        return out

    def history(self, project: str, memory_id: str) -> list[HistoryEntry]:
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM {self.HISTORY} WHERE project = {p} "
            f"AND memory_id = {p} ORDER BY created_at, {self.HISTORY_ORDER}",
            (project, memory_id),
        )
        return [self._history_entry(r) for r in rows]

    def _history_entry(self, r: Sequence[Any]) -> HistoryEntry:
        snapshot = None if r[11] is None else self._read_json(r[11])
        return HistoryEntry(r[0], r[1], Event(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                            r[10], snapshot)  # fmt: skip

    def history_until(
        self, project: str, until: str, scope: dict[str, str]
    ) -> list[HistoryEntry]:
        """The project's history entries made at or before `until`, oldest first, of the
        memories with these scope ids (user, agent, run: the ids history rows carry)."""
        p = self.dialect.param()
        ids = {k: v for k, v in scope.items() if k in ("user_id", "agent_id", "run_id")}
        same = "".join(f" AND {k} = {p}" for k in ids)
        rows = self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM {self.HISTORY} WHERE project = {p} "
            f"AND created_at <= {p}{same} ORDER BY created_at, {self.HISTORY_ORDER}",
            (project, until, *ids.values()),
        )
        return [self._history_entry(r) for r in rows]

    def expired_ids(self, project: str, now: str, limit: int) -> list[str]:
        """Ids of the project's memories expired at `now` (served by the expiry index)."""
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT id FROM {self.MEMORIES} WHERE project = {p} AND expiration_date <= {p} "
            f"ORDER BY expiration_date, id LIMIT {p}",
            (project, now, limit),
        )
        return [memory_id for (memory_id,) in rows]

    def expired_projects(self, now: str) -> list[str]:
        """The projects holding memories expired at `now` (the expiry index's rows only)."""
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT DISTINCT project FROM {self.MEMORIES} WHERE expiration_date IS NOT NULL "
            f"AND expiration_date <= {p} ORDER BY project",
            (now,),
        )
        return [project for (project,) in rows]

    def settings(self, project: str) -> dict[str, Any]:
        p = self.dialect.param()
        rows = self._rows(f"SELECT data FROM {self.SETTINGS} WHERE project = {p}", (project,))
        return self._read_json(rows[0][0]) if rows else {}


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


def _relative(found: list[tuple[T, float | None]], offset: int) -> list[tuple[T, float | None]]:
    """Full-text scores as the backend's rank over the best match's rank among all the rows
    that match: the best is 1.0, the others proportionally less; comparable within one
    query only. A first page is sorted best first, so its first rank is the best; a later
    page's scores arrive divided already (`_matching_sql`)."""
    if offset or not found:
        return found
    best = found[0][1] or 1.0
    return [(item, None if s is None else s / best) for item, s in found]

