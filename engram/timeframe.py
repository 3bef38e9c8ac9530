"""The time a question is about: "on 13 October 2023", "in May", "last year", "in 2022".

A search whose query names a day, month or year (absolute, or relative to the search's
`reference_date`) looks for memories said then: their `created_at` (the add's `timestamp`)
falls in the window `window` returns. Words that only ask "when" name no window.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december"
    .split())}  # fmt: skip
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december)"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)? {_MONTH},? (\d{{4}})\b")
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})\b")
_MONTH_YEAR = re.compile(rf"\b{_MONTH},? (\d{{4}})\b")
_IN_MONTH = re.compile(rf"\b(?:in|during|of|early|late|mid) {_MONTH}\b")
_YEAR = re.compile(r"\b(?:in|during|of|since) ((?:19|20)\d\d)\b")
_YEARS_AGO = re.compile(r"\b(\d+|a|one|two|three|four|five) years? ago\b")
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}

Window = tuple[datetime, datetime]


def window(query: str, reference: date) -> Window | None:
    """[start, end) of the time `query` names, or None. A day gets a day either side, as
    "on 8 May" may be said in any time zone or the day after."""
    q = query.lower()
    if m := _DAY_MONTH_YEAR.search(q):
        return _day(int(m[3]), MONTHS[m[2]], int(m[1]))
    if m := _MONTH_DAY_YEAR.search(q):
        return _day(int(m[3]), MONTHS[m[1]], int(m[2]))
    if m := _MONTH_YEAR.search(q):
        return _month(int(m[2]), MONTHS[m[1]])
    if m := _IN_MONTH.search(q):
        month = MONTHS[m[1]]
        year = reference.year if month <= reference.month else reference.year - 1
        return _month(year, month)
    if m := _YEAR.search(q):
        return _year(int(m[1]))
    if "last year" in q:
        return _year(reference.year - 1)
    if "this year" in q:
        return _year(reference.year)
    if "last month" in q:
        first = reference.replace(day=1) - timedelta(days=1)
        return _month(first.year, first.month)
    if "last week" in q:
        return _span(reference - timedelta(days=reference.weekday() + 7), 7)
    if "yesterday" in q:
        return _span(reference - timedelta(days=2), 3)
    if m := _YEARS_AGO.search(q):
        n = int(m[1]) if m[1].isdigit() else _NUMBERS[m[1]]
        return _year(reference.year - n)
    return None


def _span(start: date, days: int) -> Window:
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return begin, begin + timedelta(days=days)


def _day(year: int, month: int, day: int) -> Window | None:
    try:
        return _span(date(year, month, day) - timedelta(days=1), 3)
    except ValueError:
        return None


def _month(year: int, month: int) -> Window:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _year(year: int) -> Window:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
