"""Every fact an LLM returns is checked against the messages before it is stored: a fact not
said, or a piece of the prompt (`<fact>`, `text_id`), is dropped and counted in the result.
The check's figures on the labelled set tests/quality_cases/grounding.py, and the whole add
against a scripted model that echoes its prompt (issue 14's Gemma 3 270M reproduction)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engram.config import MemoryConfig
from engram.memory import Memory
from tests.quality_cases import grounding
from tests.quality_cases.support import results_fixture
from tests.support.scripted_openai_server import ScriptedOpenAIServer

results = results_fixture(grounding)
SAID = "I want to run a marathon in under 4 hours"


@pytest.fixture
def llm_server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def llm_memory(llm_server: ScriptedOpenAIServer, embedder) -> Iterator[Memory]:
    with Memory(MemoryConfig(llm=llm_server.llm_config()), embedder=embedder) as m:
        yield m


def test_the_labelled_set_covers_both_languages_and_every_kind() -> None:
    classes = [c for c, _, _ in grounding.CASES]
    assert len(classes) >= 60 and set(classes) == {"said", "paraphrase", "made_up", "prompt"}
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in " ".join(m)) for _, m, _ in
               grounding.CASES) >= 15  # fmt: skip


def test_the_check_drops_ungrounded_facts_and_keeps_grounded_ones(results) -> None:
    figures = grounding.scores([(c, d.startswith("kept"), d) for c, _, d in results])
    misses = "\n".join(f"{c}: {d}" for c, ok, d in results if not ok)
    assert figures["precision"] >= 0.9 and figures["recall"] >= 0.9, (figures, misses)
    assert figures["kept_grounded"] >= 0.9 * figures["grounded"], misses
    assert all(ok for c, ok, _ in results if c == "prompt"), misses  # never a prompt piece


def test_an_echo_of_the_prompt_stores_nothing_and_is_counted(llm_memory, llm_server) -> None:
    llm_server.reply_json({"facts": [{"text": "<fact>", "categories": ["<category name>"]},
                                     {"text": "text_id"}]})  # fmt: skip
    result = llm_memory.add(SAID, user_id="max")
    assert result == {"results": [], "ungrounded": 2}
    assert llm_memory.get_all(user_id="max")["results"] == []


def test_grounded_facts_are_kept_beside_dropped_ones(llm_memory, llm_server) -> None:
    llm_server.reply_json({"facts": [{"text": "Max wants to run a marathon in under 4 hours"},
                                     {"text": "Max lives in Berlin"},
                                     {"text": "<fact>"}]})  # fmt: skip
    result = llm_memory.add(SAID, user_id="max")
    assert [r["memory"] for r in result["results"]] == [
        "Max wants to run a marathon in under 4 hours"
    ]
    assert result["ungrounded"] == 2


def test_nothing_dropped_means_the_usual_result(llm_memory, llm_server) -> None:
    llm_server.reply_json({"facts": [{"text": "Max wants a marathon under 4 hours"}]})
    assert set(llm_memory.add(SAID, user_id="max")) == {"results"}


def test_an_update_echoing_the_prompt_keeps_the_fact_text(llm_memory, llm_server) -> None:
    llm_memory.add("Max wants a sub-4 marathon", user_id="max", infer=False)
    llm_server.reply_json({"facts": [{"text": "Max wants a sub-3:45 marathon"}]})
    llm_server.reply_json({"decisions": [{"fact": 0, "event": "UPDATE", "target": "m0",
                                          "text": "<final memory text>"}]})  # fmt: skip
    result = llm_memory.add("make that a sub-3:45 marathon", user_id="max")
    assert [(r["event"], r["memory"]) for r in result["results"]] == [
        ("UPDATE", "Max wants a sub-3:45 marathon")
    ]


def test_control_characters_in_a_reply_never_reach_the_store(llm_memory, llm_server) -> None:
    llm_server.reply_text('{"facts": [{"text": "Max wants\\u0000 to run a marathon\\u001b"}]}')
    result = llm_memory.add(SAID, user_id="max")
    assert [r["memory"] for r in result["results"]] == ["Max wants to run a marathon"]
