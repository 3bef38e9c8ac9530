"""Offline, custom instructions keep or drop each fact by its closeness to their lists."""

from __future__ import annotations

import pytest

from engram.extraction.instructions import parse_instructions
from engram.memory import Memory

INSTRUCTIONS = """Extract: goals, injuries, training preferences
Exclude: weather talk, TV shows, what they ate"""


def test_parse_both_styles() -> None:
    inline = parse_instructions(INSTRUCTIONS)
    assert inline.include == ("goals", "injuries", "training preferences")
    assert inline.exclude == ("weather talk", "TV shows", "what they ate")
    listed = parse_instructions("Extract from chats:\n- Race targets\n- Injuries\nExclude:\n"
                                "- Greetings and filler\n")  # fmt: skip
    assert listed.include == ("Race targets", "Injuries")
    assert listed.exclude == ("Greetings and filler",)


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("I think the weather is lovely today", []),
        # Erring towards keeping (issue 8): a show named only by its title ("Friends") is not
        # recognised as a TV show by enough to be dropped; a show called a show is.
        ("I watched Friends all evening", ["Max watched Friends all evening"]),
        ("I watched a TV show all evening", []),
        ("I had pasta for lunch", []),
        ("My right knee hurts on downhills", ["Max's right knee hurts on downhills"]),
        ("I want to run a sub-4 marathon", ["Max wants to run a sub-4 marathon"]),
        ("I like running at dawn", ["Max likes running at dawn"]),
    ],
)
def test_facts_kept_or_dropped(memory: Memory, said: str, stored: list[str]) -> None:
    memory.project.update(custom_instructions=INSTRUCTIONS)
    assert [r["memory"] for r in memory.add(said, user_id="max")["results"]] == stored


def test_without_instructions_everything_factual_is_kept(memory: Memory) -> None:
    stored = memory.add("I had pasta for lunch", user_id="max")["results"]
    assert [r["memory"] for r in stored] == ["Max had pasta for lunch"]
