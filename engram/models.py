"""Plain data types shared by the pipeline, the stores and the server."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SCOPE_FIELDS: tuple[str, ...] = ("user_id", "agent_id", "run_id", "app_id")
# an entity kind ("user", as in /v1/entities/user/max/) and the scope field it stands for
ENTITY_KINDS: dict[str, str] = {field.removesuffix("_id"): field for field in SCOPE_FIELDS}
MAX_PAGE = 1_000_000  # keeps page offsets far inside every database's integer range
MAX_PAGE_SIZE = 1000
MAX_ID_LENGTH = 255


class Event(StrEnum):
    ADD = "ADD"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    NONE = "NONE"


class State(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"  # negated by a newer fact; kept with a replaced_by link
    DELETED = "deleted"  # deleted by a user call; kept for history only until purged


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """One canonical text form, so stored timestamps compare correctly as strings."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass
class MemoryRecord:
    id: str
    memory: str
    project: str = "default"
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    app_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    expiration_date: str | None = None
    state: State = State.ACTIVE
    replaced_by: str | None = None
    hash: str = ""
    # provenance: the messages the memory came from, e.g. {"index", "role", "message_id",
    # "hash", "text", "said_at"}; stored as JSON, returned as stored
    sources: list[dict[str, Any]] = field(default_factory=list)
    immutable: bool = False  # never updated or superseded by reconciliation, nor by update()

    def scope(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in SCOPE_FIELDS}

    def to_dict(self, score: float | None = None) -> dict[str, Any]:
        """The Mem0-shaped result a caller sees."""
        out: dict[str, Any] = {"id": self.id, "memory": self.memory}
        if score is not None:
            out["score"] = score
        out.update(self.scope())
        out.update(
            metadata=self.metadata or None,
            categories=self.categories,
            created_at=self.created_at,
            updated_at=self.updated_at,
            expiration_date=self.expiration_date,
            hash=self.hash,
            immutable=self.immutable,
        )
        return out

    def snapshot(self, said: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """What a history entry keeps of the memory as it stood after the change: enough
        to read the memories as of any past instant (engram.timeline). `said`: the
        messages that caused the change (the history's `input`)."""
        out = self.to_dict()
        out.update(state=str(self.state), replaced_by=self.replaced_by, input=said or [])
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """A memory as a search ranks it: its id, when it was said and its words. A store reads
    no more of a candidate's row (a search ranks ~100-220 of them); the rows of the page
    returned are read whole after ranking."""

    id: str
    created_at: str
    words: str  # the terms of its text, space-separated (engram.lexical.index_text)
    # the terms of the messages it came from, other than its own text, and of those they
    # answered (engram.provenance.source_terms)
    source_words: str = ""


@dataclass
class HistoryEntry:
    id: str
    memory_id: str
    event: Event
    old_memory: str | None
    new_memory: str | None
    created_at: str
    actor: str | None = None  # "extraction", "user", "expiry", ...
    project: str = "default"
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    snapshot: dict[str, Any] | None = None  # MemoryRecord.snapshot() after the change

    def to_dict(self) -> dict[str, Any]:
        kept = self.snapshot or {}
        return {
            "id": self.id,
            "memory_id": self.memory_id,
            "event": str(self.event),
            "old_memory": self.old_memory,
            "new_memory": self.new_memory,
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "actor": self.actor,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "is_deleted": self.event == Event.DELETE,
            "input": kept.get("input") or [],
            "categories": kept.get("categories") or [],
            "metadata": kept.get("metadata"),
        }


def text_hash(text: str) -> str:
    """The hash stored with a memory and with each source message (Mem0's field)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
