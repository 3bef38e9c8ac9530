"""A backend that fails (here: an embedder whose endpoint is down) is a 503 JSON body naming
the error class, never a 500 text/plain; the client raises the library's BackendError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram import BackendError, EngramError
from engram.client import MemoryClient
from tests.support.server_process import ServerProcess, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    closed = free_port()  # nothing listens here: every embedding call fails to connect
    env = {
        "ENGRAM_EMBEDDER": "openai",
        "ENGRAM_EMBEDDING_BASE_URL": f"http://127.0.0.1:{closed}/v1",
        "ENGRAM_EMBEDDING_API_KEY": "unused",
        "ENGRAM_EMBEDDING_DIMS": "384",
    }
    with ServerProcess(tmp_path_factory.mktemp("home"), env=env) as proc:
        yield proc


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v2/memories/search/", {"query": "knee", "user_id": "max"}),
        ("/v1/memories/", {"messages": "My knee hurts", "user_id": "max", "infer": False}),
    ],
)
def test_embedder_failure_is_503_json(server: ServerProcess, path: str, body: dict) -> None:
    r = httpx.post(
        server.url + path,
        json=body,
        headers={"Authorization": f"Token {server.api_key}"},
        timeout=60,
    )
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    answer = r.json()
    assert answer["error"] == "EmbeddingError" and "field" in answer and answer["detail"]


def test_client_raises_the_library_backend_error(server: ServerProcess, tmp_path: Path) -> None:
    client = MemoryClient(api_key=server.api_key, host=server.url, retries=0, timeout=60)
    with pytest.raises(BackendError) as info:
        client.search("knee", user_id="max")
    assert info.value.status_code == 503
    assert isinstance(info.value, EngramError)
    # reads that need no embedding still work while the embedder is down
    assert client.get_all(user_id="max")["results"] == []
