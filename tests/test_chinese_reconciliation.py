"""Reconciliation by meaning for Chinese facts (tests/quality_cases/chinese_pairs.py): a new
frequency, home, diet, job, app, time of day or healed injury replaces the old memory;
someone else's facts and other attributes stay side by side; restatements add nothing."""

from __future__ import annotations

from engram.extraction.chinese_attributes import read_chinese as read
from tests.quality_cases import chinese_pairs
from tests.quality_cases.support import accuracy, results_fixture

MIN_ACCURACY = 0.90

results = results_fixture(chinese_pairs)


def test_at_least_90_percent_of_chinese_pairs_are_reconciled_right(results) -> None:
    misses = [detail for _, ok, detail in results if not ok]
    assert accuracy(results) >= MIN_ACCURACY, "\n".join(misses)


def test_no_pair_of_different_chinese_facts_is_merged(results) -> None:
    assert [detail for kind, ok, detail in results if kind == "keep" and not ok] == []


def test_chinese_fact_reads_into_slots() -> None:
    reading = read("Max现在每周跑五次", "Max")
    assert reading.holder == "self" and reading.change
    assert reading.attributes["often:run"].values == frozenset({"周五次"})
    assert read("Max的姐姐住在北京", "Max").holder == "姐姐"
    assert read("Max的膝盖已经好了", "Max").attributes["body:膝盖"].polarity == -1


def test_a_run_on_another_day_does_not_overwrite_the_first() -> None:
    from engram.extraction.reconcile import classify

    new, old = "Max昨天（2026年11月30日）跑了10公里", "Max昨天（2026年11月29日）跑了10公里"
    assert classify(new, old, 0.8, "Max").value != "UPDATE"  # the date anchor is no value
