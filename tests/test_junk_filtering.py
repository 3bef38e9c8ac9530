"""No memory without durable content, no fact lost, persona lines kept whole: the labelled
messages in tests/quality_cases/junk.py through the offline pipeline."""

from __future__ import annotations

from tests.quality_cases import junk
from tests.quality_cases.support import results_fixture

MIN_JUNK_DROPPED = 0.95


results = results_fixture(junk)


def test_set_is_large_enough() -> None:
    assert len(junk.JUNK) + len(junk.FACTS) >= 40


def test_at_least_95_percent_of_junk_is_dropped(results) -> None:
    cases = [(ok, detail) for kind, ok, detail in results if kind == "junk"]
    stored = [detail for ok, detail in cases if not ok]
    assert 1 - len(stored) / len(cases) >= MIN_JUNK_DROPPED, "\n".join(stored)


def test_no_fact_is_lost(results) -> None:
    assert [detail for kind, ok, detail in results if kind == "fact" and not ok] == []


def test_persona_lines_are_kept_whole(results) -> None:
    assert [detail for kind, ok, detail in results if kind == "persona" and not ok] == []
