"""Relative time words are anchored to the day the fact was said."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engram.extraction.dates import anchor_dates
from engram.memory import Memory

MONDAY = date(2023, 5, 8)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Caroline went to a support group yesterday",
         "Caroline went to a support group yesterday (7 May 2023)"),
        ("Max ran 15 km last week", "Max ran 15 km last week (the week of 1 May 2023)"),
        ("Melanie painted a sunrise last year", "Melanie painted a sunrise last year (2022)"),
        ("Max has a race next Saturday", "Max has a race next Saturday (13 May 2023)"),
        ("Max raced last Sunday", "Max raced last Sunday (7 May 2023)"),
        ("Max moved to Lyon 3 months ago", "Max moved to Lyon 3 months ago (February 2023)"),
        ("Max ran two days ago", "Max ran two days ago (6 May 2023)"),
        ("Max went camping last weekend",
         "Max went camping last weekend (the weekend of 6 May 2023)"),
        ("Max will race tomorrow", "Max will race tomorrow (9 May 2023)"),
        ("Max starts a new job next month", "Max starts a new job next month (June 2023)"),
        ("Max ran this morning", "Max ran this morning (8 May 2023)"),
        ("Max lives in Lyon", "Max lives in Lyon"),
        ("The yesterdays are gone", "The yesterdays are gone"),
    ],
)  # fmt: skip
def test_anchor(text: str, expected: str) -> None:
    assert anchor_dates(text, MONDAY) == expected


def test_anchoring_is_idempotent() -> None:
    once = anchor_dates("Max ran yesterday", MONDAY)
    assert anchor_dates(once, MONDAY + timedelta(days=30)) == once


def test_add_anchors_with_the_memory_clock(embedder, clock) -> None:
    m = Memory(embedder=embedder, clock=clock)
    stored = m.add("I ran my first half marathon yesterday", user_id="max")["results"]
    assert [r["memory"] for r in stored] == [
        "Max ran their first half marathon yesterday (28 February 2026)"
    ]
    m.close()
