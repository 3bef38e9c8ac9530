"""Reviewing a project's memories: the reads and fixes behind the dashboard.

Everything here goes through a `Memory` (one project's view): its public calls for changes
(update, delete, feedback), and the store's review queries (engram.stores.review) for the
pages, counts and pairs a person looks at. The dashboard is one caller; a script is another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from engram import filters as F
from engram.extraction.reconcile import classify, tokens
from engram.models import Event, MemoryRecord, State, iso, utcnow
from engram.stores.base import Query

# Pairs of one user's memories at least this similar are shown for review: at or above
# DUPLICATE_PAIR as likely duplicates unless the reconciler reads a change, below it only
# when the reconciler reads one fact as changing or negating the other (a likely conflict).
PAIR_THRESHOLD = 0.6
DUPLICATE_PAIR = 0.85
EXPIRING_DAYS = 7
QUEUE_SIZE = 50
# Words that carry no fact on their own: a memory made only of these (besides its subject)
# is likely junk ("Max: lol sorry for the late reply", "Max: Big news").
_FILLER = frozenset(
    """lol haha hahaha ok okay okk yes yeah yep no nope hi hello hey thanks thank you thx
    sorry late reply big news great cool nice good wow omg btw anyway sure right well hmm
    just really very so said says say user told tell asked ask will would bye see soon
    later today now morning night day lmao k kk ty np yay oh ah um uh""".split()
)
_STOP = frozenset("a an the to of in on at and or for is am are was were be been i me my it "
                  "this that with by from".split())  # fmt: skip
MIN_CONTENT_CHARS = 2  # "Max is 34" holds a fact; "Max: ok" does not
MIN_HAN_CHARACTERS = 3
WILDCARD_SCOPE = [{name: F.ANY} for name in ("user_id", "agent_id", "run_id", "app_id")]


# ---------------------------------------------------------------------------- filters


@dataclass
class Filters:
    """What a person narrows the memories table by; empty fields narrow nothing."""

    user_id: str = ""
    agent_id: str = ""
    run_id: str = ""
    app_id: str = ""
    category: str = ""
    meta_key: str = ""
    meta_value: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive
    date_to: str = ""  # YYYY-MM-DD, inclusive

    def conditions(self) -> list[dict[str, Any]]:
        """The Mem0 filter language's conditions for these fields."""
        out: list[dict[str, Any]] = [
            {name: value} for name in ("user_id", "agent_id", "run_id", "app_id")
            if (value := getattr(self, name).strip())
        ]  # fmt: skip
        if self.category.strip():
            out.append({"categories": {"in": [self.category.strip()]}})
        if self.meta_key.strip():
            value = self.meta_value.strip()
            out.append({f"metadata.{self.meta_key.strip()}": value if value else F.ANY})
        if self.date_from.strip():
            out.append({"created_at": {"gte": self.date_from.strip()}})
        if self.date_to.strip():
            end = F.parse_datetime(self.date_to.strip(), field="date_to") + timedelta(days=1)
            out.append({"created_at": {"lt": iso(end)}})
        return out

    def tree(self) -> F.Node | None:
        found = self.conditions()
        return F.parse({"AND": found}) if found else None

    def any(self) -> bool:
        return bool(self.conditions())


def _query(memory: Any, where: F.Node | None, limit: int = QUEUE_SIZE) -> Query:
    return Query(memory.project_id, where, iso(utcnow()) or "", limit=limit)


# ---------------------------------------------------------------------------- pages


@dataclass
class Page:
    records: list[MemoryRecord]
    total: int
    next_cursor: str | None = None
    feedback: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def _cursor(record: MemoryRecord) -> str:
    return f"{record.created_at}|{record.id}"


def _parse_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor or "|" not in cursor:
        return None
    created, _, memory_id = cursor.partition("|")
    return created, memory_id


def page(memory: Any, filters: Filters, cursor: str | None = None, size: int = 50) -> Page:
    """One page, newest first, after `cursor` (keyset: as fast on page 2,000 as on page 1)."""
    q = _query(memory, filters.tree(), size + 1)
    rows = memory.store.page(q, _parse_cursor(cursor))
    shown = rows[:size]
    nxt = _cursor(shown[-1]) if len(rows) > size else None
    return _with_feedback(memory, Page(shown, memory.store.count(q), nxt))


def keyword_search(memory: Any, filters: Filters, text: str, size: int = 50) -> Page:
    """Full-text: the memories sharing the query's words, best first."""
    from engram.lexical import terms

    base = _query(memory, filters.tree(), size)
    q = Query(base.project, base.where, base.now, limit=size, keywords=tuple(terms(text)))
    rows = memory.store.query(q)
    found = Page([r for r, _ in rows], len(rows), scores={r.id: s or 0.0 for r, s in rows})
    return _with_feedback(memory, found)


def semantic_search(memory: Any, filters: Filters, text: str, size: int = 50) -> Page:
    """Memory.search over the whole project (every scope id the wildcard), same filters."""
    out = memory.search(text, filters={"AND": WILDCARD_SCOPE + filters.conditions()},
                        limit=size, threshold=0.0)  # fmt: skip
    ids = [r["id"] for r in out["results"]]
    by_id = {r.id: r for r in memory.store.get(memory.project_id, ids)}
    records = [by_id[i] for i in ids if i in by_id]
    scores = {r["id"]: r.get("score") or 0.0 for r in out["results"]}
    return _with_feedback(memory, Page(records, len(records), scores=scores))


def _with_feedback(memory: Any, found: Page) -> Page:
    found.feedback = memory.store.feedback(memory.project_id, [r.id for r in found.records])
    return found


def superseded_by(memory: Any, memory_id: str) -> list[MemoryRecord]:
    """The memories this one replaced (contradicted and superseded by it)."""
    return memory.store.replaced(memory.project_id, memory_id)


# ---------------------------------------------------------------------------- quality


def is_junk(text: str, subject: str | None = None) -> bool:
    """Very short, or no content word beyond the subject and chat filler."""
    words = tokens(text)
    name = set(tokens(subject or "")) | {"user"}
    content = [w for w in words if w not in _STOP and w not in name and w not in _FILLER]
    if re.search(r"[\u3400-\u9fff]", text):  # Chinese: one character a token
        return len(content) < MIN_HAN_CHARACTERS
    return len("".join(content)) < MIN_CONTENT_CHARS


@dataclass
class PairView:
    older: MemoryRecord
    newer: MemoryRecord
    score: float
    kind: str  # "duplicate" | "conflict"


def similar_pairs(memory: Any, threshold: float = PAIR_THRESHOLD) -> list[PairView]:
    """Likely duplicates and likely conflicts among each user's memories; pairs a person
    kept (both marked POSITIVE) are not shown again."""
    pairs = memory.store.similar_pairs(_query(memory, None, 4 * QUEUE_SIZE), threshold)
    ids = sorted({i for p in pairs for i in (p.first, p.second)})
    by_id = {r.id: r for r in memory.store.get(memory.project_id, ids)}
    kept = {i for i, (value, _) in memory.store.feedback(memory.project_id, ids).items()
            if value == "POSITIVE"}  # fmt: skip
    out = []
    for p in pairs:
        older, newer = by_id.get(p.first), by_id.get(p.second)
        if older is None or newer is None or {older.id, newer.id} <= kept:
            continue
        event = classify(newer.memory, older.memory, p.score, older.user_id)
        if event in (Event.DELETE, Event.UPDATE):
            out.append(PairView(older, newer, p.score, "conflict"))
        elif p.score >= DUPLICATE_PAIR or event == Event.NONE:
            out.append(PairView(older, newer, p.score, "duplicate"))
    return out[:QUEUE_SIZE]


@dataclass
class Quality:
    per_category: list[tuple[str, int]]
    per_day: list[tuple[str, int]]
    expiring: list[MemoryRecord]
    uncategorized: list[MemoryRecord]
    junk: list[MemoryRecord]
    duplicates: list[PairView]
    conflicts: list[PairView]


def quality(memory: Any, days: int = 30) -> Quality:
    now = utcnow()
    q = _query(memory, None)
    since = (now - timedelta(days=days - 1)).strftime("%Y-%m-%d")
    pairs = similar_pairs(memory)
    recent = memory.store.page(_query(memory, None, 1000))
    judged = memory.store.feedback(memory.project_id, [r.id for r in recent])
    kept = {i for i, (value, _) in judged.items() if value == "POSITIVE"}
    return Quality(
        per_category=memory.store.category_counts(q),
        per_day=_fill_days(memory.store.daily_counts(q, since), since, days),
        expiring=memory.store.expiring(q, iso(now + timedelta(days=EXPIRING_DAYS)) or ""),
        uncategorized=[r for r in memory.store.uncategorized(q) if r.id not in kept],
        junk=[r for r in recent if r.id not in kept and is_junk(r.memory, r.user_id)][
            :QUEUE_SIZE
        ],
        duplicates=[p for p in pairs if p.kind == "duplicate"],
        conflicts=[p for p in pairs if p.kind == "conflict"],
    )


def _fill_days(counts: list[tuple[str, int]], since: str, days: int) -> list[tuple[str, int]]:
    """Every day from `since`, zero where nothing was added (a chart needs the gaps)."""
    from datetime import date

    start, found = date.fromisoformat(since), dict(counts)
    return [((d := (start + timedelta(days=i)).isoformat()), found.get(d, 0))
            for i in range(days)]  # fmt: skip


def merge(memory: Any, keep_id: str, drop_id: str) -> dict[str, Any]:
    """Fold `drop` into `keep` (categories and metadata joined, keep's values winning),
    then delete `drop`. Two calls: a failure between them leaves both, nothing lost."""
    keep, drop = memory.get(keep_id), memory.get(drop_id)
    categories = list(dict.fromkeys([*keep["categories"], *drop["categories"]]))
    metadata = {**(drop.get("metadata") or {}), **(keep.get("metadata") or {})}
    memory.update(keep_id, metadata=metadata or None, categories=categories)
    memory.delete(drop_id)
    return {"kept": keep_id, "deleted": drop_id}


def keep(memory: Any, ids: list[str]) -> None:
    """A person looked and kept these: POSITIVE feedback takes them out of the queues."""
    for memory_id in ids:
        memory.feedback(memory_id, "POSITIVE", "kept in review")


# ---------------------------------------------------------------------------- clean-up


@dataclass
class CleanupPlan:
    """Exactly what a clean-up will delete: the ids are fixed when previewed."""

    filters: Filters
    ids: list[str]
    sample: list[MemoryRecord]


CLEANUP_MAX = 10_000


def plan_cleanup(memory: Any, filters: Filters) -> CleanupPlan:
    """The visible memories matching `filters` (a scope, metadata tag or date range)."""
    if not filters.any():
        from engram.errors import InvalidInputError

        raise InvalidInputError("choose a scope, a metadata tag or a date range", field="filters")
    q = _query(memory, filters.tree(), CLEANUP_MAX)
    rows = memory.store.page(q)
    return CleanupPlan(filters, [r.id for r in rows], rows[:QUEUE_SIZE])


def run_cleanup(memory: Any, ids: list[str]) -> dict[str, Any]:
    """Delete exactly `ids` (those previewed), in batches; ids already gone are counted."""
    deleted, missing = 0, 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        now = iso(utcnow()) or ""
        present = {r.id for r in memory.store.get(memory.project_id, chunk)
                   if r.state == State.ACTIVE
                   and (r.expiration_date is None or r.expiration_date > now)}  # fmt: skip
        gone = [i for i in chunk if i not in present]
        missing += len(gone)
        live = [i for i in chunk if i in present]
        if live:
            memory.batch_delete(live)
            deleted += len(live)
    return {"deleted": deleted, "already_gone": missing}
