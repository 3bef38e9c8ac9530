"""Exports, the event feed and the project's counts over real HTTP, on SQLite and
PostgreSQL: an export holds a project's memories (optionally filtered, fields picked by the
schema) in `engram export`'s own line format; events page with next/previous links; stats
count what the project holds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engram import AsyncMemoryClient, MemoryClient
from engram.errors import InvalidInputError, NotFoundError
from tests.conftest import BACKENDS
from tests.support.server_process import ServerProcess, wait_for_event


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[ServerProcess, dict[str, str]]]:  # fmt: skip
    home = tmp_path_factory.mktemp("home")
    env, url = {}, None
    if request.param == "postgres":
        pg = request.getfixturevalue("postgres_server")
        url = pg.create_database()
        env["ENGRAM_DATABASE"] = url
    with ServerProcess(home, env=env) as server:
        yield server, {"ENGRAM_HOME": str(home), **env}
    if url:
        pg.drop_database(url)


@pytest.fixture(scope="module")
def memories(served: tuple[ServerProcess, dict[str, str]]) -> list[dict[str, Any]]:
    """Three memories of max (one updated), one of ana, stored by queued adds."""
    server, _ = served
    with _http(server) as c:
        events = [c.post("/v1/memories/", json={"messages": text, "user_id": who, "infer": False,
                                                "async_mode": True}).json()["results"][0]
                  for who, text in (("max", "Max runs on Mondays."), ("max", "Max swims."),
                                    ("max", "Max owns a red bike."), ("ana", "Ana rows."))]
        done = [wait_for_event(c, e["event_id"]) for e in events]
        assert {e["status"] for e in done} == {"SUCCEEDED"}, done
        first = done[0]["results"][0]["id"]
        assert c.put(f"/v1/memories/{first}/", json={"text": "Max runs on Tuesdays."}
                     ).status_code == 200  # fmt: skip
        return c.get("/v1/memories/", params={"user_id": "*", "agent_id": "*", "app_id": "*",
                                              "run_id": "*"}).json()["results"]  # fmt: skip


def _http(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=120,
                        headers={"Authorization": f"Token {server.api_key}"})  # fmt: skip


def _client(server: ServerProcess) -> MemoryClient:
    return MemoryClient(api_key=server.api_key, host=server.url, retries=0)


def test_export_is_engram_exports_format(served, memories) -> None:
    server, env = served
    with _client(server) as client:
        made = client.create_memory_export("{}")
        assert made["status"] == "COMPLETED"
        export = client.get_memory_export(memory_export_id=made["id"])
    assert export["count"] == 4 and export["format"] == "engram-export"
    by_cli = _cli_export(env)
    assert {m["id"]: m for m in export["memories"]} == by_cli  # the very lines of `engram export`
    updated = next(m for m in export["memories"] if m["memory"] == "Max runs on Tuesdays.")
    assert [h["event"] for h in updated["history"]] == ["ADD", "UPDATE"]


def test_export_filters_and_schema_fields(served, memories) -> None:
    server, _ = served
    schema = {"type": "object", "properties": {"memory": {"type": "string"},
                                               "categories": {"type": "array"}}}
    with _client(server) as client:
        made = client.create_memory_export(json.dumps(schema), user_id="max",
                                           filters={"memory": {"contains": "Max"}})
        by_filters = client.get_memory_export(user_id="max",
                                              filters={"memory": {"contains": "Max"}})
        assert by_filters["id"] == made["id"]  # the newest export asked with the same filters
        assert by_filters["count"] == 3
        assert {tuple(sorted(m)) for m in by_filters["memories"]} == {
            ("categories", "id", "memory")}
        with pytest.raises(InvalidInputError) as bad:
            client.create_memory_export({"properties": {"favourite_colour": {}}})
        assert bad.value.field == "schema.properties.favourite_colour"
        with pytest.raises(NotFoundError):
            client.get_memory_export(user_id="nobody")

    async def through_async() -> dict[str, Any]:
        async with AsyncMemoryClient(api_key=server.api_key, host=server.url) as client:
            made = await client.create_memory_export(None, user_id="ana")
            return await client.get_memory_export(memory_export_id=made["id"])

    ana = asyncio.run(through_async())
    assert [m["memory"] for m in ana["memories"]] == ["Ana rows."]


def test_event_feed_pages_and_stats_count(served, memories) -> None:
    server, _ = served
    with _client(server) as client:
        first = client.get_events(page=1, page_size=3)
        second = client.get_events(page=2, page_size=3)
        stats = client.get_stats()
        one = client.get_event(second["results"][0]["id"])
    assert first["count"] == second["count"] == 4
    assert len(first["results"]) == 3 and len(second["results"]) == 1
    assert first["previous"] is None and "page=2" in first["next"]
    assert second["next"] is None and "page=1" in second["previous"]
    ids = [e["id"] for e in first["results"] + second["results"]]
    assert len(set(ids)) == 4 and one["id"] == ids[-1]
    assert stats["total_memories"] == len(memories) == 4
    assert (stats["total_users"], stats["total_agents"], stats["total_entities"]) == (2, 0, 2)
    assert stats["total_events"] == 4 and stats["events_by_status"] == {"SUCCEEDED": 4}
    assert stats["total_webhooks"] == 0


def _cli_export(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    done = subprocess.run([sys.executable, "-m", "engram.cli", "export", "-", "--no-embeddings"],
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(raw) for raw in done.stdout.splitlines() if raw.strip()]
    return {m["id"]: m for m in lines}
