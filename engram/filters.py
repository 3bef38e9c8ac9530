"""The filter language: parsed once into a typed tree, then compiled per SQL dialect.

    {"AND": [{"user_id": "max"}, {"categories": {"in": ["constraints"]}}]}
    {"OR": [...]}, {"NOT": [...]}, {"metadata": {"intensity": {"ne": "low"}}},
    {"metadata.workout_type": "speed"}, {"created_at": {"gte": "2025-01-01"}}, {"run_id": "*"}

Parsing validates every field and operator, so a typo fails loudly instead of matching
nothing, and every backend receives the same tree (no per-store filter semantics).
"""

from __future__ import annotations

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
    return _parse_object(filters, "filters")


def _parse_object(obj: dict[str, Any], path: str) -> Node:
    nodes = [_parse_entry(key, value, f"{path}.{key}") for key, value in obj.items()]
    if not nodes:
        raise FilterError(f"{path} is an empty object", field=path)
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_entry(key: str, value: Any, path: str) -> Node:
    logical = key.upper()
    if logical in ("AND", "OR", "NOT"):
        children = _parse_list(value, path)
        if logical == "AND":
            return And(children)
        if logical == "OR":
            return Or(children)
        return Not(children[0] if len(children) == 1 else And(children))
    if key == "metadata" and isinstance(value, dict):
        return _parse_object({f"metadata.{k}": v for k, v in value.items()}, path)
    return _parse_field(FIELD_ALIASES.get(key, key), value, path)


def _parse_list(value: Any, path: str) -> tuple[Node, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        raise FilterError(f"{path} must be a non-empty list of filter objects", field=path)
    return tuple(_parse_object(item, f"{path}[{i}]") for i, item in enumerate(items))


def _parse_field(name: str, value: Any, path: str) -> Node:
    _check_field(name, path)
    if value == ANY:
        return Condition(name, "exists")
    if not isinstance(value, dict):
        op = "in" if isinstance(value, list) else "eq"
        return _condition(name, op, value, path)
    if not value:
        raise FilterError(f"{path} has no operator", field=path)
    conditions = [_condition(name, op, operand, f"{path}.{op}") for op, operand in value.items()]
    return conditions[0] if len(conditions) == 1 else And(tuple(conditions))


def _check_field(name: str, path: str) -> None:
    if name.startswith("metadata."):
        if not name.removeprefix("metadata."):
            raise FilterError(f"{path}: empty metadata key", field=path)
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
        return Condition(name, op, tuple(_scalar(name, v, path) for v in value))
    if op in ("contains", "icontains") and not isinstance(value, str):
        raise FilterError(f"{path} needs a string", field=path)
    return Condition(name, op, _scalar(name, value, path))


def _scalar(name: str, value: Any, path: str) -> Any:
    if isinstance(value, (dict, list)):
        raise FilterError(f"{path} needs a plain value, not {type(value).__name__}", field=path)
    if name in DATE_FIELDS:
        return iso(parse_datetime(value, field=path))
    if name in TEXT_FIELDS and not isinstance(value, str):
        return str(value)
    return value


def parse_datetime(value: Any, *, field: str) -> datetime:
    """Accept "YYYY-MM-DD", ISO datetimes (naive means UTC), date and datetime objects."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidInputError(
        f"{field}: expected a date 'YYYY-MM-DD' or an ISO datetime, got {value!r}", field=field
    )


# ---------------------------------------------------------------------------- inspection


def fields_in(node: Node | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, Condition):
        return {node.field}
    if isinstance(node, Not):
        return fields_in(node.child)
    return set().union(*(fields_in(child) for child in node.children))


def has_scope(node: Node | None) -> bool:
    """True when the filter names at least one entity, so a read cannot scan everything."""
    return bool(fields_in(node) & set(SCOPE_FIELDS))


def conjoin(*nodes: Node | None) -> Node | None:
    present = tuple(n for n in nodes if n is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else And(present)


def scope_filter(**ids: str | None) -> Node | None:
    return conjoin(*(Condition(k, "eq", v) for k, v in ids.items() if v is not None))


# ---------------------------------------------------------------------------- compiling


class Dialect(Protocol):
    """What differs between SQL engines; everything else is shared."""

    def param(self) -> str: ...
    def metadata_value(self, key: str) -> str: ...
    def metadata_text(self, key: str) -> str: ...
    def categories_any(self, placeholders: list[str]) -> str: ...
    def distinct_from(self, left: str, right: str) -> str: ...
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
    has_any = d.categories_any([_bind(d, params, v) for v in values])
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
