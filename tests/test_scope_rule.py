"""The exact scope rule: a read, search or delete is restricted by a positive condition on a
scope id (equality, `in`, or the wildcard "*") at the top level of an AND, or in every branch
of an OR. `ne`, NOT and an OR with an unscoped branch restrict nothing and are refused; the
only project-wide form is every scope id "*", which Mem0's CLI sends for `delete --all
--project`, and which really deletes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engram import Memory, MissingScopeError
from tests.support.server_process import ServerProcess

BYPASSES = [
    {"NOT": {"user_id": "nobody"}},
    {"user_id": {"ne": "x"}},
    {"user_id": {"nin": ["x"]}},
    {"OR": [{"user_id": "x"}, {"memory": {"contains": ""}}]},
    {"NOT": [{"OR": [{"user_id": "bob"}, {"run_id": "*"}]}]},
    {"AND": [{"memory": {"contains": ""}}, {"NOT": {"agent_id": "a"}}]},
]
EVERY_ID_WILD = {"user_id": "*", "agent_id": "*", "app_id": "*", "run_id": "*"}


@pytest.fixture
def seeded(memory: Memory) -> Memory:
    memory.add("Max runs 40 km a week", user_id="max", infer=False)
    memory.add("Anna swims", user_id="anna", infer=False)
    memory.add("Coach persona: direct", agent_id="ray", infer=False)
    return memory


@pytest.mark.parametrize("filters", BYPASSES)
def test_filters_that_restrict_no_scope_are_refused(seeded: Memory, filters: dict) -> None:
    for call in (seeded.get_all, seeded.delete_all):
        with pytest.raises(MissingScopeError):
            call(filters=filters)
    with pytest.raises(MissingScopeError):
        seeded.search("runs", filters=filters)
    assert seeded.get_all(user_id="max")["count"] == 1  # nothing was deleted


@pytest.mark.parametrize(
    ("filters", "count"),
    [
        ({"user_id": "max"}, 1),
        ({"user_id": {"in": ["max", "anna"]}}, 2),
        ({"user_id": "*"}, 2),  # any user: not the agent's memory
        ({"OR": [{"user_id": "max"}, {"agent_id": "ray"}]}, 2),  # every branch scoped
        ({"AND": [{"user_id": "*"}, {"user_id": {"ne": "max"}}]}, 1),
        (EVERY_ID_WILD, 3),  # the whole project
    ],
)
def test_positive_scope_conditions_are_accepted(seeded: Memory, filters: dict, count: int) -> None:
    assert seeded.get_all(filters=filters)["count"] == count


def test_one_wildcard_id_is_not_a_project_wipe(seeded: Memory) -> None:
    assert seeded.delete_all(user_id="*")["deleted"] == 2
    assert seeded.get_all(agent_id="ray")["count"] == 1


def test_every_id_wildcard_wipes_the_project_only(seeded: Memory) -> None:
    other = seeded.for_project("other")
    other.add("Kept elsewhere", user_id="max", infer=False)
    assert seeded.delete_all(**EVERY_ID_WILD)["deleted"] == 3
    assert seeded.get_all(**EVERY_ID_WILD)["count"] == 0
    assert other.get_all(user_id="max")["count"] == 1


def test_wildcard_is_not_an_id_to_add_under(memory: Memory) -> None:
    with pytest.raises(ValueError) as info:
        memory.add("hi", user_id="*", infer=False)
    assert info.value.field == "user_id"


# ------------------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with ServerProcess(tmp_path_factory.mktemp("home")) as server:
        headers = {"Authorization": f"Token {server.api_key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            yield client


def _seed(http: httpx.Client) -> None:
    for body in ({"user_id": "max"}, {"user_id": "anna"}, {"agent_id": "ray"}):
        r = http.post("/v1/memories/", json={"messages": "a fact", "infer": False, **body})
        assert r.status_code == 200, r.text


def _count(http: httpx.Client) -> int:
    return http.get("/v1/memories/", params=EVERY_ID_WILD).json()["count"]


@pytest.mark.parametrize("filters", BYPASSES)
def test_bypasses_are_400_over_http(http: httpx.Client, filters: dict[str, Any]) -> None:
    import json

    _seed(http)
    before = _count(http)
    answers = [
        http.post("/v2/memories/", json={"filters": filters}),
        http.post("/v2/memories/search/", json={"query": "fact", "filters": filters}),
        http.get("/v1/memories/", params={"filters": json.dumps(filters)}),
        http.delete("/v1/memories/", params={"filters": json.dumps(filters)}),
    ]
    for r in answers:
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "MissingScopeError"
    assert _count(http) == before


def test_delete_all_without_scope_is_400(http: httpx.Client) -> None:
    _seed(http)
    r = http.delete("/v1/memories/")
    assert r.status_code == 400 and r.json()["error"] == "MissingScopeError"
    assert _count(http) >= 3


def test_cli_project_wipe_really_deletes(http: httpx.Client) -> None:
    """DELETE /v1/memories/?user_id=*&agent_id=*&app_id=*&run_id=*, as `mem0 delete --all
    --project` sends it."""
    _seed(http)
    before = _count(http)
    r = http.delete("/v1/memories/?user_id=*&agent_id=*&app_id=*&run_id=*")
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == before >= 3
    assert _count(http) == 0
