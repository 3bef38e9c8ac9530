"""engram.client: typed errors, retries (only on 429/5xx/transport), fail_open, async parity."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from engram.client import (
    AsyncMemoryClient,
    AuthenticationError,
    MemoryClient,
    NotFoundError,
    ServerError,
    UnreachableError,
    ValidationError,
)
from tests.support.server_process import ServerProcess, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("home")) as proc:
        yield proc


def test_fail_open_search_returns_empty_within_timeout() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    client = MemoryClient(
        api_key="k", host=dead, timeout=1.0, retries=2, backoff=0.05, fail_open=True
    )
    started = time.monotonic()
    assert client.search("anything", user_id="max") == {"results": []}
    assert client.get_all(user_id="max") == {"results": []}
    added = client.add("I like tea", user_id="max")
    assert added["results"] == [] and "cannot reach" in added["error"]
    assert time.monotonic() - started < 5.0
    with pytest.raises(UnreachableError):  # no safe empty answer for a single memory
        client.get("some-id")


def test_without_fail_open_unreachable_raises() -> None:
    client = MemoryClient(
        api_key="k", host=f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01, timeout=1.0
    )
    with pytest.raises(UnreachableError) as info:
        client.search("x", user_id="max")
    assert isinstance(info.value, ConnectionError)


def test_4xx_raise_typed_errors_even_when_fail_open(server: ServerProcess) -> None:
    client = MemoryClient(api_key=server.api_key, host=server.url, fail_open=True)
    with pytest.raises(ValidationError) as info:
        client.search("x", filters={"user_id": {"regex": "m.*"}})
    # checked by the client with the server's own model: raised before any request
    assert info.value.status_code is None and info.value.field == "filters.user_id.regex"
    with pytest.raises(ValidationError) as info:
        client.add([], user_id="max")
    assert info.value.field == "messages"
    with pytest.raises(NotFoundError):
        client.get("missing")
    bad = MemoryClient(api_key="eng_wrong", host=server.url, fail_open=True)
    with pytest.raises(AuthenticationError) as auth:
        bad.search("x", user_id="max")
    assert auth.value.status_code == 401 and "API key" in auth.value.body["detail"]


class _Flaky(BaseHTTPRequestHandler):
    """Answers each path's first `fail` requests with its status, then 200."""

    plan: ClassVar[dict[str, tuple[int, int]]] = {}
    seen: ClassVar[dict[str, int]] = {}

    def _answer(self) -> None:
        count = self.seen[self.path] = self.seen.get(self.path, 0) + 1
        status, fail = self.plan.get(self.path.split("?")[0], (200, 0))
        code = status if count <= fail else 200
        body = b'{"results": [], "detail": "flaky"}'
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    _Flaky.seen = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_retries_5xx_and_429_but_never_4xx(flaky: str) -> None:
    _Flaky.plan = {
        "/v2/memories/search/": (503, 2),
        "/v2/memories/": (429, 1),
        "/v1/memories/x/": (404, 5),
    }
    client = MemoryClient(api_key="k", host=flaky, retries=3, backoff=0.01)
    assert client.search("q", user_id="u") == {"results": [], "detail": "flaky"}
    assert _Flaky.seen["/v2/memories/search/"] == 3
    client.get_all(user_id="u")
    assert _Flaky.seen["/v2/memories/"] == 2
    with pytest.raises(NotFoundError):
        client.get("x")
    assert _Flaky.seen["/v1/memories/x/"] == 1


def test_5xx_after_retries_is_server_error_or_fail_open(flaky: str) -> None:
    _Flaky.plan = {"/v2/memories/search/": (500, 99)}
    client = MemoryClient(api_key="k", host=flaky, retries=1, backoff=0.01)
    with pytest.raises(ServerError):
        client.search("q", user_id="u")
    safe = MemoryClient(api_key="k", host=flaky, retries=1, backoff=0.01, fail_open=True)
    assert safe.search("q", user_id="u") == {"results": []}


def test_async_client_has_the_same_surface(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncMemoryClient(api_key=server.api_key, host=server.url, timeout=60) as c:
            assert (await c.ping())["project_id"] == "default"
            await c.project.update(custom_instructions="async notes")
            assert (await c.project.get())["custom_instructions"] == "async notes"
            added = await c.add(
                "My favourite race is the Berlin marathon.", user_id="ann", infer=False
            )
            memory_id = added["results"][0]["id"]
            hits = await c.search("which race?", filters={"user_id": "ann"})
            assert hits["results"][0]["id"] == memory_id
            assert (await c.get_all(user_id="ann", page=1, page_size=5))["count"] == 1
            await c.update(memory_id, text="My favourite race is Boston.")
            assert [h["event"] for h in await c.history(memory_id)] == ["ADD", "UPDATE"]
            assert (await c.users())["results"][0]["id"] == "ann"
            await c.batch_delete([memory_id])
            with pytest.raises(NotFoundError):
                await c.get(memory_id)
            assert (await c.delete_users(user_id="ann"))["deleted"] == 0

    asyncio.run(scenario())


def test_env_configuration(
    server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENGRAM_API_KEY", server.api_key)
    monkeypatch.setenv("ENGRAM_HOST", server.url)
    assert MemoryClient().ping()["status"] == "ok"
    monkeypatch.delenv("ENGRAM_API_KEY")
    monkeypatch.delenv("MEM0_API_KEY", raising=False)
    with pytest.raises(AuthenticationError):
        MemoryClient()
