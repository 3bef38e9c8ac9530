"""Keys and projects: a key of project A reaches none of project B's memories, through any
endpoint; a missing or wrong key gets 401 JSON. Also the bad-input contract: 4xx JSON that
names the field, 404 for unknown ids, 413 over the body limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram.server import auth
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("home")) as proc:
        yield proc


def _http(server: ServerProcess, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Token {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def two_projects(server: ServerProcess) -> tuple[httpx.Client, httpx.Client, str]:
    """(client of project A, client of project B, id of a memory of B)."""
    key_a = auth.create_key("proj-a", path=server.home / "server.db")
    key_b = auth.create_key("proj-b", path=server.home / "server.db")
    a, b = _http(server, key_a), _http(server, key_b)
    r = b.post(
        "/v1/memories/", json={"messages": "B's secret plan", "user_id": "max", "infer": False}
    )
    assert r.status_code == 200, r.text
    return a, b, r.json()["results"][0]["id"]


def test_ping_names_the_keys_project(two_projects: tuple[httpx.Client, httpx.Client, str]) -> None:
    a, b, _ = two_projects
    assert a.get("/v1/ping/").json()["project_id"] == "proj-a"
    assert b.get("/v1/ping/").json()["project_id"] == "proj-b"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/memories/{id}/", None),
        ("PUT", "/v1/memories/{id}/", {"text": "hijacked"}),
        ("DELETE", "/v1/memories/{id}/", None),
        ("GET", "/v1/memories/{id}/history/", None),
        ("PUT", "/v1/batch/", {"memories": [{"memory_id": "{id}", "text": "hijacked"}]}),
        ("DELETE", "/v1/batch/", {"memories": [{"memory_id": "{id}"}]}),
    ],
)
def test_other_projects_memory_is_not_found(
    two_projects: tuple[httpx.Client, httpx.Client, str], method: str, path: str, body: object
) -> None:
    a, b, memory_id = two_projects
    if body is not None:
        body = json.loads(json.dumps(body).replace("{id}", memory_id))
    r = a.request(method, path.format(id=memory_id), json=body)
    assert r.status_code == 404, r.text
    assert r.json()["field"] == "memory_id"
    assert b.get(f"/v1/memories/{memory_id}/").json()["memory"] == "B's secret plan"


def test_reads_and_bulk_deletes_see_only_own_project(
    two_projects: tuple[httpx.Client, httpx.Client, str],
) -> None:
    a, b, memory_id = two_projects
    filters = {"user_id": "max"}
    for path in ("/v2/memories/search/", "/v3/memories/search/"):
        assert a.post(path, json={"query": "secret plan", "filters": filters}).json() == {
            "results": []
        }
    for path in ("/v2/memories/", "/v3/memories/"):
        assert a.post(path, json={"filters": filters}).json()["count"] == 0
    assert a.get("/v1/entities/").json()["results"] == []
    assert a.delete("/v1/memories/", params={"user_id": "max"}).json()["deleted"] == 0
    assert a.delete("/v2/entities/user/max/").json()["deleted"] == 0
    assert b.get(f"/v1/memories/{memory_id}/").status_code == 200


def test_naming_another_project_is_forbidden(
    two_projects: tuple[httpx.Client, httpx.Client, str],
) -> None:
    a, _, _ = two_projects
    r = a.get("/api/v1/orgs/organizations/default/projects/proj-b/")
    assert r.status_code == 403 and r.json()["field"] == "project_id"
    r = a.patch(
        "/api/v1/orgs/organizations/default/projects/proj-b/", json={"custom_instructions": "x"}
    )
    assert r.status_code == 403
    r = a.post("/v2/memories/", json={"user_id": "max", "project_id": "proj-b"})
    assert r.status_code == 403
    r = a.get("/v1/entities/", params={"org_id": "default", "project_id": "proj-b"})
    assert r.status_code == 403


def test_queued_events_are_per_project(
    two_projects: tuple[httpx.Client, httpx.Client, str],
) -> None:
    a, b, _ = two_projects
    event_id = b.post("/v3/memories/add/", json={"messages": "hello", "user_id": "u"}).json()[
        "event_id"
    ]
    assert a.get(f"/v1/event/{event_id}/").status_code == 404
    assert b.get(f"/v1/event/{event_id}/").status_code == 200


@pytest.mark.parametrize("key", [None, "eng_wrong", "Token"])
def test_missing_or_wrong_key_is_401_json(server: ServerProcess, key: str | None) -> None:
    with _http(server, key) as c:
        for method, path in [
            ("GET", "/v1/ping/"),
            ("POST", "/v2/memories/search/"),
            ("GET", "/v1/memories/x/"),
            ("DELETE", "/v1/memories/"),
        ]:
            r = c.request(method, path, json={"query": "x"} if method == "POST" else None)
            assert r.status_code == 401, (path, r.text)
            assert "API key" in r.json()["detail"]


def test_revoked_key_is_refused(server: ServerProcess) -> None:
    key = auth.create_key("proj-r", path=server.home / "server.db")
    with _http(server, key) as c:
        assert c.get("/v1/ping/").status_code == 200
        listed = auth.list_keys(path=server.home / "server.db")
        assert any(k.prefix == key[:12] and k.project_id == "proj-r" for k in listed)
        assert all(key not in repr(k) for k in listed)  # plaintext is never stored
        assert auth.revoke_key(key[:12], path=server.home / "server.db") == 1
        assert c.get("/v1/ping/").status_code == 401


def test_bootstrap_key_file_is_private(server: ServerProcess) -> None:
    assert (server.home / "server_key").stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------------ bad input


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with _http(server, server.api_key) as c:
        yield c


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/memories/", {"messages": [], "user_id": "max"}, "messages"),
        ("/v1/memories/", {"messages": "   ", "user_id": "max"}, "messages"),
        ("/v1/memories/", {"messages": "hi"}, "user_id"),
        ("/v3/memories/add/", {"messages": "hi", "filters": {}}, "user_id"),
        (
            "/v1/memories/",
            {"messages": "hi", "user_id": "max", "expiration_date": "soon"},
            "expiration_date",
        ),
        (
            "/v3/memories/add/",
            {"messages": "hi", "user_id": "max", "expiration_date": "13/13"},
            "expiration_date",
        ),
        (
            "/v2/memories/search/",
            {"query": "x", "filters": {"user_id": {"like": "m"}}},
            "filters.user_id.like",
        ),
        ("/v2/memories/search/", {"query": "", "user_id": "max"}, "query"),
        ("/v2/memories/", {"filters": {"OR": "nope"}}, "filters.OR"),
        ("/v2/memories/", {}, "user_id"),  # a missing scope is user_id everywhere
        ("/v2/memories/", {"user_id": "max", "page": 10**30}, "page"),
    ],
)
def test_bad_input_is_4xx_naming_the_field(
    api: httpx.Client, path: str, body: dict[str, object], field: str
) -> None:
    r = api.post(path, json=body)
    assert r.status_code in (400, 422), r.text
    assert r.json()["field"] == field, r.json()
    assert r.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/events/", "/v1/memories/?user_id=max"])
def test_huge_page_numbers_are_422(api: httpx.Client, path: str) -> None:
    r = api.get(path, params={"page": 10**30, "page_size": 997})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "page"


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/memories/nope/"),
        ("DELETE", "/v1/memories/nope/"),
        ("GET", "/v1/memories/nope/history/"),
        ("GET", "/v1/event/nope/"),
    ]:
        r = api.request(method, path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"]
    assert api.put("/v1/memories/nope/", json={"text": "x"}).status_code == 404


def test_body_over_one_mebibyte_is_413(api: httpx.Client) -> None:
    big = {"messages": "x" * (1 << 20), "user_id": "max"}
    r = api.post("/v1/memories/", json=big)
    assert r.status_code == 413 and r.json()["field"] == "body"


def test_openapi_document_is_served(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in ("/v1/memories/", "/v3/memories/add/", "/v1/event/{event_id}/"):
        assert path in spec["paths"]
    assert httpx.get(f"{server.url}/docs").status_code == 200
    # every operation documents the error body it really sends
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for status in ("400", "401", "422"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (method, path, status)


def test_engram_api_key_env_serves_default_project(tmp_path: Path) -> None:
    env = {"ENGRAM_API_KEY": "eng_from_the_environment_0123456789abcdef"}
    with ServerProcess(tmp_path / "home", env=env) as server:
        assert not (server.home / "server_key").exists()  # nothing minted
        with _http(server, env["ENGRAM_API_KEY"]) as c:
            assert c.get("/v1/ping/").json()["project_id"] == "default"
        with _http(server, "eng_other") as c:
            assert c.get("/v1/ping/").status_code == 401
