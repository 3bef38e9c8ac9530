"""What the SQL backends share: one set of read queries, written once.

A backend supplies its connection handling, its writes, and a few hooks: the parameter
mark, table names, the vector-distance expression, and how JSON and vectors come back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from engram.filters import Dialect, Node, compile_sql
from engram.models import Event, HistoryEntry, MemoryRecord, State
from engram.stores.base import EntityCount, Query

COLUMNS = (
    "id, project, user_id, agent_id, run_id, app_id, memory, hash, metadata, categories, "
    "created_at, updated_at, expiration_date, state, replaced_by"
)
M_COLUMNS = ", ".join(f"m.{c.strip()}" for c in COLUMNS.split(","))
HISTORY_COLUMNS = (
    "id, memory_id, event, old_memory, new_memory, created_at, actor, project, "
    "user_id, agent_id, run_id"
)
ENTITY_KINDS = ("user", "agent", "run", "app")


class SQLReads:
    """The read half of `engram.stores.base.Store` over any SQL engine."""

    dialect: ClassVar[Dialect]
    MEMORIES: ClassVar[str]
    HISTORY: ClassVar[str]
    SETTINGS: ClassVar[str]
    HISTORY_ORDER: ClassVar[str]  # a column that keeps insertion order within a timestamp

    # -- hooks ------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _similarity(self, mark: str) -> str:
        """SQL for the cosine similarity between m.embedding and the bound vector."""
        raise NotImplementedError

    def _bind_vector(self, vector: np.ndarray) -> Any:
        raise NotImplementedError

    def _read_vector(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def _read_json(self, value: Any) -> Any:
        raise NotImplementedError

    def _prepare(self, where: Node) -> Node:
        """Rewrite a filter tree before compiling, where a backend needs typed values."""
        return where

    # -- shared reads ---------------------------------------------------------------

    def _marks(self, n: int) -> str:
        return ", ".join(self.dialect.param() for _ in range(n))

    def _record(self, row: Sequence[Any]) -> MemoryRecord:
        return MemoryRecord(
            id=row[0], project=row[1], user_id=row[2], agent_id=row[3], run_id=row[4],
            app_id=row[5], memory=row[6], hash=row[7], metadata=self._read_json(row[8]),
            categories=self._read_json(row[9]), created_at=row[10], updated_at=row[11],
            expiration_date=row[12], state=State(row[13]), replaced_by=row[14],
        )  # fmt: skip

    def get(self, project: str, ids: Sequence[str]) -> list[MemoryRecord]:
        if not ids:
            return []
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT {COLUMNS} FROM {self.MEMORIES} WHERE project = {p} "
            f"AND id IN ({self._marks(len(ids))})",
            (project, *ids),
        )
        return [self._record(row) for row in rows]

    def vectors(self, project: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT id, embedding FROM {self.MEMORIES} WHERE project = {p} "
            f"AND id IN ({self._marks(len(ids))}) AND embedding IS NOT NULL",
            (project, *ids),
        )
        return {i: self._read_vector(v) for i, v in rows}

    def _where(self, q: Query) -> tuple[str, list[Any]]:
        p = self.dialect.param()
        clauses = [f"m.project = {p}"]
        params: list[Any] = [q.project]
        if not q.include_inactive:
            clauses.append("m.state = 'active'")
            clauses.append(f"(m.expiration_date IS NULL OR m.expiration_date > {p})")
            params.append(q.now)
        if q.where is not None:
            sql, filter_params = compile_sql(self._prepare(q.where), self.dialect)
            clauses.append(sql)
            params.extend(filter_params)
        return " AND ".join(clauses), params

    def query(self, q: Query) -> list[tuple[MemoryRecord, float | None]]:
        where, params = self._where(q)
        p = self.dialect.param()
        page = f"LIMIT {p} OFFSET {p}"
        if q.vector is None:
            sql = (
                f"SELECT {M_COLUMNS}, NULL FROM {self.MEMORIES} m WHERE {where} "
                f"ORDER BY m.created_at DESC, m.id {page}"
            )
            rows = self._rows(sql, (*params, q.limit, q.offset))
        else:
            sql = (
                f"SELECT {M_COLUMNS}, {self._similarity(p)} AS score "
                f"FROM {self.MEMORIES} m WHERE m.embedding IS NOT NULL AND {where} "
                f"ORDER BY score DESC, m.id {page}"
            )
            rows = self._rows(sql, (self._bind_vector(q.vector), *params, q.limit, q.offset))
        return [(self._record(row[:-1]), row[-1]) for row in rows]

    def count(self, q: Query) -> int:
        where, params = self._where(q)
        return self._rows(f"SELECT count(*) FROM {self.MEMORIES} m WHERE {where}", params)[0][0]

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
        return [
            HistoryEntry(r[0], r[1], Event(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
            for r in rows
        ]

    def expired_ids(self, now: str, limit: int) -> list[tuple[str, str]]:
        p = self.dialect.param()
        return [
            (project, memory_id)
            for project, memory_id in self._rows(
                f"SELECT project, id FROM {self.MEMORIES} WHERE expiration_date IS NOT NULL "
                f"AND expiration_date <= {p} LIMIT {p}",
                (now, limit),
            )
        ]

    def settings(self, project: str) -> dict[str, Any]:
        p = self.dialect.param()
        rows = self._rows(f"SELECT data FROM {self.SETTINGS} WHERE project = {p}", (project,))
        return self._read_json(rows[0][0]) if rows else {}
