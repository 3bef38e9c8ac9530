"""One bad input, one answer: `Memory`, the server (4xx JSON) and `MemoryClient` name the same
field and raise (or name) the same exception class, because all three validate through the
request models of engram.schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engram import (
    FilterError,
    InvalidInputError,
    Memory,
    MemoryNotFoundError,
    MissingScopeError,
)
from engram.client import MemoryClient
from tests.support.server_process import ServerProcess

MISSING = "00000000-0000-0000-0000-000000000000"

# (call, positional args, keyword args, field, class)
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, type[Exception]]] = [
    ("add", ("",), {"user_id": "max"}, "messages", InvalidInputError),
    ("add", ([{"role": "robot", "content": "hi"}],), {"user_id": "max"}, "messages[0].role",
     InvalidInputError),
    ("add", ([{"role": "user", "content": 5}],), {"user_id": "max"}, "messages[0].content",
     InvalidInputError),
    ("add", ("hi",), {}, "user_id", MissingScopeError),
    ("add", (42,), {"user_id": "max"}, "messages", InvalidInputError),
    ("add", (["hi"],), {"user_id": "max"}, "messages[0]", InvalidInputError),
    ("add", ("hi",), {"user_id": "x" * 300}, "user_id", InvalidInputError),
    ("add", ("hi",), {"user_id": "max", "metadata": ["a"]}, "metadata", InvalidInputError),
    ("add", ("hi",), {"user_id": "max", "expiration_date": "soon"}, "expiration_date",
     InvalidInputError),
    ("search", ("",), {"user_id": "max"}, "query", InvalidInputError),
    ("search", ("knee",), {}, "user_id", MissingScopeError),
    ("search", ("knee",), {"filters": {"user_id": {"like": "m"}}}, "filters.user_id.like",
     FilterError),
    ("search", ("knee",), {"user_id": "max", "limit": 0}, "limit", InvalidInputError),
    ("search", ("knee",), {"user_id": "max", "threshold": "high"}, "threshold",
     InvalidInputError),
    ("get_all", (), {"filters": {"OR": "nope"}}, "filters.OR", FilterError),
    ("get_all", (), {"user_id": "max", "page_size": 5000}, "page_size", InvalidInputError),
    ("get_all", (), {}, "user_id", MissingScopeError),
    ("delete_all", (), {}, "user_id", MissingScopeError),
    ("update", (MISSING,), {"text": ""}, "text", InvalidInputError),
    ("get", (MISSING,), {}, "memory_id", MemoryNotFoundError),
    ("history", (MISSING,), {}, "memory_id", MemoryNotFoundError),
]  # fmt: skip


def _ids(case: tuple) -> str:
    return f"{case[0]}-{case[3]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("home")) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[MemoryClient]:
    with MemoryClient(api_key=server.api_key, host=server.url, retries=0, timeout=60) as c:
        yield c


def _wire(server: ServerProcess, name: str, args: tuple, kwargs: dict) -> httpx.Response:
    """The raw request of a client that checks nothing (MemoryClient checks its input with
    the same models, so it never sends these), so the server's own answer can be read."""
    params = {k: kwargs.pop(k) for k in ("page", "page_size") if k in kwargs}
    body: dict[str, Any] | None = None
    if name == "add":
        method, path, body = "POST", "/v1/memories/", {"messages": args[0], **kwargs}
    elif name == "search":
        method, path, body = "POST", "/v2/memories/search/", {"query": args[0], **kwargs}
    elif name == "get_all":
        method, path, body = "POST", "/v2/memories/", kwargs
    elif name == "delete_all":
        method, path = "DELETE", "/v1/memories/"
        params = {k: json.dumps(v) if k == "filters" else v for k, v in kwargs.items()}
    elif name == "update":
        method, path, body = "PUT", f"/v1/memories/{args[0]}/", kwargs
    else:
        method, path = "GET", f"/v1/memories/{args[0]}/" + ("history/" if name == "history" else "")
    headers = {"Authorization": f"Token {server.api_key}"}
    return httpx.request(method, server.url + path, json=body, params=params or None,
                         headers=headers, timeout=60)  # fmt: skip


@pytest.mark.parametrize(("name", "args", "kwargs", "field", "cls"), CASES, ids=map(_ids, CASES))
def test_same_field_and_class_everywhere(
    memory: Memory,
    server: ServerProcess,
    client: MemoryClient,
    name: str,
    args: tuple,
    kwargs: dict,
    field: str,
    cls: type[Exception],
) -> None:
    with pytest.raises(cls) as local:
        getattr(memory, name)(*args, **kwargs)
    assert local.value.field == field

    answer = _wire(server, name, args, dict(kwargs))
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert (body["field"], body["error"]) == (field, type(local.value).__name__), body
    assert body["detail"]

    with pytest.raises(cls) as remote:
        getattr(client, name)(*args, **kwargs)
    assert type(remote.value) is type(local.value)
    assert remote.value.field == field


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"threshold": 3}, "threshold"),
        ({"custom_categories": "goals"}, "custom_categories"),
        ({"custom_categories": [{"a": 1, "b": 2}]}, "custom_categories[0]"),
        ({"custom_instructions": 5}, "custom_instructions"),
    ],
)
def test_project_settings_parity(
    memory: Memory, client: MemoryClient, settings: dict, field: str
) -> None:
    with pytest.raises(InvalidInputError) as local:
        memory.project.update(**settings)
    with pytest.raises(InvalidInputError) as remote:
        client.project.update(**settings)
    assert local.value.field == remote.value.field == field


def test_one_except_catches_library_and_client(memory: Memory, client: MemoryClient) -> None:
    from engram import EngramError

    for backend in (memory, client):
        with pytest.raises(EngramError):
            backend.search("", user_id="max")


def test_async_client_raises_the_same(server: ServerProcess) -> None:
    import asyncio

    from engram.client import AsyncMemoryClient

    async def scenario() -> None:
        async with AsyncMemoryClient(api_key=server.api_key, host=server.url, retries=0) as c:
            with pytest.raises(FilterError) as info:
                await c.search("knee", filters={"user_id": {"like": "m"}})
            assert info.value.field == "filters.user_id.like"
            with pytest.raises(MissingScopeError):
                await c.add("hi")

    asyncio.run(scenario())


def test_client_entities_have_the_library_shape(memory: Memory, client: MemoryClient) -> None:
    for backend in (memory, client):
        backend.add("Zoe swims on Mondays", user_id="zoe", infer=False)
        assert backend.entities()["results"][0]["id"] == "zoe"
    assert client.delete_users(user_id="zoe") == {
        "message": "Entities deleted successfully.", "deleted": 1
    }
    assert client.delete_users()["deleted"] == 0 and client.entities()["count"] == 0


def test_dates_are_taken_alike(memory: Memory, client: MemoryClient) -> None:
    from datetime import UTC, datetime

    when = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    for backend in (memory, client):
        added = backend.add("Ann races in May", user_id="ann", infer=False,
                            expiration_date=when)["results"][0]  # fmt: skip
        got = backend.get(added["id"])
        assert got["expiration_date"].startswith("2031-05-01T12:00:00")
        hits = backend.get_all(filters={"user_id": "ann", "expiration_date": {"gt": when.date()}})
        assert [r["id"] for r in hits["results"]] == [added["id"]]
        backend.delete_all(user_id="ann")
