"""What the server's own OpenAPI document promises about how its operations connect.

Links: which answer supplies which path parameter (an added memory's id to get, update,
delete and its history; a queued add's event id to its event). Clients and generators read
them, and schemathesis walks them to test the API statefully (add, then read back, change
and delete what was added). Allowed methods: a 405's `Allow` lists every method the path
has, as the document does (each method is its own route, which knows only its own).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import compile_path

_MEMORY = "/v1/memories/{memory_id}/"
_MEMORY_TARGETS = ((_MEMORY, "get"), (_MEMORY, "put"), (_MEMORY, "delete"),
                   (f"{_MEMORY}history/", "get"))  # fmt: skip
_FIRST_RESULT_ID = "$response.body#/results/0/id"

# (source path, method) -> [(target path, method, {parameter: runtime expression})]
LINKS: dict[tuple[str, str], list[tuple[str, str, dict[str, str]]]] = {
    **{
        (source, "post"): [(p, m, {"memory_id": _FIRST_RESULT_ID}) for p, m in _MEMORY_TARGETS]
        for source in ("/v1/memories/", "/v2/memories/", "/v2/memories/search/")
    },
    ("/v3/memories/add/", "post"): [
        ("/v1/event/{event_id}/", "get", {"event_id": "$response.body#/event_id"})
    ],
    ("/v1/events/", "get"): [("/v1/event/{event_id}/", "get", {"event_id": _FIRST_RESULT_ID})],
    ("/v1/entities/", "get"): [
        (
            "/v1/entities/{kind}/{entity_id}/",
            "delete",
            {"kind": "$response.body#/results/0/type", "entity_id": _FIRST_RESULT_ID},
        )
    ],
}


def with_links(document: dict[str, Any]) -> dict[str, Any]:
    """Add LINKS to the 200 answers of `document` (FastAPI's generated OpenAPI)."""
    paths = document["paths"]
    for (source, method), targets in LINKS.items():
        response = paths[source][method]["responses"]["200"]
        links = response.setdefault("links", {})
        for path, target_method, parameters in targets:
            operation = paths[path][target_method]["operationId"]
            links[operation] = {"operationId": operation, "parameters": parameters}
    return document


def install_links(app: FastAPI) -> None:
    """Serve the document with its links (built once, as FastAPI caches it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_links(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(request: Request) -> str:
    """The methods the document lists for the request's path (for `Allow`). As OpenAPI
    resolves paths, a concrete path wins over templates (`/webhooks/deliveries/` over
    `/webhooks/{webhook_id}/`)."""
    path = request.scope["path"]
    paths = request.app.openapi()["paths"]
    matching = [t for t in paths if _template(t).match(path)]
    fewest = min((t.count("{") for t in matching), default=0)
    methods = {m.upper() for t in matching if t.count("{") == fewest for m in paths[t]}
    return ", ".join(sorted(methods))


@cache
def _template(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]
