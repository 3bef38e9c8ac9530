"""Property-based: whatever a caller sends (any Unicode, lone surrogates included, any depth,
width and size), the filter parser, its compiled SQL run on a real SQLite store, and the
request models give a result or a typed InvalidInputError, never anything else.

Bounded (a few hundred examples per property, no deadline) so the file runs in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram import filters as F
from engram import schemas as s
from engram.errors import InvalidInputError
from engram.models import SCOPE_FIELDS
from engram.stores.base import Query
from engram.stores.postgres import PostgresDialect
from engram.stores.sqlite import SQLiteStore

# database=None: no .hypothesis/ directory in the checkout (the suite may run read-only)
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=SLOW_OK)

# Every code point, lone surrogates too (hypothesis leaves category Cs out by default).
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
fields = st.sampled_from(
    [*SCOPE_FIELDS, "id", "memory", "hash", "categories", "created_at", "expiration_date",
     "metadata.km", "metadata", "memory_ids", "colour"]
) | any_text | any_text.map(lambda t: f"metadata.{t}")  # fmt: skip
ops = st.sampled_from([*sorted(F.OPERATORS), "like"]) | any_text
dates = st.sampled_from(["2025-03-01", "2025-03-01T12:00:00+02:00", "9999-12-31T23:59:59-12:00",
                         "0001-01-01T00:00:00+05:00", "last tuesday", "*"])  # fmt: skip
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | any_text | dates)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def conditions() -> st.SearchStrategy[dict[str, Any]]:
    operand = json_values | st.lists(scalars, min_size=0, max_size=5)
    value = scalars | st.dictionaries(ops, operand, max_size=3) | st.lists(scalars, max_size=4)
    return st.dictionaries(fields, value, min_size=1, max_size=3)


filter_trees = st.recursive(
    conditions(),
    lambda inner: st.dictionaries(
        st.sampled_from(["AND", "OR", "NOT", "and", "or"]),
        st.lists(inner, min_size=0, max_size=4) | inner,
        min_size=1,
        max_size=2,
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def store() -> Iterator[SQLiteStore]:
    found = SQLiteStore(":memory:")
    yield found
    found._db.close()


@FUZZ
@given(filters=filter_trees | json_values)
def test_filters_parse_compile_and_run_or_fail_typed(store: SQLiteStore, filters: Any) -> None:
    try:
        node = F.parse(filters if isinstance(filters, dict) else {"user_id": filters})
        if node is None:
            return
        F.compile_sql(node, PostgresDialect())  # compiles for both dialects
        store.query(Query("default", node, "2026-01-01T00:00:00.000000+00:00", limit=5))
    except InvalidInputError as exc:
        assert exc.field  # names what was wrong


def nested(depth: int, width: int, kind: str) -> dict[str, Any]:
    node: dict[str, Any] = {"user_id": {"in": [str(i) for i in range(width)]}}
    for _ in range(depth):
        node = {kind: [node] * max(1, width // 10)}
    return node


@settings(max_examples=60, deadline=None, database=None)
@given(depth=st.integers(0, 400), width=st.integers(1, 3000),
       kind=st.sampled_from(["AND", "OR", "NOT"]))  # fmt: skip
def test_depth_and_width_never_escape_as_untyped_errors(
    store: SQLiteStore, depth: int, width: int, kind: str
) -> None:
    try:
        node = F.parse(nested(min(depth, 40), width, kind) if depth < 40 else
                       nested(depth, 1, kind))  # fmt: skip
        assert node is not None
        store.query(Query("default", node, "2026-01-01T00:00:00.000000+00:00", limit=5))
    except InvalidInputError as exc:
        assert exc.field


REQUESTS = [s.AddRequest, s.SearchRequest, s.ListRequest, s.DeleteAllRequest, s.UpdateRequest,
            s.BatchUpdateRequest, s.BatchDeleteRequest, s.ProjectUpdateRequest]  # fmt: skip
request_fields = st.sampled_from(
    ["messages", "user_id", "agent_id", "run_id", "app_id", "metadata", "filters", "query",
     "expiration_date", "timestamp", "infer", "limit", "top_k", "threshold", "page",
     "page_size", "text", "memories", "custom_categories", "custom_instructions"]
) | any_text  # fmt: skip
chat_turns = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "bot"]), "content": any_text}
)
batch_items = st.dictionaries(
    st.sampled_from(["memory_id", "id", "text", "metadata"]), json_values, max_size=3
)
request_values = (
    json_values
    | filter_trees
    | st.lists(chat_turns, max_size=3)
    | st.lists(batch_items, max_size=3)
)


@FUZZ
@given(model=st.sampled_from(REQUESTS),
       body=st.dictionaries(request_fields, request_values, max_size=6))  # fmt: skip
def test_request_models_validate_or_fail_typed(model: type, body: dict[str, Any]) -> None:
    try:
        s.parse_request(model, **body)
    except InvalidInputError as exc:
        assert exc.field or isinstance(exc, InvalidInputError)


@FUZZ
@given(text=any_text)
def test_text_is_accepted_exactly_when_it_is_valid_unicode_without_nul(text: str) -> None:
    valid = not any(0xD800 <= ord(ch) <= 0xDFFF or ch == "\x00" for ch in text)
    try:
        s.parse_request(s.AddRequest, messages=f"x{text}", user_id="max", metadata={"k": text})
    except InvalidInputError as exc:
        assert not valid and ("surrogate" in str(exc) or "NUL" in str(exc))
    else:
        assert valid
