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


def test_default_workers_one_per_core_where_the_store_is_shared(monkeypatch) -> None:
    from engram.server import MAX_DEFAULT_WORKERS, default_workers

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_workers("engram.db") == 2
    assert default_workers("postgresql://u@h/db") == 2
    assert default_workers(":memory:") == 1  # lives in one process
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_workers(None) == MAX_DEFAULT_WORKERS
