"""A real HTTP server speaking OpenAI's `POST /v1/chat/completions`, with scripted replies.

Each request pops the next scripted reply; every request is recorded, so a test can check
what the prompt contained. Use it as a context manager or in a fixture:

    @pytest.fixture
    def llm_server():
        with ScriptedOpenAIServer() as server:
            yield server

    def test_something(llm_server):
        llm_server.reply_json({"facts": [{"text": "Max likes tea", "categories": []}]})
        llm = OpenAICompatibleLLM(llm_server.llm_config())
        ...
        assert "Max" in llm_server.requests[0].user

Scripting API: reply_json(obj), reply_text(raw_content), reply_status(code, message,
retry_after=), reply_ramble(text), each with `delay=` seconds (longer than the client's
timeout simulates a timeout) and `times=` (repeat the reply). reply_ramble plays a model that
never stops: it repeats `text` up to the request's max_tokens (about 4 characters a token)
and answers finish_reason "length"; a request with no max_tokens takes `delay` seconds, as
a model generating until its context fills. When the script runs out the server answers 500
and says so. `busy` counts requests being answered right now (a timed-out client does not
stop the server's work, as with a real model server).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from engram.config import LLMConfig

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class ScriptedReply:
    status: int = 200
    content: str = ""  # assistant message content (200) or error message (otherwise)
    delay: float = 0.0
    retry_after: float | None = None  # a Retry-After header on an error
    ramble: bool = False  # repeat `content` until the request's max_tokens


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names lowercased
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    def _contents(self, role: str | None) -> str:
        return "\n".join(
            str(m.get("content") or "")
            for m in self.messages
            if role is None or m.get("role") == role
        )

    @property
    def system(self) -> str:
        """All system-message text of this request."""
        return self._contents("system")

    @property
    def user(self) -> str:
        """All user-message text of this request."""
        return self._contents("user")

    @property
    def text(self) -> str:
        """Every message's text: for 'the prompt must (not) contain X' checks."""
        return self._contents(None)


class ScriptedOpenAIServer:
    def __init__(self, model: str = "scripted-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._script: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self.busy = 0  # requests being answered now
        self.most_busy = 0  # the most answered at once
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # a short poll interval keeps stop() (and so each test's teardown) fast
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- where to point a client -----------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def llm_config(self, **overrides: Any) -> LLMConfig:
        """An LLMConfig aimed at this server (test key; a timeout a loaded machine meets: a
        timed-out request is not retried); override any field."""
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": "test-key",
            "model": self.model,
            "timeout": 30.0,
            "max_retries": 2,
        }
        return LLMConfig(**(values | overrides))

    # --- scripting -------------------------------------------------------------------
    def reply_json(self, obj: Any, *, delay: float = 0.0, times: int = 1) -> None:
        """Answer 200 with `obj` serialized as the assistant message content."""
        self._push(ScriptedReply(200, json.dumps(obj), delay), times)

    def reply_text(self, content: str, *, delay: float = 0.0, times: int = 1) -> None:
        """Answer 200 with raw assistant content (malformed JSON, fenced JSON, prose...)."""
        self._push(ScriptedReply(200, content, delay), times)

    def reply_status(
        self,
        status: int,
        message: str = "scripted error",
        *,
        delay: float = 0.0,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Answer an HTTP error with an OpenAI-style error body (and a Retry-After)."""
        self._push(ScriptedReply(status, message, delay, retry_after), times)

    def reply_ramble(self, text: str, *, delay: float = 30.0, times: int = 1) -> None:
        """Answer `text` over and over, cut at the request's max_tokens ("length")."""
        self._push(ScriptedReply(200, text, delay, ramble=True), times)

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._script)

    def _push(self, reply: ScriptedReply, times: int) -> None:
        with self._lock:
            self._script.extend([reply] * times)

    def _next(self, request: RecordedRequest) -> ScriptedReply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
        n = len(self.requests)
        return ScriptedReply(500, f"scripted server: no reply left for request #{n}")


def _handler_for(server: ScriptedOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != CHAT_PATH:
                self._send(404, _error_body(f"no route {self.path}", 404))
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error_body("request body is not JSON", 400))
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = server._next(RecordedRequest(self.path, headers, body))
            with server._lock:
                server.busy += 1
                server.most_busy = max(server.most_busy, server.busy)
            try:
                self._answer(reply, body)
            finally:
                with server._lock:
                    server.busy -= 1

        def _answer(self, reply: ScriptedReply, body: dict[str, Any]) -> None:
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            if reply.ramble and limit:
                content = (reply.content * (4 * int(limit) // max(1, len(reply.content)) + 1))
                self._send(200, _completion_body(content[: 4 * int(limit)], body.get("model"),
                                                 "length"))  # fmt: skip
                return
            if reply.delay and server._stopping.wait(reply.delay):
                return  # server stopping: drop the request
            if reply.status == 200:
                finish = "length" if reply.ramble else "stop"
                self._send(200, _completion_body(reply.content, body.get("model"), finish))
            else:
                wait = reply.retry_after
                extra = {} if wait is None else {"Retry-After": f"{wait:g}"}
                self._send(reply.status, _error_body(reply.content, reply.status), extra)

        def _send(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): expected in timeout tests

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


def _completion_body(content: str, model: Any, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": f"chatcmpl-scripted-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "scripted-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
