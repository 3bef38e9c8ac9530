"""The offline tagger on the labelled cases of tests/quality_cases/categories.py: default
categories, the tutorial's custom ones (both forms) and another app's own categories."""

from __future__ import annotations

from tests.quality_cases import categories
from tests.quality_cases.support import accuracy, results_fixture

MIN_ACCURACY = 0.90


results = results_fixture(categories)


def test_set_is_large_enough() -> None:
    assert sum(len(cases) for _, _, cases in categories.SETS) >= 60


def test_at_least_90_percent_of_facts_get_the_right_categories(results) -> None:
    misses = [detail for _, ok, detail in results if not ok]
    assert accuracy(results) >= MIN_ACCURACY, "\n".join(misses)


def test_custom_categories_work_about_as_well_as_defaults(results) -> None:
    default = accuracy([r for r in results if r[0] == "default"])
    tutorial = accuracy([r for r in results if r[0].startswith("tutorial")])
    assert tutorial >= default - 0.1
