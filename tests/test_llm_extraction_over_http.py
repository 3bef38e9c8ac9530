"""LLMExtractor and LLMReconciler against a real HTTP server speaking the OpenAI protocol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from engram.extraction.base import Candidate, ExtractionContext, Fact
from engram.extraction.llm import LLMExtractor, LLMReconciler
from engram.llms.openai_compat import OpenAICompatibleLLM
from engram.models import Event
from tests.support.scripted_openai_server import ScriptedOpenAIServer

CATEGORIES = {"fitness": "sport, training, races", "family": "relatives and partners"}


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as s:
        yield s


@pytest.fixture
def llm(server: ScriptedOpenAIServer) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(server.llm_config(), backoff=0.01)


def ctx(**overrides: object) -> ExtractionContext:
    values: dict = {
        "subject": "Max",
        "agent": None,
        "custom_instructions": None,
        "categories": CATEGORIES,
        "today": date(2025, 3, 14),
    }
    return ExtractionContext(**(values | overrides))


CONVERSATION = [
    {"role": "user", "content": "Hi! I much prefer trail running to roads."},
    {"role": "assistant", "content": "Great, do you run with anyone?"},
    {"role": "user", "content": "My sister Anna joins me on Sundays."},
]


# --- extraction ---------------------------------------------------------------------------
def test_extracts_facts_and_keeps_only_known_categories(server, llm) -> None:
    server.reply_json(
        {
            "facts": [
                {
                    "text": "Max prefers trail running over roads",
                    "categories": ["fitness", "hobbies"],
                },
                {
                    "text": "Max's sister Anna runs with Max on Sundays",
                    "categories": ["Family", "fitness"],
                },
            ]
        }
    )

    facts = LLMExtractor(llm).extract(CONVERSATION, ctx())

    assert facts == [
        Fact("Max prefers trail running over roads", ("fitness",)),  # "hobbies" is invented
        Fact("Max's sister Anna runs with Max on Sundays", ("family", "fitness")),
    ]
    request = server.requests[0]
    assert request.body["model"] == "scripted-model"
    assert request.body["response_format"] == {"type": "json_object"}
    # the categories with descriptions, the date, and the conversation all reach the model
    assert "fitness: sport, training, races" in request.system
    assert "2025-03-14" in request.text
    assert "My sister Anna joins me on Sundays." in request.user
    assert "Great, do you run with anyone?" in request.user  # assistant turn, as context


def test_custom_instructions_and_subject_are_in_the_prompt(server, llm) -> None:
    server.reply_json({"facts": []})
    instructions = "Only keep fitness goals; never store anything about food."

    facts = LLMExtractor(llm).extract(CONVERSATION, ctx(custom_instructions=instructions))

    assert facts == []
    assert instructions in server.requests[0].system
    assert "third person about Max" in server.requests[0].system


def test_without_configured_categories_the_pipeline_assigns_them(server, llm) -> None:
    server.reply_json({"facts": [{"text": "Max runs with Anna", "categories": ["pets"]}]})
    facts = LLMExtractor(llm).extract(CONVERSATION, ctx(categories={}))
    assert facts == [Fact("Max runs with Anna", None)]


def test_accepts_plain_string_facts_and_drops_duplicates(server, llm) -> None:
    server.reply_json({"facts": ["Max runs with Anna", "  Max runs with   Anna ", ""]})
    facts = LLMExtractor(llm).extract(CONVERSATION, ctx())
    assert facts == [Fact("Max runs with Anna", None)]


def test_fenced_json_reply_is_accepted(server, llm) -> None:
    server.reply_text('Sure!\n```json\n{"facts": [{"text": "Max runs with Anna"}]}\n```')
    assert LLMExtractor(llm).extract(CONVERSATION, ctx()) == [Fact("Max runs with Anna", None)]


def test_agent_persona_mode_asks_for_facts_from_system_messages(server, llm) -> None:
    server.reply_json({"facts": [{"text": "coach-kim is a terse running coach"}]})
    messages = [{"role": "system", "content": "You are Coach Kim, a terse running coach."}]

    facts = LLMExtractor(llm).extract(messages, ctx(subject=None, agent="coach-kim"))

    assert facts == [Fact("coach-kim is a terse running coach", None)]
    assert 'agent "coach-kim"' in server.requests[0].system
    assert "You are Coach Kim" in server.requests[0].user


def test_nothing_to_extract_makes_no_call(server, llm) -> None:
    assert LLMExtractor(llm).extract([{"role": "user", "content": "  "}], ctx()) == []
    assert server.requests == []


# --- reconciliation -----------------------------------------------------------------------
REAL_IDS = ("7f3c1e2a-real-id-0", "9b2d4f6c-real-id-1", "1a5e8c3d-real-id-2")


def candidates() -> list[list[Candidate]]:
    marathon = Candidate("m0", REAL_IDS[0], "Max wants a sub-4 marathon", 0.91)
    mornings = Candidate("m1", REAL_IDS[1], "Max runs every morning", 0.84)
    dog = Candidate("m2", REAL_IDS[2], "Max has a dog", 0.95)
    return [[marathon, mornings], [mornings], [dog], [marathon], []]


NEW_FACTS = [
    Fact("Max wants a sub-3:45 marathon"),
    Fact("Max no longer runs in the mornings"),
    Fact("Max has a dog"),
    Fact("Max is training for Berlin"),
    Fact("Max's sister is called Anna"),
]


def test_reconcile_shows_aliases_only_and_maps_them_back(server, llm) -> None:
    server.reply_json(
        {
            "decisions": [
                {
                    "fact": 0,
                    "event": "UPDATE",
                    "target": "m0",
                    "text": "Max wants a sub-3:45 marathon",
                },
                {"fact": 1, "event": "DELETE", "target": "m1", "text": "whatever"},
                {"fact": 2, "event": "none", "target": "m2", "text": "Max has a dog"},
                {"fact": 3, "event": "UPDATE", "target": "m7", "text": "made-up alias"},
                # fact 4 forgotten by the model
            ]
        }
    )

    decisions = LLMReconciler(llm).decide(NEW_FACTS, candidates(), ctx())

    assert [(d.fact_index, d.event, d.target_id, d.text) for d in decisions] == [
        (0, Event.UPDATE, REAL_IDS[0], "Max wants a sub-3:45 marathon"),
        (1, Event.DELETE, REAL_IDS[1], "Max no longer runs in the mornings"),
        (2, Event.NONE, REAL_IDS[2], "Max has a dog"),
        (3, Event.ADD, None, "Max is training for Berlin"),  # invented alias -> ADD
        (4, Event.ADD, None, "Max's sister is called Anna"),  # forgotten -> ADD
    ]
    prompt = server.requests[0].user
    assert "m0: Max wants a sub-4 marathon" in prompt
    assert "m1: Max runs every morning" in prompt
    assert prompt.count("Max runs every morning") == 1  # shown once though near two facts
    assert "real-id" not in repr(server.requests[0].body)


def test_reconcile_invalid_targets_fall_back_to_add(server, llm) -> None:
    server.reply_json(
        {
            "decisions": [
                {"fact": 0, "event": "UPDATE", "target": None, "text": "no target"},
                {"fact": 1, "event": "DELETE", "target": REAL_IDS[1]},  # a real id is not an alias
                {"fact": 2, "event": "NONE"},
                {
                    "fact": 3,
                    "event": "UPDATE",
                    "target": "m0",
                    "text": "Max is training for Berlin",
                },
                {"fact": 4, "event": "MERGE", "target": "m0"},
                {"fact": 9, "event": "DELETE", "target": "m2"},  # no such fact: ignored
            ]
        }
    )

    decisions = LLMReconciler(llm).decide(NEW_FACTS, candidates(), ctx())

    assert [d.event for d in decisions] == [Event.ADD] * 3 + [Event.UPDATE, Event.ADD]
    assert [d.text for d in decisions[:3]] == [f.text for f in NEW_FACTS[:3]]
    assert all(d.target_id is None for d in decisions if d.event == Event.ADD)


def test_one_memory_is_changed_by_at_most_one_fact(server, llm) -> None:
    server.reply_json(
        {
            "decisions": [
                {
                    "fact": 0,
                    "event": "UPDATE",
                    "target": "m0",
                    "text": "Max wants a sub-3:45 marathon",
                },
                {
                    "fact": 3,
                    "event": "UPDATE",
                    "target": "m0",
                    "text": "Max is training for Berlin",
                },
            ]
        }
    )
    decisions = LLMReconciler(llm).decide(NEW_FACTS, candidates(), ctx())
    assert (decisions[0].event, decisions[0].target_id) == (Event.UPDATE, REAL_IDS[0])
    assert (decisions[3].event, decisions[3].target_id) == (Event.ADD, None)


def test_reconcile_without_candidates_adds_everything_without_a_call(server, llm) -> None:
    facts = NEW_FACTS[:2]
    decisions = LLMReconciler(llm).decide(facts, [[], []], ctx())
    assert [(d.event, d.text, d.fact_index) for d in decisions] == [
        (Event.ADD, facts[0].text, 0),
        (Event.ADD, facts[1].text, 1),
    ]
    assert server.requests == []


def test_reconcile_rejects_an_alias_naming_two_memories(llm) -> None:
    clash = [[Candidate("m0", "a", "x", 0.9)], [Candidate("m0", "b", "y", 0.9)]]
    with pytest.raises(ValueError, match="m0"):
        LLMReconciler(llm).decide(NEW_FACTS[:2], clash, ctx())
