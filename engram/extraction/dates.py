"""Anchor relative time words to the date a fact was said.

"I went to a support group yesterday", said on 8 May 2023, is stored as
"... yesterday (7 May 2023)": a memory read months later must not mean a new "yesterday".
The LLM path gets the date in its prompt; this is the offline path's equivalent.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10}  # fmt: skip

_PATTERN = re.compile(
    r"\b(?P<phrase>yesterday|today|tonight|tomorrow|this morning|this afternoon|this evening"
    r"|last night|this weekend|last weekend|next weekend"
    r"|(?P<rel>last|next|this) (?P<unit>week|month|year|" + "|".join(_WEEKDAYS) + r")"
    r"|(?P<n>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten) "
    r"(?P<agounit>day|week|month|year)s? ago)\b",
    re.IGNORECASE,
)


def _day(d: date) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def _month(d: date) -> str:
    return d.strftime("%B %Y")


def _shift_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _weekday(today: date, name: str, rel: str) -> date:
    target = _WEEKDAYS.index(name)
    if rel == "last":
        return today - timedelta(days=(today.weekday() - target - 1) % 7 + 1)
    if rel == "next":
        return today + timedelta(days=(target - today.weekday() - 1) % 7 + 1)
    return today + timedelta(days=target - today.weekday())


def _relative(rel: str, unit: str, today: date) -> str:
    step = {"last": -1, "next": 1, "this": 0}[rel]
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=step)
        return f"the week of {_day(monday)}"
    if unit == "month":
        return _month(_shift_months(today, step))
    if unit == "year":
        return str(today.year + step)
    return _day(_weekday(today, unit, rel))


def _ago(n: int, unit: str, today: date) -> str:
    if unit == "day":
        return _day(today - timedelta(days=n))
    if unit == "week":
        return f"the week of {_day(today - timedelta(weeks=n))}"
    if unit == "month":
        return _month(_shift_months(today, -n))
    return str(today.year - n)


def _resolve(m: re.Match[str], today: date) -> str:
    phrase = m["phrase"].lower()
    if m["rel"]:
        return _relative(m["rel"].lower(), m["unit"].lower(), today)
    if m["agounit"]:
        raw = m["n"].lower()
        return _ago(int(raw) if raw.isdigit() else _NUMBERS[raw], m["agounit"].lower(), today)
    if phrase in ("yesterday", "last night"):
        return _day(today - timedelta(days=1))
    if phrase == "tomorrow":
        return _day(today + timedelta(days=1))
    if phrase.endswith("weekend"):
        saturday = today + timedelta(days=5 - today.weekday())
        shift = {"last": -7, "next": 7}.get(phrase.split()[0], 0)
        return f"the weekend of {_day(saturday + timedelta(days=shift))}"
    return _day(today)  # today, tonight, this morning/afternoon/evening


_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November"
           "|December")
# What `anchor_dates` appends after a phrase: " (7 May 2023)", " (May 2023)", " (2023)",
# " (the week of 1 May 2023)", " (the weekend of 6 May 2023)".
_ANCHOR = re.compile(rf" \((?:the week(?:end)? of )?(?:(?:\d{{1,2}} )?(?:{_MONTHS}) )?\d{{4}}\)")


def without_anchors(text: str) -> str:
    """`text` less the dates `anchor_dates` appended: the words as said. (Judged against
    custom instructions, "sleeping badly this week (the week of 30 November 2026)" came
    closer to "the weather today" than to "progress" by its appended date.)"""
    return _ANCHOR.sub("", text)


def anchor_dates(text: str, today: date) -> str:
    """Append the absolute date after each relative time phrase, once."""
    if "(" in text and re.search(r"\(\d{1,2} [A-Z][a-z]+ \d{4}\)", text):
        return text  # already anchored
    return _PATTERN.sub(lambda m: f"{m[0]} ({_resolve(m, today)})", text)
