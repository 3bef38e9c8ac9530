"""The filter language: parsed once into a typed tree, then compiled per SQL dialect.

    {"AND": [{"user_id": "max"}, {"categories": {"in": ["constraints"]}}]}
    {"OR": [...]}, {"NOT": [...]}, {"metadata": {"intensity": {"ne": "low"}}},
    {"metadata.workout_type": "speed"}, {"created_at": {"gte": "2025-01-01"}}, {"run_id": "*"}

Parsing validates every field and operator, so a typo fails loudly instead of matching
nothing, and every backend receives the same tree (no per-store filter semantics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from engram.errors import FilterError, InvalidInputError
from engram.models import SCOPE_FIELDS, iso

OPERATORS = frozenset({"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "icontains"})
DATE_FIELDS = frozenset({"created_at", "updated_at", "expiration_date"})
TEXT_FIELDS = frozenset({"id", "memory", "hash"}) | set(SCOPE_FIELDS)
FIELD_ALIASES = {"memory_id": "id", "memory_ids": "id"}
ANY = "*"
# Bounds that keep every filter far inside what both databases (and Python's recursion)
# accept: SQLite refuses an expression tree deeper than 1,000 and more than 32,766 bound
# variables; without them a hostile filter answered 500.
MAX_DEPTH = 8  # nested AND/OR/NOT
MAX_WIDTH = 100  # children of one AND/OR, conditions in one object
MAX_VALUES = 1000  # values in one `in`/`nin` list
MAX_CONDITIONS = 500  # conditions in the whole tree
MAX_BOUND_VALUES = 10_000  # values in the whole tree (SQLite binds 32,766, PostgreSQL 65,535)
# What a scope condition must be to restrict a read: `ne`, `nin` and NOT narrow nothing.
POSITIVE_SCOPE_OPS = frozenset({"eq", "in", "exists"})


@dataclass(frozen=True)
class Condition:
    field: str  # a column name, "categories", or "metadata.<key>"
    op: str  # one of OPERATORS, or "exists" for "*"
    value: Any = None

    @property
    def metadata_key(self) -> str | None:
        return self.field.removeprefix("metadata.") if self.field.startswith("metadata.") else None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Condition | And | Or | Not


# ---------------------------------------------------------------------------- parsing


def parse(filters: dict[str, Any] | None) -> Node | None:
    if filters is None or filters == {}:
        return None
    if not isinstance(filters, dict):
        raise FilterError("filters must be a JSON object", field="filters")
    return _parse_object(filters, "filters", 0, _Budget())


_ROOT = "filters"


class _Budget:
    """Conditions and bound values spent so far. Charged while parsing, so a tree that
    repeats one sub-object (cheap as JSON, exponential once walked) is refused as soon as
    it passes a bound instead of after the whole expansion."""

    def __init__(self) -> None:
        self.conditions = 0
        self.values = 0

    def charge(self, condition: Condition) -> Condition:
        self.conditions += 1
        self.values += len(condition.value) if condition.op in ("in", "nin") else 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(f"filters hold more than {MAX_CONDITIONS} conditions", field=_ROOT)
        if self.values > MAX_BOUND_VALUES:
            raise FilterError(f"filters hold more than {MAX_BOUND_VALUES} values", field=_ROOT)
        return condition


def _parse_object(obj: dict[str, Any], path: str, depth: int, budget: _Budget) -> Node:
    if depth > MAX_DEPTH:
        raise FilterError(f"{path} nests deeper than {MAX_DEPTH} levels", field=path)
    _check_width(len(obj), path)
    nodes = [_parse_entry(key, value, f"{path}.{key}", depth, budget) for key, value in obj.items()]
    if not nodes:
        raise FilterError(f"{path} is an empty object", field=path)
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _check_width(width: int, path: str) -> None:
    if width > MAX_WIDTH:
        raise FilterError(f"{path} has more than {MAX_WIDTH} entries", field=path)


def _parse_entry(key: str, value: Any, path: str, depth: int, budget: _Budget) -> Node:
    if not isinstance(key, str):
        raise FilterError(f"{path}: filter keys are strings", field=path)
    check_text(key, path)
    logical = key.upper()
    if logical in ("AND", "OR", "NOT"):
        children = _parse_list(value, path, depth + 1, budget)
        if logical == "AND":
            return And(children)
        if logical == "OR":
            return Or(children)
        return Not(children[0] if len(children) == 1 else And(children))
    if key == "metadata" and isinstance(value, dict):
        return _parse_object({f"metadata.{k}": v for k, v in value.items()}, path, depth, budget)
    return _parse_field(FIELD_ALIASES.get(key, key), value, path, budget)


def _parse_list(value: Any, path: str, depth: int, budget: _Budget) -> tuple[Node, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        raise FilterError(f"{path} must be a non-empty list of filter objects", field=path)
    _check_width(len(items), path)
    return tuple(_parse_object(item, f"{path}[{i}]", depth, budget) for i, item in enumerate(items))


def _parse_field(name: str, value: Any, path: str, budget: _Budget) -> Node:
    _check_field(name, path)
    if value == ANY:
        return budget.charge(Condition(name, "exists"))
    if not isinstance(value, dict):
        op = "in" if isinstance(value, list) else "eq"
        return budget.charge(_condition(name, op, value, path))
    if not value:
        raise FilterError(f"{path} has no operator", field=path)
    conditions = [
        budget.charge(_condition(name, op, operand, f"{path}.{op}"))
        for op, operand in value.items()
    ]
    return conditions[0] if len(conditions) == 1 else And(tuple(conditions))


def _check_field(name: str, path: str) -> None:
    if name.startswith("metadata."):
        check_metadata_key(name.removeprefix("metadata."), path, error=FilterError)
        return
    if name not in TEXT_FIELDS | DATE_FIELDS | {"categories"}:
        known = sorted(TEXT_FIELDS | DATE_FIELDS | {"categories", "metadata.<key>"})
        raise FilterError(f"unknown filter field {name!r} at {path}; known: {known}", field=path)


def _condition(name: str, op: str, value: Any, path: str) -> Condition:
    if op not in OPERATORS:
        raise FilterError(
            f"unknown operator {op!r} at {path}; known: {sorted(OPERATORS)} or '*'", field=path
        )
    if op in ("in", "nin"):
        if not isinstance(value, list) or not value:
            raise FilterError(f"{path} needs a non-empty list", field=path)
        if len(value) > MAX_VALUES:
            raise FilterError(f"{path} lists more than {MAX_VALUES} values", field=path)
        return Condition(name, op, tuple(_scalar(name, v, path) for v in value))
    if op in ("contains", "icontains") and not isinstance(value, str):
        raise FilterError(f"{path} needs a string", field=path)
    return Condition(name, op, _scalar(name, value, path))


def _scalar(name: str, value: Any, path: str) -> Any:
    if isinstance(value, (dict, list)):
        raise FilterError(f"{path} needs a plain value, not {type(value).__name__}", field=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"{path} must be a finite number", field=path)
    if isinstance(value, str):
        check_text(value, path)
    if name in DATE_FIELDS:
        return iso(parse_datetime(value, field=path))
    if name in TEXT_FIELDS and not isinstance(value, str):
        return str(value)
    return value


def parse_datetime(value: Any, *, field: str) -> datetime:
    """Accept "YYYY-MM-DD", ISO datetimes (naive means UTC), date and datetime objects."""
    parsed = _as_datetime(value)
    if parsed is None:
        raise InvalidInputError(
            f"{field}: expected a date 'YYYY-MM-DD' or an ISO datetime, got {value!r}"[:300],
            field=field,
        )
    try:  # stored in UTC: 9999-12-31T23:59:59-12:00 has no UTC form
        parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInputError(f"{field}: date out of range in UTC", field=field) from None
    return parsed


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# ---------------------------------------------------------------------------- text


def check_text(value: str, field: str) -> str:
    """Well-formed Unicode only: a lone UTF-16 surrogate cannot be encoded as UTF-8, so
    once stored it would break every read that touches it; PostgreSQL text cannot hold
    NUL, so SQLite must not take it either (a behaviour never depends on the backend)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{field} holds a lone UTF-16 surrogate (not valid Unicode text)", field=field
        ) from None
    if "\x00" in value:
        raise InvalidInputError(f"{field} holds a NUL character", field=field)
    return value


MAX_METADATA_KEY = 255
# A metadata key becomes a JSON path in SQL; these characters would break out of it.
_BAD_KEY_CHARS = frozenset('"\\') | {chr(c) for c in range(32)} | {"\x7f"}


def check_metadata_key(key: str, field: str, *, error: type[InvalidInputError]) -> str:
    if not key or len(key) > MAX_METADATA_KEY:
        raise error(f"{field}: a metadata key needs 1 to {MAX_METADATA_KEY} characters",
                    field=field)  # fmt: skip
    check_text(key, field)
    if any(ch in _BAD_KEY_CHARS for ch in key):
        raise error(f"{field}: a metadata key cannot hold quotes, backslashes or control "
                    "characters", field=field)  # fmt: skip
    return key


# ---------------------------------------------------------------------------- inspection


def fields_in(node: Node | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, Condition):
        return {node.field}
    if isinstance(node, Not):
        return fields_in(node.child)
    return set().union(*(fields_in(child) for child in node.children))


def count_conditions(node: Node | None, *, values: bool = False) -> int:
    """Conditions in the tree, or (values=True) the values they bind."""
    if node is None:
        return 0
    if isinstance(node, Condition):
        return len(node.value) if values and node.op in ("in", "nin") else 1
    if isinstance(node, Not):
        return count_conditions(node.child, values=values)
    return sum(count_conditions(child, values=values) for child in node.children)


def has_scope(node: Node | None) -> bool:
    """True when the filter is restricted by a positive condition on a scope id (equality,
    `in` or the wildcard "*") at the top level of an AND, or when every branch of an OR
    is, so a read can never widen to the whole project: `ne`, NOT, and an OR with an
    unscoped branch do not count."""
    if isinstance(node, Condition):
        return node.field in SCOPE_FIELDS and node.op in POSITIVE_SCOPE_OPS
    if isinstance(node, And):
        return any(has_scope(child) for child in node.children)
    if isinstance(node, Or):
        return all(has_scope(child) for child in node.children)
    return False  # None, or NOT


def required_values(node: Node | None) -> dict[str, Any]:
    """The fields a filter requires to equal one value (an `eq` condition alone or at the
    top level of an AND): every result has them, whatever else the filter says."""
    return {c.field: c.value for c in _conjuncts(node) if isinstance(c, Condition)
            and c.op == "eq"}  # fmt: skip


def bounds_time(node: Node | None) -> bool:
    """Whether the filter requires `created_at` within a bound (a range condition at the
    top level of an AND): the memories said in a window, as a search naming a time asks."""
    return any(isinstance(c, Condition) and c.field == "created_at" and c.op in _RANGES
               for c in _conjuncts(node))  # fmt: skip


_RANGES = frozenset({"gt", "gte", "lt", "lte"})


def _conjuncts(node: Node | None) -> list[Node]:
    """The conditions every result meets: the node, or an AND's children, nested ANDs
    included (`conjoin` nests them)."""
    if node is None:
        return []
    if isinstance(node, And):
        return [c for child in node.children for c in _conjuncts(child)]
    return [node]


def project_wide(node: Node | None) -> bool:
    """Every scope id is the wildcard "*" at the top level: Mem0's explicit form for every
    memory of the project (the official CLI's `delete --all --project` sends it)."""
    top = node.children if isinstance(node, And) else (node,)
    wild = {c.field for c in top if isinstance(c, Condition) and c.op == "exists"}
    return wild >= set(SCOPE_FIELDS)


def without_wildcards(node: Node | None) -> Node | None:
    """The tree without its top-level scope wildcards (used once `project_wide` holds)."""
    top = node.children if isinstance(node, And) else (node,)
    return conjoin(*(c for c in top if not (isinstance(c, Condition) and c.op == "exists"
                                            and c.field in SCOPE_FIELDS)))  # fmt: skip


def conjoin(*nodes: Node | None) -> Node | None:
    present = tuple(n for n in nodes if n is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def scope_filter(**ids: str | None) -> Node | None:
    """Scope ids given as arguments; "*" is the wildcard, as in a filter."""
    return conjoin(*(Condition(k, "exists") if v == ANY else Condition(k, "eq", v)
                     for k, v in ids.items() if v is not None))  # fmt: skip


# ---------------------------------------------------------------------------- compiling


class Dialect(Protocol):
    """What differs between SQL engines; everything else is shared."""

    def param(self) -> str: ...
    def metadata_value(self, key: str) -> str: ...
    def metadata_text(self, key: str) -> str: ...
    def categories_any(self, names: list[str], bind: Callable[[Any], str]) -> str: ...
    def distinct_from(self, left: str, right: str) -> str: ...
    # `column` equal to one of `values` (never empty), and the parameters to bind
    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]: ...
    def contains(self, haystack: str, needle: str) -> str: ...


_COMPARISONS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def compile_sql(node: Node, dialect: Dialect) -> tuple[str, list[Any]]:
    """Compile a tree into a WHERE fragment; values are always bound parameters."""
    params: list[Any] = []
    return _compile(node, dialect, params), params


def _compile(node: Node, d: Dialect, params: list[Any]) -> str:
    if isinstance(node, And):
        return "(" + " AND ".join(_compile(c, d, params) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_compile(c, d, params) for c in node.children) + ")"
    if isinstance(node, Not):
        # IS NOT TRUE: a condition on a missing value (NULL) counts as not matching, so NOT
        # matches it, as a user expects; plain SQL NOT would drop the row.
        return f"({_compile(node.child, d, params)} IS NOT TRUE)"
    if node.field == "categories":
        return _compile_categories(node, d, params)
    return _compile_condition(node, d, params)


def _bind(d: Dialect, params: list[Any], value: Any) -> str:
    params.append(value)
    return d.param()


def _compile_categories(c: Condition, d: Dialect, params: list[Any]) -> str:
    if c.op == "exists":
        return "(m.categories <> '[]')"
    values = c.value if c.op in ("in", "nin") else (c.value,)
    if c.op in ("contains", "icontains"):
        values = (c.value.lower(),)  # category names are stored lower-case
    has_any = d.categories_any(list(values), lambda value: _bind(d, params, value))
    if c.op in ("eq", "in", "contains", "icontains"):
        return has_any
    if c.op in ("ne", "nin"):
        return f"(NOT {has_any})"
    raise FilterError(f"operator {c.op!r} does not apply to categories", field="categories")


def _compile_condition(c: Condition, d: Dialect, params: list[Any]) -> str:
    key = c.metadata_key
    column = d.metadata_value(key) if key is not None else f"m.{c.field}"
    if c.op == "exists":
        return f"({column} IS NOT NULL)"
    if c.op in _COMPARISONS:
        return f"({column} {_COMPARISONS[c.op]} {_bind(d, params, c.value)})"
    if c.op == "ne":
        return d.distinct_from(column, _bind(d, params, c.value))
    if c.op in ("in", "nin"):
        marks = ", ".join(_bind(d, params, v) for v in c.value)
        inside = f"({column} IN ({marks}))"
        return inside if c.op == "in" else f"({column} IS NULL OR NOT {inside})"
    text = d.metadata_text(key) if key is not None else column
    needle = _bind(d, params, c.value if c.op == "contains" else c.value.lower())
    haystack = text if c.op == "contains" else f"lower({text})"
    return d.contains(haystack, needle)
