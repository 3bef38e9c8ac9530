"""`Memory` configured with an OpenAI-compatible LLM, end to end over real HTTP."""

from __future__ import annotations

import pytest

from engram import BackendError
from engram.config import MemoryConfig
from engram.memory import Memory
from tests.support.scripted_openai_server import ScriptedOpenAIServer


@pytest.fixture
def llm_server():
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def llm_memory(llm_server: ScriptedOpenAIServer, embedder):
    config = MemoryConfig(llm=llm_server.llm_config(max_retries=1))
    m = Memory(config, embedder=embedder)
    yield m
    m.close()


def test_llm_extracts_tags_and_updates(llm_memory: Memory, llm_server) -> None:
    llm_memory.project.update(custom_instructions="Keep goals. Exclude greetings.",
                              custom_categories=[{"goals": "Race targets"}])  # fmt: skip
    llm_server.reply_json({"facts": [{"text": "Max wants a sub-4 marathon",
                                      "categories": ["goals", "invented"]}]})  # fmt: skip
    first = llm_memory.add("hey! I want to run a sub-4 marathon", user_id="max")["results"][0]
    assert first["event"] == "ADD"
    assert llm_memory.get(first["id"])["categories"] == ["goals"]
    assert "Keep goals. Exclude greetings." in llm_server.requests[0].text

    llm_server.reply_json({"facts": [{"text": "Max wants a sub-3:45 marathon",
                                      "categories": ["goals"]}]})  # fmt: skip
    llm_server.reply_json({"decisions": [{"fact": 0, "event": "UPDATE", "target": "m0",
                                          "text": "Max wants a sub-3:45 marathon"}]})  # fmt: skip
    changed = llm_memory.add("make that sub-3:45", user_id="max")["results"]
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", first["id"])]
    reconcile_request = llm_server.requests[-1].text
    assert first["id"] not in reconcile_request and "m0" in reconcile_request
    assert [h["event"] for h in llm_memory.history(first["id"])] == ["ADD", "UPDATE"]


def test_invented_alias_never_touches_a_memory(llm_memory: Memory, llm_server) -> None:
    kept = llm_memory.add("Max likes tea", user_id="max", infer=False)["results"][0]
    llm_server.reply_json({"facts": [{"text": "Max likes green tea", "categories": []}]})
    llm_server.reply_json({"decisions": [{"fact": 0, "event": "DELETE", "target": "m7",
                                          "text": "Max likes green tea"}]})  # fmt: skip
    results = llm_memory.add("I like green tea", user_id="max")["results"]
    assert [r["event"] for r in results] == ["ADD"]
    assert llm_memory.get(kept["id"])["memory"] == "Max likes tea"


def test_llm_failure_stores_nothing(llm_memory: Memory, llm_server) -> None:
    llm_server.reply_text("this is not json", times=5)
    with pytest.raises(BackendError):
        llm_memory.add("I want to run a sub-4 marathon", user_id="max")
    assert llm_memory.get_all(user_id="max")["count"] == 0
