"""The REST server: Mem0's hosted API (as the official 1.x and 2.x clients call it) over Engram.

Every route is authenticated by `Authorization: Token <key>`; the key decides the org and
project, and each project is a separate `Memory.for_project` view of one store.
Queued adds (1.x async_mode, 2.x /v3/memories/add/) are recorded in the server database
(PostgreSQL when the memories are there, else server.db) and processed by a worker thread
in each server process, so an event id still answers after a restart or on another host.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engram.errors import BackendError, InvalidInputError, MemoryNotFoundError
from engram.filters import parse_datetime
from engram.models import MAX_PAGE
from engram.server import schemas as s
from engram.server.auth import KeyStore, Principal
from engram.server.events import AddWorker, EventStore
from engram.server.limits import BodyLimit
from engram.server.state import state_location

log = logging.getLogger("engram.server")

MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above any chat turn, far below a memory-exhaustion attack
ENTITY_KINDS = ("user", "agent", "run", "app")
T = TypeVar("T")


# ------------------------------------------------------------------------ error bodies


class ApiError(HTTPException):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(status, detail)
        self.field = field


def _error(status: int, detail: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "field": field, **extra}
    headers = {"WWW-Authenticate": "Token"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts  # a missing body is the field "body"
    # pydantic adds the union member tried ("str", "list[...]") to the location; drop it
    return ".".join(p for p in parts if not p.startswith(("str", "list[", "dict[")))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        return _error(422, f"{first['field']}: {first['message']}", first["field"], errors=errors)

    @app.exception_handler(InvalidInputError)
    async def _bad_input(_: Request, exc: InvalidInputError) -> JSONResponse:
        return _error(400, str(exc), exc.field)

    @app.exception_handler(MemoryNotFoundError)
    async def _not_found(_: Request, exc: MemoryNotFoundError) -> JSONResponse:
        return _error(404, str(exc), "memory_id")

    @app.exception_handler(BackendError)
    async def _backend(_: Request, exc: BackendError) -> JSONResponse:
        log.error("backend failure: %s", exc)
        return _error(503, f"backend unavailable: {exc}")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "field", None))


# ------------------------------------------------------------------------- app state


@dataclass
class Ctx:
    """What a route needs: who is calling and that project's memory."""

    who: Principal
    memory: Any  # engram.Memory scoped to who.project_id


class Server:
    def __init__(self, memory: Any, keys: KeyStore, events: EventStore) -> None:
        self.memory, self.keys, self.events = memory, keys, events
        self.worker = AddWorker(events, self.run_add)

    def for_project(self, project: str) -> Any:
        return self.memory.for_project(project)  # Memory caches these views itself

    def run_add(self, project: str, payload: dict[str, Any]) -> dict[str, Any]:
        return _do_add(self.for_project(project), s.AddRequest.model_validate(payload))

    def close(self) -> None:
        self.worker.stop()
        self.events.close()
        self.keys.close()
        self.memory.close()


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") and value.strip() else None


def context(request: Request) -> Ctx:
    server: Server = request.app.state.server
    who = server.keys.verify(_token(request))
    if who is None:
        raise ApiError(401, "missing or invalid API key (send 'Authorization: Token <key>')")
    _check_target(who, request.query_params.get("org_id"), request.query_params.get("project_id"))
    return Ctx(who, server.for_project(who.project_id))


def _check_target(who: Principal, org_id: str | None, project_id: str | None) -> None:
    """A key reaches only its own project; naming another one is refused, not ignored."""
    if (org_id and org_id != who.org_id) or (project_id and project_id != who.project_id):
        raise ApiError(403, f"this API key belongs to {who.org_id}/{who.project_id}", "project_id")


Auth = Annotated[Ctx, Depends(context)]


# ----------------------------------------------------------------------- memory calls


def _scope_from_filters(filters: dict[str, Any] | None) -> dict[str, str]:
    """Entity ids that the 2.x client puts inside `filters` (plain equality, or under AND)."""
    if not filters:
        return {}
    found = {k: v for k, v in filters.items() if k in s.SCOPE and isinstance(v, str) and v != "*"}
    for child in filters.get("AND", []) if isinstance(filters.get("AND"), list) else []:
        if isinstance(child, dict):
            found = {**_scope_from_filters(child), **found}
    return found


def _add_scope(body: s.AddRequest) -> dict[str, str | None]:
    scope = {**_scope_from_filters(body.filters), **{k: v for k, v in body.scope().items() if v}}
    if not scope:
        raise InvalidInputError(
            "add needs one of user_id, agent_id, run_id, app_id (top level or in filters)",
            field="user_id",
        )
    return scope


def _do_add(memory: Any, body: s.AddRequest) -> dict[str, Any]:
    return memory.add(
        body.messages,
        **_add_scope(body),
        metadata=body.metadata,
        infer=body.infer,
        expiration_date=body.expiration_date,
    )


def _validate_add(body: s.AddRequest) -> None:
    _add_scope(body)
    if body.expiration_date is not None:
        parse_datetime(body.expiration_date, field="expiration_date")


def _page_links(request: Request, page: int, size: int, count: int) -> tuple[str | None, ...]:
    def link(p: int) -> str:
        return str(request.url.include_query_params(page=p, page_size=size))

    nxt = link(page + 1) if page * size < count else None
    prev = link(page - 1) if page > 1 else None
    return nxt, prev


def _list(
    ctx: Ctx, request: Request, body: s.ListRequest, page: int | None, page_size: int | None
) -> s.Page:
    page = page or body.page or 1
    size = page_size or body.page_size or 100
    out = ctx.memory.get_all(**body.scope(), filters=body.filters, page=page, page_size=size)
    count = out.get("count", len(out["results"]))
    nxt, prev = _page_links(request, page, size, count)
    return s.Page(count=count, next=nxt, previous=prev, results=out["results"])


def _search(ctx: Ctx, body: s.SearchRequest) -> s.Results:
    ctx_check(ctx, body)
    out = ctx.memory.search(
        body.query,
        **body.scope(),
        filters=body.filters,
        limit=body.limit or body.top_k or 10,
        threshold=body.threshold,
    )
    return s.Results(results=out["results"])


def ctx_check(ctx: Ctx, body: s._Request) -> None:
    _check_target(ctx.who, body.org_id, body.project_id)


def _json_filters(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"filters: not valid JSON ({exc.msg})", field="filters") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("filters: expected a JSON object", field="filters")
    return value


# ---------------------------------------------------------------------------- routes

# Every route can answer with Engram's JSON error body; documenting it keeps the OpenAPI
# document true (FastAPI would otherwise advertise its own 422 shape).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": s.ErrorBody, "description": description}
    for status, description in (
        (400, "Bad input; `field` names it"),
        (401, "Missing or invalid API key"),
        (403, "The key's project differs from the one named"),
        (404, "Unknown memory, event or project"),
        (413, "Request body too large"),
        (422, "Malformed request; `field` names it"),
        (503, "A model or storage backend failed"),
    )
}
router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/v1/ping/", response_model=s.Ping, tags=["auth"])
def ping(ctx: Auth) -> s.Ping:
    return s.Ping(org_id=ctx.who.org_id, project_id=ctx.who.project_id)


@router.post("/v1/memories/", tags=["memories"])
def add_v1(ctx: Auth, request: Request, body: s.AddRequest) -> dict[str, Any]:
    """Add; with async_mode (the 1.x default) it is queued like /v3/memories/add/."""
    ctx_check(ctx, body)
    _validate_add(body)
    if body.async_mode:
        return {"results": [_enqueue(ctx, request, body).model_dump()]}
    return _do_add(ctx.memory, body)


@router.post("/v3/memories/add/", response_model=s.Queued, tags=["memories"])
def add_v3(ctx: Auth, request: Request, body: s.AddRequest) -> s.Queued:
    ctx_check(ctx, body)
    _validate_add(body)
    return _enqueue(ctx, request, body)


def _enqueue(ctx: Ctx, request: Request, body: s.AddRequest) -> s.Queued:
    server: Server = request.app.state.server
    payload = body.model_dump(exclude={"org_id", "project_id", "async_mode"})
    event_id = server.events.enqueue(ctx.who, payload)
    server.worker.wake.set()
    return s.Queued(event_id=event_id)


@router.get("/v1/event/{event_id}/", response_model=s.EventOut, tags=["events"])
def get_event(ctx: Auth, request: Request, event_id: str) -> dict[str, Any]:
    found = request.app.state.server.events.get(ctx.who, event_id)
    if found is None:
        raise ApiError(404, f"event {event_id!r} not found", "event_id")
    return found


@router.get("/v1/events/", response_model=s.EventList, tags=["events"])
def list_events(
    ctx: Auth,
    request: Request,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> s.EventList:
    total, rows = request.app.state.server.events.list(ctx.who, page_size, (page - 1) * page_size)
    return s.EventList(count=total, results=[s.EventOut(**r) for r in rows])


@router.post("/v2/memories/search/", response_model=s.Results, tags=["memories"])
@router.post("/v3/memories/search/", response_model=s.Results, tags=["memories"])
def search(ctx: Auth, body: s.SearchRequest) -> s.Results:
    return _search(ctx, body)


@router.post("/v2/memories/", response_model=s.Page, tags=["memories"])
@router.post("/v3/memories/", response_model=s.Page, tags=["memories"])
def get_all(
    ctx: Auth,
    request: Request,
    body: s.ListRequest,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> s.Page:
    ctx_check(ctx, body)
    return _list(ctx, request, body, page, page_size)


@router.get("/v1/memories/", response_model=s.Page, tags=["memories"])
def get_all_v1(
    ctx: Auth,
    request: Request,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    app_id: str | None = None,
    filters: str | None = None,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> s.Page:
    body = s.ListRequest(
        user_id=user_id,
        agent_id=agent_id,
        run_id=run_id,
        app_id=app_id,
        filters=_json_filters(filters),
    )
    return _list(ctx, request, body, page, page_size)


@router.delete("/v1/memories/", tags=["memories"])
def delete_all(
    ctx: Auth,
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    app_id: str | None = None,
    filters: str | None = None,
) -> dict[str, Any]:
    return ctx.memory.delete_all(
        user_id=user_id,
        agent_id=agent_id,
        run_id=run_id,
        app_id=app_id,
        filters=_json_filters(filters),
    )


@router.get("/v1/memories/{memory_id}/", tags=["memories"])
def get_memory(ctx: Auth, memory_id: str) -> dict[str, Any]:
    return ctx.memory.get(memory_id)


@router.put("/v1/memories/{memory_id}/", tags=["memories"])
def update_memory(ctx: Auth, memory_id: str, body: s.UpdateRequest) -> dict[str, Any]:
    ctx_check(ctx, body)
    return ctx.memory.update(memory_id, text=body.text, metadata=body.metadata)


@router.delete("/v1/memories/{memory_id}/", tags=["memories"])
def delete_memory(ctx: Auth, memory_id: str) -> dict[str, Any]:
    return ctx.memory.delete(memory_id)


@router.get("/v1/memories/{memory_id}/history/", tags=["memories"])
def history(ctx: Auth, memory_id: str) -> list[dict[str, Any]]:
    return ctx.memory.history(memory_id)


@router.put("/v1/batch/", tags=["memories"])
def batch_update(ctx: Auth, body: s.BatchUpdateRequest) -> dict[str, Any]:
    # Memory checks every id before the first write, so a bad batch changes nothing
    return ctx.memory.batch_update([m.model_dump() for m in body.memories])


@router.delete("/v1/batch/", tags=["memories"])
def batch_delete(ctx: Auth, body: s.BatchDeleteRequest) -> dict[str, Any]:
    return ctx.memory.batch_delete([m.memory_id for m in body.memories])


@router.get("/v1/entities/", response_model=s.EntityList, tags=["entities"])
def entities(ctx: Auth) -> s.EntityList:
    rows = [s.Entity(**e) for e in ctx.memory.entities()]
    return s.EntityList(count=len(rows), results=rows)


@router.delete("/v1/entities/{kind}/{entity_id}/", tags=["entities"])
@router.delete("/v2/entities/{kind}/{entity_id}/", tags=["entities"])
def delete_entity(ctx: Auth, kind: str, entity_id: str) -> dict[str, Any]:
    if kind not in ENTITY_KINDS:
        raise ApiError(400, f"entity type must be one of {', '.join(ENTITY_KINDS)}", "type")
    out = ctx.memory.delete_entity(kind, entity_id)
    return {"message": "Entity deleted successfully!", **out}


PROJECT_PATH = "/api/v1/orgs/organizations/{org_id}/projects/{project_id}/"


@router.get(PROJECT_PATH, tags=["projects"])
def get_project(
    ctx: Auth, org_id: str, project_id: str, fields: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    _check_target(ctx.who, org_id, project_id)
    out = _project_view(ctx)
    return {k: v for k, v in out.items() if k in fields} if fields else out


@router.patch(PROJECT_PATH, tags=["projects"])
def update_project(
    ctx: Auth, org_id: str, project_id: str, body: s.ProjectUpdateRequest
) -> dict[str, Any]:
    _check_target(ctx.who, org_id, project_id)
    ctx.memory.project.update(
        custom_instructions=body.custom_instructions,
        custom_categories=body.custom_categories,
        threshold=body.threshold,
    )
    return {"message": "Updated project settings", **_project_view(ctx)}


def _project_view(ctx: Ctx) -> dict[str, Any]:
    settings = dict(ctx.memory.project.get())
    return {
        "id": ctx.who.project_id,
        "name": ctx.who.project_id,
        "org_id": ctx.who.org_id,
        **settings,
    }


# ----------------------------------------------------------------------------- factory


def create_app(
    database: str | None = None,
    *,
    memory: Any = None,
    auth_path: Path | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """Build the app. `memory` defaults to `Memory(MemoryConfig(database=...))`.

    Keys and queued adds live with the memories (the same PostgreSQL database, or
    server.db beside the SQLite file) unless `auth_path` names a SQLite file for them.
    """
    from engram.config import MemoryConfig

    config = MemoryConfig(database=database) if database else MemoryConfig()
    state = auth_path or state_location(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server = _open_server(memory, config, state)
        app.state.server = server
        server.worker.start()
        try:
            yield
        finally:
            server.close()

    app = FastAPI(
        title="Engram",
        version="1",
        lifespan=lifespan,
        description="Mem0-compatible memory API over Engram.",
    )
    _install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _open_server(memory: Any, config: Any, state: Path | str) -> Server:
    if memory is None:
        from engram.memory import Memory

        memory = Memory(config)
    keys = KeyStore(state)
    keys.bootstrap()  # no-op unless this is the first start; logs where the key went
    events = EventStore(state)
    requeued = events.requeue_orphans()
    if requeued:
        log.info("re-queued adds of %d stopped worker(s)", requeued)
    return Server(memory, keys, events)


def app_from_env() -> FastAPI:
    """Uvicorn factory for `--workers N`, which needs an import string, not an app object."""
    return create_app(os.environ.get("ENGRAM_DATABASE") or None)
