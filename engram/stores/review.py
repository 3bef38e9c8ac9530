"""The reads a person needs to review a project's memories (the dashboard), and feedback.

Written once over `SQLStore`'s plumbing; each backend supplies two small hooks: the length
of a JSON array, and how to read many vectors quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engram.models import MemoryRecord
from engram.stores.base import Query
from engram.stores.database import Row

# `similar_pairs` compares the newest memories of a project pairwise, per user: this many
# at most (pairs grow with its square; one user's 1,000 is a 1,000 x 1,000 matrix product).
PAIR_WINDOW = 1000


@dataclass(frozen=True)
class Pair:
    """Two memories of one user whose vectors are close."""

    first: str  # the older of the two
    second: str
    score: float


class ReviewQueries:
    """Mixed into `engram.stores.sql.SQLStore`."""

    MEMORIES: str

    # -- hooks (SQLite and PostgreSQL fill them in) -------------------------------------

    def _json_length(self, column: str) -> str:
        raise NotImplementedError

    def _vector_out(self, column: str) -> tuple[str, Callable[[Any], np.ndarray]]:
        """SQL reading a vector column in a compact form, and its reader (many vectors at
        once: PostgreSQL's text form took 9x longer to parse than its binary one)."""
        raise NotImplementedError

    # provided by SQLStore
    dialect: Any
    M_COLUMNS: str  # the memory columns as m.<column>, in the order _record reads them

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def _where(self, q: Query) -> tuple[str, list[Any]]: ...
    def _record(self, row: Sequence[Any]) -> MemoryRecord: ...
    def _read_json(self, value: Any) -> Any: ...

    # -- pages --------------------------------------------------------------------------

    def page(self, q: Query, after: tuple[str, str] | None = None) -> list[MemoryRecord]:
        """Newest first, `q.limit` memories created before the cursor (created_at, id):
        keyset paging, served by the (project, created_at, id) index at any depth."""
        p = self.dialect.param()
        if after is None:
            return self._select(q, "", [], "m.created_at DESC, m.id DESC")
        return self._select(q, f"AND (m.created_at, m.id) < ({p}, {p})", list(after),
                            "m.created_at DESC, m.id DESC")  # fmt: skip

    def _select(self, q: Query, extra: str, params: list[Any], order: str) -> list[MemoryRecord]:
        """The visible memories of `q` that also match `extra`, in `order`, `q.limit` of them."""
        where, where_params = self._where(q)
        return self._memories(f"{where} {extra}", [*where_params, *params], order, q.limit)

    def replaced(self, project: str, memory_id: str) -> list[MemoryRecord]:
        """The superseded memories that `memory_id` replaced."""
        p = self.dialect.param()
        return self._memories(f"m.project = {p} AND m.replaced_by = {p}", [project, memory_id],
                              "m.updated_at, m.id")  # fmt: skip

    def _memories(self, where: str, params: list[Any], order: str,
                  limit: int | None = None) -> list[MemoryRecord]:  # fmt: skip
        """Memory rows (any state) matching `where`, in `order`."""
        sql = f"SELECT {self.M_COLUMNS} FROM {self.MEMORIES} m WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {self.dialect.param()}"
            params = [*params, limit]
        return [self._record(row) for row in self._rows(sql, params)]

    # -- feedback -----------------------------------------------------------------------

    def set_feedback(
        self, project: str, memory_id: str, feedback: str | None, reason: str | None
    ) -> bool:
        p = self.dialect.param()
        rows = self._rows(
            f"UPDATE {self.MEMORIES} SET feedback = {p}, feedback_reason = {p} "
            f"WHERE project = {p} AND id = {p} RETURNING id",
            (feedback, reason, project, memory_id),
        )
        return bool(rows)

    def feedback(self, project: str, ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """{memory id: (feedback, reason)} for those of `ids` that have feedback."""
        if not ids:
            return {}
        p = self.dialect.param()
        listed, values = self.dialect.any_of("id", ids)
        rows = self._rows(
            f"SELECT id, feedback, feedback_reason FROM {self.MEMORIES} WHERE project = {p} "
            f"AND {listed} AND feedback IS NOT NULL",
            (project, *values),
        )
        return {memory_id: (value, reason) for memory_id, value, reason in rows}

    # -- counts -------------------------------------------------------------------------

    def daily_counts(self, q: Query, since: str) -> list[tuple[str, int]]:
        """(YYYY-MM-DD, memories created that day) from `since` on, oldest day first."""
        where, params = self._where(q)
        p = self.dialect.param()
        rows = self._rows(
            f"SELECT substr(m.created_at, 1, 10) AS day, count(*) FROM {self.MEMORIES} m "
            f"WHERE {where} AND m.created_at >= {p} GROUP BY day ORDER BY day",
            (*params, since),
        )
        return [(day, int(n)) for day, n in rows]

    def category_counts(self, q: Query) -> list[tuple[str, int]]:
        """(category, memories) most first; "" counts the memories with no category.
        Grouped by the stored list first (few distinct lists), then counted per name here:
        expanding every row's JSON in SQL cost 20x more at 100,000 memories."""
        where, params = self._where(q)
        rows = self._rows(
            f"SELECT m.categories, count(*) FROM {self.MEMORIES} m WHERE {where} "
            "GROUP BY m.categories",
            params,
        )
        counts: dict[str, int] = {}
        for stored, n in rows:
            for name in self._read_json(stored) or [""]:
                counts[str(name)] = counts.get(str(name), 0) + int(n)
        ranked = sorted(((c, n) for c, n in counts.items() if c), key=lambda cn: (-cn[1], cn[0]))
        return ranked + ([("", counts[""])] if counts.get("") else [])

    def uncategorized(self, q: Query) -> list[MemoryRecord]:
        return self._select(q, f"AND {self._json_length('m.categories')} = 0", [],
                            "m.created_at DESC, m.id DESC")  # fmt: skip

    def expiring(self, q: Query, until: str) -> list[MemoryRecord]:
        """Visible memories that expire before `until`, soonest first."""
        p = self.dialect.param()
        return self._select(q, f"AND m.expiration_date IS NOT NULL AND m.expiration_date < {p}",
                            [until], "m.expiration_date, m.id")  # fmt: skip

    # -- similar pairs ------------------------------------------------------------------

    def similar_pairs(self, q: Query, threshold: float, window: int = PAIR_WINDOW) -> list[Pair]:
        """Pairs of one user's memories with cosine similarity >= threshold, most similar
        first (`q.limit` pairs), among the project's `window` newest visible memories.
        The window is read in one query and compared here, per user, as one matrix product:
        a self-join comparing them in SQL took 10x longer (sqlite-vec, 1,000 memories)."""
        where, params = self._where(q)
        p = self.dialect.param()
        vector_sql, read_vector = self._vector_out("m.embedding")
        rows = self._rows(
            f"SELECT m.id, m.user_id, m.created_at, {vector_sql} FROM {self.MEMORIES} m "
            f"WHERE {where} AND m.user_id IS NOT NULL AND m.embedding IS NOT NULL "
            f"ORDER BY m.created_at DESC, m.id DESC LIMIT {p}",
            (*params, window),
        )
        by_user: dict[str, list[tuple[tuple[str, str], np.ndarray]]] = {}
        for memory_id, user, created, vector in rows:
            by_user.setdefault(user, []).append(((created, memory_id), read_vector(vector)))
        pairs = [pair for items in by_user.values() for pair in _close(items, threshold)]
        pairs.sort(key=lambda pair: (-pair.score, pair.first, pair.second))
        return pairs[: q.limit]


def _close(items: list[tuple[tuple[str, str], np.ndarray]], threshold: float) -> list[Pair]:
    """The pairs among one user's memories (oldest first in each pair) at `threshold`."""
    items = sorted((item for item in items if len(item[1]) == len(items[0][1])),
                   key=lambda item: item[0])  # fmt: skip
    if len(items) < 2:
        return []
    matrix = np.stack([vector for _, vector in items]).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms == 0, 1, norms)
    similar = matrix @ matrix.T
    older, newer = np.nonzero(np.triu(similar >= threshold, k=1))
    return [Pair(items[a][0][1], items[b][0][1], float(similar[a, b]))
            for a, b in zip(older, newer)]  # fmt: skip
