"""Reads over time: a scope's memories as they stood at a past instant (`as_of`).

Engram never loses a memory: every change writes a history entry holding a snapshot of the
memory after it (MemoryRecord.snapshot). The memories as of T are those whose last entry
at or before T left them current: added or updated, not yet deleted, superseded by a newer
fact or expired at T. Today's superseded and expired memories are included as of the time
they were current; today's text of an updated memory is not, its text as of T is.

The filter tree (scope included) is evaluated here in Python over the snapshots: history
rows carry only the user/agent/run ids for the database to narrow by. Entries written
before snapshots existed (schema version 3) are read from their text and ids alone.
"""

from __future__ import annotations

import json
import operator
from typing import TYPE_CHECKING, Any, Protocol

from engram import filters as F
from engram.models import Event, HistoryEntry, MemoryRecord, State, iso
from engram.ranking import Scored, hit_of, rank
from engram.stores.base import Query, Store

if TYPE_CHECKING:
    from engram.embeddings import Embedder
    from engram.schemas import ListRequest, SearchRequest
    from engram.timeframe import Window

class MemoryView(Protocol):
    """What a read over time needs of a `Memory` (a narrow view: no import of engram.memory,
    which calls this module): its project, store, embedder and clock."""

    project_id: str

    @property
    def store(self) -> Store: ...

    @property
    def embedder(self) -> Embedder: ...

    def _now(self) -> str: ...


_RECORD_KEYS = ("user_id", "agent_id", "run_id", "app_id", "metadata", "categories",
                "created_at", "updated_at", "expiration_date", "hash", "immutable",
                "replaced_by")  # fmt: skip


def memories_as_of(memory: MemoryView, where: F.Node | None, at: str) -> list[MemoryRecord]:
    """The memories matching `where` that were current at `at`, newest first."""
    entries = memory.store.history_until(memory.project_id, at, _history_scope(where))
    last: dict[str, HistoryEntry] = {}
    first_seen: dict[str, str] = {}
    for entry in entries:
        last[entry.memory_id] = entry
        first_seen.setdefault(entry.memory_id, entry.created_at)
    out = []
    for memory_id, entry in last.items():
        if entry.event == Event.DELETE:
            continue  # deleted, superseded or purged by then
        record = _record(entry, memory.project_id, first_seen[memory_id])
        expired = record.expiration_date is not None and record.expiration_date <= at
        if record.state == State.ACTIVE and not expired and matches(where, record):
            out.append(record)
    out.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return out


def superseded_by(memory: MemoryView, record: MemoryRecord) -> list[MemoryRecord]:
    """The memories `record` replaced, and those they replaced, ... (replaced_by links),
    among the superseded memories of its user (or its scope, without a user)."""
    scope = {"user_id": record.user_id} if record.user_id else {
        k: v for k, v in record.scope().items() if v is not None}
    where = F.conjoin(F.scope_filter(**scope), F.Condition("id", "ne", record.id))
    older: dict[str, list[MemoryRecord]] = {}
    offset = 0
    while rows := memory.store.query(Query(memory.project_id, where, memory._now(), limit=500,
                                           offset=offset, include_inactive=True)):
        for r, _ in rows:
            if r.state == State.SUPERSEDED and r.replaced_by:
                older.setdefault(r.replaced_by, []).append(r)
        offset += len(rows)
    found, todo = [], [record.id]
    while todo:
        for r in older.pop(todo.pop(), []):
            found.append(r)
            todo.append(r.id)
    return found


def page(
    memory: MemoryView, req: ListRequest, size: int, offset: int
) -> tuple[list[MemoryRecord], int]:
    found = memories_as_of(memory, req.where, iso(req.as_of) or "")
    return found[offset:offset + size], len(found)


def search(
    memory: MemoryView, query: str, req: SearchRequest, window: Window | None
) -> tuple[list[Scored], dict[str, MemoryRecord]]:
    """Search the memories as of `req.as_of`, by their text then: each is embedded as it
    read (no stored vector holds an old text) and ranked as a live search ranks. Also the
    memories as they were, by id."""
    found = memories_as_of(memory, req.where, iso(req.as_of) or "")
    if not found:
        return [], {}
    embedder = memory.embedder
    vectors = embedder.embed([r.memory for r in found])
    scores = vectors @ embedder.embed([query])[0]
    semantic = {r.id: float(v) for r, v in zip(found, scores)}
    order = [[r.id for r in sorted(found, key=lambda r: -semantic[r.id])]]
    span = (iso(window[0]) or "", iso(window[1]) or "") if window else None
    ranked = rank(query, semantic, [hit_of(r) for r in found], rerank=req.rerank is not False,
                  orders=order, window=span)  # fmt: skip
    return ranked, {r.id: r for r in found}


def _record(entry: HistoryEntry, project: str, first_seen: str) -> MemoryRecord:
    kept: dict[str, Any] = entry.snapshot or {
        "user_id": entry.user_id, "agent_id": entry.agent_id, "run_id": entry.run_id,
        "created_at": first_seen, "updated_at": entry.created_at,
    }  # fmt: skip
    fields = {k: kept.get(k) for k in _RECORD_KEYS if kept.get(k) is not None}
    return MemoryRecord(
        id=entry.memory_id, memory=kept.get("memory") or entry.new_memory or "",
        project=project, state=State(kept.get("state") or State.ACTIVE), **fields,
    )  # fmt: skip


def _history_scope(where: F.Node | None) -> dict[str, str]:
    """Top-level scope equalities, which the history table can narrow by."""
    top = where.children if isinstance(where, F.And) else (where,)
    return {c.field: c.value for c in top if isinstance(c, F.Condition) and c.op == "eq"
            and c.field in ("user_id", "agent_id", "run_id")}  # fmt: skip


# ------------------------------------------------------------------- filters in Python


def matches(node: F.Node | None, record: MemoryRecord) -> bool:
    """`node` evaluated over one record, with the meaning the SQL dialects give it
    (a comparison with a missing value is false; `ne`/`nin` hold for a missing value)."""
    if node is None:
        return True
    if isinstance(node, F.And):
        return all(matches(child, record) for child in node.children)
    if isinstance(node, F.Or):
        return any(matches(child, record) for child in node.children)
    if isinstance(node, F.Not):
        return not matches(node.child, record)
    if node.field == "categories":
        return _categories(node, record.categories)
    key = node.metadata_key
    value = (record.metadata or {}).get(key) if key is not None else getattr(record, node.field)
    return _compare(node, value)


def _categories(c: F.Condition, categories: list[str]) -> bool:
    if c.op == "exists":
        return bool(categories)
    wanted = c.value if c.op in ("in", "nin") else (c.value,)
    if c.op in ("contains", "icontains"):
        wanted = (c.value.lower(),)
    has_any = bool(set(wanted) & set(categories))
    return not has_any if c.op in ("ne", "nin") else has_any


def _compare(c: F.Condition, value: Any) -> bool:
    if c.op == "exists":
        return value is not None
    if c.op == "ne":
        return value != c.value
    if c.op == "nin":
        return value is None or value not in c.value
    if value is None:
        return False
    if c.op == "in":
        return value in c.value
    if c.op in ("contains", "icontains"):
        text = value if isinstance(value, str) else _json_text(value)
        return c.value in text if c.op == "contains" else c.value.lower() in text.lower()
    try:
        return bool(_COMPARE[c.op](value, c.value))
    except TypeError:  # a text compared with a number: false, as a typed SQL comparison
        return False


_COMPARE = {"eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
            "lte": operator.le}  # fmt: skip


def _json_text(value: Any) -> str:
    return json.dumps(value)
