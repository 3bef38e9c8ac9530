"""OpenAICompatibleLLM's failure handling, over real HTTP against a scripted server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import date

import pytest
from pydantic import BaseModel

from engram.config import LLMConfig
from engram.errors import BackendError
from engram.extraction.base import ExtractionContext
from engram.extraction.llm import LLMExtractor
from engram.llms import LLMError, make_llm
from engram.llms.openai_compat import OpenAICompatibleLLM
from tests.support.scripted_openai_server import ScriptedOpenAIServer


class Answer(BaseModel):
    value: int


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as s:
        yield s


def make(server: ScriptedOpenAIServer, **overrides: object) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(server.llm_config(**overrides), backoff=0.01)


def test_malformed_once_then_valid_succeeds_and_quotes_the_error(server) -> None:
    server.reply_text('{"value": "not a number"')  # truncated JSON
    server.reply_text('{"value": "seven"}')  # valid JSON, wrong type
    server.reply_json({"value": 7})

    assert make(server).complete_json("Answer in JSON.", "7?", Answer) == Answer(value=7)

    assert len(server.requests) == 3
    retry = server.requests[2].messages
    assert retry[:2] == server.requests[0].messages  # same system + user turn
    assert retry[2] == {"role": "assistant", "content": '{"value": "seven"}'}
    assert "value: Input should be a valid integer" in retry[3]["content"]


def test_a_reply_with_no_json_fails_at_once_and_returns_nothing(server) -> None:
    server.reply_text("I think the facts are: Max likes tea.", times=3)
    extractor = LLMExtractor(make(server, max_retries=2))
    ctx = ExtractionContext("Max", None, None, {}, date(2025, 3, 14))

    with pytest.raises(LLMError, match=r"answered no JSON for _Extraction"):
        extractor.extract([{"role": "user", "content": "I like tea"}], ctx)

    assert len(server.requests) == 1  # garbage is not a near miss worth a correction
    assert server.pending == 2


def test_json_that_stays_invalid_raises_after_the_corrections(server) -> None:
    server.reply_text('{"value": "seven"}', times=3)
    with pytest.raises(LLMError, match=r"no valid JSON for Answer after 3 attempts"):
        make(server, max_retries=2).complete_json("JSON please", "7?", Answer)
    assert len(server.requests) == 3


def test_a_timed_out_request_is_not_sent_again(server) -> None:
    server.reply_json({"value": 1}, delay=10, times=2)
    llm = make(server, timeout=0.3, max_retries=2)

    started = time.monotonic()
    with pytest.raises(LLMError, match="timed out") as info:
        llm.complete_json("JSON please", "1?", Answer)

    assert time.monotonic() - started < 3.0  # one attempt of 0.3 s, not 10 s, not 3 x 0.3
    assert server.base_url in str(info.value)  # names the endpoint
    assert len(server.requests) == 1  # the server is still busy with it: no second copy
    assert server.most_busy == 1


def test_overloaded_then_success(server) -> None:
    server.reply_status(503, "overloaded")
    server.reply_status(429, "rate limited", retry_after=0.05)
    server.reply_json({"value": 2})
    assert make(server).complete_json("JSON please", "2?", Answer) == Answer(value=2)
    assert len(server.requests) == 3


def test_a_server_error_is_not_retried(server) -> None:
    server.reply_status(500, "model crashed", times=3)
    with pytest.raises(LLMError, match=r"HTTP 500: model crashed"):
        make(server).complete_json("JSON please", "?", Answer)
    assert len(server.requests) == 1


def test_persistent_overload_raises_naming_the_endpoint(server) -> None:
    server.reply_status(503, "busy", times=3)
    with pytest.raises(LLMError, match=r"failed after 3 attempts: HTTP 503: busy"):
        make(server).complete_json("JSON please", "?", Answer)


def test_rejected_response_format_is_dropped_and_remembered(server) -> None:
    server.reply_status(400, "'response_format' of type 'json_object' is not supported")
    server.reply_json({"value": 3})
    server.reply_json({"value": 4})
    llm = make(server)

    assert llm.complete_json("JSON please", "3?", Answer) == Answer(value=3)
    assert llm.complete_json("JSON please", "4?", Answer) == Answer(value=4)

    first, second, third = (r.body for r in server.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert "response_format" not in second and "response_format" not in third


def test_bad_request_without_optional_params_fails_at_once(server) -> None:
    server.reply_status(400, "context length exceeded", times=2)
    with pytest.raises(LLMError, match="HTTP 400: context length exceeded"):
        make(server).complete_json("JSON please", "?", Answer)
    assert len(server.requests) == 2  # with, then without response_format; no more


def test_auth_error_is_not_retried_and_hides_the_key(server) -> None:
    server.reply_status(401, "Incorrect API key provided")
    with pytest.raises(LLMError, match=r"HTTP 401.*check the API key") as info:
        make(server, api_key="sk-secret-123").complete_json("JSON please", "?", Answer)
    assert "sk-secret-123" not in str(info.value)
    assert len(server.requests) == 1
    assert server.requests[0].headers["authorization"] == "Bearer sk-secret-123"


def test_unreachable_endpoint_raises_naming_it() -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1)
    with pytest.raises(LLMError, match=rf"127\.0\.0\.1:{port}/v1 failed after 2 attempts"):
        OpenAICompatibleLLM(config, backoff=0.01).complete_json("JSON", "?", Answer)


def test_llm_error_is_a_backend_error() -> None:
    assert issubclass(LLMError, BackendError)


def test_make_llm() -> None:
    assert make_llm(LLMConfig(model=None, base_url=None)) is None
    llm = make_llm(LLMConfig(model="llama3.2", base_url="http://localhost:11434"))
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.endpoint == "http://localhost:11434/v1"  # bare Ollama host gets /v1
    api_key_free = make_llm(LLMConfig(model="m", base_url="http://h:8000/v1", api_key=None))
    assert isinstance(api_key_free, OpenAICompatibleLLM)
    assert api_key_free.endpoint == "http://h:8000/v1"
