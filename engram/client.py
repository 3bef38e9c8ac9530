"""Clients of an Engram server: `MemoryClient` (sync) and `AsyncMemoryClient` (asyncio).

Both build the same requests (`_Calls`) and share one retry policy; they differ only in
transport. The wire format is Mem0's hosted API, so either client also talks to Mem0.

    client = MemoryClient(api_key="eng_...", host="http://127.0.0.1:8765")
    client.add("I'm vegetarian", user_id="max")
    client.search("what can max eat?", filters={"user_id": "max"})
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from engram import schemas as s
from engram.errors import (
    AuthenticationError,
    BackendError,
    EngramError,
    InvalidInputError,
    MemoryNotFoundError,
    NotFoundError,
    RateLimitError,
    error_from_http,
)

log = logging.getLogger("engram.client")

DEFAULT_HOST = "http://127.0.0.1:8765"


# ---------------------------------------------------------------------------- errors

# The client raises the library's own classes (engram.errors), mapped from the status and
# the `error` class name of the server's JSON body, so one `except` fits Memory and client.
# The old client-only names stay as aliases.
APIError = EngramError
ValidationError = InvalidInputError
ServerError = BackendError


class UnreachableError(BackendError, ConnectionError):
    """No answer at all (connection refused, DNS, timeout) after all retries."""


def _error_for(response: httpx.Response) -> EngramError:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": body if body is not None else response.text}
    retry_after = response.headers.get("retry-after")
    if retry_after and retry_after.isdigit():
        body.setdefault("retry_after", float(retry_after))
    return error_from_http(response.status_code, body)


# ----------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    backoff: float = 0.25  # seconds before the first retry; doubles each time

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), 30.0)
        return self.backoff * (2**attempt)

    @staticmethod
    def retryable(response: httpx.Response) -> bool:
        # 4xx are the caller's bug and would fail again the same way; 429 and 5xx may pass
        return response.status_code == 429 or response.status_code >= 500


# ------------------------------------------------------------------ request building


@dataclass
class Call:
    """One HTTP request, described independently of the transport that sends it."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    # what fail_open returns instead of raising when the server is down
    fallback: Callable[[str], Any] | None = None
    headers: dict[str, str] | None = None


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _body(model: type[s.Request], values: dict[str, Any]) -> dict[str, Any]:
    """The caller's values, checked by the model the server reads the body with (so a bad
    input fails here with the InvalidInputError `Memory` raises), sent as that model's JSON:
    only what the caller gave, dates as ISO text."""
    return s.parse_request(model, **_given(values)).model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )


class _Calls:
    """The API surface as `Call`s; both clients turn these into HTTP requests."""

    @staticmethod
    def ping() -> Call:
        return Call("GET", "/v1/ping/")

    @staticmethod
    def add(messages: Any, kwargs: dict[str, Any]) -> Call:
        # async_mode False: Engram answers with the memories added, not an event to poll
        body = _body(s.AddRequest, {"async_mode": False, **kwargs, "messages": messages})
        return Call(
            "POST", "/v1/memories/", json=body, fallback=lambda err: {"results": [], "error": err}
        )

    @staticmethod
    def search(query: str, kwargs: dict[str, Any]) -> Call:
        body = _body(s.SearchRequest, {**kwargs, "query": query})
        return Call("POST", "/v2/memories/search/", json=body, fallback=lambda _: {"results": []})

    @staticmethod
    def get_all(kwargs: dict[str, Any]) -> Call:
        body = _body(s.ListRequest, kwargs)
        params = {k: body.pop(k) for k in ("page", "page_size") if k in body}
        return Call("POST", "/v2/memories/", json=body, params=params or None,
                    fallback=lambda _: {"results": []})  # fmt: skip

    @staticmethod
    def get(memory_id: str) -> Call:
        return Call("GET", f"/v1/memories/{memory_id}/")

    @staticmethod
    def update(
        memory_id: str, text: str | None = None, metadata: dict[str, Any] | None = None,
        expiration_date: Any = s.UNSET, categories: list[str] | None = None,
        timestamp: Any = None,
    ) -> Call:  # fmt: skip
        """expiration_date when given: None clears it, so it travels as null."""
        values = {"text": text, "metadata": metadata, "categories": categories,
                  "timestamp": timestamp, "expiration_date": expiration_date}  # fmt: skip
        given = {k: v for k, v in values.items()
                 if (v is not None and v is not s.UNSET) or (k == "expiration_date" and v is None)}
        checked = s.parse_request(s.UpdateRequest, **given)
        body = checked.model_dump(mode="json", exclude_unset=True)
        body = {k: v for k, v in body.items() if v is not None or k == "expiration_date"}
        return Call("PUT", f"/v1/memories/{memory_id}/", json=body)

    @staticmethod
    def delete(memory_id: str, delete_linked: bool = False) -> Call:
        params = {"delete_linked": "true"} if delete_linked else None
        return Call("DELETE", f"/v1/memories/{memory_id}/", params=params)

    @staticmethod
    def delete_all(kwargs: dict[str, Any]) -> Call:
        # a DELETE has no body: the same fields travel as query parameters
        params = _body(s.DeleteAllRequest, kwargs)
        if "filters" in params:
            params["filters"] = json.dumps(params["filters"])
        return Call("DELETE", "/v1/memories/", params=params)

    @staticmethod
    def feedback(memory_id: str, feedback: str | None, reason: str | None) -> Call:
        body = _body(s.FeedbackRequest, {"memory_id": memory_id, "feedback": feedback,
                                         "feedback_reason": reason})  # fmt: skip
        return Call("POST", "/v1/feedback/", json=body)

    @staticmethod
    def history(memory_id: str) -> Call:
        return Call("GET", f"/v1/memories/{memory_id}/history/")

    @staticmethod
    def batch_update(memories: list[dict[str, Any]]) -> Call:
        return Call("PUT", "/v1/batch/", json=_body(s.BatchUpdateRequest, {"memories": memories}))

    @staticmethod
    def batch_delete(memories: list[dict[str, Any] | str]) -> Call:
        items = [m if isinstance(m, dict) else {"memory_id": m} for m in memories]
        return Call("DELETE", "/v1/batch/", json=_body(s.BatchDeleteRequest, {"memories": items}))

    @staticmethod
    def users(page: int | None = None, page_size: int | None = None) -> Call:
        return Call("GET", "/v1/entities/",
                    params=_given({"page": page, "page_size": page_size}) or None)  # fmt: skip

    @staticmethod
    def delete_entity(kind: str, entity_id: str) -> Call:
        return Call("DELETE", f"/v2/entities/{kind}/{entity_id}/")

    @staticmethod
    def event(event_id: str) -> Call:
        return Call("GET", f"/v1/event/{event_id}/")

    @staticmethod
    def events(page: int, page_size: int) -> Call:
        return Call("GET", "/v1/events/", params={"page": page, "page_size": page_size})

    @staticmethod
    def stats() -> Call:
        return Call("GET", "/v1/stats/")

    @staticmethod
    def export_create(schema: Any, kwargs: dict[str, Any]) -> Call:
        return Call("POST", "/v1/exports/", json=_body(s.ExportRequest,
                                                       {**kwargs, "schema": schema}))

    @staticmethod
    def export_get(kwargs: dict[str, Any]) -> Call:
        return Call("POST", "/v1/exports/get/", json=_body(s.ExportGetRequest, kwargs))

    # webhooks (the hosted API's paths, as mem0ai 2.2.1 calls them)

    @staticmethod
    def webhooks(project_id: str) -> Call:
        return Call("GET", f"/api/v1/webhooks/projects/{project_id}/")

    @staticmethod
    def webhook_create(project_id: str, values: dict[str, Any]) -> Call:
        return Call("POST", f"/api/v1/webhooks/projects/{project_id}/",
                    json=_body(s.WebhookCreateRequest, values))

    @staticmethod
    def webhook_update(webhook_id: int | str, values: dict[str, Any]) -> Call:
        return Call("PUT", f"/api/v1/webhooks/{webhook_id}/",
                    json=_body(s.WebhookUpdateRequest, values))

    @staticmethod
    def webhook_delete(webhook_id: int | str) -> Call:
        return Call("DELETE", f"/api/v1/webhooks/{webhook_id}/")

    @staticmethod
    def webhook_deliveries(webhook_id: int | str | None, page: int, page_size: int) -> Call:
        path = f"/api/v1/webhooks/{webhook_id}/deliveries/" if webhook_id is not None else (
            "/api/v1/webhooks/deliveries/")  # fmt: skip
        return Call("GET", path, params={"page": page, "page_size": page_size})

    @staticmethod
    def profile(entity_id: str) -> Call:
        return Call("GET", f"/v2/entities/user/{entity_id}/profile/")

    @staticmethod
    def profile_job(body: dict[str, Any], key: str | None) -> Call:
        return Call("POST", "/v2/profiles/jobs/", json=_body(s.ProfileJobRequest, body),
                    headers={"Idempotency-Key": key or uuid.uuid4().hex})  # fmt: skip

    @staticmethod
    def profile_settings(body: dict[str, Any] | None = None) -> Call:
        if body is None:
            return Call("GET", "/v2/profiles/settings/")
        s.parse_request(s.ProfileSettingsUpdate, **body)  # null clears: sent as given
        return Call("POST", "/v2/profiles/settings/", json=body)

    @staticmethod
    def get_profile_job(job_id_or_status_url: str) -> Call:
        path = job_id_or_status_url
        return Call("GET", path if path.startswith("/") else f"/v2/profiles/jobs/{path}/")

    @staticmethod
    def summary(filters: dict[str, Any] | None) -> Call:
        return Call("POST", "/v1/summary/", json=_body(s.SummaryRequest, {"filters": filters}))

    @staticmethod
    def project_get(org: str, project: str, fields: list[str] | None) -> Call:
        path = f"/api/v1/orgs/organizations/{org}/projects/{project}/"
        return Call("GET", path, params={"fields": fields} if fields else None)

    @staticmethod
    def project_update(org: str, project: str, values: dict[str, Any]) -> Call:
        path = f"/api/v1/orgs/organizations/{org}/projects/{project}/"
        return Call("PATCH", path, json=_body(s.ProjectUpdateRequest, values))


def _entity_targets(
    user_id: str | None, agent_id: str | None, app_id: str | None, run_id: str | None
) -> list[tuple[str, str]]:
    pairs = [("user", user_id), ("agent", agent_id), ("app", app_id), ("run", run_id)]
    return [(kind, value) for kind, value in pairs if value]


# ------------------------------------------------------------------------- the base


class _Base:
    """Everything the sync and async clients share; they differ only in transport.

    The API methods return `self._send(call)`: a result in `MemoryClient`, an awaitable
    in `AsyncMemoryClient`, so each call is written once for both."""

    def __init__(
        self,
        api_key: str | None = None,
        host: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.25,
        fail_open: bool = False,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> None:
        self.api_key = api_key or os.environ.get("ENGRAM_API_KEY") or os.environ.get("MEM0_API_KEY")
        if not self.api_key:
            raise AuthenticationError("no API key: pass api_key= or set ENGRAM_API_KEY")
        self.host = (host or os.environ.get("ENGRAM_HOST") or DEFAULT_HOST).rstrip("/")
        self.timeout = timeout
        self.policy = RetryPolicy(retries, backoff)
        self.fail_open = fail_open
        self.org_id = org_id
        self.project_id = project_id
        self.headers = {"Authorization": f"Token {self.api_key}"}
        self._open()

    def _open(self) -> None:
        raise NotImplementedError

    def _send(self, call: Call) -> Any:
        raise NotImplementedError

    def _target(self) -> tuple[str, str]:
        return self.org_id or "default", self.project_id or "default"

    def _learn_target(self, pong: dict[str, Any]) -> dict[str, Any]:
        self.org_id = self.org_id or pong.get("org_id")
        self.project_id = self.project_id or pong.get("project_id")
        return pong

    def _fail_open(self, call: Call, exc: EngramError) -> Any:
        """The app keeps running when memory is down: reads come back empty, writes report."""
        down = isinstance(exc, BackendError | RateLimitError)
        if not (self.fail_open and down and call.fallback):
            raise exc
        log.warning("engram server unavailable, continuing without memory: %s", exc)
        return call.fallback(str(exc))

    @staticmethod
    def _parse(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise _error_for(response)
        return response.json() if response.content else {}

    # The API: Mem0's names and arguments.

    def add(self, messages: Any, **kwargs: Any) -> Any:
        return self._send(_Calls.add(messages, kwargs))

    def search(self, query: str, **kwargs: Any) -> Any:
        return self._send(_Calls.search(query, kwargs))

    def get_all(self, **kwargs: Any) -> Any:
        return self._send(_Calls.get_all(kwargs))

    def get(self, memory_id: str) -> Any:
        return self._send(_Calls.get(memory_id))

    def update(
        self, memory_id: str, text: str | None = None, metadata: dict[str, Any] | None = None,
        expiration_date: Any = s.UNSET, categories: list[str] | None = None,
        timestamp: Any = None,
    ) -> Any:  # fmt: skip
        return self._send(_Calls.update(memory_id, text, metadata, expiration_date, categories,
                                        timestamp))  # fmt: skip

    def delete(self, memory_id: str, delete_linked: bool = False) -> Any:
        """delete_linked: also the older memories this one superseded, transitively."""
        return self._send(_Calls.delete(memory_id, delete_linked))

    def delete_all(self, **kwargs: Any) -> Any:
        return self._send(_Calls.delete_all(kwargs))

    def history(self, memory_id: str) -> Any:
        return self._send(_Calls.history(memory_id))

    def feedback(
        self, memory_id: str, feedback: str | None = None, feedback_reason: str | None = None
    ) -> Any:
        return self._send(_Calls.feedback(memory_id, feedback, feedback_reason))

    def batch_update(self, memories: list[dict[str, Any]]) -> Any:
        return self._send(_Calls.batch_update(memories))

    def batch_delete(self, memories: list[dict[str, Any] | str]) -> Any:
        return self._send(_Calls.batch_delete(memories))

    def users(self, page: int | None = None, page_size: int | None = None) -> Any:
        return self._send(_Calls.users(page, page_size))

    entities = users

    def get_event(self, event_id: str) -> Any:
        return self._send(_Calls.event(event_id))

    def get_events(self, page: int = 1, page_size: int = 50) -> Any:
        """Queued adds, newest first: {count, next, previous, results}."""
        return self._send(_Calls.events(page, page_size))

    def get_stats(self) -> Any:
        """The project's counts (memories, entities, events, webhook deliveries)."""
        return self._send(_Calls.stats())

    def create_memory_export(self, schema: Any = None, **kwargs: Any) -> Any:
        """Export the project's memories (`user_id=...`, `filters=...` narrow it); `schema`'s
        properties pick the fields. Returns {message, id, status}."""
        return self._send(_Calls.export_create(schema, kwargs))

    def get_memory_export(self, **kwargs: Any) -> Any:
        """An export by `memory_export_id`, or the newest made with the same scope/filters."""
        return self._send(_Calls.export_get(kwargs))

    def get_webhooks(self, project_id: str) -> Any:
        return self._send(_Calls.webhooks(project_id))

    def create_webhook(self, url: str, name: str, project_id: str, event_types: list[str],
                       secret: str | None = None) -> Any:  # fmt: skip
        """`secret` signs the calls (X-Engram-Signature); by default the server makes one."""
        values = {"url": url, "name": name, "event_types": event_types, "secret": secret}
        return self._send(_Calls.webhook_create(project_id, values))

    def update_webhook(
        self, webhook_id: int | str, name: str | None = None, url: str | None = None,
        event_types: list[str] | None = None, *, is_active: bool | None = None,
        secret: str | None = None,
    ) -> Any:  # fmt: skip
        values = {"name": name, "url": url, "event_types": event_types,
                  "is_active": is_active, "secret": secret}  # fmt: skip
        return self._send(_Calls.webhook_update(webhook_id, values))

    def delete_webhook(self, webhook_id: int | str) -> Any:
        return self._send(_Calls.webhook_delete(webhook_id))

    def webhook_deliveries(self, webhook_id: int | str | None = None, *, page: int = 1,
                           page_size: int = 50) -> Any:  # fmt: skip
        """The delivery log (newest first, each with its attempts): one webhook's or all."""
        return self._send(_Calls.webhook_deliveries(webhook_id, page, page_size))

    # Profiles and summaries (engram.profiles), as mem0ai 2.2.1 names them.

    def get_profile(self, entity_id: str) -> Any:
        return self._send(_Calls.profile(entity_id))

    def generate_profile(self, entity_id: str, idempotency_key: str | None = None) -> Any:
        body = {"operation": "trigger", "entity_type": "user", "entity_id": entity_id}
        return self._send(_Calls.profile_job(body, idempotency_key))

    def sample_profiles(self, limit: int | None = None,
                        idempotency_key: str | None = None) -> Any:  # fmt: skip
        body = _given({"operation": "sample", "entity_type": "user", "limit": limit})
        return self._send(_Calls.profile_job(body, idempotency_key))

    def get_profile_job(self, job_id_or_status_url: str) -> Any:
        return self._send(_Calls.get_profile_job(job_id_or_status_url))

    def get_profile_settings(self) -> Any:
        return self._send(_Calls.profile_settings())

    def update_profile_settings(
        self, enabled: bool | None = None, schema: Any = s.UNSET, custom_instructions: Any = s.UNSET
    ) -> Any:
        """Only what is passed is written; None clears schema or instructions."""
        user = {k: v for k, v in (("schema", schema), ("custom_instructions",
                                                       custom_instructions)) if v is not s.UNSET}
        body: dict[str, Any] = {"enabled": enabled} if enabled is not None else {}
        if user:
            body["entities"] = {"user": user}
        return self._send(_Calls.profile_settings(body))

    def get_summary(self, filters: dict[str, Any] | None = None) -> Any:
        return self._send(_Calls.summary(filters))

    def delete_users(
        self,
        user_id: str | None = None,
        agent_id: str | None = None,
        app_id: str | None = None,
        run_id: str | None = None,
    ) -> Any:
        """Delete the named entities' memories; with no names, every entity's."""
        return self._delete_entities(_entity_targets(user_id, agent_id, app_id, run_id))

    def _delete_entities(self, targets: list[tuple[str, str]]) -> Any:
        raise NotImplementedError


def _deleted(counts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"message": "Entities deleted successfully.",
            "deleted": sum(c.get("deleted", 0) for c in counts)}  # fmt: skip


# --------------------------------------------------------------------- sync client


class MemoryClient(_Base):
    def _open(self) -> None:
        self._http = httpx.Client(base_url=self.host, headers=self.headers, timeout=self.timeout)
        self.project = Project(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MemoryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: Call) -> Any:
        try:
            return self._parse(self._request(call))
        except EngramError as exc:
            return self._fail_open(call, exc)

    def _request(self, call: Call) -> httpx.Response:
        for attempt in range(self.policy.retries + 1):
            last = attempt == self.policy.retries
            try:
                response = self._http.request(
                    call.method, call.path, json=call.json, params=call.params,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                if last:
                    raise UnreachableError(f"cannot reach {self.host}: {exc!r}") from exc
                time.sleep(self.policy.delay(attempt, None))
                continue
            if last or not self.policy.retryable(response):
                return response
            time.sleep(self.policy.delay(attempt, response))
        raise AssertionError("unreachable")

    def ping(self) -> dict[str, Any]:
        return self._learn_target(self._send(_Calls.ping()))

    def _ensure_target(self) -> None:
        """Project routes name the org and project; the server says which the key is for."""
        if not (self.org_id and self.project_id):
            self.ping()

    def _delete_entities(self, targets: list[tuple[str, str]]) -> dict[str, Any]:
        targets = targets or [(e["type"], e["id"]) for e in self.users()["results"]]
        return _deleted([self._send(_Calls.delete_entity(k, i)) for k, i in targets])


class Project:
    """`client.project.get()` / `.update(...)`, as in Mem0's client."""

    def __init__(self, client: MemoryClient) -> None:
        self._client = client

    def get(self, fields: list[str] | None = None) -> dict[str, Any]:
        self._client._ensure_target()
        return self._client._send(_Calls.project_get(*self._client._target(), fields))

    def update(
        self,
        custom_instructions: str | None = None,
        custom_categories: list[Any] | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        self._client._ensure_target()
        values = {"custom_instructions": custom_instructions,
                  "custom_categories": custom_categories, **settings}  # fmt: skip
        return self._client._send(_Calls.project_update(*self._client._target(), values))


# -------------------------------------------------------------------- async client


class AsyncMemoryClient(_Base):
    """The same methods as `MemoryClient`, as coroutines."""

    def _open(self) -> None:
        self._http = httpx.AsyncClient(
            base_url=self.host, headers=self.headers, timeout=self.timeout
        )
        self.project = AsyncProject(self)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMemoryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _send(self, call: Call) -> Any:
        try:
            return self._parse(await self._request(call))
        except EngramError as exc:
            return self._fail_open(call, exc)

    async def _request(self, call: Call) -> httpx.Response:
        for attempt in range(self.policy.retries + 1):
            last = attempt == self.policy.retries
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.json, params=call.params,
                    headers=call.headers,
                )
            except httpx.TransportError as exc:
                if last:
                    raise UnreachableError(f"cannot reach {self.host}: {exc!r}") from exc
                await asyncio.sleep(self.policy.delay(attempt, None))
                continue
            if last or not self.policy.retryable(response):
                return response
            await asyncio.sleep(self.policy.delay(attempt, response))
        raise AssertionError("unreachable")

    async def ping(self) -> dict[str, Any]:
        return self._learn_target(await self._send(_Calls.ping()))

    async def _ensure_target(self) -> None:
        if not (self.org_id and self.project_id):
            await self.ping()

    async def _delete_entities(self, targets: list[tuple[str, str]]) -> dict[str, Any]:
        targets = targets or [(e["type"], e["id"]) for e in (await self.users())["results"]]
        return _deleted([await self._send(_Calls.delete_entity(k, i)) for k, i in targets])


class AsyncProject:
    def __init__(self, client: AsyncMemoryClient) -> None:
        self._client = client

    async def get(self, fields: list[str] | None = None) -> dict[str, Any]:
        await self._client._ensure_target()
        return await self._client._send(_Calls.project_get(*self._client._target(), fields))

    async def update(
        self,
        custom_instructions: str | None = None,
        custom_categories: list[Any] | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        await self._client._ensure_target()
        values = {"custom_instructions": custom_instructions,
                  "custom_categories": custom_categories, **settings}  # fmt: skip
        return await self._client._send(_Calls.project_update(*self._client._target(), values))


__all__ = [
    "APIError",
    "AsyncMemoryClient",
    "AuthenticationError",
    "BackendError",
    "EngramError",
    "InvalidInputError",
    "MemoryClient",
    "MemoryNotFoundError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "UnreachableError",
    "ValidationError",
]
