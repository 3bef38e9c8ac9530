"""The contract: every request and result, shaped like Mem0's hosted API.

`Memory` validates its arguments through the request models, the server takes them as
bodies and answers with the result models, and the client builds its bodies from them,
so one bad input fails with the same `InvalidInputError.field` everywhere.

Every hosted option is a field here (implemented) or refused with a 400 naming it
(`engram.options.REFUSED`); other unknown fields (the clients' `source` tag, ...) carry no
meaning and are dropped. To add an option, add a field to the request model; to add a
result field, add it to the result model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypedDict, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    model_validator,
)

from engram import filters as F
from engram import options
from engram.errors import EngramError, InvalidInputError, MissingScopeError
from engram.models import MAX_ID_LENGTH, MAX_PAGE, MAX_PAGE_SIZE, SCOPE_FIELDS, iso

M = TypeVar("M", bound=BaseModel)
UNSET: Any = object()  # an argument not given, unlike an explicit None (which clears)
ROLES = ("user", "assistant", "system")
# One message is at most this long: far above any chat turn, and far below spaCy's
# 1,000,000-character limit, so a huge line is a 400 rather than an extractor failure.
MAX_MESSAGE_CHARS = 100_000
MAX_JSON_DEPTH = 64  # nesting of any request value (filters have their own, tighter bound)


# ---------------------------------------------------------------------------- validation


def parse_request(model: type[M], **values: Any) -> M:
    """Validate library arguments as `model`; a failure is the InvalidInputError the server
    would answer with for the same body."""
    return _validated(model, values)


def _validated(model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_input(exc.errors()) from None


def invalid_input(errors: Sequence[Any]) -> EngramError:
    """The first pydantic error as Engram's own: our validators raise typed errors (with the
    exact field, e.g. messages[0].role); pydantic's own checks name the location."""
    if not errors:
        return InvalidInputError("invalid request")
    first = errors[0]
    raised = (first.get("ctx") or {}).get("error")
    if isinstance(raised, EngramError):
        return raised
    field = field_name(first.get("loc", ()))
    return InvalidInputError(f"{field}: {first.get('msg', 'invalid')}", field=field or None)


def field_name(loc: Sequence[Any]) -> str:
    """("body", "messages", 0, "content") -> "messages[0].content"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts  # a missing body is the field "body"
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not str(part).startswith(("str", "list[", "dict[", "function-")):
            name += f".{part}" if name else str(part)  # drops union member tags pydantic adds
    return name


def check_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field} must be a non-empty string", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInputError(f"{field} is longer than {MAX_ID_LENGTH} characters", field=field)
    return F.check_text(value, field)


def check_json(value: Any, field: str, depth: int = 0) -> None:
    """Every value a caller sends, checked once: well-formed Unicode in every string and
    key, finite numbers (JSON has no NaN; Python's parser accepts it and it was stored as
    null), bounded nesting."""
    if depth > MAX_JSON_DEPTH:
        root = re.split(r"[.\[]", field, maxsplit=1)[0] or "body"  # not a 64-level path
        raise InvalidInputError(f"{root} nests deeper than {MAX_JSON_DEPTH} levels", field=root)
    if isinstance(value, str):
        F.check_text(value, field)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{field} must be a finite number", field=field)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            F.check_text(str(key), field or "body")
            check_json(item, name, depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json(item, f"{field}[{i}]", depth + 1)


def _id_field(field: str) -> Any:
    return BeforeValidator(lambda v: v if v is None else check_id(v, field))


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is not None and (
        not isinstance(value, dict) or not all(isinstance(k, str) for k in value)
    ):
        raise InvalidInputError("metadata must be an object with string keys", field="metadata")
    for key in value or ():  # top-level keys are what filters address as JSON paths
        F.check_metadata_key(key, f"metadata.{key}"[:300], error=InvalidInputError)
    check_json(value, "metadata")
    return value


def _expiry(value: Any) -> str | None:
    """Parsed here only: every caller stores the same canonical ISO text."""
    if value is None or value == "":
        return None
    return iso(F.parse_datetime(value, field="expiration_date"))


def _messages(value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInputError(
            "messages must be a non-empty string or list of {role, content}", field="messages"
        )
    check_batch(value, "messages")  # like a batch: each message may become a memory
    turns = [_turn(m, i) for i, m in enumerate(value)]
    if not any(t["content"].strip() for t in turns):
        raise InvalidInputError("messages contain no text", field="messages")
    return turns


def _turn(message: Any, index: int) -> dict[str, str]:
    path = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidInputError(f"{path} must be an object with role and content", field=path)
    role, content = message.get("role", "user"), message.get("content")
    if role not in ROLES:
        raise InvalidInputError(f"{path}.role must be one of {sorted(ROLES)}", field=f"{path}.role")
    if not isinstance(content, str):
        raise InvalidInputError(f"{path}.content must be a string", field=f"{path}.content")
    if len(content) > MAX_MESSAGE_CHARS:
        raise InvalidInputError(f"{path}.content is longer than {MAX_MESSAGE_CHARS} characters",
                                field=f"{path}.content")  # fmt: skip
    F.check_text(content, f"{path}.content")
    turn = {"role": role, "content": content}
    message_id = message.get("message_id")
    if message_id is not None:  # the client's own id for the message, kept in provenance
        if isinstance(message_id, bool) or not isinstance(message_id, str | int):
            raise InvalidInputError(f"{path}.message_id must be a string",
                                    field=f"{path}.message_id")  # fmt: skip
        turn["message_id"] = check_id(str(message_id), f"{path}.message_id")
    return turn


def _timestamp(value: Any) -> datetime | None:
    """When the messages were said: unix seconds or an ISO date/datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInputError("timestamp must be unix seconds or an ISO date", field="timestamp")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidInputError("timestamp is out of range", field="timestamp") from None
    return F.parse_datetime(value, field="timestamp")


def _query(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("query must be a non-empty string", field="query")
    if len(value) > MAX_MESSAGE_CHARS:
        raise InvalidInputError(f"query is longer than {MAX_MESSAGE_CHARS} characters",
                                field="query")  # fmt: skip
    return F.check_text(value, "query")


def _categories(value: Any) -> Any:
    from engram.extraction.categories import normalize_categories

    normalize_categories(value)  # raises naming the bad item, e.g. custom_categories[0]
    return [value] if isinstance(value, dict) else value


Metadata = Annotated[dict[str, Any] | None, BeforeValidator(_metadata)]
Expiry = Annotated[
    str | None,
    BeforeValidator(_expiry),
    Field(description="YYYY-MM-DD or ISO 8601; the memory is invisible from then on"),
]
Timestamp = Annotated[
    datetime | None,
    BeforeValidator(_timestamp),
    Field(description="When the messages were said: unix seconds or ISO 8601 (default: now)"),
]
ReferenceDate = Annotated[
    datetime | None,
    BeforeValidator(lambda v: None if v in (None, "") else
                    F.parse_datetime(v, field="reference_date")),
    Field(description="'Now' for the query's relative times ('last year'); default: today"),
]  # fmt: skip
PageSize = Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_SIZE)]
PageNumber = Annotated[StrictInt, Field(ge=1, le=MAX_PAGE)]


# ---------------------------------------------------------------------------- requests


class Checked(BaseModel):
    """A request body: every value checked by `check_json` before the fields are read."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _well_formed(cls, data: Any) -> Any:
        check_json(data, "")
        options.refuse(data)
        return data


class Request(Checked):
    # The 1.x clients echo the org/project they learnt from /v1/ping/ in every body.
    org_id: str | None = None
    project_id: str | None = None


class Scoped(Request):
    """Who a call is about: the scope ids, at top level or (2.x clients) inside `filters`."""

    action: ClassVar[str] = "this call"
    user_id: Annotated[str | None, _id_field("user_id")] = None
    agent_id: Annotated[str | None, _id_field("agent_id")] = None
    run_id: Annotated[str | None, _id_field("run_id")] = None
    app_id: Annotated[str | None, _id_field("app_id")] = None
    filters: dict[str, Any] | None = None
    _where: F.Node | None = PrivateAttr(default=None)

    def scope(self) -> dict[str, str]:
        """The scope ids given at top level."""
        return {k: v for k in SCOPE_FIELDS if (v := getattr(self, k)) is not None}

    @property
    def where(self) -> F.Node | None:
        """The parsed filter tree, scope included."""
        return self._where

    def read_options(self) -> F.Node | None:
        """Options that narrow a read, as filter conditions (see ReadRequest)."""
        return None

    @model_validator(mode="after")
    def _resolve_scope(self) -> Scoped:
        where = F.conjoin(F.scope_filter(**self.scope()), F.parse(self.filters))
        if not F.has_scope(where):
            raise MissingScopeError(self.action)
        # every scope id "*": the whole project, which `*` on one id alone never is
        where = F.without_wildcards(where) if F.project_wide(where) else where
        self._where = F.conjoin(where, self.read_options())
        return self


class ScopeArgs(TypedDict, total=False):
    """The scope keywords of every scoped call (`Memory.add/search/get_all/delete_all`), as
    `Scoped` reads them. Other keywords are accepted and ignored: the Mem0 options that change
    nothing here (version, output_format, ...)."""

    user_id: str | None
    agent_id: str | None
    run_id: str | None
    app_id: str | None
    filters: dict[str, Any] | None


class AddArgs(ScopeArgs, total=False):
    """`Memory.add`'s keywords beyond its own arguments: scope and the hosted add options."""

    immutable: bool
    custom_instructions: str | None
    agent_custom_instructions: str | None
    custom_categories: list[Any] | None
    includes: str | None
    excludes: str | None
    output_format: str | None
    async_mode: bool


class ReadArgs(ScopeArgs, total=False):
    """What narrows or widens a read (`ReadRequest`), beyond its scope."""

    categories: list[str] | None
    metadata: dict[str, Any] | None
    fields: list[str] | None
    show_expired: bool
    latest_only: bool | None
    as_of: str | datetime | None


SearchArgs = ReadArgs


class ListArgs(ReadArgs, total=False):
    start_date: str | datetime | None
    end_date: str | datetime | None


class ChatMessage(BaseModel):
    role: Literal["user", "assistant", "system"] = "user"
    content: str
    message_id: str | None = None  # the client's id for the message, kept in `sources`


class AddRequest(Scoped):
    action: ClassVar[str] = "add"
    messages: Annotated[list[ChatMessage], BeforeValidator(_messages)] = Field(
        description="A string, one {role, content} message, or a list of them"
    )
    metadata: Metadata = None
    infer: bool = True
    expiration_date: Expiry = None
    timestamp: Timestamp = None
    # 1.x clients default to True (Mem0 queues the add); Engram's own client sends False.
    async_mode: bool = False
    immutable: StrictBool = Field(
        default=False, description="Never updated or superseded by reconciliation or update")
    custom_instructions: str | None = Field(
        default=None, description="This add's instructions instead of the project's")
    agent_custom_instructions: str | None = Field(
        default=None, description="Added to the instructions when the add is an agent's")
    custom_categories: Annotated[list[Any] | None, BeforeValidator(_categories)] = Field(
        default=None, description="This add's categories instead of the project's")
    includes: str | None = Field(default=None, description="What to remember (instructions)")
    excludes: str | None = Field(default=None, description="What not to remember")
    output_format: Literal["v1.0", "v1.1"] | None = Field(
        default=None, description="v1.0: the list of events alone; v1.1: {results}")

    def shaped(self, out: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
        """The add's result in the `output_format` asked for (v1.0: the events alone)."""
        return out["results"] if self.output_format == "v1.0" else out

    def instructions(self, project: str | None) -> str | None:
        """The instructions this add extracts by: its own or the project's, plus its
        includes/excludes as the include/exclude lists instructions are read by."""
        parts = [self.custom_instructions if self.custom_instructions is not None else project]
        if self.agent_custom_instructions and self.agent_id:
            parts.append(self.agent_custom_instructions)
        if self.includes:
            parts.append(f"Include: {self.includes}")
        if self.excludes:
            parts.append(f"Exclude: {self.excludes}")
        text = "\n".join(p.strip() for p in parts if p and p.strip())
        return text or None

    @model_validator(mode="after")
    def _bounded_extraction(self) -> AddRequest:
        if self.infer:
            from engram.extraction.bounds import check_size

            check_size(self.messages)
        return self

    @model_validator(mode="after")
    def _resolve_scope(self) -> AddRequest:
        """An add stores its scope on each memory: ids inside `filters` (as plain equality,
        or under AND) count as if given at top level."""
        for name, value in _scope_in_filters(self.filters).items():
            if getattr(self, name) is None:
                setattr(self, name, check_id(value, name))
        if not self.scope():
            raise MissingScopeError(self.action)
        for name, value in self.scope().items():
            if value == F.ANY:  # a wildcard reads every id; a memory belongs to one
                raise InvalidInputError(f"{name} '*' matches any id; add needs a real one",
                                        field=name)  # fmt: skip
        return self


def _scope_in_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    if not filters:
        return {}
    found = {k: v for k, v in filters.items() if k in SCOPE_FIELDS and v != F.ANY
             and not isinstance(v, dict | list)}  # fmt: skip
    children = filters.get("AND") if isinstance(filters.get("AND"), list) else []
    for child in children:
        if isinstance(child, dict):
            found = {**_scope_in_filters(child), **found}
    return found


AsOf = Annotated[
    datetime | None,
    BeforeValidator(lambda v: None if v in (None, "") else F.parse_datetime(v, field="as_of")),
    Field(description="Read the memories as they stood at this instant (engram.timeline)"),
]
DateBound = Annotated[
    datetime | None,
    BeforeValidator(lambda v, info: None if v in (None, "")
                    else F.parse_datetime(v, field=info.field_name)),
]  # fmt: skip


class ReadRequest(Scoped):
    """What search and get_all share: read modes and the options that narrow a read."""

    categories: Annotated[list[str] | None, BeforeValidator(options.category_names)] = Field(
        default=None, description="Only memories in any of these categories")
    metadata: Metadata = Field(default=None, description="Only memories with these metadata")
    fields: list[str] | None = Field(default=None, description="Only these keys of each result")
    show_expired: StrictBool = Field(default=False, description="Expired memories too")
    latest_only: StrictBool | None = Field(
        default=None, description="Current memories only (the default); false: with the "
        "memories newer facts superseded (state, replaced_by)")
    as_of: AsOf = None

    def read_options(self) -> F.Node | None:
        return options.read_conditions(self.categories, self.metadata)

    @property
    def with_superseded(self) -> bool:
        return self.latest_only is False


class SearchRequest(ReadRequest):
    action: ClassVar[str] = "search"
    query: Annotated[str, BeforeValidator(_query)]
    limit: PageSize | None = None
    top_k: PageSize | None = None  # the 2.x clients' name for limit
    threshold: StrictFloat | None = Field(default=None, ge=0, le=1,
                                          description="Minimum score, 0 to 1")  # fmt: skip
    keyword_search: StrictBool | None = Field(
        default=None, description="Also take candidates from the full-text index (default true)")
    rerank: StrictBool | None = Field(
        default=None, description="Order by relevance score; false: fused candidate ranks")
    include_sources: StrictBool = Field(
        default=False, description="Each result carries `sources`, the messages it came from")
    reference_date: ReferenceDate = None

    def size(self, default: int = 10) -> int:
        return self.top_k or self.limit or default


class ListRequest(ReadRequest):
    action: ClassVar[str] = "get_all"
    page: PageNumber | None = None
    page_size: PageSize | None = None
    limit: PageSize | None = None  # Mem0's name for page_size in the library call
    include_sources: StrictBool = False  # each result carries `sources`
    start_date: DateBound = Field(default=None, description="Created at or after")
    end_date: DateBound = Field(default=None, description="Created at or before")

    def read_options(self) -> F.Node | None:
        return options.read_conditions(self.categories, self.metadata,
                                       self.start_date, self.end_date)  # fmt: skip


class DeleteAllRequest(Scoped):
    action: ClassVar[str] = "delete_all"


def _category_names(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        raise InvalidInputError("categories must be a list of names", field="categories")
    return list(dict.fromkeys(F.check_text(c.strip(), "categories") for c in value))


class UpdateRequest(Request):
    text: str | None = None
    metadata: Metadata = None
    expiration_date: Expiry = Field(default=None, description="null clears the expiry")
    categories: Annotated[list[str] | None, BeforeValidator(_category_names)] = None
    timestamp: Timestamp = Field(default=None, description="When the fact was said")

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateRequest:
        given = [k for k in ("text", "metadata", "categories", "timestamp")
                 if getattr(self, k) is not None]  # fmt: skip
        if not given and not self.sets_expiry:  # an explicit null expiry clears it
            raise InvalidInputError(
                "update needs text, metadata, categories, expiration_date or timestamp",
                field="text")
        if self.text is not None and not self.text.strip():
            raise InvalidInputError("text must be a non-empty string", field="text")
        return self

    @property
    def sets_expiry(self) -> bool:
        """expiration_date was given: a date sets it, null clears it."""
        return "expiration_date" in self.model_fields_set


class EntitiesRequest(Request):
    page: PageNumber = 1
    page_size: PageSize | None = None


def check_batch(items: Any, field: str = "memories") -> Any:
    """A batch is 1 to MAX_PAGE_SIZE items; one more is refused naming the first extra item."""
    if not isinstance(items, list) or not items:
        raise InvalidInputError(f"{field} must be a non-empty list", field=field)
    if len(items) > MAX_PAGE_SIZE:
        raise InvalidInputError(
            f"{field} holds {len(items)} items; a batch takes at most {MAX_PAGE_SIZE}",
            field=f"{field}[{MAX_PAGE_SIZE}]",
        )
    return items


Batch = BeforeValidator(check_batch)


class BatchUpdateItem(UpdateRequest):
    memory_id: Annotated[str, _id_field("memory_id")] = Field(
        validation_alias=AliasChoices("memory_id", "id"))


def _batch_items(model: type[M]) -> Any:
    """A batch's items, each checked as `model`; a bad one is named by its place
    (memories[1].text), so the library and the server point at the same item."""

    def parse(value: Any) -> list[M]:
        items = []
        for i, item in enumerate(check_batch(value)):
            if isinstance(item, model):
                items.append(item)
                continue
            if not isinstance(item, dict):
                raise InvalidInputError(f"memories[{i}] must be an object", field=f"memories[{i}]")
            try:
                items.append(_validated(model, item))
            except InvalidInputError as exc:
                field = f"memories[{i}]" + (f".{exc.field}" if exc.field else "")
                raise InvalidInputError(str(exc), field=field) from None
        return items

    return BeforeValidator(parse)


class BatchUpdateRequest(Checked):
    memories: Annotated[list[BatchUpdateItem], _batch_items(BatchUpdateItem)]


class BatchDeleteItem(Checked):
    memory_id: str = Field(validation_alias=AliasChoices("memory_id", "id"))


class BatchDeleteRequest(Checked):
    memories: Annotated[list[BatchDeleteItem], Batch]


class ProjectUpdateRequest(Request):
    custom_instructions: str | None = None
    # [{"name": ..., "description": ...}], [{"<name>": "<description>"}] or plain names
    custom_categories: Annotated[list[Any] | None, BeforeValidator(_categories)] = None
    threshold: StrictFloat | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _refused_settings(cls, data: Any) -> Any:
        options.refuse(data, options.PROJECT_REFUSED)
        return data


FEEDBACK_VALUES = ("POSITIVE", "NEGATIVE", "VERY_NEGATIVE")
MAX_FEEDBACK_REASON = 2000


def _feedback(value: Any) -> str | None:
    """POSITIVE / NEGATIVE / VERY_NEGATIVE in any case; None or "" clears it."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().upper() not in FEEDBACK_VALUES:
        raise InvalidInputError(f"feedback must be one of {', '.join(FEEDBACK_VALUES)}",
                                field="feedback")  # fmt: skip
    return value.strip().upper()


class FeedbackRequest(Request):
    """`POST /v1/feedback/`: a person's judgement of one memory (VERY_NEGATIVE hides it
    from search)."""

    memory_id: Annotated[str, _id_field("memory_id")]
    feedback: Annotated[str | None, BeforeValidator(_feedback)] = None
    feedback_reason: str | None = Field(default=None, max_length=MAX_FEEDBACK_REASON)


# ---------------------------------------------------------------------------- results


class Result(BaseModel):
    # Results are built by Engram, never by a caller: extra keys pass through untouched.
    model_config = ConfigDict(extra="allow")


class MemoryItem(Result):
    id: str
    memory: str
    score: float | None = None  # search only
    score_breakdown: dict[str, float] | None = None  # search only: semantic, keyword
    sources: list[dict[str, Any]] | None = None  # get, or include_sources: provenance
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
    immutable: bool = False
    state: str | None = None  # latest_only=false / as_of: "active", "superseded", "expired"
    replaced_by: str | None = None


class SearchResult(Result):
    results: list[MemoryItem]


class Paged(Result, Generic[M]):
    """One page of a list, in Mem0's shape; `next`/`previous` link the neighbouring pages."""

    count: int
    next: str | None = None
    previous: str | None = None
    results: list[M]


class Page(Paged[MemoryItem]):
    """A page of memories."""


class AddEvent(Result):
    """What one add did to one memory."""

    id: str
    memory: str
    event: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    previous_memory: str | None = None  # UPDATE
    replaced_by: str | None = None  # DELETE of a contradicted memory


class AddResult(Result):
    results: list[AddEvent]
    # facts the LLM returned that the messages do not support (or that echo the prompt):
    # dropped, never stored; present only when there were some (engram.extraction.grounding)
    ungrounded: int | None = None


class Queued(Result):
    message: str = "Memory processing has been queued for background execution"
    status: str = "PENDING"
    event_id: str


class QueuedResult(Result):
    """A 1.x add with async_mode: the event to poll, in Mem0's list shape."""

    results: list[Queued]


class Updated(MemoryItem):
    message: str


class Confirmation(Result):
    message: str


class Deleted(Confirmation):
    deleted: int = 0


class HistoryItem(Result):
    id: str
    memory_id: str
    event: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    old_memory: str | None = None
    new_memory: str | None = None
    created_at: str
    updated_at: str | None = None
    actor: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    is_deleted: bool = False
    sources: list[dict[str, Any]] = []  # the messages the memory came from as of this event
    input: list[dict[str, Any]] = []  # the messages that made the change
    categories: list[str] = []  # the memory's categories after it
    metadata: dict[str, Any] | None = None


class Entity(Result):
    id: str
    name: str
    type: Literal["user", "agent", "run", "app"]
    total_memories: int
    created_at: str | None = None
    updated_at: str | None = None


class EntityList(Result):
    count: int
    results: list[Entity]


class ProjectSettings(Result):
    project_id: str | None = None
    custom_instructions: str | None = None
    custom_categories: list[dict[str, Any]] | None = None
    threshold: float | None = None


class Project(ProjectSettings):
    id: str | None = None
    name: str | None = None
    org_id: str | None = None
    message: str | None = None  # after an update


class ProfileSettingsUpdate(Request):
    """`POST /v2/profiles/settings/`: only what is given is written; under `entities.user`,
    `schema` (JSON Schema, each property with a description) and `custom_instructions`,
    null clearing either. Any other setting is a 400 naming it."""

    enabled: StrictBool | None = None
    entities: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_settings(cls, data: Any) -> Any:
        unknown = sorted(set(data) - {"enabled", "entities", "org_id", "project_id"}) if \
            isinstance(data, dict) else []
        if unknown:
            raise InvalidInputError(f"Unsupported settings: {unknown[0]}", field=unknown[0])
        return data


class ProfileJobRequest(Request):
    """`POST /v2/profiles/jobs/`: build one user's profile now, or a sample of users'."""

    operation: Literal["trigger", "sample"]
    entity_type: Literal["user"] = "user"
    entity_id: Annotated[str | None, _id_field("entity_id")] = None
    limit: StrictInt | None = Field(default=None, ge=1, le=10)


class SummaryRequest(Request):
    filters: dict[str, Any] | None = None


class Profile(Result):
    """A user's profile (engram.profiles): {category: {attribute: [entries]}}."""

    entity_type: str = "user"
    entity_id: str
    status: Literal["succeeded", "pending", "failed", "not_enabled", "insufficient_data"]
    profile: dict[str, Any]
    updated_at: str | None = None
    generation_count: int = 0
    memory_count: int = 0


class ProfileSettingsOut(Result):
    enabled: bool
    capabilities: dict[str, Any]
    entities: dict[str, dict[str, Any]]


class ProfileJobCreated(Result):
    job_id: str
    status: str
    status_url: str
    operation: Literal["trigger", "sample"]
    entity_type: str = "user"
    entity_count_reserved: int
    event_id: str | None = None
    replayed: bool = False
    sampled: int | None = None  # sample
    entity_ids: list[str] | None = None  # sample


class ProfileJobStatus(Result):
    job: dict[str, Any]


class Summary(Result):
    status: str
    memory_count: int
    profile: dict[str, Any]
    summary: str


class EventOut(Result):
    id: str
    event_type: str
    status: Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]
    payload: dict[str, Any] | None = None
    results: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    created_at: str
    updated_at: str
    latency: float | None = None  # ms from queued to finished


class EventList(Paged[EventOut]):
    """A page of queued adds."""


class FeedbackResult(Result):
    id: str  # the memory's
    feedback: str | None = None
    feedback_reason: str | None = None
    message: str = "Feedback recorded"


class Ping(Result):
    status: str = "ok"
    message: str = "pong"
    org_id: str
    project_id: str
    user_email: str | None = None


class ErrorBody(BaseModel):
    detail: str
    field: str | None = None
    error: str | None = Field(default=None, description="The EngramError class, e.g. FilterError")
    errors: list[dict[str, Any]] | None = None
    retry_after: float | None = None


# ------------------------------------------------------- webhooks, exports, stats (platform)


class WebhookCreateRequest(Request):
    url: str
    name: str | None = None
    event_types: list[str] | None = None  # default: every event type
    secret: str | None = None  # default: a new random one (returned once here, and by get)


class WebhookUpdateRequest(Request):
    url: str | None = None
    name: str | None = None
    event_types: list[str] | None = None
    is_active: bool | None = None
    secret: str | None = None


class Webhook(Result):
    webhook_id: int
    name: str
    url: str
    event_types: list[str]
    is_active: bool
    project: str
    secret: str
    created_at: str
    updated_at: str


class WebhookAttempt(Result):
    attempt: int
    at: str
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None


class WebhookDelivery(Result):
    id: str
    webhook_id: int
    event_type: str
    status: Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
    attempts: int
    next_attempt_at: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: str
    updated_at: str
    delivered_at: str | None = None
    payload: dict[str, Any]
    attempt_log: list[WebhookAttempt]


class WebhookDeliveryPage(Paged[WebhookDelivery]):
    """A page of webhook deliveries."""


class Stats(Result):
    total_memories: int = Field(description="Memories readable now (not superseded or expired)")
    total_entities: int
    total_users: int
    total_agents: int
    total_apps: int
    total_runs: int
    total_events: int = Field(description="Queued adds, whatever their status")
    events_by_status: dict[str, int]
    total_webhooks: int
    webhook_deliveries_by_status: dict[str, int]


EXPORT_FIELDS = ("engram_export", "id", "memory", "state", "user_id", "agent_id", "run_id",
                 "app_id", "metadata", "categories", "created_at", "updated_at",
                 "expiration_date", "replaced_by", "hash", "sources", "history")  # fmt: skip


class _WholeProjectByDefault(Scoped):
    """No scope and no filters: the whole project (as every scope id "*" says)."""

    @model_validator(mode="before")
    @classmethod
    def _whole_project_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("filters") and not any(
            data.get(k) for k in SCOPE_FIELDS
        ):
            return {**data, **{k: "*" for k in SCOPE_FIELDS}}
        return data


class ExportRequest(_WholeProjectByDefault):
    """`create_memory_export(schema, **filters)`: no scope and no filters is the whole project.

    `schema` (a JSON Schema, as an object or JSON text) picks the fields of each exported
    memory by its `properties` (or `properties.memories.items.properties`); `id` is always
    kept. A property that is no export field is refused (Engram has no LLM step that would
    fill free-form fields from the memories)."""

    action: ClassVar[str] = "export"
    export_schema: Any = Field(default=None, alias="schema")

    def fields(self) -> list[str] | None:
        """The export fields the schema asks for; None for all of them."""
        schema = self.export_schema
        if isinstance(schema, str):
            try:
                schema = json.loads(schema) if schema.strip() else None
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"schema: not valid JSON ({exc.msg})",
                                        field="schema") from None  # fmt: skip
        if not schema:
            return None
        if not isinstance(schema, dict):
            raise InvalidInputError("schema must be a JSON Schema object", field="schema")
        props, where = schema.get("properties"), "schema.properties"
        nested = (props or {}).get("memories") if isinstance(props, dict) else None
        if isinstance(nested, dict) and isinstance((nested.get("items") or {}), dict):
            inner = (nested.get("items") or {}).get("properties")
            if isinstance(inner, dict):
                props, where = inner, "schema.properties.memories.items.properties"
        if not isinstance(props, dict) or not props:
            return None
        for name in props:
            if name not in EXPORT_FIELDS:
                raise InvalidInputError(
                    f"{where}.{name}: not an export field (fields: {', '.join(EXPORT_FIELDS)})",
                    field=f"{where}.{name}"[:300],
                )
        return ["id", *(n for n in props if n != "id")]


class ExportGetRequest(_WholeProjectByDefault):
    """`get_memory_export(memory_export_id=...)`, or the newest export made with the same
    scope and filters."""

    action: ClassVar[str] = "export"
    memory_export_id: str | None = Field(
        default=None, validation_alias=AliasChoices("memory_export_id", "export_id", "id"))


class ExportCreated(Result):
    message: str
    id: str
    status: str


class Export(Result):
    id: str
    status: str
    format: str
    version: int
    count: int
    created_at: str
    filters: dict[str, Any]
    fields: list[str] | None = None
    memories: list[dict[str, Any]]
