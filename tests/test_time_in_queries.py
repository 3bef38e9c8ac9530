"""A query naming a time ("in May 2023", "last year") prefers memories said then; relative
times count from the search's `reference_date`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engram.errors import InvalidInputError
from engram.memory import Memory
from engram.timeframe import window

REFERENCE = date(2023, 10, 20)


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("What did Maria paint on October 13, 2023?", day(2023, 10, 12), day(2023, 10, 15)),
        ("Who did Maria meet on 3 May, 2023?", day(2023, 5, 2), day(2023, 5, 5)),
        ("What did John do in December 2022?", day(2022, 12, 1), day(2023, 1, 1)),
        ("When did Melanie go camping in June?", day(2023, 6, 1), day(2023, 7, 1)),
        ("What happened in November?", day(2022, 11, 1), day(2022, 12, 1)),
        ("How many times did she go to the beach in 2023?", day(2023, 1, 1), day(2024, 1, 1)),
        ("Where did John travel last year?", day(2022, 1, 1), day(2023, 1, 1)),
        ("Where did Caroline move from 4 years ago?", day(2019, 1, 1), day(2020, 1, 1)),
    ],
)  # fmt: skip
def test_window(query: str, start: datetime, end: datetime) -> None:
    assert window(query, REFERENCE) == (start, end)


@pytest.mark.parametrize("query", ["When did Caroline go to the support group?",
                                   "What may I eat?", "Who is Marchello?"])  # fmt: skip
def test_no_window(query: str) -> None:
    assert window(query, REFERENCE) is None


def test_memories_said_then_rank_first(memory: Memory) -> None:
    memory.add("Max ran a half marathon", user_id="max", infer=False, timestamp="2023-03-05")
    memory.add("Max ran a half marathon", user_id="max", infer=False, timestamp="2023-05-14")
    found = memory.search("What race did Max run in May?", user_id="max",
                          reference_date="2023-10-20")["results"]  # fmt: skip
    assert found[0]["created_at"].startswith("2023-05-14")
    assert found[0]["score_breakdown"]["time"] == 1.0
    assert found[1]["score_breakdown"]["time"] == 0.0
    plain = memory.search("What race did Max run?", user_id="max")["results"]
    assert "time" not in plain[0]["score_breakdown"]


def test_bad_reference_date_is_rejected(memory: Memory) -> None:
    with pytest.raises(InvalidInputError) as err:
        memory.search("what happened last year", user_id="max", reference_date="soon")
    assert err.value.field == "reference_date"
