"""LLM calls are bounded (issue 14): an output-token limit sized to the task, one deadline for
the whole add, no re-sent work, and a rambling model fails fast and stores nothing. Queued
adds run under their own, longer budget. All over real HTTP against a scripted model."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram import deadline
from engram.config import MemoryConfig
from engram.extraction.llm import _Extraction
from engram.llms import LLMError
from engram.llms.openai_compat import OpenAICompatibleLLM
from engram.memory import Memory
from tests.support.scripted_openai_server import ScriptedOpenAIServer
from tests.support.server_process import ServerProcess, wait_for_event

FACT = {"facts": [{"text": "Max wants to run a marathon in under 4 hours", "categories": []}]}
SAID = "I want to run a marathon in under 4 hours"


@pytest.fixture
def llm_server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as server:
        yield server


def memory(llm_server: ScriptedOpenAIServer, embedder, **config) -> Memory:
    llm = llm_server.llm_config(**config.pop("llm", {}))
    return Memory(MemoryConfig(llm=llm, **config), embedder=embedder)


def test_every_request_carries_an_output_limit_sized_to_its_input(llm_server, embedder) -> None:
    llm_server.reply_json(FACT, times=2)
    with memory(llm_server, embedder, llm={"max_tokens": 2000}) as m:
        m.add(SAID, user_id="max")
        m.add(SAID + ". " + "And I also train on hills every weekend. " * 200, user_id="ann")
    short, long = (r.body["max_tokens"] for r in llm_server.requests)
    assert 512 < short < 600  # a one-line message needs a few hundred tokens at most
    assert long == 2000  # a long one is capped by config.max_tokens


def test_a_rambling_model_fails_fast_and_stores_nothing(llm_server, embedder) -> None:
    llm_server.reply_ramble("Sure! Here are some facts about running. ", times=3)
    with memory(llm_server, embedder) as m:
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"cut off at \d+ output tokens"):
            m.add(SAID, user_id="max")
        assert time.monotonic() - started < 5  # the limit stops it, not a 30 s generation
        assert len(llm_server.requests) == 1  # no retry of a model that rambles
        assert m.get_all(user_id="max")["results"] == []


def test_one_deadline_bounds_the_whole_add(llm_server, embedder) -> None:
    """Extraction uses most of the budget; the reconcile call gets only what is left."""
    llm_server.reply_json(FACT, delay=0.8)
    llm_server.reply_json({"decisions": [{"fact": 0, "event": "ADD"}]}, delay=20)
    with memory(llm_server, embedder, add_timeout=3.0, llm={"timeout": 10}) as m:
        m.add("Max likes long runs", user_id="max", infer=False)  # so reconcile is asked
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"timed out after [0-2]\.\d+s"):
            m.add(SAID, user_id="max")
        assert time.monotonic() - started < 8  # not 0.8 + 10 s of per-call timeouts
        assert len(m.get_all(user_id="max")["results"]) == 1  # nothing new stored
    assert len(llm_server.requests) == 2


def test_retry_after_beyond_the_deadline_is_not_waited_for(llm_server) -> None:
    llm_server.reply_status(429, "slow down", retry_after=30)
    llm = OpenAICompatibleLLM(llm_server.llm_config(), backoff=0.01)
    started = time.monotonic()
    with deadline.budget(2.0), pytest.raises(LLMError, match="would not fit"):
        llm.complete_json("JSON", "?", _Extraction)
    assert time.monotonic() - started < 1.5
    assert len(llm_server.requests) == 1


def test_retry_after_within_the_deadline_is_honoured(llm_server) -> None:
    llm_server.reply_status(503, "loading model", retry_after=0.3)
    llm_server.reply_json({"facts": []})
    llm = OpenAICompatibleLLM(llm_server.llm_config(), backoff=0.01)
    started = time.monotonic()
    with deadline.budget(5.0):
        assert llm.complete_json("JSON", "?", _Extraction).facts == []
    assert time.monotonic() - started >= 0.3
    assert len(llm_server.requests) == 2


def test_an_outer_budget_is_kept_by_an_inner_one() -> None:
    with deadline.budget(30), deadline.budget(0.5):
        assert (deadline.remaining() or 0) > 20
    assert deadline.remaining() is None


def test_a_queued_add_has_its_own_longer_budget(llm_server, tmp_path: Path) -> None:
    """A model taking 1.5 s is too slow for a direct add's 0.5 s budget, not for the queue's."""
    llm_server.reply_json(FACT, delay=1.5, times=2)
    env = {
        "ENGRAM_LLM_MODEL": llm_server.model,
        "ENGRAM_LLM_BASE_URL": llm_server.base_url,
        "ENGRAM_ADD_TIMEOUT": "0.5",
        "ENGRAM_QUEUED_ADD_TIMEOUT": "30",
    }
    with ServerProcess(tmp_path, env=env) as server:
        headers = {"Authorization": f"Token {server.api_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
            direct = c.post("/v1/memories/", json={"messages": SAID, "user_id": "max"})
            assert direct.status_code == 503, direct.text
            assert any(w in direct.json()["detail"] for w in ("timed out", "time budget"))
            queued = c.post("/v3/memories/add/", json={"messages": SAID, "user_id": "max"})
            event = wait_for_event(c, queued.json()["event_id"])
            assert event["status"] == "SUCCEEDED", event
            stored = c.post("/v2/memories/", json={"filters": {"user_id": "max"}}).json()
    assert [r["memory"] for r in stored["results"]] == [FACT["facts"][0]["text"]]
