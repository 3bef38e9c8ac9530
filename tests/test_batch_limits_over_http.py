"""Batches over real HTTP, on SQLite and PostgreSQL: 1,000 memories are updated or deleted
in one all-or-nothing call (one unknown id among them changes nothing), and a 1,001st item
is a 400 naming it (`memories[1000]`), in the library as over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram import InvalidInputError, Memory
from engram.models import MAX_PAGE_SIZE
from tests.support.server_process import ServerProcess


@pytest.fixture
def api(backend: str, request: pytest.FixtureRequest, engram_home: Path) -> Iterator[httpx.Client]:
    env = {}
    if backend == "postgres":
        env["ENGRAM_DATABASE"] = request.getfixturevalue("postgres_url")
    with ServerProcess(engram_home, env=env) as server, httpx.Client(
        base_url=server.url, timeout=300, headers={"Authorization": f"Token {server.api_key}"}
    ) as client:  # fmt: skip
        yield client


def _all(api: httpx.Client) -> list[dict[str, object]]:
    return api.get("/v1/memories/", params={"user_id": "max", "page_size": 1000}).json()["results"]


def test_a_thousand_at_once_all_or_nothing(api: httpx.Client) -> None:
    turns = [{"role": "user", "content": f"Training note number {i}."}
             for i in range(MAX_PAGE_SIZE)]  # fmt: skip
    added = api.post("/v1/memories/", json={"messages": turns, "user_id": "max", "infer": False,
                                            "async_mode": False})  # fmt: skip
    ids = [m["id"] for m in added.json()["results"]]
    assert len(ids) == MAX_PAGE_SIZE

    items = [{"memory_id": i, "metadata": {"n": n}} for n, i in enumerate(ids)]
    spoiled = [*items[:-1], {"memory_id": "no-such-memory", "metadata": {"n": 0}}]
    r = api.put("/v1/batch/", json={"memories": spoiled})
    assert r.status_code == 404 and r.json()["field"] == "memory_id", r.text
    assert all(m["metadata"] is None for m in _all(api))  # nothing changed

    r = api.put("/v1/batch/", json={"memories": [*items, items[0]]})
    assert r.status_code == 400 and r.json()["field"] == "memories[1000]", r.text
    r = api.put("/v1/batch/", json={"memories": items})
    assert r.status_code == 200, r.text
    assert sorted(m["metadata"]["n"] for m in _all(api)) == list(range(MAX_PAGE_SIZE))

    gone = [{"memory_id": i} for i in ids]
    r = api.request("DELETE", "/v1/batch/", json={"memories": [*gone[:-1], {"memory_id": "x"}]})
    assert r.status_code == 404 and len(_all(api)) == MAX_PAGE_SIZE
    r = api.request("DELETE", "/v1/batch/", json={"memories": [*gone, gone[0]]})
    assert r.status_code == 400 and r.json()["field"] == "memories[1000]", r.text
    r = api.request("DELETE", "/v1/batch/", json={"memories": gone})
    assert r.status_code == 200 and _all(api) == []


def test_the_library_names_the_item_past_the_limit(memory: Memory) -> None:
    too_many = ["id"] * (MAX_PAGE_SIZE + 1)
    with pytest.raises(InvalidInputError) as caught:
        memory.batch_delete(too_many)
    assert caught.value.field == f"memory_ids[{MAX_PAGE_SIZE}]"
    with pytest.raises(InvalidInputError) as caught:
        memory.batch_update([{"memory_id": "id", "text": "x"}] * (MAX_PAGE_SIZE + 1))
    assert caught.value.field == f"memories[{MAX_PAGE_SIZE}]"
