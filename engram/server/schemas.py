"""Request and response bodies, shaped like Mem0's hosted API so its clients work unchanged.

Request models ignore unknown fields: the official clients send options Engram does not
implement (output_format, version, rerank, ...) and must not be rejected for them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engram.models import MAX_PAGE

SCOPE = ("user_id", "agent_id", "run_id", "app_id")


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # The 1.x clients echo the org/project they learnt from /v1/ping/ in every body.
    org_id: str | None = None
    project_id: str | None = None


class _Scoped(_Request):
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    app_id: str | None = None
    filters: dict[str, Any] | None = None

    def scope(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in SCOPE}


Message = dict[str, Any]


class AddRequest(_Scoped):
    messages: str | Message | list[Message] = Field(
        description="A string, one {role, content} message, or a list of them"
    )
    metadata: dict[str, Any] | None = None
    infer: bool = True
    expiration_date: str | None = Field(default=None, description="YYYY-MM-DD or ISO 8601")
    # 1.x clients default to True (Mem0 queues the add); Engram's own client sends False.
    async_mode: bool = False

    @field_validator("messages")
    @classmethod
    def _not_empty(cls, value: str | Message | list[Message]) -> str | Message | list[Message]:
        # the shape of each message is checked by Memory.add, which names the bad index
        if (isinstance(value, str) and not value.strip()) or value == [] or value == {}:
            raise ValueError("messages must not be empty")
        return value


class SearchRequest(_Scoped):
    query: str = Field(min_length=1)
    limit: int | None = Field(default=None, ge=1, le=1000)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    threshold: float | None = None


class ListRequest(_Scoped):
    page: int | None = Field(default=None, ge=1, le=MAX_PAGE)
    page_size: int | None = Field(default=None, ge=1, le=1000)


class UpdateRequest(_Request):
    text: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: int | float | str | None = None
    expiration_date: str | None = None


class BatchUpdateItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    memory_id: str
    text: str | None = None
    metadata: dict[str, Any] | None = None


class BatchUpdateRequest(BaseModel):
    memories: list[BatchUpdateItem] = Field(min_length=1, max_length=1000)


class BatchDeleteItem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    memory_id: str


class BatchDeleteRequest(BaseModel):
    memories: list[BatchDeleteItem] = Field(min_length=1, max_length=1000)


class ProjectUpdateRequest(_Request):
    custom_instructions: str | None = None
    # [{"name": "description"}], [{"name": ..., "description": ...}] or plain names
    custom_categories: list[Any] | None = None
    threshold: float | None = None


# ------------------------------------------------------------------------ responses


class MemoryOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    memory: str
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    app_id: str | None = None
    metadata: dict[str, Any] | None = None
    categories: list[str] = []
    created_at: str | None = None
    updated_at: str | None = None
    expiration_date: str | None = None
    hash: str | None = None
    score: float | None = None


class Results(BaseModel):
    model_config = ConfigDict(extra="allow")
    results: list[dict[str, Any]]


class Page(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[dict[str, Any]]


class MessageOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str


class Queued(BaseModel):
    message: str = "Memory processing has been queued for background execution"
    status: str = "PENDING"
    event_id: str


class EventOut(BaseModel):
    id: str
    event_type: str
    status: str  # PENDING, RUNNING, SUCCEEDED, FAILED
    payload: dict[str, Any] | None = None
    results: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class EventList(BaseModel):
    count: int
    results: list[EventOut]


class Ping(BaseModel):
    status: str = "ok"
    message: str = "pong"
    org_id: str
    project_id: str
    user_email: str | None = None


class Entity(BaseModel):
    id: str
    name: str
    type: str
    total_memories: int
    created_at: str | None = None
    updated_at: str | None = None


class EntityList(BaseModel):
    count: int
    results: list[Entity]


class ErrorBody(BaseModel):
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
