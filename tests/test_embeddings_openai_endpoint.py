"""OpenAIEmbedder against a real local HTTP server speaking POST /v1/embeddings."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from engram.embeddings import Embedder, EmbeddingError, OpenAIEmbedder, make_embedder

NATIVE_DIMS = 12


def server_vector(text: str, dims: int) -> list[float]:
    """Deterministic, deliberately non-unit vector (norm grows with the text)."""
    digest = hashlib.sha256(text.encode()).digest()
    scale = 1.0 + len(text)
    return [scale * (digest[i % len(digest)] - 127.5) for i in range(dims)]


def unit(text: str, dims: int = NATIVE_DIMS) -> np.ndarray:
    v = np.array(server_vector(text, dims), dtype=np.float32)
    return v / np.linalg.norm(v)


@dataclass
class FakeEndpoint:
    """What the server saw and how it should misbehave."""

    requests: list[dict] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    fail_status: int | None = None
    delay: float = 0.0
    drop_last_row: bool = False
    url: str = ""


def make_handler(state: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.auth.append(self.headers.get("Authorization"))
            if self.path != "/v1/embeddings":
                return self._send(404, {"error": {"message": "no such route"}})
            if state.delay:
                time.sleep(state.delay)
            if state.fail_status:
                return self._send(
                    state.fail_status,
                    {"error": {"message": "model exploded", "type": "server_error"}},
                )
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dims = body.get("dimensions", NATIVE_DIMS)
            data = [
                {"object": "embedding", "index": i, "embedding": server_vector(t, dims)}
                for i, t in enumerate(inputs)
            ]
            data.reverse()  # out of order on purpose: clients must sort by index
            if state.drop_last_row:
                data = data[1:]
            usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": usage,
                },
            )

        def _send(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture()
def endpoint() -> Iterator[FakeEndpoint]:
    state = FakeEndpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def embedder(ep: FakeEndpoint, **kwargs: object) -> OpenAIEmbedder:
    opts: dict = {
        "model": "fake-embed",
        "base_url": ep.url,
        "api_key": "sk-test",
        "max_retries": 0,
        "timeout": 5.0,
    }
    opts.update(kwargs)
    return OpenAIEmbedder(**opts)


def test_batches_preserve_order_and_normalise(endpoint: FakeEndpoint) -> None:
    texts = [f"memory number {i} " + "x" * i for i in range(10)]
    emb = embedder(endpoint, batch_size=4)
    vecs = emb.embed(texts)
    assert [len(r["input"]) for r in endpoint.requests] == [4, 4, 2]
    assert all(
        r["model"] == "fake-embed" and r["encoding_format"] == "float" for r in endpoint.requests
    )
    assert "dimensions" not in endpoint.requests[0]
    assert endpoint.auth[0] == "Bearer sk-test"
    assert vecs.shape == (10, NATIVE_DIMS) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vecs, np.vstack([unit(t) for t in texts]), atol=1e-6)


def test_dims_learned_from_response_and_model_id(endpoint: FakeEndpoint) -> None:
    emb = embedder(endpoint)
    assert isinstance(emb, Embedder)
    assert emb.model_id == "fake-embed"
    assert emb.dims == NATIVE_DIMS  # one probe request
    assert len(endpoint.requests) == 1
    assert emb.embed([]).shape == (0, NATIVE_DIMS)
    assert len(endpoint.requests) == 1  # empty input sends nothing


def test_requested_dimensions_are_sent_and_checked(endpoint: FakeEndpoint) -> None:
    emb = embedder(endpoint, dims=5)
    assert emb.dims == 5 and emb.model_id == "fake-embed@5"
    vecs = emb.embed(["a", "b"])
    assert endpoint.requests[0]["dimensions"] == 5
    assert vecs.shape == (2, 5)
    assert np.allclose(vecs[0], unit("a", 5), atol=1e-6)


def test_wrong_width_is_an_error(endpoint: FakeEndpoint) -> None:
    emb = OpenAIEmbedder(
        "text-embedding-3-small", base_url=endpoint.url, api_key="k", max_retries=0
    )
    assert emb.dims == 1536  # known model, no probe needed
    with pytest.raises(EmbeddingError, match="12-dim embeddings, expected 1536"):
        emb.embed(["hi"])


def test_missing_rows_is_an_error(endpoint: FakeEndpoint) -> None:
    endpoint.drop_last_row = True
    with pytest.raises(EmbeddingError, match="returned 2 embeddings for 3 inputs"):
        embedder(endpoint).embed(["a", "b", "c"])


def test_empty_string_is_sent_as_space(endpoint: FakeEndpoint) -> None:
    vecs = embedder(endpoint).embed(["", "x"])
    assert endpoint.requests[0]["input"] == [" ", "x"]
    assert np.allclose(vecs[0], unit(" "), atol=1e-6)


def test_http_500_names_the_endpoint(endpoint: FakeEndpoint) -> None:
    endpoint.fail_status = 500
    with pytest.raises(EmbeddingError) as info:
        embedder(endpoint).embed(["hello"])
    message = str(info.value)
    assert endpoint.url in message and "HTTP 500" in message and "model exploded" in message


def test_retries_then_gives_up(endpoint: FakeEndpoint) -> None:
    endpoint.fail_status = 503
    with pytest.raises(EmbeddingError, match="HTTP 503"):
        embedder(endpoint, max_retries=1).embed(["hello"])
    assert len(endpoint.requests) == 2


def test_connection_refused_is_a_clear_error() -> None:
    # A port that was free a moment ago and has no listener now.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    emb = OpenAIEmbedder("fake-embed", base_url=url, api_key="k", max_retries=0, timeout=2.0)
    with pytest.raises(EmbeddingError, match="connection failed") as info:
        emb.embed(["hello"])
    assert url in str(info.value)


def test_timeout_is_a_clear_error(endpoint: FakeEndpoint) -> None:
    endpoint.delay = 2.0
    started = time.monotonic()
    with pytest.raises(EmbeddingError, match=r"timed out after 0\.3s"):
        embedder(endpoint, timeout=0.3).embed(["slow"])
    assert time.monotonic() - started < 1.5


def test_make_embedder_openai_from_env(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGRAM_EMBEDDER", "openai")
    monkeypatch.setenv("ENGRAM_EMBEDDING_MODEL", "env-model")
    monkeypatch.setenv("ENGRAM_EMBEDDING_BASE_URL", endpoint.url)
    monkeypatch.setenv("ENGRAM_EMBEDDING_API_KEY", "sk-env")
    monkeypatch.setenv("ENGRAM_EMBEDDING_DIMS", "7")
    emb = make_embedder(batch_size=2)
    assert isinstance(emb, OpenAIEmbedder)
    assert emb.embed(["a", "b", "c"]).shape == (3, 7)
    assert [r["model"] for r in endpoint.requests] == ["env-model", "env-model"]
    assert endpoint.auth[0] == "Bearer sk-env"
    # An explicit provider wins over ENGRAM_EMBEDDER.
    monkeypatch.delenv("ENGRAM_EMBEDDING_MODEL")
    monkeypatch.delenv("ENGRAM_EMBEDDING_DIMS")
    assert type(make_embedder("local")).__name__ == "LocalEmbedder"


def test_local_server_needs_no_api_key(
    endpoint: FakeEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ENGRAM_EMBEDDING_API_KEY", raising=False)
    emb = make_embedder("openai", model="nomic-embed-text", base_url=endpoint.url)
    assert emb.embed(["hi"]).shape == (1, NATIVE_DIMS)
