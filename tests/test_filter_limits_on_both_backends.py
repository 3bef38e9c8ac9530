"""The largest filters the parser accepts run on both databases (no SQL error at the bounds:
SQLite's expression depth of 1,000 and 32,766 variables, PostgreSQL's 65,535 parameters),
and one step past a bound is a FilterError naming the field, on both alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engram import filters as F
from engram.errors import FilterError
from engram.stores.base import Query

NOW = "2026-01-01T00:00:00.000000+00:00"


def chain(levels: int, width: int, kind: str = "OR") -> dict[str, Any]:
    """`levels` nested AND/OR of `width` children each, nested through the first child
    (the deepest SQL parse tree a left-associative AND/OR chain gives)."""
    node: dict[str, Any] = {"user_id": "max"}
    for level in range(levels):
        op = kind if level % 2 else "AND"
        node = {op: [node, *({"run_id": f"r{level}-{i}"} for i in range(width - 1))]}
    return node


def in_lists(count: int, size: int) -> dict[str, Any]:
    return {"AND": [{"user_id": {"in": [f"u{j}-{i}" for i in range(size)]}} for j in range(count)]}


LARGEST = [
    pytest.param(chain(F.MAX_DEPTH, 62), id="depth-8-by-62-wide-496-conditions"),
    pytest.param(chain(5, F.MAX_WIDTH), id="width-100-five-levels-496-conditions"),
    pytest.param(in_lists(10, F.MAX_VALUES), id="10-in-lists-of-1000"),
    pytest.param({"NOT": [{"NOT": [chain(6, 80)]}]}, id="not-around-a-deep-chain"),
]


@pytest.mark.parametrize("filters", LARGEST)
def test_largest_accepted_filters_run(
    store_factory: Callable[[], Any], filters: dict[str, Any]
) -> None:
    node = F.parse(filters)
    assert F.count_conditions(node) <= F.MAX_CONDITIONS
    store = store_factory()
    assert store.query(Query("default", node, NOW, limit=5)) == []
    assert store.count(Query("default", node, NOW)) == 0


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (chain(F.MAX_DEPTH + 1, 2), "filters.AND[0].OR[0]"),
        ({"OR": [{"user_id": str(i)} for i in range(F.MAX_WIDTH + 1)]}, "filters.OR"),
        ({"user_id": {"in": list(map(str, range(F.MAX_VALUES + 1)))}}, "filters.user_id.in"),
        (chain(6, 90), "filters"),  # 535 conditions
        (in_lists(11, F.MAX_VALUES), "filters"),  # 11,000 values
    ],
)  # fmt: skip
def test_one_step_past_a_bound_is_a_filter_error(filters: dict[str, Any], field: str) -> None:
    with pytest.raises(FilterError) as info:
        F.parse(filters)
    assert info.value.field.startswith(field)


def test_a_repeated_subtree_is_refused_before_it_is_walked() -> None:
    """One sub-object listed 9 times per level, 8 levels deep: a few hundred bytes of JSON
    that stands for 9**8 (43 million) conditions. The parser charges conditions as it goes,
    so it stops at the 501st instead of walking the expansion (it used to run for hours)."""
    node: dict[str, Any] = {"user_id": {"in": [str(i) for i in range(99)]}}
    for _ in range(F.MAX_DEPTH):
        node = {"OR": [node] * 9}
    with pytest.raises(FilterError) as info:
        F.parse(node)
    assert info.value.field == "filters"
