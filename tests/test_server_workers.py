"""Several server processes share one store: concurrent writes through two workers all land,
on SQLite (one file in WAL mode) and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engram import MemoryClient
from tests.support.server_process import ServerProcess

WRITES = 40


def hammer(server: ServerProcess) -> set[str]:
    def add(i: int) -> str:
        with MemoryClient(api_key=server.api_key, host=server.url, timeout=60) as client:
            result = client.add(f"fact number {i}", user_id=f"user{i % 4}", infer=False)
            return result["results"][0]["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return set(pool.map(add, range(WRITES)))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_workers_lose_no_write(backend: str, engram_home: Path, request) -> None:
    env = {"ENGRAM_API_KEY": "eng_workers_test_key_0123456789abcdef"}
    if backend == "postgres":
        env["ENGRAM_DATABASE"] = request.getfixturevalue("postgres_url")
    with ServerProcess(engram_home, env=env, workers=2) as server:
        ids = hammer(server)
        with MemoryClient(api_key=server.api_key, host=server.url) as client:
            stored = {
                r["id"]
                for u in range(4)
                for r in client.get_all(user_id=f"user{u}", page_size=100)["results"]
            }
    assert len(ids) == WRITES
    assert stored == ids
