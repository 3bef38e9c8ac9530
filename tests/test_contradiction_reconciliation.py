"""Offline reconciliation by meaning, on the labelled pairs in quality_cases/reconcile_pairs.py:
a changed attribute updates or supersedes the old memory, different facts stay side by side,
restatements add nothing."""

from __future__ import annotations

import pytest

from engram.extraction.attributes import read
from tests.quality_cases import reconcile_pairs
from tests.quality_cases.support import accuracy, results_fixture

MIN_ACCURACY = 0.90


results = results_fixture(reconcile_pairs)


def test_set_is_large_enough() -> None:
    assert len(reconcile_pairs.CHANGE) + len(reconcile_pairs.KEEP) + len(reconcile_pairs.SAME) >= 60


def test_at_least_90_percent_of_pairs_are_reconciled_right(results) -> None:
    misses = [detail for _, ok, detail in results if not ok]
    assert accuracy(results) >= MIN_ACCURACY, "\n".join(misses)


def test_no_pair_of_different_facts_is_merged(results) -> None:
    merged = [detail for kind, ok, detail in results if kind == "keep" and not ok]
    assert merged == []


def test_a_change_keeps_history_and_a_link(memory) -> None:
    old = memory.add("I use Strava", user_id="max")["results"][0]
    events = memory.add("I quit Strava and moved everything to Garmin Connect", user_id="max")
    by_event = {r["event"]: r for r in events["results"]}
    assert by_event["DELETE"]["id"] == old["id"]
    assert by_event["DELETE"]["replaced_by"] == by_event["ADD"]["id"]
    assert [h["event"] for h in memory.history(old["id"])] == ["ADD", "DELETE"]


def test_a_new_value_updates_in_place(memory) -> None:
    old = memory.add("I drive to work", user_id="max")["results"][0]
    changed = memory.add("I sold my car and cycle to work now", user_id="max")["results"]
    assert [(r["event"], r["id"]) for r in changed] == [("UPDATE", old["id"])]
    assert memory.history(old["id"])[-1]["old_memory"] == "Max drives to work"


@pytest.mark.parametrize(
    ("fact", "holder"),
    [("Max's sister lives in Berlin", "sister"), ("Max's coach is Sarah", "self"),
     ("Max's right knee hurts", "self"), ("Yoga is on Wednesdays now", "self"),
     ("Max's son is 6", "son")],
)  # fmt: skip
def test_holder_of_a_fact(fact: str, holder: str) -> None:
    assert read(fact, "Max").holder == holder
