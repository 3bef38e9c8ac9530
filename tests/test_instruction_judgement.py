"""Custom instructions offline, on the labelled cases of tests/quality_cases/instructions.py:
what the lists exclude is dropped, and facts of the app's domain are kept (erring to keep)."""

from __future__ import annotations

from engram.extraction.instructions import CHATTER_TOPICS, exclude_items, parse_instructions
from tests.quality_cases import instructions
from tests.quality_cases.support import results_fixture

MIN_DROPPED = 0.75


results = results_fixture(instructions)


def test_no_domain_fact_is_dropped(results) -> None:
    assert [detail for kind, ok, detail in results if kind == "keep" and not ok] == []


def test_most_excluded_talk_is_dropped(results) -> None:
    drops = [ok for kind, ok, _ in results if kind == "drop"]
    assert sum(drops) / len(drops) >= MIN_DROPPED


def test_a_chatter_item_brings_its_usual_topics() -> None:
    lists = parse_instructions("Extract: goals\nExclude: casual chatter")
    assert exclude_items(lists) == ["casual chatter", *CHATTER_TOPICS]
    assert exclude_items(parse_instructions("Extract: goals\nExclude: prices")) == ["prices"]
