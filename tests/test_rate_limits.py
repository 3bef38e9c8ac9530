"""Per-key rate limits over real HTTP, on SQLite and PostgreSQL: each key has its own
budget; past it the server answers 429 with Retry-After and X-RateLimit-* headers (as the
official clients read them) and MemoryClient raises RateLimitError with retry_after; a key
can get its own limit (`engram keys limit`), and a client that waits Retry-After gets in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram import AsyncMemoryClient, MemoryClient
from engram.errors import RateLimitError
from engram.server.auth import KeyStore
from engram.server.ratelimit import RateLimiter
from engram.server.state import default_auth_path
from tests.conftest import BACKENDS
from tests.support.server_process import ServerProcess

DAY = 86_400  # a window no test run crosses (it would reset the count)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[ServerProcess, str, Path]]:  # fmt: skip
    """One server per backend, every key limited to 3 requests a day."""
    home = tmp_path_factory.mktemp("home")
    pg = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    database = pg.create_database() if pg else str(home / "engram.db")
    env = {"ENGRAM_DATABASE": database, "ENGRAM_RATE_LIMIT": f"3/{DAY}"}
    with ServerProcess(home, env=env) as server:
        yield server, database, home
    if pg:
        pg.drop_database(database)


def _state(database: str, home: Path) -> str | Path:
    return database if database.startswith("postgresql") else default_auth_path(home / "x.db")


def _get(server: ServerProcess, key: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/ping/", headers={"Authorization": f"Token {key}"})


def test_each_key_gets_its_budget_then_429_with_headers(served) -> None:
    server, database, home = served
    answers = [_get(server, server.api_key) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in answers} == {"3"}
    refused = answers[-1]
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= DAY and int(refused.headers["X-RateLimit-Reset"]) == retry_after
    assert refused.json()["error"] == "RateLimitError" and refused.json()["retry_after"]

    client = MemoryClient(api_key=server.api_key, host=server.url, retries=0)
    with client, pytest.raises(RateLimitError) as caught:
        client.get_all(user_id="max")
    assert caught.value.status_code == 429 and 0 < caught.value.retry_after <= retry_after

    async def async_call() -> None:
        async with AsyncMemoryClient(api_key=server.api_key, host=server.url,
                                     retries=0) as client:  # fmt: skip
            await client.search("anything", user_id="max")

    with pytest.raises(RateLimitError):
        asyncio.run(async_call())

    keys = KeyStore(_state(database, home))
    other = keys.create_key("default", name="second")
    keys.close()
    assert _get(server, other).status_code == 200  # another key, another budget


def test_a_key_can_have_its_own_limit_and_a_client_waits_it_out(served) -> None:
    server, database, home = served
    keys = KeyStore(_state(database, home))
    tight, free, brief = (keys.create_key("default") for _ in range(3))
    keys.close()
    assert _limit(home, database, tight[:12], f"1/{DAY}").returncode == 0
    assert _limit(home, database, free[:12], "off").returncode == 0
    assert _limit(home, database, brief[:12], "2/2").returncode == 0
    bad = _limit(home, database, free[:12], "lots")
    assert bad.returncode == 1 and "REQUESTS/SECONDS" in bad.stderr
    time.sleep(RateLimiter.RELOAD_SECONDS + 0.5)  # servers reread key limits this often
    assert [_get(server, tight).status_code for _ in range(2)] == [200, 429]
    unlimited = [_get(server, free) for _ in range(5)]
    assert {r.status_code for r in unlimited} == {200}
    assert "X-RateLimit-Limit" not in unlimited[0].headers

    with MemoryClient(api_key=brief, host=server.url, retries=2) as client:
        answers = [client.get_all(user_id="max") for _ in range(4)]  # 2 per 2 s
    assert all(a["results"] == [] for a in answers)  # none raised: it waited and retried


def _limit(home: Path, database: str, prefix: str, value: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    env.update(ENGRAM_HOME=str(home), ENGRAM_DATABASE=database)
    return subprocess.run([sys.executable, "-m", "engram.cli", "keys", "limit", prefix, value],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
