"""What `MemoryClient` sends is what the server reads: for every call that carries values,
the body (or query) the client builds validates against the model the server's route
declares, and parses to the same request `Memory` builds from the same arguments.

The route is found among the server app's own routes by method and path, so a route that
changes its model, or a client call that changes its path, is checked against the new one.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import Match

from engram import schemas as s
from engram.client import Call, _Calls
from engram.server.app import create_app, scope_query

WHEN = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute of the app, through included routers (nothing is opened yet)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and hasattr(inner, "routes"):
            found.extend(_api_routes(inner.routes))
    return found


ROUTES = _api_routes(create_app().routes)

# (the client's call, the model and arguments Memory parses for the same call)
CASES: list[tuple[str, Call, type[BaseModel], dict[str, Any]]] = [
    ("add-text",
     _Calls.add("I run on Mondays", {"user_id": "max", "metadata": {"sport": "run"},
                                     "expiration_date": date(2031, 1, 1), "timestamp": 1.7e9,
                                     "infer": False}),
     s.AddRequest, {"messages": "I run on Mondays", "user_id": "max",
                    "metadata": {"sport": "run"}, "expiration_date": date(2031, 1, 1),
                    "timestamp": 1.7e9, "infer": False}),
    ("add-scope-in-filters",
     _Calls.add([{"role": "user", "content": "hi", "message_id": "m1"}],
                {"filters": {"AND": [{"user_id": "max"}, {"agent_id": "coach"}]}}),
     s.AddRequest, {"messages": [{"role": "user", "content": "hi", "message_id": "m1"}],
                    "filters": {"AND": [{"user_id": "max"}, {"agent_id": "coach"}]}}),
    ("search",
     _Calls.search("knee", {"user_id": "max", "top_k": 3, "threshold": 0.2, "rerank": False,
                            "keyword_search": True, "include_sources": True,
                            "reference_date": WHEN,
                            "filters": {"created_at": {"gte": WHEN.date()}}}),
     s.SearchRequest, {"query": "knee", "user_id": "max", "top_k": 3, "threshold": 0.2,
                       "rerank": False, "keyword_search": True, "include_sources": True,
                       "reference_date": WHEN, "filters": {"created_at": {"gte": WHEN.date()}}}),
    ("get_all",
     _Calls.get_all({"agent_id": "coach", "page": 2, "page_size": 10, "include_sources": True,
                     "filters": {"categories": {"in": ["health"]}}}),
     s.ListRequest, {"agent_id": "coach", "page": 2, "page_size": 10, "include_sources": True,
                     "filters": {"categories": {"in": ["health"]}}}),
    ("update",
     _Calls.update("m-1", "Max runs on Tuesdays", {"sport": "run"}, WHEN),
     s.UpdateRequest, {"text": "Max runs on Tuesdays", "metadata": {"sport": "run"},
                       "expiration_date": WHEN}),
    ("feedback",
     _Calls.feedback("m-1", "VERY_NEGATIVE", "not about Max"),
     s.FeedbackRequest, {"memory_id": "m-1", "feedback": "VERY_NEGATIVE",
                         "feedback_reason": "not about Max"}),
    ("update-categories",
     _Calls.update("m-1", None, None, categories=["health"]),
     s.UpdateRequest, {"categories": ["health"]}),
    ("export_create",
     _Calls.export_create({"properties": {"memory": {"type": "string"}}},
                          {"filters": {"user_id": "max"}}),
     s.ExportRequest, {"schema": {"properties": {"memory": {"type": "string"}}},
                       "filters": {"user_id": "max"}}),
    ("export_whole_project",
     _Calls.export_create(None, {}), s.ExportRequest, {}),
    ("export_get",
     _Calls.export_get({"memory_export_id": "e-1"}), s.ExportGetRequest,
     {"memory_export_id": "e-1"}),
    ("webhook_create",
     _Calls.webhook_create("default", {"url": "https://example.org/hook", "name": "crm",
                                       "event_types": ["memory_add"]}),
     s.WebhookCreateRequest, {"url": "https://example.org/hook", "name": "crm",
                              "event_types": ["memory_add"]}),
    ("webhook_update",
     _Calls.webhook_update(7, {"is_active": False}), s.WebhookUpdateRequest,
     {"is_active": False}),
    ("delete_all",
     _Calls.delete_all({"user_id": "max", "filters": {"metadata.sport": "run"}}),
     s.DeleteAllRequest, {"user_id": "max", "filters": {"metadata.sport": "run"}}),
    ("batch_update",
     _Calls.batch_update([{"memory_id": "a", "text": "x"}, {"id": "b", "metadata": {"k": 1}}]),
     s.BatchUpdateRequest, {"memories": [{"memory_id": "a", "text": "x"},
                                         {"id": "b", "metadata": {"k": 1}}]}),
    ("batch_delete",
     _Calls.batch_delete(["a", {"memory_id": "b"}]),
     s.BatchDeleteRequest, {"memories": [{"memory_id": "a"}, {"memory_id": "b"}]}),
    ("profile_settings",
     _Calls.profile_settings({"enabled": True, "entities": {"user": {"schema": None}}}),
     s.ProfileSettingsUpdate, {"enabled": True, "entities": {"user": {"schema": None}}}),
    ("profile_job",
     _Calls.profile_job({"operation": "sample", "limit": 3}, "key"),
     s.ProfileJobRequest, {"operation": "sample", "limit": 3}),
    ("summary",
     _Calls.summary({"user_id": "max"}), s.SummaryRequest, {"filters": {"user_id": "max"}}),
    ("project_update",
     _Calls.project_update("default", "default", {
         "custom_instructions": "Only running facts", "threshold": 0.3,
         "custom_categories": [{"name": "gear", "description": "Shoes and watches"}]}),
     s.ProjectUpdateRequest, {"custom_instructions": "Only running facts", "threshold": 0.3,
                              "custom_categories": [{"name": "gear",
                                                     "description": "Shoes and watches"}]}),
]  # fmt: skip


def server_route(call: Call) -> APIRoute:
    scope = {"type": "http", "path": call.path, "method": call.method}
    for route in ROUTES:
        if route.matches(scope)[0] == Match.FULL:
            return route
    raise AssertionError(f"no server route for {call.method} {call.path}")


def server_reads(call: Call) -> BaseModel:
    """Parse the call as the server does: its route's body model (page and page_size may
    come as query parameters), or, for a DELETE without a body, the scope query."""
    route = server_route(call)
    if route.body_field is None:
        assert call.json is None
        return s.parse_request(s.DeleteAllRequest, **scope_query(**(call.params or {})))
    model = route.body_field.field_info.annotation
    # the wire is JSON: what the client built must survive encoding unchanged
    body = json.loads(json.dumps({**(call.params or {}), **call.json}))
    return s.parse_request(model, **body)


def shown(req: BaseModel) -> tuple[dict[str, Any], Any]:
    """The fields, with filters as their parsed tree (a date in a filter travels as text)."""
    return req.model_dump(exclude={"filters"}), getattr(req, "where", None)


@pytest.mark.parametrize(("name", "call", "model", "library"), CASES, ids=[c[0] for c in CASES])
def test_client_body_is_the_request_memory_parses(
    name: str, call: Call, model: type[BaseModel], library: dict[str, Any]
) -> None:
    read = server_reads(call)
    assert type(read) is model
    assert shown(read) == shown(s.parse_request(model, **library))


def test_every_body_model_the_server_reads_is_covered() -> None:
    read = {r.body_field.field_info.annotation for r in ROUTES if r.body_field is not None}
    assert read <= {model for _, _, model, _ in CASES}
