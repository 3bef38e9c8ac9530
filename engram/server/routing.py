"""What every route of the server shares: who is calling (`Auth`: the key's org and project,
and that project's `Memory` view), the rule that a key reaches only its own project, the
error responses each route documents, and the links between pages of a list.

The memory routes (`engram.server.app`, with `engram.server.profile_routes` and
`engram.server.account_routes` registered by `route` on the same `router`) and the platform
routes (`engram.server.platform_api`) all build on this; `create_app` includes both routers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from engram import schemas as s
from engram.errors import AuthenticationError, ProjectAccessError
from engram.server.auth import Principal

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
        (429, "Too many requests; retry after `retry_after` seconds"),
        (500, "An unexpected server failure"),
        (503, "A model or storage backend failed"),
    )
}


@dataclass
class Ctx:
    """What a route needs: who is calling and that project's memory."""

    who: Principal
    memory: Any  # engram.Memory scoped to who.project_id


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() in ("token", "bearer") and value.strip() else None


def context(request: Request) -> Ctx:
    server = request.app.state.server  # engram.server.app.Server
    who = server.keys.verify(_token(request))
    if who is None:
        raise AuthenticationError("missing or invalid API key (send 'Authorization: Token <key>')")
    check_target(who, request.query_params.get("org_id"), request.query_params.get("project_id"))
    return Ctx(who, server.for_project(who.project_id))


def check_target(who: Principal, org_id: str | None, project_id: str | None) -> None:
    """A key reaches only its own project; naming another one is refused, not ignored."""
    if (org_id and org_id != who.org_id) or (project_id and project_id != who.project_id):
        raise ProjectAccessError(f"this API key belongs to {who.org_id}/{who.project_id}")


Auth = Annotated[Ctx, Depends(context)]


def ctx_check(ctx: Ctx, body: s.Request) -> None:
    check_target(ctx.who, body.org_id, body.project_id)


def page_links(request: Request, page: int, size: int, count: int) -> tuple[str | None, ...]:
    """The URLs of the next and previous pages (None past either end)."""

    def link(p: int) -> str:
        return str(request.url.include_query_params(page=p, page_size=size))

    nxt = link(page + 1) if page * size < count else None
    prev = link(page - 1) if page > 1 else None
    return nxt, prev


PROJECT_PATH = "/api/v1/orgs/organizations/{org_id}/projects/{project_id}/"
router = APIRouter(responses=ERROR_RESPONSES)


def route(method: str, *paths: str, model: Any, tag: str = "memories") -> Any:
    """Register one handler under `paths`, answering `model` (200) or an ErrorBody.

    Results are Memory's dicts: unset keys stay absent (no `score` outside search)."""

    def register(fn: Any) -> Any:
        for path in paths:
            router.add_api_route(path, fn, methods=[method], response_model=model,
                                 response_model_exclude_unset=True, tags=[tag])  # fmt: skip
        return fn

    return register
