"""The hosted platform's project-level routes: webhooks and their delivery log, memory
exports, and the project's counts (`/v1/stats/`).

Kept apart from `engram.server.app` (the memory routes) so each concept has its module;
both build on `engram.server.routing`, and `create_app` includes `router`. Paths and
bodies are the official clients' (mem0ai 2.2.1: `get_webhooks`, `create_webhook`,
`update_webhook`, `delete_webhook`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from engram import schemas as s
from engram.models import MAX_PAGE, MAX_PAGE_SIZE
from engram.server.routing import ERROR_RESPONSES, Auth, check_target, page_links
from engram.server.webhooks import WebhookStore

router = APIRouter(responses=ERROR_RESPONSES)
WEBHOOKS = "webhooks"
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


def _hooks(request: Request) -> WebhookStore:
    return request.app.state.server.webhooks


@router.get("/api/v1/webhooks/projects/{project_id}/", response_model=list[s.Webhook],
            tags=[WEBHOOKS])  # fmt: skip
def list_webhooks(ctx: Auth, request: Request, project_id: str) -> list[dict[str, Any]]:
    check_target(ctx.who, None, project_id)
    return _hooks(request).list(ctx.who)


@router.post("/api/v1/webhooks/projects/{project_id}/", response_model=s.Webhook,
             tags=[WEBHOOKS])  # fmt: skip
def create_webhook(
    ctx: Auth, request: Request, project_id: str, body: s.WebhookCreateRequest
) -> dict[str, Any]:
    check_target(ctx.who, body.org_id, project_id)
    return _hooks(request).create(ctx.who, **body.model_dump(exclude={"org_id", "project_id"}))


# before /{webhook_id}/, which would take "deliveries" for an id
@router.get("/api/v1/webhooks/deliveries/", response_model=s.WebhookDeliveryPage,
            tags=[WEBHOOKS])  # fmt: skip
@router.get("/api/v1/webhooks/projects/{project_id}/deliveries/",
            response_model=s.WebhookDeliveryPage, tags=[WEBHOOKS])  # fmt: skip
def project_deliveries(
    ctx: Auth, request: Request, project_id: str | None = None, page: Page = 1,
    page_size: PageSize = 50,
) -> dict[str, Any]:  # fmt: skip
    """Every delivery of the key's project (the log the dashboard shows)."""
    check_target(ctx.who, None, project_id)
    return _delivery_page(request, _hooks(request), ctx, page, page_size)


@router.get("/api/v1/webhooks/{webhook_id}/", response_model=s.Webhook, tags=[WEBHOOKS])
def get_webhook(ctx: Auth, request: Request, webhook_id: str) -> dict[str, Any]:
    return _hooks(request).get(ctx.who, webhook_id)


@router.put("/api/v1/webhooks/{webhook_id}/", response_model=s.Webhook, tags=[WEBHOOKS])
def update_webhook(
    ctx: Auth, request: Request, webhook_id: str, body: s.WebhookUpdateRequest
) -> dict[str, Any]:
    check_target(ctx.who, body.org_id, body.project_id)
    changes = body.model_dump(exclude={"org_id", "project_id"})
    return {**_hooks(request).update(ctx.who, webhook_id, **changes),
            "message": "Webhook updated successfully"}  # fmt: skip


@router.delete("/api/v1/webhooks/{webhook_id}/", response_model=s.Confirmation,
               tags=[WEBHOOKS])  # fmt: skip
def delete_webhook(ctx: Auth, request: Request, webhook_id: str) -> dict[str, Any]:
    _hooks(request).delete(ctx.who, webhook_id)
    return {"message": "Webhook deleted successfully"}


@router.get("/api/v1/webhooks/{webhook_id}/deliveries/", response_model=s.WebhookDeliveryPage,
            tags=[WEBHOOKS])  # fmt: skip
def webhook_deliveries(
    ctx: Auth, request: Request, webhook_id: str, page: Page = 1, page_size: PageSize = 50
) -> dict[str, Any]:
    hooks = _hooks(request)
    hooks.get(ctx.who, webhook_id)  # 404 for another project's webhook
    return _delivery_page(request, hooks, ctx, page, page_size, webhook_id=webhook_id)


def _delivery_page(request: Request, hooks: WebhookStore, ctx: Any, page: int, size: int,
                   **where: Any) -> dict[str, Any]:  # fmt: skip
    total, rows = hooks.deliveries(ctx.who, limit=size, offset=(page - 1) * size, **where)
    nxt, prev = page_links(request, page, size, total)
    return {"count": total, "next": nxt, "previous": prev, "results": rows}


# ---------------------------------------------------------------------------- exports


@router.post("/v1/exports/", response_model=s.ExportCreated, tags=["exports"])
def create_export(ctx: Auth, request: Request, body: s.ExportRequest) -> dict[str, Any]:
    """The project's memories (those matching the scope/filters), made now and kept."""
    check_target(ctx.who, body.org_id, body.project_id)
    return request.app.state.server.exports.create(ctx.who, ctx.memory, body)


@router.post("/v1/exports/get/", response_model=s.Export, tags=["exports"])
def get_export(ctx: Auth, request: Request, body: s.ExportGetRequest) -> dict[str, Any]:
    check_target(ctx.who, body.org_id, body.project_id)
    return request.app.state.server.exports.get(ctx.who, body)


# ---------------------------------------------------------------------------- stats


@router.get("/v1/stats/", response_model=s.Stats, tags=["stats"])
def stats(ctx: Auth, request: Request) -> dict[str, Any]:
    """The project's counts: memories, entities, queued adds and webhook deliveries."""
    server = request.app.state.server
    events = server.events.status_counts(ctx.who)
    return {**ctx.memory.stats(), "total_events": sum(events.values()),
            "events_by_status": events, "total_webhooks": len(server.webhooks.list(ctx.who)),
            "webhook_deliveries_by_status": server.webhooks.status_counts(ctx.who)}  # fmt: skip
