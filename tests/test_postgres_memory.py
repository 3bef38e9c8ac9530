"""Engram on PostgreSQL end to end: the pipeline, shared use by several handles, the server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engram.client import MemoryClient
from engram.config import MemoryConfig
from engram.memory import Memory
from engram.server.state import default_auth_path
from engram.stores.postgres import MIGRATIONS, PostgresStore
from tests.conftest import Clock
from tests.support.server_process import ServerProcess

CATEGORIES = [
    {"goals": "Race targets and training objectives"},
    {"constraints": "Injuries, limitations, recovery needs"},
    {"preferences": "Training style, surfaces, schedules"},
]


@pytest.fixture
def ray(embedder, clock: Clock, postgres_url: str) -> Iterator[Memory]:
    m = Memory({"database": postgres_url}, embedder=embedder, clock=clock)
    m.project.update(custom_categories=CATEGORIES)
    yield m
    m.close()


def turn(m: Memory, text: str) -> list[dict]:
    messages = [{"role": "user", "content": text}, {"role": "assistant", "content": "Noted."}]
    return m.add(messages, user_id="max")["results"]


def test_memory_uses_postgres(ray: Memory) -> None:
    assert isinstance(ray.store, PostgresStore)


def test_seed_basics_on_postgres(ray: Memory, clock: Clock) -> None:
    goal = turn(ray, "I want to run a marathon in under 4 hours")[0]
    turn(ray, "My right knee flares up on downhills")
    found = ray.search(
        "injury concerns",
        filters={"AND": [{"user_id": "max"}, {"categories": {"in": ["constraints"]}}]},
        threshold=0.0,
    )["results"]
    assert [r["memory"] for r in found] == ["Max's right knee flares up on downhills"]

    changed = turn(ray, "Actually I now want to run a marathon in under 3:45")
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", goal["id"])]
    assert ray.get(goal["id"])["memory"] == "Max now wants to run a marathon in under 3:45"
    history = ray.history(goal["id"])
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert history[1]["old_memory"] == "Max wants to run a marathon in under 4 hours"

    assert ray.get_all(user_id="max")["count"] == 2
    ray.delete_all(user_id="max")
    assert ray.get_all(user_id="max")["count"] == 0
    assert [h["event"] for h in ray.history(goal["id"])][-1] == "DELETE"


def test_two_handles_share_one_database(embedder, postgres_url: str) -> None:
    """Two Memory objects stand in for two server processes on one database."""
    first = Memory({"database": postgres_url}, embedder=embedder)
    second = Memory({"database": postgres_url}, embedder=embedder)
    try:
        added = first.add("I swim on Sundays", user_id="bob", infer=False)["results"]
        assert [r["memory"] for r in second.get_all(user_id="bob")["results"]] == [
            "I swim on Sundays"
        ]
        second.update(added[0]["id"], "I swim on Saturdays")
        assert first.get(added[0]["id"])["memory"] == "I swim on Saturdays"
    finally:
        first.close()
        second.close()


def test_concurrent_schema_creation_is_safe(postgres_url: str) -> None:
    """Several processes starting at once on an empty database must all come up (a process
    shares one pool per database, so only separate processes race on the schema)."""
    code = (
        "import sys; from engram.stores.postgres import MIGRATIONS, PostgresStore; "
        "PostgresStore(sys.argv[1]).close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    failures = [p.stderr.read().decode() for p in procs if p.wait(timeout=120) != 0]
    assert failures == []
    store = PostgresStore(postgres_url)
    try:
        assert store._rows("SELECT version FROM engram_schema") == [(MIGRATIONS[-1].version,)]
    finally:
        store.close()


def test_concurrent_writers_lose_nothing(embedder, postgres_url: str) -> None:
    m = Memory({"database": postgres_url}, embedder=embedder)
    try:

        def add(i: int) -> None:
            m.add(f"fact number {i} about the sea", user_id="w", infer=False)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert m.get_all(user_id="w")["count"] == 8
    finally:
        m.close()


def test_rest_server_keeps_memories_in_postgres(
    postgres_url: str, engram_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may land in the working directory
    env = {"ENGRAM_DATABASE": postgres_url, "ENGRAM_API_KEY": "test-key-postgres"}
    with ServerProcess(engram_home, env=env) as server:
        client = MemoryClient(api_key=server.api_key, host=server.url, timeout=60)
        added = client.add("I run at dawn", user_id="max", infer=False)["results"]
        assert [r["memory"] for r in added] == ["I run at dawn"]
        server.restart()
        client = MemoryClient(api_key=server.api_key, host=server.url, timeout=60)
        assert [r["memory"] for r in client.get_all(user_id="max")["results"]] == ["I run at dawn"]
    store = PostgresStore(postgres_url)
    try:
        assert [r.memory for r in store.get("default", [added[0]["id"]])] == ["I run at dawn"]
    finally:
        store.close()
    assert not (engram_home / "engram.db").exists()  # memories never went to SQLite
    assert list(cwd.iterdir()) == []
    assert not (engram_home / "server.db").exists()  # keys and events are in PostgreSQL too


def test_server_key_store_stays_in_engram_home(engram_home: Path) -> None:
    url = "postgresql://user@db.example:5432/engram"
    assert default_auth_path(MemoryConfig(database=url).database_path()).parent == engram_home
