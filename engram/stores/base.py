"""The storage interface: a handful of operations; everything else lives above it.

A backend stores memory rows with their vectors, history rows, and per-project settings.
Filters arrive as a parsed tree (`engram.filters`) and are compiled by the backend's
dialect, so every backend answers the same query the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from engram.filters import Node
from engram.models import HistoryEntry, Hit, MemoryRecord


@dataclass
class WriteBatch:
    """Everything one pipeline step changes, applied in one transaction."""

    upserts: list[tuple[MemoryRecord, np.ndarray | None]] = field(default_factory=list)
    deletes: list[MemoryRecord] = field(default_factory=list)  # removed for good
    history: list[HistoryEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes or self.history)


@dataclass(frozen=True)
class Query:
    project: str
    where: Node | None
    now: str  # ISO time; memories expired at or before it are invisible
    vector: np.ndarray | None = None  # ranks by cosine similarity when given
    limit: int = 100
    offset: int = 0
    include_inactive: bool = False  # superseded memories, for audits and export
    expired: bool = False  # also memories past their expiration_date (show_expired)
    superseded: bool = False  # also memories a newer fact replaced (latest_only=False)
    rejected: bool = True  # also memories marked VERY_NEGATIVE (search leaves them out)
    # Full-text search when given (terms from engram.lexical.terms): the memories matching
    # ANY term, best first by the backend's full-text rank (SQLite FTS5 bm25; PostgreSQL
    # ts_rank weighted by BM25 idf: both favour rare terms), scored rank / best rank among
    # all matches, so in (0, 1] with 1.0 for the best; comparable within one query only.
    # An empty tuple matches nothing. A term in more than 100 memories and in over 5% of
    # all memories is skipped (engram.stores.sql, the common-word rule). Not with `vector`.
    keywords: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EntityCount:
    kind: str  # "user" | "agent" | "run" | "app"
    id: str
    total_memories: int
    created_at: str
    updated_at: str


class Store(Protocol):
    def write(self, batch: WriteBatch) -> None: ...
    def get(self, project: str, ids: Sequence[str]) -> list[MemoryRecord]: ...
    def vectors(self, project: str, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def query(self, q: Query) -> list[tuple[MemoryRecord, float | None]]: ...
    # as `query`, only what ranking reads of each memory (a search's candidates)
    def hits(self, q: Query) -> list[tuple[Hit, float | None]]: ...
    def keyword_lists(
        self, q: Query, near: np.ndarray | None = None
    ) -> tuple[list[list[tuple[Hit, float | None]]], dict[str, float]]: ...
    def count(self, q: Query) -> int: ...
    def entities(self, project: str, now: str) -> list[EntityCount]: ...
    def history(self, project: str, memory_id: str) -> list[HistoryEntry]: ...
    def history_until(
        self, project: str, until: str, scope: dict[str, str]
    ) -> list[HistoryEntry]: ...
    def expired_ids(self, project: str, now: str, limit: int) -> list[str]: ...
    def expired_projects(self, now: str) -> list[str]: ...
    def settings(self, project: str) -> dict[str, Any]: ...
    # feedback, and the dashboard's reads (engram.stores.review)
    def set_feedback(
        self, project: str, memory_id: str, feedback: str | None, reason: str | None
    ) -> bool: ...
    def feedback(self, project: str, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]: ...
    def page(self, q: Query, after: tuple[str, str] | None = None) -> list[MemoryRecord]: ...
    def save_settings(self, project: str, settings: dict[str, Any]) -> None: ...
    def reset(self, project: str) -> None: ...
    def close(self) -> None: ...
