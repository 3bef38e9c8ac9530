"""PostgreSQL + pgvector backend: the same rows, filters and ranking as the SQLite store.

Several Engram processes can share one database: every write batch is one transaction,
upserts resolve conflicts by primary key, and schema creation is serialised by an
advisory lock so two processes starting at once do not race on CREATE TABLE.

Behaviour is kept identical to SQLite on purpose:
- timestamps are the same canonical ISO text (`engram.models.iso`), so date filters
  compare the same strings; text columns use COLLATE "C" (byte order, like SQLite's BINARY
  collation, and `lower()` folds ASCII only, like SQLite's);
- metadata comparisons go through a sort key that orders like SQLite's json_extract values:
  booleans are 0/1, numbers compare numerically, any string sorts above any number, and
  strings compare in byte order whatever the database's collation (see `_sort_key`).
Vectors are stored in an unconstrained `vector` column and ranked by an exact scan, or for
a big scope by the same in-process binary index as on SQLite (engram.stores.vector_index),
which keeps filters exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engram.filters import And, Node, Not, Or
from engram.stores.database import POSTGRES_EXTRA, Tx, connect
from engram.stores.locks import Lock
from engram.stores.migrations import (
    Migration,
    VersionSlot,
    backfill_index_text,
    backfill_source_terms,
    backfill_terms,
    migrate,
)
from engram.stores.sql import FullText, SQLStore, scope_index_ddl
from engram.stores.vector_index import LOG_KEEP, VectorIndex

try:
    from psycopg.types.json import Jsonb
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(POSTGRES_EXTRA) from exc

_V1 = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS engram_memories (
    id text COLLATE "C" NOT NULL,
    project text COLLATE "C" NOT NULL,
    user_id text COLLATE "C", agent_id text COLLATE "C",
    run_id text COLLATE "C", app_id text COLLATE "C",
    memory text COLLATE "C" NOT NULL,
    hash text COLLATE "C" NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    categories jsonb NOT NULL DEFAULT '[]',
    created_at text COLLATE "C" NOT NULL,
    updated_at text COLLATE "C" NOT NULL,
    expiration_date text COLLATE "C",
    state text COLLATE "C" NOT NULL DEFAULT 'active',
    replaced_by text COLLATE "C",
    embedding vector,
    PRIMARY KEY (project, id)
);
""" + scope_index_ddl("engram_memories") + """CREATE TABLE IF NOT EXISTS engram_history (
    id text COLLATE "C" NOT NULL,
    memory_id text COLLATE "C" NOT NULL,
    project text COLLATE "C" NOT NULL,
    event text NOT NULL,
    old_memory text, new_memory text,
    created_at text COLLATE "C" NOT NULL,
    actor text,
    user_id text, agent_id text, run_id text,
    seq bigint GENERATED ALWAYS AS IDENTITY,  -- insertion order, like SQLite's rowid
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS engram_history_memory
    ON engram_history (project, memory_id, created_at, seq);
CREATE TABLE IF NOT EXISTS engram_settings (
    project text COLLATE "C" PRIMARY KEY,
    data jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS engram_schema (version integer NOT NULL);
"""

# The full-text vector is generated from `index_text` (terms already normalized by
# engram.lexical), so the 'simple' configuration only splits on spaces: no stemming, no
# stopwords, like SQLite's FTS5 table. Generated in the row itself: every write, delete or
# purge of a memory changes it in the same statement. fastupdate is off: with it, fresh rows
# wait in a pending list that every search scans (10,000 memories: keyword query p50 27 ms
# with it, 4.4 ms without; writes 0.16 -> 0.20 ms a memory).
_V2 = """
ALTER TABLE engram_memories
    ADD COLUMN sources jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN index_text text NOT NULL DEFAULT '',
    ADD COLUMN fts tsvector GENERATED ALWAYS AS (to_tsvector('simple', index_text)) STORED;
CREATE INDEX engram_memories_fts ON engram_memories USING gin (fts) WITH (fastupdate = off);
DROP INDEX IF EXISTS engram_memories_expiry;
CREATE INDEX engram_memories_expiry ON engram_memories (project, expiration_date)
    WHERE expiration_date IS NOT NULL;
"""

# Feedback on a memory (Memory.feedback), and the newest-first order the dashboard pages by
# (covering the visibility columns, so a page or a count reads no row it does not show), and
# one user's memories in that order (without it a user's page scanned the whole project).
_V3 = """
ALTER TABLE engram_memories ADD COLUMN feedback text COLLATE "C",
    ADD COLUMN feedback_reason text;
CREATE INDEX engram_memories_created ON engram_memories (project, created_at, id)
    INCLUDE (state, expiration_date);
DROP INDEX engram_memories_user;
CREATE INDEX engram_memories_user ON engram_memories (project, user_id, created_at, id);
"""
# The category lists, covering the visibility columns: the quality page's per-category counts
# read the index alone (100,000 memories: from reading every row to the index).
_V4 = """
CREATE INDEX engram_memories_categories ON engram_memories (project, categories)
    INCLUDE (state, expiration_date);
"""

# 5: as SQLite's (engram/stores/sqlite.py)
_V5 = """
ALTER TABLE engram_memories ADD COLUMN immutable boolean NOT NULL DEFAULT false;
ALTER TABLE engram_history ADD COLUMN snapshot jsonb;
"""

# 6: a row key for each memory (`seq`, as SQLite's rowid) and the change log
# engram.stores.vector_index follows (its binary index of big scopes): the seq of every memory
# inserted, deleted, or updated in what the index keeps (vector, scope) or loads by
# (created_at), from any connection, as SQLite's version 6; the oldest beyond LOG_KEEP go.
# A reader takes every tick up to the highest it sees as applied, so ticks must become
# visible in their order: a writer logs at commit (a deferred trigger) under an advisory
# lock held until its commit ends, so no smaller tick can commit after a larger one.
# It prunes every PRUNE_EVERY ticks, not every tick: a transaction's own deleted rows stay in
# the index until it ends, so pruning one a row made each prune step over all the earlier
# ones (100,000 memories in batches of 2,000: 68 s to write, 11 s without the log).
PRUNE_EVERY = 1_000
# The one row of the number of memories (version 9 on: keyed, so one page is read for it).
TOTAL_ROW = " WHERE id = 1"


def _vector_changed(*, counted: bool, keyed: bool = True) -> str:
    """The log's trigger function; `counted` (version 7 on): it also keeps the number of
    memories (engram_memory_total) for inserts and deletes, at commit under the same lock,
    so writers queue on that row no longer than they already queue on the log; `keyed`
    (version 9 on): that row is found by its key."""
    row = TOTAL_ROW if keyed else ""
    count = (
        "    IF TG_OP <> 'UPDATE' THEN\n"
        f"        UPDATE engram_memory_total SET n = n + CASE WHEN TG_OP = 'INSERT' THEN 1 "
        f"ELSE -1 END{row};\n    END IF;\n"
    ) if counted else ""
    return f"""CREATE OR REPLACE FUNCTION engram_vector_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    logged bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({int(Lock.VECTOR_CHANGES)});
    INSERT INTO engram_vector_changes (seq)
        VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.seq ELSE NEW.seq END)
        RETURNING tick INTO logged;
    IF mod(logged, {PRUNE_EVERY}) = 0 THEN
        DELETE FROM engram_vector_changes WHERE tick <= logged - {LOG_KEEP};
    END IF;
{count}    RETURN NULL;
END $$;
"""


_V6 = f"""
ALTER TABLE engram_memories ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX engram_memories_seq ON engram_memories (seq);
CREATE TABLE engram_vector_changes (
    tick bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq bigint NOT NULL
);
{_vector_changed(counted=False)}
CREATE CONSTRAINT TRIGGER engram_memories_vector_insert AFTER INSERT ON engram_memories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION engram_vector_changed();
CREATE CONSTRAINT TRIGGER engram_memories_vector_update
    AFTER UPDATE OF embedding, created_at, project, user_id, agent_id, run_id, app_id
    ON engram_memories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION engram_vector_changed();
CREATE CONSTRAINT TRIGGER engram_memories_vector_delete AFTER DELETE ON engram_memories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION engram_vector_changed();
"""

# 7: the keyword postings (engram.stores.sql's TERMS), as SQLite's version 9; one user's
# filter columns, as SQLite's version 7, so a filter's rows are found from the index alone
# (engram.stores.vector_index ranks them by their codes: one user's 100,000 memories with
# a category and a metadata filter, search p50 160 -> 119 ms). And vectors kept in the row
# (storage MAIN: moved out only if the row cannot fit otherwise): a row of ~2.2 KB passed
# the 2 KB toast target, so its largest column, the vector, went to the TOAST table and
# each distance computed fetched it from there (400 candidates scored:
# 5.2 ms, 2.1 ms inline; one user's 100,000 memories, search p50 32 -> 27 ms). Rows written
# before keep their vectors where they are until rewritten (VACUUM FULL moves them all).
# And the number of memories, as SQLite's version 9 (counting 100,000 took 20-35 ms).
_V7 = """
ALTER TABLE engram_memories ALTER COLUMN embedding SET STORAGE MAIN;
CREATE TABLE engram_memory_terms (
    term text COLLATE "C" NOT NULL, project text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL, weight float8 NOT NULL, seq bigint NOT NULL,
    PRIMARY KEY (term, project, user_id, weight, seq)
);
CREATE INDEX engram_memory_terms_seq ON engram_memory_terms (seq);
CREATE INDEX engram_memories_user_filters ON engram_memories (project, user_id, state)
    INCLUDE (feedback, expiration_date, categories, metadata, seq);
CREATE TABLE engram_memory_total (n bigint NOT NULL);
INSERT INTO engram_memory_total (n) SELECT count(*) FROM engram_memories;
""" + _vector_changed(counted=True, keyed=False)

# 8: a narrow index to count one user's memories (a page's total in get_all): for a user
# with 100,000 memories PostgreSQL read the whole table (a parallel seq scan, 55-58 ms; the
# wide user_filters index, whose INCLUDE carries metadata, was not chosen), the index alone
# takes 21-25 ms. Adds with it: p50 6.4-6.6 ms against 6.0-6.6 without, within noise.
_V8 = """
CREATE INDEX engram_memories_user_count ON engram_memories (project, user_id, state,
    expiration_date) INCLUDE (feedback);
"""

# 9: the number of memories in a keyed row. The deferred trigger updates it once per row
# written, so a batch of 2,000 adds leaves 2,000 versions of it; unkeyed, every update and
# every search's read scanned them all (one user's 100,000 memories: 353 pages, read twice a
# search). Keyed, and with room on its page for the next versions, each touches one page.
_V9 = f"""
CREATE TABLE engram_memory_total_v9 (id smallint PRIMARY KEY CHECK (id = 1), n bigint NOT NULL)
    WITH (fillfactor = 10);
INSERT INTO engram_memory_total_v9 (id, n) SELECT 1, count(*) FROM engram_memories;
DROP TABLE engram_memory_total;
ALTER TABLE engram_memory_total_v9 RENAME TO engram_memory_total;
ALTER INDEX engram_memory_total_v9_pkey RENAME TO engram_memory_total_pkey;
{_vector_changed(counted=True)}"""

# 10: as SQLite's version 10 (a search's 120 candidates read whole: 3.1-3.3 ms; their id,
# time and words: 1.2)
_V10 = """
ALTER TABLE engram_memories ADD COLUMN source_terms text NOT NULL DEFAULT '';
"""

# 11: as SQLite's version 11. Statement triggers: one upsert a write, not one a posting.
# A write that only adds postings takes its count rows in one statement, in term order, so
# such writes never wait on each other in a cycle; they share the TERM_COUNTS lock. A write
# that also removes postings (a rewrite, a delete) takes count rows in two statements: it
# holds that lock alone, from its first removal to its commit, so no other write holds count
# rows it has yet to take. Writers then queue at commit for the change log as before
# (VECTOR_CHANGES, always taken after this one). A page of counts has room for the next
# versions of its hot rows (fillfactor).
_V11 = f"""
CREATE TABLE engram_memory_term_counts (term text COLLATE "C" PRIMARY KEY, n bigint NOT NULL)
    WITH (fillfactor = 50);
INSERT INTO engram_memory_term_counts (term, n)
    SELECT term, count(*) FROM engram_memory_terms GROUP BY term;
CREATE FUNCTION engram_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({int(Lock.TERM_COUNTS)});
    INSERT INTO engram_memory_term_counts AS c (term, n)
        SELECT term, count(*) FROM added GROUP BY term ORDER BY term
        ON CONFLICT (term) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;
CREATE FUNCTION engram_terms_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM removed) THEN
        PERFORM pg_advisory_xact_lock({int(Lock.TERM_COUNTS)});
        UPDATE engram_memory_term_counts AS c SET n = c.n - r.k
            FROM (SELECT term, count(*) AS k FROM removed GROUP BY term) r
            WHERE c.term = r.term;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER engram_memory_terms_added AFTER INSERT ON engram_memory_terms
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION engram_terms_added();
CREATE TRIGGER engram_memory_terms_removed AFTER DELETE ON engram_memory_terms
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION engram_terms_removed();
"""

MIGRATIONS = (
    Migration(1, _V1),
    Migration(2, _V2, backfill_index_text("engram_memories", ("project", "id"), "%s")),
    Migration(3, _V3),
    Migration(4, _V4),
    Migration(5, _V5),
    Migration(6, _V6),
    Migration(7, _V7, backfill_terms("engram_memories", "engram_memory_terms", "%s")),
    Migration(8, _V8),
    Migration(9, _V9),
    Migration(10, _V10, backfill_source_terms("engram_memories", "%s", lambda v: v)),
    Migration(11, _V11),
)


def _read_version(tx: Tx) -> int:
    if tx("SELECT to_regclass('engram_schema')")[0][0] is None:
        return 0
    return tx("SELECT coalesce(max(version), 0) FROM engram_schema")[0][0]


def _write_version(tx: Tx, version: int) -> None:
    tx("DELETE FROM engram_schema")
    tx("INSERT INTO engram_schema (version) VALUES (%s)", (version,))


VERSION = VersionSlot(_read_version, _write_version)


# ---------------------------------------------------------------------------- filters


def _literal(key: str) -> str:
    # Keys are inlined (the filter compiler binds only values); standard_conforming_strings
    # is on in every supported PostgreSQL, so doubling quotes is the whole escaping.
    return "'" + key.replace("'", "''") + "'"


def _sort_key(value: str) -> str:
    """A jsonb value that orders the way SQLite orders json_extract() results.

    Numbers stay numbers; booleans become 0/1; strings (and objects/arrays, as JSON text)
    become a one-element array holding their UTF-8 bytes in hex. jsonb sorts any array
    above any number, as SQLite sorts text above numbers, and hex digits sort the same in
    every collation, so string comparisons are byte order like SQLite's. JSON null is NULL.
    """
    return (
        f"(CASE jsonb_typeof({value}) "
        f"WHEN 'number' THEN {value} "
        f"WHEN 'boolean' THEN to_jsonb(CASE WHEN {value} = 'true'::jsonb THEN 1 ELSE 0 END) "
        f"WHEN 'string' THEN jsonb_build_array(encode(convert_to({value} #>> '{{}}', 'UTF8'), "
        "'hex')) "
        f"WHEN 'object' THEN jsonb_build_array(encode(convert_to({value}::text, 'UTF8'), 'hex')) "
        f"WHEN 'array' THEN jsonb_build_array(encode(convert_to({value}::text, 'UTF8'), 'hex')) "
        "END)"  # JSON null and a missing key fall through to SQL NULL
    )


def _param_key(value: Any) -> Any:
    """The bound-parameter side of `_sort_key`."""
    if value is None:
        return None  # SQL NULL: "= NULL" never matches, as in SQLite
    if isinstance(value, bool):
        return Jsonb(int(value))
    if isinstance(value, (int, float)):
        return Jsonb(value)
    return Jsonb([str(value).encode("utf-8").hex()])


class PostgresDialect:
    def param(self) -> str:
        return "%s"

    def metadata_value(self, key: str) -> str:
        return _sort_key(f"(m.metadata -> {_literal(key)})")

    def metadata_text(self, key: str) -> str:
        # The text SQLite's CAST(json_extract(...) AS TEXT) gives: booleans read as 1/0.
        value = f"(m.metadata -> {_literal(key)})"
        return (
            f"((CASE jsonb_typeof({value}) WHEN 'boolean' THEN "
            f"(CASE WHEN {value} = 'true'::jsonb THEN '1' ELSE '0' END) "
            f"ELSE {value} #>> '{{}}' END) COLLATE \"C\")"
        )

    def categories_any(self, names: list[str], bind: Callable[[Any], str]) -> str:
        return f"(m.categories ?| ARRAY[{', '.join(bind(n) for n in names)}]::text[])"

    def distinct_from(self, left: str, right: str) -> str:
        return f"({left} IS DISTINCT FROM {right})"

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        # one array parameter: 120 ids as 120 parameters took 8.6 ms a read, as one 0.8
        return f"{column} = ANY(%s)", [list(values)]

    def contains(self, haystack: str, needle: str) -> str:
        return f"(strpos({haystack}, {needle}) > 0)"


def _typed_values(node: Node) -> Node:
    """Wrap the values of metadata comparisons as jsonb sort keys (see `_sort_key`).

    The compiler binds condition values as given; only metadata comparisons need jsonb
    parameters, and only this backend knows that, so the tree is rewritten before compiling.
    """
    if isinstance(node, (And, Or)):
        return type(node)(tuple(_typed_values(c) for c in node.children))
    if isinstance(node, Not):
        return Not(_typed_values(node.child))
    if node.metadata_key is None or node.op in ("exists", "contains", "icontains"):
        return node
    if node.op in ("in", "nin"):
        return dataclasses.replace(node, value=tuple(_param_key(v) for v in node.value))
    return dataclasses.replace(node, value=_param_key(node.value))


class PostgresStore(SQLStore):
    dialect = PostgresDialect()
    MEMORIES, HISTORY, SETTINGS = "engram_memories", "engram_history", "engram_settings"
    HISTORY_ORDER = "seq"
    TERMS = "engram_memory_terms"
    TERM_SOURCE = ("jsonb_array_elements(%s) j(v)", "j.v ->> 0", "j.v ->> 1", "j.v ->> 2",
                   "CAST(j.v ->> 3 AS float8)")  # fmt: skip
    TOTAL = f"(SELECT n FROM engram_memory_total{TOTAL_ROW})"
    TERM_COUNTS = "engram_memory_term_counts"

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = connect(url)
        try:
            migrate(self._db, MIGRATIONS, VERSION)
        except BaseException:
            self._db.close()  # a failed open must not leave the pool retrying
            raise
        self._index = VectorIndex(self._db, self.MEMORIES)

    def _similarity(self, mark: str) -> str:
        return f"1.0 - (m.embedding <=> {mark})"

    def _posted_rows(self, where: str) -> str:
        # a fenced LATERAL: the planner's estimate of a filter's share (a category and a
        # metadata value: 0.04% of one user's 100,000 memories, where 6% passed) made it scan
        # the user's every row and probe the postings of each (~45 ms a word, not ~2)
        return (f"CROSS JOIN LATERAL (SELECT m.id FROM {self.MEMORIES} m "
                f"WHERE m.seq = t.seq AND {where} OFFSET 0) m")  # fmt: skip

    def _fulltext(self, terms: Sequence[str]) -> FullText:
        # The query is built from the terms as they are (quoted lexemes), not parsed again.
        # ts_rank knows nothing of rarity, so each matched term's ts_rank (its frequency in
        # the memory over 1 + log(length)) is weighted by the term's BM25 idf,
        # ln(1 + (N - df + 0.5) / (df + 0.5)), counted over the whole table as FTS5 does: a
        # memory sharing the query's rare word outranks one sharing only a common word, as
        # on SQLite. The weights are computed once per query (a materialized CTE): df from
        # the keyword postings (an index range per term, not a heap read per match), N the
        # number of memories the triggers keep (engram_memory_total); never below df.
        lexemes = [_lexeme(t) for t in terms]
        prelude = (
            "WITH fq AS MATERIALIZED (SELECT CAST(%s AS tsquery) AS q, array_agg(w.q) AS qs, "
            "array_agg(ln(1 + (greatest(n.total, w.df) - w.df + 0.5) / (w.df + 0.5))) AS idfs "
            "FROM (SELECT CAST(x AS tsquery) AS q, (SELECT count(*) FROM engram_memory_terms t "
            "WHERE t.term = y) AS df "
            "FROM unnest(CAST(%s AS text[]), CAST(%s AS text[])) AS u(x, y)) w, "
            f"(SELECT n AS total FROM engram_memory_total{TOTAL_ROW}) n)"
        )
        rank = (
            "(SELECT sum(t.idf * ts_rank(m.fts, t.q, 1)) "
            "FROM unnest(fq.qs, fq.idfs) AS t(q, idf) WHERE m.fts @@ t.q)"
        )
        join = "JOIN fq ON m.fts @@ fq.q"
        return FullText(join, rank, [" | ".join(lexemes), lexemes, list(terms)], prelude)

    def _json_length(self, column: str) -> str:
        return f"jsonb_array_length({column})"

    def _vector_out(self, column: str) -> tuple[str, Callable[[Any], np.ndarray]]:
        # pgvector's binary form: int16 dimensions, int16 unused, then big-endian float4s
        return f"vector_send({column})", _vector_from_send


    def _bind_vector(self, vector: np.ndarray) -> np.ndarray:
        return np.asarray(vector, dtype=np.float32)

    def _read_vector(self, value: Any) -> np.ndarray:
        return value.to_numpy().astype(np.float32, copy=False)

    def _bind_json(self, value: Any) -> Any:
        return Jsonb(value)

    def _read_json(self, value: Any) -> Any:
        return value  # psycopg decodes jsonb

    def _prepare(self, where: Node) -> Node:
        return _typed_values(where)


def _vector_from_send(value: bytes) -> np.ndarray:
    return np.frombuffer(value, dtype=">f4", offset=4).astype(np.float32)


def _lexeme(term: str) -> str:
    """A term as a quoted tsquery lexeme: matched as written, not parsed again."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


__all__ = ["PostgresDialect", "PostgresStore"]
