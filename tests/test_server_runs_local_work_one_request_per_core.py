"""A server worker whose work is all computation in its own process (the bundled embedder,
SQLite, no LLM) runs as many requests at once as it has cores: more threads only took turns
on the GIL (engram/server/concurrency.py). Work that waits on the network keeps anyio's
pool; ENGRAM_REQUEST_THREADS overrides either."""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from engram import Memory
from engram.errors import InvalidInputError
from engram.server.app import create_app
from engram.server.concurrency import (
    ENV,
    WAITING_REQUEST_THREADS,
    WORKER_CORES_ENV,
    request_threads,
)


def served_threads(database: Path) -> int:
    """The thread limit the app's routes run under, once the app has started."""
    app = create_app(str(database))
    with TestClient(app) as client:
        return client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter()
                                  .total_tokens)  # fmt: skip


def test_local_work_gets_the_workers_cores(engram_home: Path, monkeypatch) -> None:
    monkeypatch.setenv(WORKER_CORES_ENV, "1")  # what `engram serve` sets: cores / workers
    assert served_threads(engram_home / "engram.db") == 1
    monkeypatch.setenv(WORKER_CORES_ENV, "3")
    assert served_threads(engram_home / "engram.db") == 3


def test_without_engram_serve_a_worker_has_every_core(engram_home: Path, monkeypatch) -> None:
    monkeypatch.delenv(WORKER_CORES_ENV, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    with Memory({"database": str(engram_home / "engram.db")}) as memory:
        assert request_threads(memory) == 6


def test_an_llm_makes_requests_wait_so_the_pool_stays(engram_home: Path, embedder) -> None:
    llm = {"base_url": "http://127.0.0.1:9/v1", "api_key": "k", "model": "m"}  # never called
    config = {"database": str(engram_home / "engram.db"), "llm": llm}
    with Memory(config, embedder=embedder) as memory:
        assert request_threads(memory) == WAITING_REQUEST_THREADS


def test_the_environment_overrides(engram_home: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, "8")
    assert served_threads(engram_home / "engram.db") == 8


@pytest.mark.parametrize("value", ["0", "-2", "many", "1.5"])
def test_a_bad_setting_is_a_clear_error(value: str, engram_home: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, value)
    with (Memory({"database": str(engram_home / "engram.db")}) as memory,
          pytest.raises(InvalidInputError, match=ENV) as caught):  # fmt: skip
        request_threads(memory)
    assert caught.value.field == ENV
