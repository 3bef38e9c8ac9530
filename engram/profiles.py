"""User profiles and summaries: what Engram knows about a user, from their current memories.

A profile groups the user's current memories by category, then by attribute (the slot
engram.extraction.attributes reads from each fact: residence, diet, gear:watch, when:run,
...; "general" for a fact with none). Offline, each entry is a memory's own text, so a
profile never says what no memory holds. With an LLM configured, the model writes one
short statement per attribute, and each must cite the memories it rests on: a statement
citing none of the memories it was shown is dropped, and the memory texts stay beside it.

A profile is built from the memories as they are now, so it follows every add, update,
delete and expiry; the LLM-written one is kept with a fingerprint of the memories it was
written from and rewritten when they change. With a profile `schema` (JSON Schema; each
property's `description` says what it holds), each property gets the memories nearest
to its description (offline) or the model's cited answer.

Settings and jobs are the hosted API's (mem0ai 2.2.1's get_profile_settings,
generate_profile, sample_profiles, get_profile_job); jobs run at once, so a job is
finished when its id is returned.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from typing import Any, Protocol

from pydantic import BaseModel, Field

from engram import filters as F
from engram.errors import InvalidInputError, NotFoundError
from engram.extraction.attributes import read
from engram.extraction.chinese_attributes import read_chinese
from engram.models import MemoryRecord
from engram.schemas import ProfileJobRequest, ProfileSettingsUpdate, check_id, parse_request
from engram.stores.base import Query
from engram.timeline import MemoryView


class ProfileSource(MemoryView, Protocol):
    """What profiles need of a `Memory`: the view reads use, and its engine (for the LLM)."""

    _engine: Any

MAX_MEMORIES = 1000  # a profile reads at most this many of the user's newest memories
MAX_JOBS = 100  # jobs kept per project (the newest)
SAMPLE_DEFAULT = 3  # users a sample job reads when no limit is given (at most 10)
SCHEMA_MATCH = 0.3  # cosine above which a memory answers a schema property (offline)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SETTINGS_KEY, _CACHE_KEY, _JOBS_KEY = "profile_settings", "profiles", "profile_jobs"


class _Statement(BaseModel):
    category: str
    attribute: str
    statement: str
    memory_ids: list[str] = Field(default_factory=list)


class _Written(BaseModel):
    statements: list[_Statement] = Field(default_factory=list)


_PROMPT = (
    "You write a user's profile from their memories. Each memory has an id. For each "
    "category and attribute given, write ONE short statement that the memories state, and "
    "list the ids of the memories it rests on. Never add a fact no memory states. "
    'Reply as JSON: {"statements": [{"category", "attribute", "statement", "memory_ids"}]}.'
)


class Profiles:
    """`memory.profiles`: profiles, their settings and jobs, and summaries."""

    def __init__(self, memory: ProfileSource) -> None:
        self._memory = memory

    # -- reading ---------------------------------------------------------------------

    def get(self, user_id: str) -> dict[str, Any]:
        user_id = check_id(user_id, "entity_id")
        records = self._memories(F.Condition("user_id", "eq", user_id))
        if not records and not self._known(user_id):
            raise NotFoundError(f"user {user_id!r} has no memories here", field="entity_id")
        settings = self.settings()
        out = {"entity_type": "user", "entity_id": user_id, "profile": {}, "updated_at": None,
               "generation_count": 0, "memory_count": len(records)}  # fmt: skip
        if not settings["enabled"]:
            return {**out, "status": "not_enabled"}
        if not records:
            return {**out, "status": "insufficient_data"}
        built = self._built(user_id, records, settings)
        return {**out, **built, "status": "succeeded"}

    def summary(self, filters: dict[str, Any] | None) -> dict[str, Any]:
        """The memories a filter selects, as profile sections and as text."""
        where = F.parse(filters)
        if not F.has_scope(where):
            from engram.errors import MissingScopeError

            raise MissingScopeError("get_summary")
        records = self._memories(where)
        sections = assemble(records)
        lines = [f"{category} / {attribute}: " + "; ".join(e["memory"] for e in entries)
                 for category, attrs in sections.items()
                 for attribute, entries in attrs.items()]  # fmt: skip
        return {"status": "succeeded", "memory_count": len(records), "profile": sections,
                "summary": "\n".join(lines)}  # fmt: skip

    def _memories(self, where: F.Node) -> list[MemoryRecord]:
        m = self._memory
        q = Query(m.project_id, where, m._now(), limit=MAX_MEMORIES)
        return [r for r, _ in m.store.query(q)]

    def _known(self, user_id: str) -> bool:
        """A user Engram has seen (with history), though no memory is current now."""
        m = self._memory
        return bool(m.store.history_until(m.project_id, m._now(), {"user_id": user_id}))

    def _built(
        self, user_id: str, records: list[MemoryRecord], settings: dict[str, Any]
    ) -> dict[str, Any]:
        user = settings["entities"]["user"]
        llm = self._memory._engine.llm
        if llm is None:
            profile = self._offline(records, user.get("schema"))
            return {"profile": profile, "updated_at": max(r.updated_at for r in records),
                    "generation_count": 1, "written_by": "memories"}  # fmt: skip
        mark = _fingerprint(records, user)
        cache = self._stored(_CACHE_KEY, {})
        kept = cache.get(user_id)
        if kept and kept.get("fingerprint") == mark:
            return {k: v for k, v in kept.items() if k != "fingerprint"}
        written = {"profile": self._written(llm, records, user), "written_by": "llm",
                   "updated_at": self._memory._now(),
                   "generation_count": (kept or {}).get("generation_count", 0) + 1}  # fmt: skip
        cache[user_id] = {**written, "fingerprint": mark}
        self._save(_CACHE_KEY, cache)
        return written

    def _offline(self, records: list[MemoryRecord], schema: Any) -> dict[str, Any]:
        sections: dict[str, Any] = assemble(records)
        properties = (schema or {}).get("properties") if isinstance(schema, dict) else None
        if properties:
            sections = {"schema": self._answers(records, properties), "sections": sections}
        return sections

    def _answers(self, records: list[MemoryRecord], properties: dict[str, Any]) -> dict[str, Any]:
        """Each schema property: the memories nearest its description, or None."""
        embedder = self._memory.embedder
        names = list(properties)
        # the description alone: "home: the city ..." matched "Max lives in Hamburg" at 0.27,
        # "the city where the user lives" at 0.35 (unrelated facts stay under 0.21)
        asks = [(properties[n] or {}).get("description") or n for n in names]
        vectors = embedder.embed([r.memory for r in records])
        out: dict[str, Any] = {}
        for name, ask in zip(names, embedder.embed(asks)):
            scores = vectors @ ask
            near = [records[i].memory for i in scores.argsort()[::-1][:3]
                    if scores[i] >= SCHEMA_MATCH]  # fmt: skip
            out[name] = near or None
        return out

    def _written(self, llm: Any, records: list[MemoryRecord], user: dict[str, Any]) -> Any:
        sections = assemble(records)
        shown = {r.id: r for r in records}
        lines = [f"[{category} / {attribute}] {e['id']}: {e['memory']}"
                 for category, attrs in sections.items()
                 for attribute, entries in attrs.items() for e in entries]  # fmt: skip
        extra = user.get("custom_instructions") or ""
        reply = llm.complete_json(_PROMPT + ("\n" + extra if extra else ""), "\n".join(lines),
                                  _Written)  # fmt: skip
        for s in reply.statements:  # a statement citing no memory it was shown is dropped
            cited = [i for i in s.memory_ids if i in shown]
            if cited and s.category in sections:
                slot = sections[s.category].setdefault(s.attribute, [])
                slot.insert(0, {"statement": s.statement.strip(), "memory_ids": cited})
        return sections

    # -- settings ----------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        stored = self._stored(_SETTINGS_KEY, {})
        user = stored.get("user") or {}
        return {
            "enabled": stored.get("enabled", True),
            "capabilities": {"llm": self._memory._engine.llm is not None, "schema": True,
                             "custom_instructions": self._memory._engine.llm is not None},
            "entities": {"user": {"schema": user.get("schema"),
                                  "custom_instructions": user.get("custom_instructions")}},
        }  # fmt: skip

    def update_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        """`body`: schemas.ProfileSettingsUpdate's fields; only those given are written."""
        req = parse_request(ProfileSettingsUpdate, **body)
        stored = self._stored(_SETTINGS_KEY, {})
        if req.enabled is not None:
            stored["enabled"] = req.enabled
        user = (req.entities or {}).get("user")
        if user is not None:
            stored["user"] = {**(stored.get("user") or {}), **_user_settings(user)}
        self._save(_SETTINGS_KEY, stored)
        return self.settings()

    # -- jobs --------------------------------------------------------------------------

    def create_job(self, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        """`body`: schemas.ProfileJobRequest's fields; `key` the Idempotency-Key."""
        req = parse_request(ProfileJobRequest, **body)
        jobs = self._stored(_JOBS_KEY, [])
        if key:
            for job in jobs:
                if job.get("idempotency_key") == key:
                    return {**_job_reply(job), "replayed": True}
        operation = req.operation
        if operation == "trigger":
            users = [check_id(req.entity_id, "entity_id")]
            self.get(users[0])  # an unknown user is a 404 here too
        else:
            users = self._sample(req.limit)
        done = [self.get(u)["status"] for u in users]
        job = {"job_id": uuid.uuid4().hex, "operation": operation, "entity_type": "user",
               "entity_ids": users, "status": "succeeded", "total": len(users),
               "completed": len(users), "succeeded": done.count("succeeded"),
               "failed": done.count("failed"), "skipped": len(users) - done.count("succeeded")
               - done.count("failed"), "enumeration_complete": True,
               "idempotency_key": key, "created_at": self._memory._now()}  # fmt: skip
        self._save(_JOBS_KEY, [job, *jobs][:MAX_JOBS])
        return {**_job_reply(job), "replayed": False}

    def job(self, job_id: str) -> dict[str, Any]:
        for job in self._stored(_JOBS_KEY, []):
            if job["job_id"] == job_id:
                return {"job": {k: v for k, v in job.items() if k != "idempotency_key"}}
        raise NotFoundError(f"profile job {job_id!r} not found", field="job_id")

    def _sample(self, limit: int | None) -> list[str]:
        limit = limit or SAMPLE_DEFAULT
        users = [e for e in self._memory.entities()["results"] if e["type"] == "user"]
        users.sort(key=lambda e: (-e["total_memories"], e["id"]))
        return [e["id"] for e in users[:limit]]

    # -- storage: the project's settings document --------------------------------------

    def _stored(self, key: str, default: Any) -> Any:
        return self._memory.store.settings(self._memory.project_id).get(key, default)

    def _save(self, key: str, value: Any) -> None:
        m = self._memory
        stored = m.store.settings(m.project_id)
        stored[key] = value
        m.store.save_settings(m.project_id, stored)


def assemble(records: list[MemoryRecord]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """{category: {attribute: [{id, memory, updated_at}]}}, each memory's text as stored."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records, key=lambda r: r.created_at):
        reader = read_chinese if _HAN.search(r.memory) else read
        slots = [s.split(":")[0] if ":" in s else s for s in reader(r.memory).attributes]
        entry = {"id": r.id, "memory": r.memory, "updated_at": r.updated_at}
        for category in r.categories or ["uncategorized"]:
            for slot in dict.fromkeys(slots or ["general"]):
                out[category][slot].append(entry)
    return {c: dict(attrs) for c, attrs in sorted(out.items())}


def _fingerprint(records: list[MemoryRecord], user: dict[str, Any]) -> str:
    parts = sorted(f"{r.id}:{r.hash}:{','.join(r.categories)}" for r in records)
    parts.append(repr(sorted(user.items())))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _user_settings(user: Any) -> dict[str, Any]:
    if not isinstance(user, dict):
        raise InvalidInputError("entities.user must be an object", field="entities.user")
    out: dict[str, Any] = {}
    if "schema" in user:
        schema = user["schema"]
        if schema is not None:
            props = schema.get("properties") if isinstance(schema, dict) else None
            if not isinstance(props, dict) or not all(
                isinstance(p, dict) and isinstance(p.get("description"), str) and p["description"]
                for p in props.values()
            ):
                raise InvalidInputError("schema needs properties, each with a description",
                                        field="entities.user.schema")  # fmt: skip
        out["schema"] = schema
    if "custom_instructions" in user:
        text = user["custom_instructions"]
        if text is not None and not isinstance(text, str):
            raise InvalidInputError("custom_instructions must be text",
                                    field="entities.user.custom_instructions")  # fmt: skip
        out["custom_instructions"] = text
    return out


def _job_reply(job: dict[str, Any]) -> dict[str, Any]:
    reply = {"job_id": job["job_id"], "status": job["status"], "operation": job["operation"],
             "status_url": f"/v2/profiles/jobs/{job['job_id']}/", "entity_type": "user",
             "entity_count_reserved": job["total"], "event_id": None}  # fmt: skip
    if job["operation"] == "sample":
        reply.update(sampled=job["total"], entity_ids=job["entity_ids"])
    return reply
