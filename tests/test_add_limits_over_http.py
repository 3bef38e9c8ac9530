"""An add past a size limit is a 4xx JSON naming the field, over real HTTP, direct and queued
(issue 14): the infer=true extraction cap, the message count, the body limit (chunked too),
and the per-message length. Nothing is stored, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engram.extraction.bounds import MAX_INFER_CHARS
from engram.models import MAX_PAGE_SIZE
from engram.schemas import MAX_MESSAGE_CHARS
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    home: Path = tmp_path_factory.mktemp("limits")
    with ServerProcess(home) as server, httpx.Client(
        base_url=server.url, timeout=120, headers={"Authorization": f"Token {server.api_key}"}
    ) as client:  # fmt: skip
        yield client


def refused(r: httpx.Response, field: str, status: int = 400) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["field"] == field, r.json()


@pytest.mark.parametrize("path", ["/v1/memories/", "/v3/memories/add/"])
def test_an_infer_add_past_the_extraction_cap_names_the_message(api, path) -> None:
    third = "I run on Sundays. " * (MAX_INFER_CHARS // 3 // 18 + 1)
    body = {"messages": [{"role": "user", "content": third}] * 3, "user_id": "max"}
    refused(api.post(path, json=body), "messages[2].content")
    stored = api.post("/v1/memories/", json=body | {"infer": False})  # as given: no cap
    assert stored.status_code == 200 and len(stored.json()["results"]) == 3


def test_more_messages_than_a_batch_names_the_first_extra_one(api) -> None:
    messages = [{"role": "user", "content": f"fact {i}"} for i in range(MAX_PAGE_SIZE + 1)]
    body = {"messages": messages, "user_id": "ann", "infer": False}
    refused(api.post("/v1/memories/", json=body), f"messages[{MAX_PAGE_SIZE}]")
    assert api.get("/v1/memories/", params={"user_id": "ann"}).json()["results"] == []


def test_one_message_past_its_length_names_it(api) -> None:
    body = {"messages": [{"role": "user", "content": "x" * (MAX_MESSAGE_CHARS + 1)}],
            "user_id": "max"}  # fmt: skip
    refused(api.post("/v1/memories/", json=body), "messages[0].content")


def test_a_chunked_body_past_one_mebibyte_is_413(api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"user_id": "max", "messages": "'
        for _ in range(1100):
            yield b"a" * 1024
        yield b'"}'

    r = api.post("/v1/memories/", content=chunks(), headers={"content-type": "application/json"})
    refused(r, "body", status=413)
    assert api.get("/v1/ping/").status_code == 200
