"""SQLite backend: one WAL-mode file holding memories, their vectors, history and settings.

Vectors are compared by sqlite-vec inside SQL (see `engram.stores.database`); full text is
an FTS5 table over each memory's `index_text`, kept by triggers, so every statement that
writes, deletes or purges a memory changes its full-text entry in the same transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engram.private import private_sqlite
from engram.stores.base import Query
from engram.stores.database import connect, loads_json
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

# The first release's memory columns; version 2 keeps them all and adds two.
_V1_MEMORY_COLUMNS = """id TEXT NOT NULL,
    project TEXT NOT NULL,
    user_id TEXT, agent_id TEXT, run_id TEXT, app_id TEXT,
    memory TEXT NOT NULL,
    hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    categories TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expiration_date TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    replaced_by TEXT,
    embedding BLOB"""
_V1 = f"""
CREATE TABLE IF NOT EXISTS memories (
    {_V1_MEMORY_COLUMNS},
    -- ids are unique within a project, so an export imports into any other project
    PRIMARY KEY (project, id)
);
{scope_index_ddl("memories")}CREATE TABLE IF NOT EXISTS history (
    id TEXT NOT NULL,
    memory_id TEXT NOT NULL,
    project TEXT NOT NULL,
    event TEXT NOT NULL,
    old_memory TEXT, new_memory TEXT,
    created_at TEXT NOT NULL,
    actor TEXT,
    user_id TEXT, agent_id TEXT, run_id TEXT,
    PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS history_memory ON history (project, memory_id, created_at);
CREATE TABLE IF NOT EXISTS settings (project TEXT PRIMARY KEY, data TEXT NOT NULL);
"""

# The table is rebuilt (SQLite cannot add a primary key) so that each memory has a stable
# integer key, `seq`: the full-text row's id. An implicit rowid would do, but VACUUM may
# renumber those. The FTS table is contentless: the text lives once, in `index_text`.
# Terms are already normalized (engram.lexical), so the tokenizer only splits on spaces:
# no stemming, and diacritics kept, as PostgreSQL's 'simple' configuration does.
_V1_COLUMNS = (
    "id, project, user_id, agent_id, run_id, app_id, memory, hash, metadata, categories, "
    "created_at, updated_at, expiration_date, state, replaced_by, embedding"
)
_V2 = f"""
CREATE TABLE memories_v2 (
    seq INTEGER PRIMARY KEY,
    {_V1_MEMORY_COLUMNS},
    sources TEXT NOT NULL DEFAULT '[]',
    index_text TEXT NOT NULL DEFAULT '',
    UNIQUE (project, id)
);
INSERT INTO memories_v2 ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM memories;
DROP TABLE memories;
ALTER TABLE memories_v2 RENAME TO memories;
CREATE INDEX memories_user ON memories (project, user_id);
CREATE INDEX memories_agent ON memories (project, agent_id);
CREATE INDEX memories_run ON memories (project, run_id);
CREATE INDEX memories_app ON memories (project, app_id);
CREATE INDEX memories_expiry ON memories (project, expiration_date)
    WHERE expiration_date IS NOT NULL;
CREATE VIRTUAL TABLE memories_fts USING fts5(
    index_text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, index_text) VALUES (new.seq, new.index_text);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF index_text ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.seq;
    INSERT INTO memories_fts (rowid, index_text) VALUES (new.seq, new.index_text);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memories_fts WHERE rowid = old.seq;
END;
"""

# Feedback on a memory (Memory.feedback), and the newest-first order the dashboard pages by
# (covering the visibility columns, so a page or a count reads no row it does not show), and
# one user's memories in that order (without it a user's page scanned the whole project).
_V3 = """
ALTER TABLE memories ADD COLUMN feedback TEXT;
ALTER TABLE memories ADD COLUMN feedback_reason TEXT;
CREATE INDEX memories_created ON memories (project, created_at, id, state, expiration_date);
DROP INDEX memories_user;
CREATE INDEX memories_user ON memories (project, user_id, created_at, id);
"""
# The category lists, covering the visibility columns: the quality page's per-category counts
# read the index alone (100,000 memories: from reading every row to the index).
_V4 = """
CREATE INDEX memories_categories ON memories (project, categories, state, expiration_date);
"""

# 5: immutable memories (add's `immutable`) and a snapshot of the memory in each history
# entry (what engram.timeline reads the past from, and history's `input`/`categories`)
_V5 = """
ALTER TABLE memories ADD COLUMN immutable INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN snapshot TEXT;
"""

# 6: the change log engram.stores.vector_index follows (its binary index of big scopes):
# the seq of every memory inserted, deleted, or updated in what the index keeps (vector,
# scope) or loads by (created_at), from any connection; the oldest beyond LOG_KEEP go.
_V6 = f"""
CREATE TABLE vector_changes (tick INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL);
CREATE TRIGGER memories_vector_insert AFTER INSERT ON memories BEGIN
    INSERT INTO vector_changes (seq) VALUES (new.seq);
    DELETE FROM vector_changes WHERE tick <= last_insert_rowid() - {LOG_KEEP};
END;
CREATE TRIGGER memories_vector_update
AFTER UPDATE OF embedding, created_at, project, user_id, agent_id, run_id, app_id ON memories
BEGIN
    INSERT INTO vector_changes (seq) VALUES (new.seq);
    DELETE FROM vector_changes WHERE tick <= last_insert_rowid() - {LOG_KEEP};
END;
CREATE TRIGGER memories_vector_delete AFTER DELETE ON memories BEGIN
    INSERT INTO vector_changes (seq) VALUES (old.seq);
    DELETE FROM vector_changes WHERE tick <= last_insert_rowid() - {LOG_KEEP};
END;
"""

# 7: one user's visibility and filter columns, so a filtered search decides which of the
# user's memories pass from this index alone and reads only those rows (one user's 100,000
# memories, category and metadata filter: the filter read every row, ~150 ms; ~15 ms here).
_V7 = """
CREATE INDEX memories_user_filters
    ON memories (project, user_id, state, feedback, expiration_date, categories, metadata);
"""
# 8: each row's visibility and scope by its seq, so a keyword list judges its matches
# without reading their rows (~2 KB each with the vector): KEYWORD_ROWS.
_V8 = """
CREATE INDEX memories_seq_visible ON memories
    (seq, project, id, state, feedback, expiration_date, user_id, agent_id, run_id, app_id,
     created_at);
"""
# A keyword list's matches are judged on an index by seq (SQLite prefers the table for a
# rowid lookup); with one user's 100,000 memories a word's list took ~7-12 ms, ~5-6 here.
# Version 9 widens it with the filter columns (below).
KEYWORD_ROWS = "INDEXED BY memories_seq_filters"
# 9: the keyword postings (engram.stores.sql's TERMS), written with each memory; `seq`'s
# index finds a memory's postings when it is rewritten or deleted. The number of memories,
# kept by triggers: a search reads it (the common-word rule), and counting one user's 100,000
# memories took 1.5 ms of each search. And version 8's index by seq with the categories and
# metadata too, so a list under a filter on them judges each posting without its row
# (one user's 100,000 memories, category + metadata filter: a search's lists 30 -> 21 ms).
_V9 = """
DROP INDEX memories_seq_visible;
CREATE INDEX memories_seq_filters ON memories
    (seq, project, id, state, feedback, expiration_date, user_id, agent_id, run_id, app_id,
     created_at, categories, metadata);
CREATE TABLE memory_terms (
    term TEXT NOT NULL, project TEXT NOT NULL, user_id TEXT NOT NULL,
    weight REAL NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (term, project, user_id, weight, seq)
) WITHOUT ROWID;
CREATE INDEX memory_terms_seq ON memory_terms (seq);
CREATE TABLE memory_total (n INTEGER NOT NULL);
INSERT INTO memory_total (n) SELECT count(*) FROM memories;
CREATE TRIGGER memories_total_insert AFTER INSERT ON memories BEGIN
    UPDATE memory_total SET n = n + 1;
END;
CREATE TRIGGER memories_total_delete AFTER DELETE ON memories BEGIN
    UPDATE memory_total SET n = n - 1;
END;
"""

# 10: what ranking reads of a memory besides its terms (engram.models.Hit): search reads
# a candidate's id, time and words only, not its JSON columns
_V10 = """
ALTER TABLE memories ADD COLUMN source_terms TEXT NOT NULL DEFAULT '';
"""

# 11: each term's number of postings, kept by triggers, so the common-word rule
# (engram.stores.sql's `_most_postings`) reads a count instead of counting: a common word's
# postings took ~0.7 ms to count on SQLite with one user's 100,000 memories, ~2 ms on
# PostgreSQL, on each search naming a word not seen lately.
_V11 = """
CREATE TABLE memory_term_counts (term TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO memory_term_counts (term, n) SELECT term, count(*) FROM memory_terms GROUP BY term;
CREATE TRIGGER memory_terms_counted_insert AFTER INSERT ON memory_terms BEGIN
    INSERT INTO memory_term_counts (term, n) VALUES (new.term, 1)
        ON CONFLICT (term) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER memory_terms_counted_delete AFTER DELETE ON memory_terms BEGIN
    UPDATE memory_term_counts SET n = n - 1 WHERE term = old.term;
END;
"""

MIGRATIONS = (
    Migration(1, _V1),
    Migration(2, _V2, backfill_index_text("memories", ("seq",), "?")),
    Migration(3, _V3),
    Migration(4, _V4),
    Migration(5, _V5),
    Migration(6, _V6),
    Migration(7, _V7),
    Migration(8, _V8),
    Migration(9, _V9, backfill_terms("memories", "memory_terms", "?")),
    Migration(10, _V10, backfill_source_terms("memories", "?", loads_json)),
    Migration(11, _V11),
)
# PRAGMA user_version, which the first release already wrote.
VERSION = VersionSlot(
    read=lambda tx: tx("PRAGMA user_version")[0][0],
    write=lambda tx, version: tx(f"PRAGMA user_version = {int(version)}"),
)


# Category names whose JSON form is the name in quotes, whatever wrote it (json.dumps escapes
# non-ASCII, SQLite's json functions do not; quotes and backslashes are escaped): the only
# ones whose stored text a filter may search for directly
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 _.:/+&'-]*")


class SQLiteDialect:
    def param(self) -> str:
        return "?"

    def metadata_value(self, key: str) -> str:
        return f"json_extract(m.metadata, {_json_path(key)})"

    def metadata_text(self, key: str) -> str:
        return f"CAST(json_extract(m.metadata, {_json_path(key)}) AS TEXT)"

    def categories_any(self, names: list[str], bind: Callable[[Any], str]) -> str:
        # The stored JSON text is searched first (instr), where each name's JSON form is
        # certain: most rows hold none of the names and are rejected without json_each,
        # which took most of a category filter's scan (one user's 100,000 memories: 28-32
        # -> 16-23 ms). json_each then decides exactly.
        quick = ""
        if all(isinstance(n, str) and _PLAIN_NAME.fullmatch(n) for n in names):
            seen = " OR ".join(f"instr(m.categories, {bind(json.dumps(n))}) > 0" for n in names)
            quick = f"({seen}) AND "
        exact = ", ".join(bind(n) for n in names)
        return (
            f"({quick}EXISTS (SELECT 1 FROM json_each(m.categories) AS c "
            f"WHERE c.value IN ({exact})))"
        )

    def distinct_from(self, left: str, right: str) -> str:
        return f"({left} IS NOT {right})"

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def contains(self, haystack: str, needle: str) -> str:
        return f"(instr({haystack}, {needle}) > 0)"


class SQLiteStore(SQLStore):
    dialect = SQLiteDialect()
    MEMORIES, HISTORY, SETTINGS, HISTORY_ORDER = "memories", "history", "settings", "rowid"
    TERMS = "memory_terms"
    TERM_SOURCE = ("json_each(?) j", "j.value ->> 0", "j.value ->> 1", "j.value ->> 2",
                   "j.value ->> 3")  # fmt: skip
    TOTAL = "(SELECT n FROM memory_total)"
    TERM_COUNTS = "memory_term_counts"
    # SQLite pushes a join into each arm of a UNION ALL and may then scan the project's
    # rows to probe the few ranked ones; CROSS JOIN keeps its tables in the written order
    JOIN_IN_ORDER = "CROSS JOIN"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        private_sqlite(self.path)  # memories are personal: owner-only, -wal/-shm included
        self._db = connect(self.path)
        try:
            migrate(self._db, MIGRATIONS, VERSION)
        except BaseException:
            self._db.close()
            raise
        self._index = VectorIndex(self._db, self.MEMORIES)

    def _exact(
        self, q: Query, where: str, params: list[Any], vector: bytes
    ) -> tuple[str, list[Any]]:
        """The exact scan, with no term on `embedding` in its WHERE: such a term made SQLite
        read each row of the scope before the filter, where an index holding the filter's
        columns (memories_user_filters) decides alone. A row without a vector scores NULL,
        which sorts after every score, and leaves after the page: the same page."""
        ranked = (
            f"SELECT id, score FROM (SELECT m.id, CASE WHEN m.embedding IS NULL THEN NULL "
            f"ELSE {self._similarity('?')} END AS score FROM {self.MEMORIES} m WHERE {where} "
            f"ORDER BY score DESC, m.id LIMIT ? OFFSET ?) WHERE score IS NOT NULL"
        )
        return ranked, [vector, *params, q.limit, q.offset]

    def _similarity(self, mark: str) -> str:
        return f"1.0 - vec_distance_cosine(m.embedding, {mark})"

    def _posted_rows(self, where: str) -> str:
        return f"CROSS JOIN memories m {KEYWORD_ROWS} ON m.seq = t.seq WHERE {where}"

    def _fulltext(self, terms: Sequence[str]) -> FullText:
        # bm25() is lower for better matches, and below 0 for every match (FTS5 floors
        # each term's idf above 0), so its negation is a positive rank.
        match = " OR ".join(_phrase(t) for t in terms)
        join = (
            f"{KEYWORD_ROWS} JOIN (SELECT rowid AS seq, -bm25(memories_fts) AS rank "
            "FROM memories_fts WHERE memories_fts MATCH ?) f ON f.seq = m.seq"
        )
        return FullText(join, "f.rank", [match])

    def _json_length(self, column: str) -> str:
        return f"json_array_length({column})"

    def _vector_out(self, column: str) -> tuple[str, Callable[[Any], np.ndarray]]:
        return column, self._read_vector

    def _bind_vector(self, vector: np.ndarray) -> bytes:
        return np.asarray(vector, dtype=np.float32).tobytes()

    def _read_vector(self, value: bytes) -> np.ndarray:
        return np.frombuffer(value, dtype=np.float32)

    def _bind_json(self, value: Any) -> str:
        return json.dumps(value)

    def _read_json(self, value: str) -> Any:
        # most memories have no metadata or categories: skip the parser for those
        return {} if value == "{}" else [] if value == "[]" else loads_json(value)


def _phrase(term: str) -> str:
    """A term as an FTS5 string: matched as written, whatever characters it holds."""
    return '"' + term.replace('"', '""') + '"'


def _json_path(key: str) -> str:
    # Quote the key so dots and spaces inside metadata keys are not read as JSON path syntax.
    escaped = key.replace('"', '\\"').replace("'", "''")
    return f"'$.\"{escaped}\"'"
