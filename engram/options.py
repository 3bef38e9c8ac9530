"""Mem0 hosted-API options beyond scope and filters.

Every option a hosted client can send is either implemented (a request-model field) or
refused here with a 400 that names it and says why: none is accepted and then ignored.
Read options that narrow what is read (`categories`, `metadata`, `start_date`/`end_date`)
become filter conditions, so they mean the same on both backends and in every read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engram import filters as F
from engram.errors import FilterError, InvalidInputError
from engram.models import iso

# option -> why Engram refuses it. A request naming one with a value that asks for it
# (anything but null/false/empty) is a 400 naming the option; docs/server.md lists them.
REFUSED: dict[str, str] = {
    "enable_graph": "Engram keeps no graph store; relations between facts are not extracted",
    "structured_data_schema": "Engram stores memories as text facts, not as records of a "
    "caller's schema; put structured values in `metadata`",
    "filter_memories": "Engram has no LLM pass that re-filters search results; use `threshold`",
    "only_metadata_based_search": "a search is ranked by meaning and words; read by metadata "
    "alone with get_all and `filters`",
}


# project settings the 1.x client's update_project can send, beyond those Engram keeps
PROJECT_REFUSED: dict[str, str] = {
    "inclusion_prompt": "write it into custom_instructions as an 'Include:' line",
    "exclusion_prompt": "write it into custom_instructions as an 'Exclude:' line",
    "retrieval_criteria": "search ranks by meaning, words and time (engram.ranking); "
    "narrow a search with filters or threshold",
    "memory_depth": "every add extracts every fact it finds",
    "usecase_setting": "describe the use case in custom_instructions",
    "multilingual": "Engram reads and searches every language it supports without a switch",
    "version": "Engram has one extraction pipeline",
}


def refuse(data: Any, table: dict[str, str] = REFUSED) -> None:
    """Raise for the first refused option `data` asks for."""
    if not isinstance(data, dict):
        return
    for name, why in table.items():
        if data.get(name) not in (None, False, "", [], {}):
            raise InvalidInputError(f"{name} is not supported: {why}", field=name)


def read_conditions(
    categories: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> F.Node | None:
    """The read options as one filter tree (None when none is given)."""
    nodes = [
        _parsed({"categories": {"in": categories}}, "categories") if categories else None,
        _parsed({"metadata": metadata}, "metadata") if metadata else None,
        F.Condition("created_at", "gte", iso(start_date)) if start_date else None,
        F.Condition("created_at", "lte", iso(end_date)) if end_date else None,
    ]
    return F.conjoin(*nodes)


def _parsed(filters: dict[str, Any], option: str) -> F.Node | None:
    try:
        return F.parse(filters)
    except FilterError as exc:  # named after the option the caller sent, not a filter path
        raise FilterError(str(exc).replace(f"filters.{option}", option), field=option) from None


def category_names(value: Any) -> list[str] | None:
    """`categories` on a read: a list of names (a single name is a list of one)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInputError("categories must be a list of category names",
                                field="categories")  # fmt: skip
    return [v.strip().lower() for v in value]


def project_fields(result: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """`fields`: only these keys of each result (its id always)."""
    if not fields:
        return result
    return {k: v for k, v in result.items() if k == "id" or k in fields}
