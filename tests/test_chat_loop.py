"""The tutorial's retrieve -> use -> store loop, offline, and with the memory layer down."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from engram.chat import ConversationBuffer, chat, chat_turn, system_prompt
from engram.memory import Memory


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGRAM_HOME", str(tmp_path))
    for name in ("ENGRAM_LLM_MODEL", "ENGRAM_DATABASE", "ENGRAM_HOST"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_memory_survives_a_restart_with_the_offline_responder() -> None:
    with Memory() as memory:
        day_one = chat_turn("I want to run a marathon in under 4 hours",
                            memory=memory, user_id="max")  # fmt: skip
    assert [r["event"] for r in day_one.stored] == ["ADD"]
    with Memory() as memory:  # the app restarted: a new process, the same database
        day_two = chat_turn("What should I focus on today?", memory=memory, user_id="max")
    assert day_two.memories[0]["memory"] == "Max wants to run a marathon in under 4 hours"
    assert "- Max wants to run a marathon in under 4 hours" in day_two.messages[0]["content"]
    assert "offline responder" in day_two.reply and "under 4 hours" in day_two.reply
    assert day_two.stored == []  # a question is not a fact


def test_filler_is_not_stored_and_the_buffer_keeps_recent_turns() -> None:
    buffer = ConversationBuffer(max_messages=4)
    with Memory() as memory:
        reply = chat("hey how's it going", memory=memory, user_id="max", buffer=buffer)
        turn = chat_turn("lol ok", memory=memory, user_id="max", buffer=buffer)
        assert memory.get_all(user_id="max")["count"] == 0
    assert isinstance(reply, str) and reply
    assert turn.messages[1:3] == buffer.messages[:2]  # earlier turns went into the prompt
    assert len(buffer) == 4
    chat_turn("one more", memory=_Failing(), user_id="max", buffer=buffer)
    assert len(buffer) == 4 and buffer.messages[-2]["content"] == "one more"


def test_agent_persona_goes_into_the_system_prompt_and_user_facts_are_shared() -> None:
    with Memory() as memory:
        memory.add([{"role": "system", "content": "Direct, data-driven feedback. No fluff."}],
                   agent_id="ray")  # fmt: skip
        chat("My right knee flares up on downhills", memory=memory, user_id="max",
             agent_id="jordan")  # fmt: skip
        turn = chat_turn("How'd my run look today?", memory=memory, user_id="max",
                         agent_id="ray")  # fmt: skip
    prompt = turn.messages[0]["content"]
    assert "Your style:\n" in prompt and "- Direct, data-driven feedback. No fluff\n" in prompt
    assert "knee flares up" in prompt  # learned while talking to Jordan, used by Ray
    assert all(m["agent_id"] == "ray" and not m["user_id"] for m in turn.persona)


class _Failing:
    def search(self, *args: object, **kwargs: object) -> dict:
        raise ConnectionError("memory service down")

    def add(self, *args: object, **kwargs: object) -> dict:
        raise ConnectionError("memory service down")


def test_a_closed_store_never_breaks_the_reply(caplog: pytest.LogCaptureFixture) -> None:
    memory = Memory()
    memory.close()
    with caplog.at_level(logging.WARNING, logger="engram.chat"):
        turn = chat_turn("I prefer trail running over roads", memory=memory, user_id="max")
    assert turn.reply and turn.memories == [] and turn.stored == []
    assert "About the user: no memories yet." in turn.messages[0]["content"]
    assert {w.split(" failed")[0] for w in turn.warnings} == {"memory search", "memory add"}
    assert sum("going on without it" in r.message for r in caplog.records) == 2


def test_a_client_pointed_at_a_closed_port_never_breaks_the_reply() -> None:
    client_module = pytest.importorskip("engram.client")
    with socket.socket() as s:  # a port nobody listens on once this socket closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_module.MemoryClient(api_key="eng_test", host=f"http://127.0.0.1:{port}",
                                        retries=0, timeout=2.0)  # fmt: skip
    try:
        turn = chat_turn("I want to run a marathon in under 4 hours", memory=client,
                         user_id="max")  # fmt: skip
    finally:
        client.close()
    assert "offline responder" in turn.reply
    assert len(turn.warnings) == 2


class _FakeOpenAI:
    """The one call chat() makes on an OpenAI client, recorded."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.chat = self
        self.completions = self

    def create(self, **kwargs: object) -> object:
        self.calls.append(kwargs)
        message = type("M", (), {"content": "Pace 8:15/mile. On track."})
        return type("R", (), {"choices": [type("C", (), {"message": message})]})


def test_an_openai_compatible_client_gets_memories_in_the_system_prompt() -> None:
    llm = _FakeOpenAI()
    with Memory() as memory:
        memory.add("I want to run a marathon in under 4 hours", user_id="max")
        reply = chat("training plan?", memory=memory, user_id="max", llm=llm, model="m")
    assert reply == "Pace 8:15/mile. On track."
    sent = llm.calls[0]
    assert sent["model"] == "m"
    assert sent["messages"][0]["content"].startswith("You're Ray, a running coach.")
    assert "marathon in under 4 hours" in sent["messages"][0]["content"]


def test_system_prompt_without_memories() -> None:
    assert system_prompt("P", [], []) == "P\nAbout the user: no memories yet."
