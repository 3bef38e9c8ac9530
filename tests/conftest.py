"""Shared fixtures: every test gets its own ENGRAM_HOME, so no test touches ~/.engram."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engram.embeddings import Embedder, make_embedder


@pytest.fixture(autouse=True)
def engram_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "engram-home"
    monkeypatch.setenv("ENGRAM_HOME", str(home))
    for name in ("ENGRAM_DATABASE", "ENGRAM_LLM_MODEL", "ENGRAM_LLM_BASE_URL", "ENGRAM_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real offline model, loaded once per test session."""
    return make_embedder("local")


class Clock:
    """A settable clock for `Memory(clock=...)`, so tests can move time forward."""

    START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __init__(self) -> None:
        self.now = self.START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(embedder: Embedder, engram_home: Path) -> Iterator[object]:
    from engram import Memory

    m = Memory(embedder=embedder)
    yield m
    m.close()


# ---------------------------------------------------------------------------- storage backends


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL + pgvector for the session (ENGRAM_TEST_POSTGRES_URL, or a local one).

    Started only when a test asks for it; a missing dependency fails with its name, never skips.
    """
    from tests.support.postgres_server import session_server

    server = session_server()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    """A fresh, empty database on the session server."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_factory(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], object]]:
    """Opens stores of the parametrised backend on one fresh database (call it twice for two
    handles on the same data, as two processes would have)."""
    if backend == "postgres":
        location = request.getfixturevalue("postgres_url")
    else:
        location = str(tmp_path / "conformance.db")
    opened: list[object] = []

    def open_store() -> object:
        if backend == "postgres":
            from engram.stores.postgres import PostgresStore

            store = PostgresStore(location)
        else:
            from engram.stores.sqlite import SQLiteStore

            store = SQLiteStore(location)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    """In CI nothing skips quietly: a skipped test fails and says why it was skipped."""
    import os

    if os.environ.get("CI") and call.excinfo is not None and call.excinfo.errisinstance(
        pytest.skip.Exception
    ):
        reason = str(call.excinfo.value)
        call.excinfo = None
        raise AssertionError(f"skipped in CI: {reason}")
