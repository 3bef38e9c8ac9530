"""The REST server: Mem0's hosted API (as the official 1.x and 2.x clients call it) over Engram.

Every route is authenticated by `Authorization: Token <key>`; the key decides the org and
project, and each project is a separate `Memory.for_project` view of one store.
Queued adds (1.x async_mode, 2.x /v3/memories/add/) are recorded in the server database
(PostgreSQL when the memories are there, else server.db) and processed by a worker thread
in each server process, so an event id still answers after a restart or on another host.
"""

from __future__ import annotations

import ast
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from anyio.to_thread import current_default_thread_limiter
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from engram import deadline
from engram import schemas as s
from engram.errors import (
    EngramError,
    InvalidInputError,
    NotFoundError,
    RateLimitError,
    status_of,
)
from engram.models import MAX_PAGE, MAX_PAGE_SIZE
from engram.server.auth import KeyStore
from engram.server.concurrency import request_threads
from engram.server.dashboard import mount as mount_dashboard
from engram.server.events import AddWorker, EventStore
from engram.server.exports import ExportStore
from engram.server.limits import BodyLimit, redact_access_log
from engram.server.openapi import allowed_methods, install_links
from engram.server.platform_api import router as platform_router
from engram.server.ratelimit import RateLimit, RateLimiter, default_limit
from engram.server.routing import (
    PROJECT_PATH,
    Auth,
    Ctx,
    check_target,
    ctx_check,
    page_links,
    route,
    router,
)
from engram.server.state import state_location
from engram.server.webhooks import Dispatcher, ObservedStore, WebhookStore

log = logging.getLogger("engram.server")

MAX_BODY_BYTES = 1 << 20  # 1 MiB: far above any chat turn, far below a memory-exhaustion attack


# ------------------------------------------------------------------------ error bodies


class SafeJSONResponse(JSONResponse):
    """Data stored before text was checked at the boundary may hold a lone UTF-16
    surrogate, which UTF-8 cannot encode: such an answer goes out as ASCII JSON (the
    surrogate as a \\u escape), so the data stays readable instead of every read failing."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")  # fmt: skip


def _error(status: int, detail: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body = s.ErrorBody(detail=detail, field=field, **extra).model_dump(exclude_none=True)
    body.setdefault("field", None)
    headers = {"WWW-Authenticate": "Token"} if status == 401 else {}
    if extra.get("retry_after") is not None:
        headers["Retry-After"] = str(int(extra["retry_after"]))
    return SafeJSONResponse(body, status_code=status, headers=headers)


def _engram_error(exc: EngramError, **extra: Any) -> JSONResponse:
    """Every EngramError, by the one status table in engram.errors."""
    status = status_of(exc)
    if status >= 500:
        log.error("backend failure: %s", exc)
    retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
    return _error(status, str(exc), exc.field, error=type(exc).__name__,
                  retry_after=retry_after, **extra)  # fmt: skip


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = s.invalid_input(exc.errors())
        if _raised_by_us(exc):  # Engram's own check, the same 400 the library raises
            return _engram_error(first)
        errors = [
            {"field": s.field_name(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return _error(422, str(first), first.field, error=type(first).__name__, errors=errors)

    @app.exception_handler(EngramError)
    async def _engram(_: Request, exc: EngramError) -> JSONResponse:
        return _engram_error(exc)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: every method of the path, not one route's
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected failure")
        return _error(500, f"internal error: {type(exc).__name__}")


def _raised_by_us(exc: RequestValidationError) -> bool:
    errors = exc.errors()
    return bool(errors) and isinstance((errors[0].get("ctx") or {}).get("error"), EngramError)


# ------------------------------------------------------------------------- app state


class Server:
    def __init__(self, memory: Any, keys: KeyStore, events: EventStore,
                 webhooks: WebhookStore) -> None:  # fmt: skip
        self.memory, self.keys, self.events, self.webhooks = memory, keys, events, webhooks
        self.worker = AddWorker(events, self.run_add, purge=memory.purge_expired_everywhere)
        self.dispatcher = Dispatcher(webhooks, memory.store)  # delivers every write's calls
        self.limiter: RateLimiter | None = None  # per-key request limits (RateLimit reads it)
        self.exports: ExportStore | None = None

    def for_project(self, project: str) -> Any:
        return self.memory.for_project(project)  # Memory caches these views itself

    def run_add(self, project: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A queued add: no caller is waiting, so it runs under its own, longer budget."""
        with deadline.budget(self.memory.config.queued_add_timeout):
            return self.for_project(project)._add(s.parse_request(s.AddRequest, **payload))

    def close(self) -> None:
        self.worker.stop()
        self.dispatcher.stop()
        self.events.close()
        self.webhooks.close()
        if self.limiter:
            self.limiter.close()
        if self.exports:
            self.exports.close()
        self.keys.close()
        self.memory.close()


# ----------------------------------------------------------------------- memory calls


def _list(
    ctx: Ctx, request: Request, body: s.ListRequest, page: int | None, page_size: int | None
) -> dict[str, Any]:
    page = page or body.page or 1
    size = page_size or body.limit or body.page_size or 100  # as Memory.get_all reads them
    out = ctx.memory._get_all(body.model_copy(update={"page": page, "page_size": size,
                                                      "limit": None}))  # fmt: skip
    count = out["count"]
    nxt, prev = page_links(request, page, size, count)
    return {"count": count, "next": nxt, "previous": prev, "results": out["results"]}


def _json_filters(raw: str | None) -> dict[str, Any] | None:
    """Filters in a query string: JSON, or the Python literal mem0ai 2.x sends (httpx
    writes a dict parameter as str(dict): {'user_id': 'max'}, with True/None)."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        value = _python_literal(raw)
        if value is None:
            raise InvalidInputError(f"filters: not valid JSON ({exc.msg})",
                                    field="filters") from exc  # fmt: skip
    if not isinstance(value, dict):
        raise InvalidInputError("filters: expected a JSON object", field="filters")
    return value


def scope_query(
    user_id: str | None = None,
    agent_id: str | None = None,
    run_id: str | None = None,
    app_id: str | None = None,
    filters: Annotated[str | None, Query(description="Filter JSON")] = None,
) -> dict[str, Any]:
    """Scope ids and filters sent as query parameters (the GET and DELETE routes)."""
    ids = {"user_id": user_id, "agent_id": agent_id, "run_id": run_id, "app_id": app_id}
    return {**{k: v for k, v in ids.items() if v}, "filters": _json_filters(filters)}


ScopeQuery = Annotated[dict[str, Any], Depends(scope_query)]


def _python_literal(raw: str) -> Any:
    """A Python literal of plain values only (ast.literal_eval evaluates no code); None
    when it is not one. Bounded in size and depth, as JSON bodies are."""
    if len(raw) > MAX_BODY_BYTES or raw.count("[") + raw.count("{") > 10 * s.MAX_JSON_DEPTH:
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


# ---------------------------------------------------------------------------- routes


@route("GET", "/v1/ping/", model=s.Ping, tag="auth")
def ping(ctx: Auth) -> dict[str, Any]:
    return s.Ping(org_id=ctx.who.org_id, project_id=ctx.who.project_id).model_dump()


@route("POST", "/v1/memories/", model=s.AddResult | s.QueuedResult | list[s.AddEvent])
def add_v1(ctx: Auth, request: Request, body: s.AddRequest) -> dict[str, Any]:
    """Add; with async_mode (the 1.x default) it is queued like /v3/memories/add/."""
    ctx_check(ctx, body)
    if body.async_mode:
        return {"results": [_enqueue(ctx, request, body)]}
    return body.shaped(ctx.memory._add(body))


@route("POST", "/v3/memories/add/", model=s.Queued)
def add_v3(ctx: Auth, request: Request, body: s.AddRequest) -> dict[str, Any]:
    ctx_check(ctx, body)
    return _enqueue(ctx, request, body)


def _enqueue(ctx: Ctx, request: Request, body: s.AddRequest) -> dict[str, Any]:
    server: Server = request.app.state.server
    # as JSON: a `timestamp` is a datetime once parsed, and the queue stores text
    payload = body.model_dump(mode="json", exclude={"org_id", "project_id", "async_mode"})
    event_id = server.events.enqueue(ctx.who, payload)
    server.worker.wake.set()
    return s.Queued(event_id=event_id).model_dump()


@route("GET", "/v1/event/{event_id}/", model=s.EventOut, tag="events")
def get_event(ctx: Auth, request: Request, event_id: str) -> dict[str, Any]:
    found = request.app.state.server.events.get(ctx.who, event_id)
    if found is None:
        raise NotFoundError(f"event {event_id!r} not found", field="event_id")
    return found


@route("GET", "/v1/events/", model=s.EventList, tag="events")
def list_events(
    ctx: Auth,
    request: Request,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    total, rows = request.app.state.server.events.list(ctx.who, page_size, (page - 1) * page_size)
    nxt, prev = page_links(request, page, page_size, total)
    return {"count": total, "next": nxt, "previous": prev, "results": rows}


@route("POST", "/v2/memories/search/", "/v3/memories/search/", model=s.SearchResult)
def search(ctx: Auth, body: s.SearchRequest) -> dict[str, Any]:
    ctx_check(ctx, body)
    return {"results": ctx.memory._search(body)["results"]}


@route("POST", "/v2/memories/", "/v3/memories/", model=s.Page)
def get_all(
    ctx: Auth,
    request: Request,
    body: s.ListRequest,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> dict[str, Any]:
    ctx_check(ctx, body)
    return _list(ctx, request, body, page, page_size)


@route("GET", "/v1/memories/", model=s.Page)
def get_all_v1(
    ctx: Auth,
    request: Request,
    scope: ScopeQuery,
    page: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> dict[str, Any]:
    return _list(ctx, request, s.parse_request(s.ListRequest, **scope), page, page_size)


@route("DELETE", "/v1/memories/", model=s.Deleted)
def delete_all(ctx: Auth, scope: ScopeQuery) -> dict[str, Any]:
    return ctx.memory._delete_all(s.parse_request(s.DeleteAllRequest, **scope))


@route("GET", "/v1/memories/{memory_id}/", model=s.MemoryItem)
def get_memory(ctx: Auth, memory_id: str) -> dict[str, Any]:
    return ctx.memory.get(memory_id)


@route("PUT", "/v1/memories/{memory_id}/", model=s.Updated)
def update_memory(ctx: Auth, memory_id: str, body: s.UpdateRequest) -> dict[str, Any]:
    ctx_check(ctx, body)
    return ctx.memory._update(memory_id, body)


@route("DELETE", "/v1/memories/{memory_id}/", model=s.Confirmation)
def delete_memory(ctx: Auth, memory_id: str, delete_linked: bool = False) -> dict[str, Any]:
    return ctx.memory.delete(memory_id, delete_linked=delete_linked)


@route("GET", "/v1/memories/{memory_id}/history/", model=list[s.HistoryItem])
def history(ctx: Auth, memory_id: str) -> list[dict[str, Any]]:
    return ctx.memory.history(memory_id)


@route("POST", "/v1/feedback/", model=s.FeedbackResult)
def feedback(ctx: Auth, body: s.FeedbackRequest) -> dict[str, Any]:
    ctx_check(ctx, body)
    return ctx.memory._feedback(body)


@route("PUT", "/v1/batch/", model=s.Confirmation)
def batch_update(ctx: Auth, body: s.BatchUpdateRequest) -> dict[str, Any]:
    return ctx.memory._batch_update(body)


@route("DELETE", "/v1/batch/", model=s.Confirmation)
def batch_delete(ctx: Auth, body: s.BatchDeleteRequest) -> dict[str, Any]:
    return ctx.memory._batch_delete([m.memory_id for m in body.memories])


@route("GET", "/v1/entities/", model=s.EntityList, tag="entities")
def entities(
    ctx: Auth,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> dict[str, Any]:
    return ctx.memory.entities(page=page, page_size=page_size)


@route("DELETE", "/v1/entities/{kind}/{entity_id}/", "/v2/entities/{kind}/{entity_id}/",
       model=s.Deleted, tag="entities")  # fmt: skip
def delete_entity(ctx: Auth, kind: str, entity_id: str) -> dict[str, Any]:
    return ctx.memory.delete_entity(kind, entity_id)


@route("GET", PROJECT_PATH, model=s.Project, tag="projects")
def get_project(
    ctx: Auth, org_id: str, project_id: str, fields: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    check_target(ctx.who, org_id, project_id)
    out = _project_view(ctx)
    return {k: v for k, v in out.items() if k in fields} if fields else out


@route("PATCH", PROJECT_PATH, model=s.Project, tag="projects")
def update_project(
    ctx: Auth, org_id: str, project_id: str, body: s.ProjectUpdateRequest
) -> dict[str, Any]:
    check_target(ctx.who, org_id, project_id)
    ctx.memory.project._update(body)
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
        # the routes run on anyio's thread pool: as many at once as the work can use
        current_default_thread_limiter().total_tokens = request_threads(server.memory)
        server.worker.start()
        server.dispatcher.start()
        try:
            yield
        finally:
            server.close()

    app = FastAPI(
        title="Engram",
        version="1",
        lifespan=lifespan,
        description="Mem0-compatible memory API over Engram.",
        default_response_class=SafeJSONResponse,
    )
    redact_access_log()
    _install_error_handlers(app)
    from engram.server import account_routes, profile_routes  # noqa: F401  (routes join `router`)

    app.include_router(router)
    mount_dashboard(app)  # /dashboard: engram.server.dashboard
    app.include_router(platform_router)
    install_links(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(RateLimit)  # outermost: a refused request costs no body read
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
    webhooks = WebhookStore(state)
    memory._engine.store = ObservedStore(memory._engine.store, webhooks)
    server = Server(memory, keys, events, webhooks)
    server.limiter = RateLimiter(state, default_limit())
    server.exports = ExportStore(state)
    return server


def app_from_env() -> FastAPI:
    """Uvicorn factory for `--workers N`, which needs an import string, not an app object."""
    return create_app(os.environ.get("ENGRAM_DATABASE") or None)
