"""Schema versions of Engram's tables, and the steps between them: the memory tables (per
backend, below) and the server's own (keys, projects, queued adds: `engram.server.state`).

Each backend lists its steps (`Migration`: the DDL of one version, plus an optional Python
backfill for what SQL cannot compute, such as the full-text terms). Opening a store reads the
stored version and, in one transaction under the schema lock, runs every step above it:
a fresh database runs them all, an older one is brought up to date in place, and a database
written by a newer Engram is refused (`SchemaVersionError`) rather than misread.

Versions:
  1  the first release: memories (with vectors), history, settings
  2  `sources` (provenance, JSON) and `index_text` on memories, and a full-text index over
     `index_text` kept by the database itself (SQLite: FTS5 + triggers; PostgreSQL: a
     generated tsvector + GIN); existing memories are backfilled
  3  `feedback` and `feedback_reason` on memories (POSITIVE / NEGATIVE / VERY_NEGATIVE),
     and an index on (project, created_at, id) for the dashboard's keyset pages
  4  an index on (project, categories) for the dashboard's per-category counts
  5  `immutable` on memories; `snapshot` (the memory as it stood after the change, JSON) on
     history, which point-in-time reads (engram.timeline) and history's `input` read
  6  the change log of vectors (`vector_changes`, filled by triggers) that the in-process
     binary index of big scopes follows (engram.stores.vector_index); PostgreSQL also gains
     `seq`, a row key like SQLite's rowid
  7  (SQLite) an index on one user's filter columns
  8  (SQLite) an index of each row's visibility and scope by seq, for the keyword lists
  9  (PostgreSQL: 7) the keyword postings (`memory_terms`): each memory's terms with their
     weights, kept in weight order per term, project and user, which the per-word keyword
     lists read (engram.stores.sql); existing memories are backfilled. The number of
     memories, kept by triggers. SQLite's index by seq gains the filter columns; PostgreSQL
     keeps new vectors in the row and indexes one user's filter columns
  10 `source_terms` on memories: the terms of the messages a memory came from (other than
     its own text) and of those they answered, which search ranks by with `index_text`
     (engram.models.Hit), so a search's candidates are read without their JSON columns;
     existing memories are backfilled
  11 each term's number of postings (`memory_term_counts`), kept by triggers, which the
     common-word rule reads instead of counting postings; counted from the existing ones
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engram.errors import BackendError
from engram.lexical import index_text, term_weights
from engram.provenance import source_terms
from engram.stores.database import Database, Tx
from engram.stores.locks import Lock


class SchemaVersionError(BackendError):
    """The database was written by a newer Engram than this one."""

    def __init__(self, location: str, found: int, supported: int) -> None:
        super().__init__(
            f"the database {location} has schema version {found}, but this Engram supports "
            f"versions up to {supported}: upgrade Engram to open it"
        )
        self.found, self.supported = found, supported


@dataclass(frozen=True)
class Migration:
    version: int
    ddl: str
    backfill: Callable[[Tx], None] | None = None


@dataclass(frozen=True)
class VersionSlot:
    """Where a dialect keeps the version number."""

    read: Callable[[Tx], int]
    write: Callable[[Tx, int], None]


def migrate(
    db: Database,
    steps: Sequence[Migration],
    slot: VersionSlot,
    *,
    target: int | None = None,
    lock: Lock = Lock.MEMORY_SCHEMA,
    name: str | None = None,
) -> int:
    """Bring the schema to `target` (default: the last step); returns the version found.
    `name` says which tables, in the refusal, when a database holds several schemas."""
    latest = steps[-1].version
    target = latest if target is None else target
    with db.transaction(lock) as tx:
        found = slot.read(tx)
        if found > latest:
            raise SchemaVersionError(f"{db.label} ({name})" if name else db.label, found, latest)
        for step in steps:
            if found < step.version <= target:
                if step.ddl:  # a step may be Python only, or a version number only
                    tx(step.ddl)
                if step.backfill:
                    step.backfill(tx)
        if target > found:
            slot.write(tx, target)
    return found


def backfill_index_text(table: str, keys: Sequence[str], mark: str) -> Callable[[Tx], None]:
    """Fill `index_text` for rows written before the full-text index existed."""

    def run(tx: Tx) -> None:
        rows = tx(f"SELECT {', '.join(keys)}, memory FROM {table}")
        match = " AND ".join(f"{k} = {mark}" for k in keys)
        tx.many(
            f"UPDATE {table} SET index_text = {mark} WHERE {match}",
            [(index_text(row[-1]), *row[:-1]) for row in rows],
        )

    return run


BACKFILL_PAGE = 5_000


def backfill_terms(memories: str, terms: str, mark: str) -> Callable[[Tx], None]:
    """Write the keyword postings of the memories stored before they existed, a keyset
    page of memories at a time (100,000 memories hold over a million postings)."""

    def run(tx: Tx) -> None:
        insert = (f"INSERT INTO {terms} (term, project, user_id, weight, seq) "
                  f"VALUES ({', '.join([mark] * 5)})")  # fmt: skip
        after = -1
        while rows := tx(
            f"SELECT seq, project, coalesce(user_id, ''), index_text FROM {memories} "
            f"WHERE seq > {mark} ORDER BY seq LIMIT {BACKFILL_PAGE}",
            (after,),
        ):
            # in key order, as SQLStore writes a batch's postings (a page's land in turn)
            tx.many(insert, sorted((term, project, user, weight, seq)
                                   for seq, project, user, text in rows
                                   for term, weight in term_weights(text).items()))  # fmt: skip
            after = rows[-1][0]

    return run


def backfill_source_terms(
    memories: str, mark: str, decode: Callable[[Any], Any]
) -> Callable[[Tx], None]:
    """Fill `source_terms` for the memories stored before it, a keyset page at a time
    (`decode`: the stored `sources` as a list); a memory stored as said has none."""

    def run(tx: Tx) -> None:
        after = -1
        while rows := tx(
            f"SELECT seq, memory, sources FROM {memories} "
            f"WHERE seq > {mark} ORDER BY seq LIMIT {BACKFILL_PAGE}",
            (after,),
        ):
            tx.many(f"UPDATE {memories} SET source_terms = {mark} WHERE seq = {mark}",
                    [(words, seq) for seq, memory, sources in rows
                     if (words := source_terms(memory, decode(sources)))])  # fmt: skip
            after = rows[-1][0]

    return run
