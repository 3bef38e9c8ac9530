"""Custom instructions judge a fact by the words said, not by the date the offline path
appends to a relative time phrase: "I'm sleeping badly this week (the week of 30 November
2026)" came closer to the exclude item "the weather today" than to "progress" by that date,
and was dropped on some days and kept on others."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engram import Memory
from engram.extraction.dates import anchor_dates, without_anchors
from tests.quality_cases.instructions import TUTORIAL_LONG, TUTORIAL_SHORT
from tests.quality_cases.support import user_turn

SAID = [
    "Caroline went to a support group yesterday",
    "Max ran 15 km last week",
    "Melanie painted a sunrise last year",
    "Max has a race next Saturday and a long run next weekend",
    "Max moved to Lyon 3 months ago, two days ago he found a club",
    "Max starts a new job next month (a bakery in May 2023 hired him)",  # brackets of its own
    "Max lives in Lyon",
]
DAYS = [date(2023, 5, 8), date(2024, 2, 29), date(2026, 11, 30), date(2026, 12, 31)]


@pytest.mark.parametrize("day", DAYS)
def test_the_appended_dates_come_off_again(day: date) -> None:
    for text in SAID:
        assert without_anchors(anchor_dates(text, day)) == text


@pytest.mark.parametrize("instructions", [TUTORIAL_SHORT, TUTORIAL_LONG])
def test_a_fact_with_a_time_phrase_is_kept_whatever_the_day(
    instructions: str, embedder, clock, engram_home
) -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for weeks in range(0, 8):
        clock.now = start + timedelta(weeks=weeks, days=weeks % 7)
        m = Memory({"database": str(engram_home / f"w{weeks}.db")}, embedder=embedder,
                   clock=clock)  # fmt: skip
        m.project.update(custom_instructions=instructions)
        stored = [r["memory"] for r in user_turn(m, "I'm sleeping badly this week")]
        m.close()
        assert stored, f"dropped when said on {clock.now.date()}"
        assert "(the week of" in stored[0]  # the stored fact keeps its date
