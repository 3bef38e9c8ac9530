"""Issue 14's reproductions against the real server: every hostile input gets a 4xx JSON body
naming the field (never a 500), data stored before the checks stays readable, a chunked body
over the limit is 413, PUT honours expiration_date, and a key in the URL is not logged."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server_process import ServerProcess, wait_for_event


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # "info": the access log is written, so the test can look for a leaked key in it
    with ServerProcess(tmp_path_factory.mktemp("home"), log_level="info") as proc:
        yield proc


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token {server.api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        yield client


def refused(r: httpx.Response, field: str, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["field"] == field, body
    return body


def add(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/v1/memories/", json={"user_id": "max", "infer": False, **body})


# Raw JSON text: `\udfff` escapes decode to lone surrogates, which httpx could not send itself.
SURROGATE_BODIES = [
    ('{"messages": "hi", "user_id": "max", "infer": false, "metadata": {"k": "\\udfff"}}',
     "metadata.k"),
    ('{"messages": "hi \\ud800 there", "user_id": "max", "infer": false}', "messages"),
    ('{"messages": [{"role": "user", "content": "\\ud800"}], "user_id": "max"}',
     "messages[0].content"),
    ('{"messages": "hi", "user_id": "m\\udfffx", "infer": false}', "user_id"),
    ('{"messages": "hi", "user_id": "max", "infer": false, "metadata": {"\\udfff": 1}}',
     "metadata"),  # a key that cannot be named in a JSON answer: its object is
]  # fmt: skip


@pytest.mark.parametrize(("raw", "field"), SURROGATE_BODIES)
def test_lone_surrogate_in_an_add_is_400(http: httpx.Client, raw: str, field: str) -> None:
    body = refused(http.post("/v1/memories/", content=raw), field)
    assert "surrogate" in body["detail"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ('/v1/memories/?filters={"user_id":"\\udfff"}', "filters.user_id"),
        ("/v1/memories/?user_id=max%00", "user_id"),  # PostgreSQL text cannot hold NUL
    ],
)
def test_bad_text_in_a_query_string_is_400(http: httpx.Client, url: str, field: str) -> None:
    refused(http.get(url), field)


def test_nul_in_message_text_is_400_on_every_backend(http: httpx.Client) -> None:
    refused(add(http, messages=[{"role": "user", "content": "a\x00b"}]), "messages[0].content")


def test_lone_surrogate_in_a_filter_or_query_is_400(http: httpx.Client) -> None:
    raw = '{"filters": {"AND": [{"user_id": "max"}, {"metadata.k": "\\udfff"}]}}'
    refused(http.post("/v2/memories/", content=raw), "filters.AND[1].metadata.k")
    raw = '{"query": "run \\udfff", "user_id": "max"}'
    refused(http.post("/v2/memories/search/", content=raw), "query")


def test_queued_add_with_surrogate_is_refused_and_events_stay_readable(
    server: ServerProcess, http: httpx.Client
) -> None:
    raw = '{"messages": "hi", "user_id": "max", "infer": false, "metadata": {"k": "\\udfff"}}'
    refused(http.post("/v3/memories/add/", content=raw), "metadata.k")
    # an event queued by a version without the checks: the event routes still answer
    body = {"messages": "hi", "user_id": "max", "infer": False}
    event_id = http.post("/v3/memories/add/", json=body).json()["event_id"]
    wait_for_event(http, event_id)
    with sqlite3.connect(server.home / "server.db") as db:
        poisoned = '{"messages": [{"role": "user", "content": "\\udfff"}]}'
        db.execute("UPDATE events SET payload = ? WHERE id = ?", (poisoned, event_id))
    for r in (http.get("/v1/events/"), http.get(f"/v1/event/{event_id}/")):
        assert r.status_code == 200, r.text


def test_data_stored_with_a_lone_surrogate_stays_readable(
    server: ServerProcess, http: httpx.Client
) -> None:
    """Written by a version without the checks: every read still answers 200."""
    r = add(http, messages="Poisoned memory", user_id="poison", metadata={"k": "ok"})
    assert r.status_code == 200, r.text
    memory_id = r.json()["results"][0]["id"]
    with sqlite3.connect(server.home / "engram.db") as db:  # the JSON text holds \udfff
        db.execute("UPDATE memories SET metadata = ? WHERE id = ?", ('{"k": "\\udfff"}', memory_id))
    reads = [
        http.get("/v1/memories/", params={"user_id": "poison"}),
        http.get(f"/v1/memories/{memory_id}/"),
        http.post("/v2/memories/", json={"filters": {"user_id": "*"}}),
        http.post("/v2/memories/search/", json={"query": "poisoned", "user_id": "poison"}),
    ]
    for r in reads:
        assert r.status_code == 200, (r.request.url, r.text)
    assert http.get(f"/v1/memories/{memory_id}/").json()["metadata"] == {"k": "\udfff"}


def deep_filter(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"user_id": "max"}
    for _ in range(depth):
        node = {"AND": [node]}
    return node


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (deep_filter(200), "filters"),
        (deep_filter(20), "filters.AND[0].AND[0].AND[0].AND[0].AND[0].AND[0].AND[0].AND[0].AND[0]"),
        ({"AND": [{"user_id": "max"}, {"OR": [{"run_id": str(i)} for i in range(1000)]}]},
         "filters.AND[1].OR"),
        ({"user_id": {"in": [str(i) for i in range(33_000)]}}, "filters.user_id.in"),
        ({"AND": [{"user_id": "max"}, {"metadata.a\\b": 1}]}, "filters.AND[1].metadata.a\\b"),
        ({"AND": [{"user_id": "max"}, {"created_at": {"gt": "9999-12-31T23:59:59-12:00"}}]},
         "filters.AND[1].created_at.gt"),
        ({"AND": [{"user_id": "max"}, {"created_at": {"lt": "0001-01-01T00:00:00+05:00"}}]},
         "filters.AND[1].created_at.lt"),
    ],
)  # fmt: skip
def test_oversized_or_malformed_filters_are_400(
    http: httpx.Client, filters: dict[str, Any], field: str
) -> None:
    refused(http.post("/v2/memories/", json={"filters": filters}), field)
    refused(http.post("/v2/memories/search/", json={"query": "x", "filters": filters}), field)


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("a\\b", "metadata.a\\b"),
        ('say "hi"', 'metadata.say "hi"'),
        ("line\nbreak", "metadata.line\nbreak"),
        ("a\x00b", "metadata"),  # a key that is not valid text: its object is named
    ],
)
def test_metadata_keys_that_break_json_paths_are_400(
    http: httpx.Client, key: str, field: str
) -> None:
    refused(add(http, messages="hi", metadata={key: 1}), field)


@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00"])
def test_unrepresentable_expiration_dates_are_400(http: httpx.Client, date: str) -> None:
    refused(add(http, messages="hi", expiration_date=date), "expiration_date")
    queued = {"messages": "hi", "user_id": "max", "infer": False, "expiration_date": date}
    refused(http.post("/v3/memories/add/", json=queued), "expiration_date")  # not a FAILED event


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_metadata_are_400(http: httpx.Client, number: str) -> None:
    raw = f'{{"messages": "hi", "user_id": "max", "infer": false, "metadata": {{"x": {number}}}}}'
    refused(http.post("/v1/memories/", content=raw), "metadata.x")


def test_a_line_over_the_extractor_limit_is_400(http: httpx.Client) -> None:
    line = "run " * 250_001  # 1,000,004 characters in one line, under the 1 MiB body limit
    r = http.post("/v1/memories/", json={"messages": line, "user_id": "max", "infer": True})
    refused(r, "messages[0].content")


def test_chunked_body_over_the_limit_is_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count itself
        yield b'{"messages": "'
        for _ in range(17):
            yield b"x" * 65_536
        yield b'", "user_id": "max"}'

    r = http.post("/v1/memories/", content=chunks())
    assert "content-length" not in r.request.headers
    refused(r, "body", status=413)


def test_a_chunked_body_under_the_limit_still_works(http: httpx.Client) -> None:
    payload = json.dumps({"messages": "Max runs on Tuesdays", "user_id": "chunky", "infer": False})
    r = http.post("/v1/memories/", content=iter([payload[:10].encode(), payload[10:].encode()]))
    assert r.status_code == 200, r.text


def test_put_honours_expiration_date(http: httpx.Client) -> None:
    added = add(http, messages="Max rests on Mondays", user_id="putter")
    memory_id = added.json()["results"][0]["id"]
    put = f"/v1/memories/{memory_id}/"
    r = http.put(put, json={"expiration_date": "2099-01-02"})
    assert r.status_code == 200, r.text
    assert http.get(f"/v1/memories/{memory_id}/").json()["expiration_date"].startswith("2099-01-02")
    r = http.put(put, json={"expiration_date": "2001-01-01"})
    assert r.status_code == 200, r.text  # expired now: invisible from here on
    assert http.get(f"/v1/memories/{memory_id}/").status_code == 404
    r = http.put(put, json={"expiration_date": "9999-12-31T23:59:59-12:00"})
    refused(r, "expiration_date")


def test_a_key_in_the_query_string_is_not_logged(server: ServerProcess) -> None:
    key = server.api_key
    r = httpx.get(f"{server.url}/v1/ping/", params={"api_key": key, "token": "s3cret-value"},
                  headers={"Authorization": f"Token {key}"})  # fmt: skip
    assert r.status_code == 200
    log = server.log()
    assert "GET /v1/ping/?api_key=" in log  # the request was logged...
    assert key not in log and "s3cret-value" not in log  # ...without the secrets


def test_client_update_sends_expiration_date(server: ServerProcess, http: httpx.Client) -> None:
    from datetime import date

    from engram.client import MemoryClient

    added = add(http, messages="Max stretches daily", user_id="client-put")
    memory_id = added.json()["results"][0]["id"]
    MemoryClient(api_key=server.api_key, host=server.url).update(
        memory_id, expiration_date=date(2098, 5, 6)
    )
    assert http.get(f"/v1/memories/{memory_id}/").json()["expiration_date"].startswith("2098-05-06")


def test_no_5xx_answer_in_this_module(server: ServerProcess) -> None:
    """Nothing above reached the server's own failure handler."""
    log = server.log()
    assert "unexpected failure" not in log and '" 500' not in log, log[-3000:]
